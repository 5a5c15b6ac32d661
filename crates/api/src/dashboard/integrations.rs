//! Integrations: marketplace connections, the services the pipeline used,
//! and the sign-in providers a person can link.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use chrono::{Duration, Utc};
use pod_events::domain::text::{self, Note};
use pod_marketplaces::connections;

use super::{PageError, Person, Shell, render};
use crate::AppState;
use crate::auth::Role;
use crate::auth::sessions::{Session, check_origin};
use crate::extract::{PathId, Query};
use crate::marketplaces::{self, ListingDefaultsChoice, ListingDefaultsOptions};
use crate::problem::Problem;
use pod_projections::read::operations::{self, Providers};
use pod_projections::read::publishing::{self, Shop};

/// A marketplace connection, in words.
pub struct ShopRow {
    pub s: Shop,
    pub token: String,
    /// How its orders come back, and how that went last.
    pub sync: String,
    /// Its rate-limit headroom.
    pub headroom: String,
}

/// A shop's rate-limit headroom, in words: for Etsy, what Etsy last said is
/// left of the app's requests today (every shop's together) and what this
/// account has spent of its share; Printify reports none (its budgets are
/// kept per shop by the publisher).
pub fn headroom_words(sh: &Shop, share: Option<u32>, now: chrono::DateTime<Utc>) -> String {
    if sh.marketplace != "etsy" {
        return "paced per shop by the publisher".to_owned();
    }
    let app = match (sh.app_requests_left, sh.app_headroom_seen_at) {
        (Some(left), Some(at)) => {
            let of = sh.app_requests_per_day.map(|d| format!(" of {}", grouped(d))).unwrap_or_default();
            format!("{}{of} app requests left today ({})", grouped(left), super::views::ago_from(at, now))
        }
        _ => "no answer from Etsy yet".to_owned(),
    };
    match share {
        Some(share) => {
            let used = sh.tenant_requests_today.unwrap_or(0);
            format!("{app}; this account used {} of its {} today", grouped(used), grouped(share.into()))
        }
        None => app,
    }
}

/// A count with thousands separated: 10,000.
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[derive(Template)]
#[template(path = "integrations.html")]
struct IntegrationsPage {
    shell: Shell,
    shops: Vec<ShopRow>,
    /// (service, what was used, how much)
    services: Vec<(&'static str, String, String)>,
    /// (provider name, label, linked to this person)
    sign_in: Vec<(String, String, bool)>,
    /// The person may connect and disconnect shops.
    owner: bool,
    /// Why Etsy shops cannot be connected here, if they cannot.
    etsy_missing: Option<&'static str>,
    /// Why Printify shops cannot be connected here, if they cannot.
    printify_missing: Option<&'static str>,
    /// What the last action did.
    notice: Option<&'static str>,
}

/// What the page was sent back with.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Notice {
    connected: Option<String>,
    disconnected: Option<String>,
    defaults: Option<String>,
}

pub async fn integrations(
    Person(session): Person,
    State(s): State<AppState>,
    Query(n): Query<Notice>,
) -> Result<Response, PageError> {
    let caller = session.caller();
    let shops = publishing::shops(&s.pool, &caller.tenant).await?;
    let now = Utc::now();
    let shops = shops
        .into_iter()
        .map(|sh| {
            let token = match (&sh.needs_reconnect_reason, sh.token_expires_at) {
                (Some(why), _) if sh.needs_reconnect => format!("needs reconnecting: {why}"),
                _ if sh.needs_reconnect => "needs reconnecting".to_owned(),
                (_, None) => "does not expire".to_owned(),
                (_, Some(at)) if at <= now => "expired: reconnect".to_owned(),
                (_, Some(at)) if at - now < Duration::days(7) => format!("expires {}", at.format("%b %-d")),
                (_, Some(at)) => format!("valid until {}", at.format("%b %-d, %Y")),
            };
            let sync = match (&sh.sync_error, sh.last_synced_at) {
                (Some(why), _) => format!("last sync failed: {why}"),
                (None, Some(at)) => format!("synced {}", super::views::ago(at)),
                (None, None) if sh.marketplace == "etsy" && sh.connected => "not synced yet".to_owned(),
                (None, None) => "by webhook".to_owned(),
            };
            let headroom = headroom_words(&sh, s.marketplaces.etsy_tenant_share, now);
            ShopRow { s: sh, token, sync, headroom }
        })
        .collect();
    let describe = |rows: Providers, (one, many): (&str, &str), none: &str| -> (String, String) {
        if rows.is_empty() {
            return ("—".into(), none.into());
        }
        let names: Vec<_> = rows.iter().map(|(n, _)| n.clone()).collect();
        let total: i64 = rows.iter().map(|(_, c)| c).sum();
        (names.join(", "), format!("{total} {}", if total == 1 { one } else { many }))
    };
    let used = operations::providers_used(&s.pool, &caller.tenant).await?;
    let ideas = describe(used.ideation, ("idea", "ideas"), "no ideas yet");
    let renderers = describe(used.rendering, ("design", "designs"), "no designs yet");
    let sources = describe(used.sources, ("refresh", "refreshes"), "no source refreshed yet");
    let services = vec![
        ("Ideation", ideas.0, ideas.1),
        ("Design rendering", renderers.0, renderers.1),
        ("Trend sources", sources.0, sources.1),
    ];
    let linked: Vec<String> = sqlx::query_scalar("SELECT provider FROM user_identities WHERE user_id = $1")
        .bind(session.user_id)
        .fetch_all(&s.pool)
        .await?;
    let sign_in = s.providers.iter().map(|p| (p.name.clone(), p.label.clone(), linked.contains(&p.name))).collect();
    let notice = match (n.connected.as_deref(), n.disconnected) {
        _ if n.defaults.is_some() => {
            Some("Listing defaults saved: listings published to the shop from now on are drafted with them.")
        }
        (Some("etsy"), _) => Some("Etsy shop connected: it shows here as soon as it is recorded."),
        (Some("printify"), _) => {
            Some("Printify shop connected, its order webhooks registered: it shows here as soon as it is recorded.")
        }
        (_, Some(_)) => Some("Shop disconnected: nothing more is published to it, and its tokens are forgotten."),
        _ => None,
    };
    Ok(render(&IntegrationsPage {
        shell: Shell::load(&s, &session, "integrations").await?,
        shops,
        services,
        sign_in,
        owner: session.role == Role::Owner,
        etsy_missing: s.marketplaces.etsy().err(),
        printify_missing: s.marketplaces.printify().err(),
        notice,
    }))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct OwnerForm {
    #[serde(default)]
    csrf: String,
}

/// A change to the shop's connections: from this site's own form, by an
/// owner.
fn owner_action(session: &Session, headers: &HeaderMap, csrf: &str) -> Result<(), Problem> {
    check_origin(headers)?;
    if !session.csrf_matches(csrf) {
        return Err(Problem::forbidden("change connections from the dashboard's own buttons"));
    }
    session.caller().require(Role::Owner)
}

/// Sends the owner to Etsy to let this app manage their shop (OAuth 2 with
/// PKCE; the state and verifier are kept here, bound to the owner and shop).
pub async fn connect_etsy(
    Person(session): Person,
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<OwnerForm>,
) -> Result<Response, PageError> {
    owner_action(&session, &headers, &f.csrf)?;
    let (etsy, _) = s.marketplaces.etsy().map_err(|why| Problem::new(StatusCode::CONFLICT, why))?;
    let started = etsy.oauth.authorize();
    connections::begin(&s.pool, &session.tenant, session.user_id, "etsy", &started).await?;
    Ok(Redirect::to(&started.url).into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct EtsyCallback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Etsy sends the owner back here with a code (or why not). The state must
/// be one this owner started in this shop, unused and in time.
pub async fn etsy_callback(
    Person(session): Person,
    State(s): State<AppState>,
    Query(q): Query<EtsyCallback>,
) -> Result<Response, PageError> {
    // Still an owner (not demoted since pressing the button).
    session.caller().require(Role::Owner)?;
    let state = q.state.as_deref().unwrap_or_default();
    let verifier =
        connections::finish(&s.pool, &session.tenant, session.user_id, "etsy", state).await?.ok_or_else(|| {
            Problem::bad_request(
                "state",
                "this connection has expired, was used already or was started by someone else; connect again",
            )
        })?;
    if let Some(error) = q.error {
        let why = text::note(q.error_description.as_deref().unwrap_or(&error));
        return Err(Problem::forbidden(format!("Etsy did not connect the shop: {why}")).into());
    }
    let code = q.code.ok_or_else(|| Problem::bad_request("code", "Etsy's answer lacked its code; connect again"))?;
    marketplaces::connect_etsy_shop(&s, &session.tenant, &code, &verifier).await?;
    Ok(Redirect::to("/integrations?connected=etsy").into_response())
}

/// Disconnects a shop: nothing is published to it any more, and its tokens
/// are forgotten.
pub async fn disconnect(
    Person(session): Person,
    State(s): State<AppState>,
    PathId(shop_id): PathId,
    headers: HeaderMap,
    Form(f): Form<OwnerForm>,
) -> Result<Response, PageError> {
    owner_action(&session, &headers, &f.csrf)?;
    let why = Note::parse(&format!("disconnected by {}", text::note(&session.display_name)))
        .map_err(|e| Problem::internal(format!("a disconnect note: {e}")))?;
    marketplaces::disconnect_shop(&s, &session.tenant, shop_id, why).await?;
    Ok(Redirect::to("/integrations?disconnected=1").into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct PrintifyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    /// The Printify shop chosen, when the token has several.
    #[serde(default)]
    shop: Option<String>,
    /// The held token's state, when choosing among several shops.
    #[serde(default)]
    pending: Option<String>,
}

/// The token's Printify shops, to choose the one to connect.
#[derive(Template)]
#[template(path = "printify_choose.html")]
struct ChoosePrintifyShop {
    shell: Shell,
    /// Names the token held while choosing (the token stays sealed here).
    pending: String,
    shops: Vec<pod_marketplaces::printify::PrintifyShop>,
}

/// Connects a Printify shop with the owner's personal access token (and,
/// when the token has several shops, the one they chose).
pub async fn connect_printify(
    Person(session): Person,
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<PrintifyForm>,
) -> Result<Response, PageError> {
    owner_action(&session, &headers, &f.csrf)?;
    let chosen = match f.shop.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(v.parse().map_err(|_| Problem::bad_request("shop", "is not a Printify shop id"))?),
    };
    let (_, keys) = s.marketplaces.printify().map_err(|why| Problem::new(StatusCode::CONFLICT, why))?;
    let token = match f.pending.as_deref().filter(|p| !p.is_empty()) {
        None => f.token,
        Some(held) => connections::take_token(&s.pool, keys, &session.tenant, session.user_id, held)
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| {
                Problem::bad_request("pending", "this choice has expired or was made already; connect again")
            })?
            .expose()
            .to_owned(),
    };
    match marketplaces::connect_printify_shop(&s, &session.tenant, &token, chosen).await? {
        marketplaces::PrintifyConnect::Connected(_) => {
            Ok(Redirect::to("/integrations?connected=printify").into_response())
        }
        marketplaces::PrintifyConnect::Choose(shops) => {
            let held = pod_marketplaces::Secret::new(token);
            let pending = connections::hold_token(&s.pool, keys, &session.tenant, session.user_id, &held)
                .await
                .map_err(Problem::internal)?;
            let page = ChoosePrintifyShop {
                shell: Shell::load(&s, &session, "integrations").await?,
                pending: pending.expose().to_owned(),
                shops,
            };
            Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], render(&page)).into_response())
        }
    }
}

/// An option of a select: its value, its words, whether it is chosen.
pub struct Choice {
    pub value: u64,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "listing_defaults.html")]
struct ListingDefaultsPage {
    shell: Shell,
    shop_id: uuid::Uuid,
    shop: String,
    shipping: Vec<Choice>,
    returns: Vec<Choice>,
    /// Product type, and the profiles it can ship with instead.
    types: Vec<(String, Vec<Choice>)>,
}

impl ListingDefaultsPage {
    fn of(shell: Shell, o: ListingDefaultsOptions) -> Self {
        let profiles = |chosen: Option<u64>| -> Vec<Choice> {
            o.shipping_profiles
                .iter()
                .map(|p| Choice { value: p.id, label: p.title.clone(), selected: chosen == Some(p.id) })
                .collect()
        };
        let returns = o
            .return_policies
            .iter()
            .map(|p| Choice {
                value: p.id,
                label: format!("{} (#{})", p.terms, p.id),
                selected: o.return_policy_id == Some(p.id),
            })
            .collect();
        let types =
            o.product_types.iter().map(|t| (t.clone(), profiles(o.shipping_profile_by_type.get(t).copied()))).collect();
        Self {
            shell,
            shop_id: o.shop_id,
            shop: o.display_name.clone(),
            shipping: profiles(o.shipping_profile_id),
            returns,
            types,
        }
    }
}

/// The shop's listing defaults and what they can be, to choose (owners).
pub async fn listing_defaults(
    Person(session): Person,
    State(s): State<AppState>,
    PathId(shop_id): PathId,
) -> Result<Response, PageError> {
    session.caller().require(Role::Owner)?;
    let options = marketplaces::listing_defaults_options(&s, &session.tenant, shop_id).await?;
    let page = ListingDefaultsPage::of(Shell::load(&s, &session, "integrations").await?, options);
    Ok(render(&page))
}

/// Saves the owner's choice of the shop's listing defaults.
pub async fn choose_listing_defaults(
    Person(session): Person,
    State(s): State<AppState>,
    PathId(shop_id): PathId,
    headers: HeaderMap,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let csrf = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or_default();
    owner_action(&session, &headers, csrf)?;
    let choice = defaults_form(&fields)?;
    let by = session.caller().actor();
    let meta = pod_events::EventMeta::new_command();
    marketplaces::choose_listing_defaults(&s, &session.tenant, by, shop_id, choice, &meta).await?;
    Ok(Redirect::to("/integrations?defaults=1").into_response())
}

/// The listing-defaults form's choice, each id
/// checked to be one (`type:<product type>` fields name a type's own
/// profile; empty is the shop's).
fn defaults_form(fields: &[(String, String)]) -> Result<ListingDefaultsChoice, Problem> {
    let id = |field: &str, v: &str| -> Result<Option<u64>, Problem> {
        match v.trim() {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| Problem::bad_request(field, "is not a choice offered: reload and choose again")),
        }
    };
    let (mut shipping, mut returns) = (None, None);
    let mut by_type = std::collections::BTreeMap::new();
    for (name, value) in fields {
        match name.as_str() {
            "shipping_profile_id" => shipping = id("shipping_profile_id", value)?,
            "return_policy_id" => returns = id("return_policy_id", value)?,
            _ => {
                if let Some(product_type) = name.strip_prefix("type:")
                    && let Some(profile) = id("shipping_profile_by_type", value)?
                {
                    by_type.insert(product_type.to_owned(), profile);
                }
            }
        }
    }
    let shipping_profile_id =
        shipping.ok_or_else(|| Problem::bad_request("shipping_profile_id", "choose a shipping profile"))?;
    Ok(ListingDefaultsChoice { shipping_profile_id, return_policy_id: returns, shipping_profile_by_type: by_type })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_defaults_form_reads_as_a_choice() {
        let c = defaults_form(&fields(&[
            ("csrf", "tok"),
            ("shipping_profile_id", "192"),
            ("return_policy_id", ""),
            ("type:mug", "191"),
            ("type:t-shirt", ""),
            ("unrelated", "x"),
        ]))
        .unwrap();
        assert_eq!((c.shipping_profile_id, c.return_policy_id), (192, None));
        assert_eq!(c.shipping_profile_by_type, std::collections::BTreeMap::from([("mug".to_owned(), 191)]));
        for (bad, field) in [
            (vec![("return_policy_id", "1")], "shipping_profile_id"),
            (vec![("shipping_profile_id", "-1")], "shipping_profile_id"),
            (vec![("shipping_profile_id", "1"), ("return_policy_id", "x\u{0}")], "return_policy_id"),
            (vec![("shipping_profile_id", "1"), ("type:mug", "99999999999999999999999")], "shipping_profile_by_type"),
        ] {
            let p = defaults_form(&fields(&bad)).unwrap_err();
            assert_eq!(p.details().errors[0].field, field, "{bad:?}");
        }
    }

    fn etsy_shop() -> Shop {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Shop {
            shop_id: uuid::Uuid::nil(),
            marketplace: "etsy".into(),
            external_shop_id: "5".into(),
            display_name: "Cat Tees".into(),
            sales_channel: None,
            connected: true,
            token_expires_at: None,
            connected_at: at,
            refreshed_at: None,
            disconnected_at: None,
            disconnect_reason: None,
            needs_reconnect: false,
            needs_reconnect_reason: None,
            last_synced_at: None,
            sync_error: None,
            app_requests_left: Some(9_870),
            app_requests_per_day: Some(10_000),
            app_headroom_seen_at: Some(at),
            tenant_requests_today: Some(1_130),
        }
    }

    #[test]
    fn an_etsy_shops_headroom_is_the_apps_day_left_and_the_accounts_share_spent() {
        let sh = etsy_shop();
        let now = sh.app_headroom_seen_at.unwrap() + Duration::minutes(3);
        assert_eq!(
            headroom_words(&sh, Some(5_000), now),
            "9,870 of 10,000 app requests left today (3 min ago); this account used 1,130 of its 5,000 today"
        );
        assert_eq!(headroom_words(&sh, None, now), "9,870 of 10,000 app requests left today (3 min ago)");
        let unheard = Shop { app_requests_left: None, app_headroom_seen_at: None, tenant_requests_today: None, ..sh };
        assert_eq!(
            headroom_words(&unheard, Some(5_000), now),
            "no answer from Etsy yet; this account used 0 of its 5,000 today"
        );
        let printify = Shop { marketplace: "printify".into(), ..unheard };
        assert_eq!(headroom_words(&printify, Some(5_000), now), "paced per shop by the publisher");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(
            [0, 999, 1_000, 10_000, 1_234_567, -4_200].map(grouped),
            ["0", "999", "1,000", "10,000", "1,234,567", "-4,200"]
        );
    }
}
