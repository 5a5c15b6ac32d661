//! The marketplaces this server connects shops to, as configured: Etsy when
//! the app has a keystring, and the vault's keys that seal every shop's
//! tokens. What is missing is said once, to the person who tries.

use std::sync::Arc;

use axum::http::StatusCode;
use pod_events::domain::shop::{ListingDefaults, Marketplace, ShopCommand, ShopConnected, ShopError};
use pod_events::domain::text::{self, DisplayName, Note};
use pod_events::store::CommandError;
use pod_events::{AggregateId, EventMeta, TenantId};
use pod_marketplaces::credentials::{self, Credential, Kind};
use pod_marketplaces::etsy::api::{ApiError, EtsyApi};
use pod_marketplaces::etsy::{EtsyOAuth, OAuthError};
use pod_marketplaces::printify::{self, ApiError as PrintifyError, PrintifyApi, PrintifyShop};
use pod_marketplaces::{Keyring, MarketplacesSettings, Secret};
use uuid::Uuid;

use crate::AppState;
use crate::command::failed;
use crate::problem::{Problem, store_failure};

const NO_KEYS: &str =
    "no vault keys to seal shop tokens with: set POD__VAULT__KEYS (`pod vault new-key --id …` makes one)";

/// Where Etsy sends a seller back after they consent.
pub const ETSY_CALLBACK: &str = "/integrations/etsy/callback";

/// Etsy, ready to connect shops.
#[derive(Debug, Clone)]
pub struct EtsyConnector {
    pub oauth: EtsyOAuth,
    pub api: EtsyApi,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Printify(#[from] PrintifyError),
}

/// What can be connected here.
#[derive(Debug, Clone, Default)]
pub struct Connectors {
    /// The keys tokens are sealed with (`POD__VAULT__KEYS`).
    pub keys: Option<Arc<Keyring>>,
    pub etsy: Option<EtsyConnector>,
    /// Printify needs no app key: shops connect with their own tokens.
    pub printify: Option<PrintifyApi>,
    /// Where marketplaces reach this server (webhooks).
    pub public_url: String,
    /// A tenant's share of the Etsy app's requests a day, where it is less
    /// than the whole day.
    pub etsy_tenant_share: Option<u32>,
}

impl Connectors {
    /// From settings; Etsy only with a keystring. Settings that are there
    /// but wrong (a URL that is not one) fail here, naming the setting.
    pub fn configure(
        settings: &MarketplacesSettings,
        keys: Option<Keyring>,
        public_url: &str,
    ) -> Result<Self, ConnectorError> {
        let etsy = match settings.etsy.keystring.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(_) => {
                let redirect = format!("{}{ETSY_CALLBACK}", public_url.trim_end_matches('/'));
                Some(EtsyConnector {
                    oauth: EtsyOAuth::new(&settings.etsy, &redirect)?,
                    api: EtsyApi::new(&settings.etsy)?,
                })
            }
        };
        Ok(Self {
            keys: keys.map(Arc::new),
            etsy,
            printify: Some(PrintifyApi::new(&settings.printify)?),
            public_url: public_url.trim_end_matches('/').to_owned(),
            etsy_tenant_share: (settings.etsy.tenant_requests_per_day < settings.etsy.requests_per_day)
                .then_some(settings.etsy.tenant_requests_per_day),
        })
    }

    /// Printify and the keys, or why a shop cannot be connected to it here.
    pub fn printify(&self) -> Result<(&PrintifyApi, &Arc<Keyring>), &'static str> {
        let printify = self.printify.as_ref().ok_or("Printify is not set up here")?;
        Ok((printify, self.keys()?))
    }

    fn keys(&self) -> Result<&Arc<Keyring>, &'static str> {
        self.keys.as_ref().ok_or(NO_KEYS)
    }

    /// Etsy and the keys, or why a shop cannot be connected to it here.
    pub fn etsy(&self) -> Result<(&EtsyConnector, &Arc<Keyring>), &'static str> {
        let etsy = self
            .etsy
            .as_ref()
            .ok_or("Etsy is not set up here: set marketplaces.etsy.keystring (POD__MARKETPLACES__ETSY__KEYSTRING)")?;
        let keys = self.keys.as_ref().ok_or(
            "no vault keys to seal shop tokens with: set POD__VAULT__KEYS (`pod vault new-key --id …` makes one)",
        )?;
        Ok((etsy, keys))
    }
}

/// What a seller's consent gave, as a problem when it gave nothing usable.
fn etsy_refused(e: OAuthError) -> Problem {
    match e {
        OAuthError::Unavailable(why) => {
            Problem::unavailable(format!("Etsy could not be reached: {why}; connect again"))
        }
        other => {
            Problem::new(StatusCode::BAD_GATEWAY, format!("Etsy did not connect the shop: {other}; connect again"))
        }
    }
}

fn etsy_api_failed(e: ApiError) -> Problem {
    match e {
        ApiError::Unavailable(why) => Problem::unavailable(format!("Etsy could not be reached: {why}; connect again")),
        other => Problem::new(StatusCode::BAD_GATEWAY, format!("Etsy did not describe the shop: {other}")),
    }
}

/// A shop's name as a marketplace gives it, fit for a display name: one
/// line, no control or bidirectional override characters, 100 characters.
fn display_name(raw: &str) -> String {
    let one_line = text::note(raw).replace(['\n', '\t'], " ");
    one_line.chars().take(DisplayName::MAX_CHARS).collect::<String>().trim().to_owned()
}

/// Finishes connecting an Etsy shop to `tenant` with the code its owner
/// came back with: the tokens are kept sealed (the refresh token first),
/// then the Shop records the connection (or, for a shop already connected,
/// its new tokens). The shop's id derives from the tenant and Etsy's shop
/// id, so connecting the same Etsy shop again is the same Shop. Returns
/// the shop's name.
pub async fn connect_etsy_shop(
    s: &AppState,
    tenant: &TenantId,
    code: &str,
    verifier: &Secret,
) -> Result<String, Problem> {
    let (etsy, keys) = s.marketplaces.etsy().map_err(|why| Problem::new(StatusCode::CONFLICT, why))?;
    let tokens = etsy.oauth.exchange(code, verifier).await.map_err(etsy_refused)?;
    let me = etsy.api.me(&tokens.access).await.map_err(etsy_api_failed)?;
    let Some(etsy_shop_id) = me.shop_id else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "this Etsy account has no shop yet: open one on Etsy, then connect",
        ));
    };
    let shop = etsy.api.shop(&tokens.access, etsy_shop_id).await.map_err(etsy_api_failed)?;
    let mut listing_defaults = etsy_listing_defaults(&etsy.api, &tokens.access, shop.shop_id).await?;
    listing_defaults.currency = shop.currency_code.as_deref().and_then(pod_marketplaces::etsy::receipts::currency_code);
    let id = AggregateId::derived(tenant.clone(), "shop", &format!("etsy/{}", shop.shop_id));
    pod_marketplaces::etsy::tokens::keep(&s.pool, keys, tenant, id.id, &tokens).await.map_err(store_failure)?;
    let name = display_name(&shop.shop_name);
    let connect = ShopCommand::Connect(ShopConnected {
        marketplace: Marketplace::Etsy,
        external_shop_id: shop.shop_id.to_string(),
        display_name: name.clone(),
        token_expires_at: Some(tokens.expires_at),
        listing_defaults,
        sales_channel: None,
    });
    match s.shops.execute(&id, connect, &EventMeta::new_command()).await {
        Ok(_) => {}
        // Connected already: the consent gave it new tokens.
        Err(CommandError::Rejected(ShopError::AlreadyConnected)) => {
            let refreshed = ShopCommand::RecordTokenRefresh { token_expires_at: tokens.expires_at };
            s.shops.execute(&id, refreshed, &EventMeta::new_command()).await.map_err(failed)?;
        }
        Err(e) => return Err(failed(e)),
    }
    Ok(name)
}

/// What the shop's listings are drafted with when published straight to
/// it: its first shipping profile and return policy (Etsy lists them
/// oldest first; a shop that has none gets none, and publishing to it says
/// to add one and connect again).
async fn etsy_listing_defaults(api: &EtsyApi, token: &Secret, shop_id: u64) -> Result<ListingDefaults, Problem> {
    let profiles = api.shipping_profiles(token, shop_id).await.map_err(etsy_api_failed)?;
    let policies = api.return_policies(token, shop_id).await.map_err(etsy_api_failed)?;
    Ok(ListingDefaults {
        shipping_profile_id: profiles.first().map(|p| p.shipping_profile_id),
        return_policy_id: policies.first().map(|p| p.return_policy_id),
        currency: None,
    })
}

/// Disconnects a tenant's shop and forgets its tokens. A shop already
/// disconnected has its tokens forgotten all the same (a disconnect that
/// stopped half-way is finished). A Printify shop's webhooks to us are
/// removed first, while its token still works (best effort: Printify may
/// have revoked it; deliveries for a shop we forgot are answered 404).
pub async fn disconnect_shop(s: &AppState, tenant: &TenantId, shop_id: Uuid, why: Note) -> Result<(), Problem> {
    if let Err(e) = forget_printify_webhooks(s, tenant, shop_id).await {
        tracing::warn!(%tenant, %shop_id, error = %e, "Printify webhooks of a disconnected shop were not removed");
    }
    let id = AggregateId::new(tenant.clone(), shop_id);
    match s.shops.execute(&id, ShopCommand::Disconnect { reason: why }, &EventMeta::new_command()).await {
        Ok(_) | Err(CommandError::Rejected(ShopError::NotConnected)) => {}
        Err(e) => return Err(failed(e)),
    }
    credentials::forget(&s.pool, tenant, shop_id).await.map_err(store_failure)?;
    Ok(())
}

/// Removes our webhooks from a Printify shop (nothing for other shops).
async fn forget_printify_webhooks(s: &AppState, tenant: &TenantId, shop_id: Uuid) -> Result<(), String> {
    let (Some(api), Some(keys)) = (&s.marketplaces.printify, &s.marketplaces.keys) else { return Ok(()) };
    let external: Option<String> = sqlx::query_scalar(
        "SELECT external_shop_id FROM shops WHERE tenant = $1 AND shop_id = $2 AND marketplace = 'printify'",
    )
    .bind(tenant)
    .bind(shop_id)
    .fetch_optional(&s.pool)
    .await
    .map_err(|e| e.to_string())?;
    let Some(printify_shop) = external.and_then(|e| e.parse::<u64>().ok()) else { return Ok(()) };
    let Some(token) =
        credentials::load(&s.pool, keys, tenant, shop_id, Kind::ApiToken).await.map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let ours = printify::webhook_url(&s.marketplaces.public_url, shop_id);
    for hook in api.webhooks(&token.secret, printify_shop).await.map_err(|e| e.to_string())? {
        if hook.url == ours {
            api.delete_webhook(&token.secret, printify_shop, &hook.id).await.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// What a Printify token connected, or the shops to choose from.
#[derive(Debug)]
pub enum PrintifyConnect {
    Connected(String),
    Choose(Vec<PrintifyShop>),
}

/// The longest token taken (Printify's are JWTs of about 1,000 characters).
const MAX_TOKEN: usize = 4096;

/// A pasted token, checked.
fn printify_token(raw: &str) -> Result<Secret, Problem> {
    let token = raw.trim();
    if token.is_empty() {
        return Err(Problem::bad_request("token", "paste the personal access token from Printify's Connections page"));
    }
    if token.len() > MAX_TOKEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::bad_request("token", "is not a Printify token (visible ASCII, at most 4,096 characters)"));
    }
    Ok(Secret::new(token))
}

fn printify_failed(e: PrintifyError) -> Problem {
    match e {
        PrintifyError::Unauthorized => Problem::bad_request(
            "token",
            "Printify refused this token: check it was copied whole and has the shops, products, orders and webhooks scopes",
        ),
        PrintifyError::RateLimited(wait) => {
            Problem::unavailable(format!("Printify asks to wait {} s; try again then", wait.as_secs()))
        }
        PrintifyError::Unavailable(why) => Problem::unavailable(format!("Printify could not be reached: {why}")),
        other => Problem::new(StatusCode::BAD_GATEWAY, format!("Printify refused: {other}")),
    }
}

/// Connects a tenant's Printify shop with the owner's personal access
/// token: the shop is the one `chosen`, or the token's only shop (with
/// several and none chosen, they are returned to choose from). The token
/// and the shop's webhook secret (made on its first connection) are kept
/// sealed, Printify is asked to send the shop's order webhooks here signed
/// with that secret, and the Shop records the connection. The shop's id
/// derives from the tenant and Printify's id.
pub async fn connect_printify_shop(
    s: &AppState,
    tenant: &TenantId,
    token: &str,
    chosen: Option<u64>,
) -> Result<PrintifyConnect, Problem> {
    let (api, keys) = s.marketplaces.printify().map_err(|why| Problem::new(StatusCode::CONFLICT, why))?;
    let token = printify_token(token)?;
    let shops = api.shops(&token).await.map_err(printify_failed)?;
    let shop = match (chosen, shops.len()) {
        (Some(id), _) => shops
            .iter()
            .find(|sh| sh.id == id)
            .cloned()
            .ok_or_else(|| Problem::bad_request("shop", "is not a shop this token can use"))?,
        (None, 0) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "this Printify account has no shop yet: add one on Printify, then connect",
            ));
        }
        (None, 1) => shops[0].clone(),
        (None, _) => return Ok(PrintifyConnect::Choose(shops)),
    };
    let sales_channel = display_name(&shop.sales_channel);
    // Printify publishes a disconnected shop's products nowhere.
    if sales_channel.eq_ignore_ascii_case(printify::api::DISCONNECTED) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            format!(
                "the Printify shop “{}” has no sales channel: connect it to Etsy, Shopify or another channel on \
                 Printify first, then connect it here",
                display_name(&shop.title)
            ),
        ));
    }
    let id = AggregateId::derived(tenant.clone(), "shop", &format!("printify/{}", shop.id));
    // The shop keeps its webhook secret across reconnections: two connects
    // at once, or one that stopped half-way, register under the same one.
    let fresh = Credential { secret: printify::new_webhook_secret().map_err(Problem::internal)?, expires_at: None };
    let token_kept = Credential { secret: token.clone(), expires_at: None };
    let mut tx = s.pool.begin().await?;
    credentials::store(&mut *tx, keys, tenant, id.id, Kind::ApiToken, &token_kept).await.map_err(store_failure)?;
    credentials::store_if_absent(&mut *tx, keys, tenant, id.id, Kind::WebhookSecret, &fresh)
        .await
        .map_err(store_failure)?;
    let secret = credentials::load(&mut *tx, keys, tenant, id.id, Kind::WebhookSecret)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| Problem::internal("a webhook secret just stored is missing"))?
        .secret;
    tx.commit().await?;
    let hooks = printify::webhook_url(&s.marketplaces.public_url, id.id);
    api.register_webhooks(&token, shop.id, &hooks, &secret).await.map_err(printify_failed)?;
    let name = display_name(&shop.title);
    let connect = ShopCommand::Connect(ShopConnected {
        marketplace: Marketplace::Printify,
        external_shop_id: shop.id.to_string(),
        display_name: name.clone(),
        token_expires_at: None,
        listing_defaults: Default::default(),
        sales_channel: Some(sales_channel).filter(|c| !c.is_empty()),
    });
    match s.shops.execute(&id, connect, &EventMeta::new_command()).await {
        // Connected already: its token was just replaced, its webhooks renewed.
        Ok(_) | Err(CommandError::Rejected(ShopError::AlreadyConnected)) => Ok(PrintifyConnect::Connected(name)),
        Err(e) => Err(failed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marketplace_shop_name_becomes_a_display_name() {
        assert_eq!(display_name("Ink & Oak"), "Ink & Oak");
        assert_eq!(display_name("bad\u{0}name\u{202E}evil\nline"), "bad name evil line");
        assert_eq!(display_name(&"x".repeat(100_000)).chars().count(), DisplayName::MAX_CHARS);
    }
}

#[cfg(test)]
mod token_tests {
    use super::*;

    #[test]
    fn a_pasted_token_is_trimmed_and_checked() {
        assert_eq!(printify_token("  eyJ.abc  \n").unwrap().expose(), "eyJ.abc");
        for bad in ["", "   ", "eyJ\u{0}abc", "eyJ abc", "\u{202E}eyJ"] {
            let p = printify_token(bad).unwrap_err();
            assert_eq!(p.details().errors[0].field, "token", "{bad:?}");
        }
        assert!(printify_token(&"a".repeat(MAX_TOKEN + 1)).is_err());
    }
}
