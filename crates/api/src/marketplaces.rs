//! The marketplaces this server connects shops to, as configured: Etsy when
//! the app has a keystring, and the vault's keys that seal every shop's
//! tokens. What is missing is said once, to the person who tries.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use pod_events::domain::Actor;
use pod_events::domain::shop::{Marketplace, ShopCommand, ShopConnected, ShopError};
use pod_events::domain::text::{self, DisplayName, Note};
use pod_events::store::CommandError;
use pod_events::{AggregateId, EventMeta, TenantId, Transient};
use pod_marketplaces::credentials::{self, Credential, Kind};
use pod_marketplaces::etsy::api::{ApiError, EtsyApi, ReturnPolicy, ShippingProfile};
use pod_marketplaces::etsy::tokens::{ShopTokens, TokenError};
use pod_marketplaces::etsy::{EtsyOAuth, OAuthError};
use pod_marketplaces::printify::{self, ApiError as PrintifyError, PrintifyApi, PrintifyShop};
use pod_marketplaces::{Keyring, MarketplacesSettings, Secret};
use uuid::Uuid;

use crate::AppState;
use crate::command::{failed, refused};
use crate::problem::{Problem, store_failure};
use pod_projections::read::publishing;

const NO_KEYS: &str =
    "no vault keys to seal shop tokens with: set POD__VAULT__KEYS (`pod vault new-key --id …` makes one)";

/// Where Etsy sends a seller back after they consent.
pub const ETSY_CALLBACK: &str = "/integrations/etsy/callback";

/// Etsy, ready to connect shops.
#[derive(Debug, Clone)]
pub struct EtsyConnector {
    pub oauth: EtsyOAuth,
    pub api: EtsyApi,
    /// How long before expiry a shop's access token is refreshed.
    pub refresh_ahead: chrono::Duration,
    /// The product types Etsy can be published to with (those with a
    /// taxonomy), each of which may ship with its own profile.
    pub product_types: Vec<String>,
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
                    refresh_ahead: chrono::Duration::seconds(settings.etsy.refresh_ahead_secs.into()),
                    product_types: settings.etsy.product_types(),
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
        ApiError::Unavailable(why) => Problem::unavailable(format!("Etsy could not be reached: {why}; try again")),
        ApiError::RateLimited(wait) => {
            Problem::unavailable(format!("Etsy asks to wait {} s; try again then", wait.as_secs().max(1)))
        }
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
    let id = AggregateId::derived(tenant.clone(), "shop", &format!("etsy/{}", shop.shop_id));
    // Connected again: what the owner chose is kept where the shop still
    // has it (as the Shop holds it now, not as a read model may lag).
    let chosen = s
        .shops
        .store()
        .load_fresh(&id)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, shop = %id, "reading a shop being connected");
            Problem::unavailable("the shop could not be read just now; connect again")
        })?
        .aggregate
        .listing_defaults;
    let (profiles, policies) = etsy_policies(&etsy.api, &tokens.access, shop.shop_id).await.map_err(etsy_api_failed)?;
    let mut listing_defaults =
        chosen.kept_on(&ids(&profiles, |p| p.shipping_profile_id), &ids(&policies, |p| p.return_policy_id));
    listing_defaults.currency = shop.currency_code.as_deref().and_then(pod_marketplaces::etsy::receipts::currency_code);
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

/// The shop's shipping profiles and return policies on Etsy (oldest
/// first), what its listings can be drafted with. Until the seller chooses
/// (Integrations → Listing defaults) its first ones are; a shop that has
/// none gets none, and publishing to it says to add one.
async fn etsy_policies(
    api: &EtsyApi,
    token: &Secret,
    shop_id: u64,
) -> Result<(Vec<ShippingProfile>, Vec<ReturnPolicy>), ApiError> {
    Ok((api.shipping_profiles(token, shop_id).await?, api.return_policies(token, shop_id).await?))
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> u64) -> Vec<u64> {
    items.iter().map(id).collect()
}

/// A shipping profile a seller can choose.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ShippingProfileOption {
    pub id: u64,
    /// Its title on Etsy, one line.
    pub title: String,
}

/// A return policy a seller can choose.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ReturnPolicyOption {
    pub id: u64,
    /// Its terms in words ("Returns and exchanges within 30 days").
    pub terms: String,
}

/// What an Etsy shop's listings are drafted with, and what it could be.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ListingDefaultsOptions {
    pub shop_id: Uuid,
    pub display_name: String,
    /// Chosen now (the shop's first ones until the seller chooses).
    pub shipping_profile_id: Option<u64>,
    pub return_policy_id: Option<u64>,
    /// Product type → its own shipping profile, where it has one.
    pub shipping_profile_by_type: BTreeMap<String, u64>,
    /// The shop's shipping profiles on Etsy now, oldest first.
    pub shipping_profiles: Vec<ShippingProfileOption>,
    pub return_policies: Vec<ReturnPolicyOption>,
    /// The product types that can be published to Etsy here.
    pub product_types: Vec<String>,
}

/// A seller's choice of what an Etsy shop's listings are drafted with.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingDefaultsChoice {
    /// One of the shop's shipping profiles.
    pub shipping_profile_id: u64,
    /// One of the shop's return policies, or none.
    #[serde(default)]
    pub return_policy_id: Option<u64>,
    /// Product type → the shipping profile its listings ship with instead.
    #[serde(default)]
    pub shipping_profile_by_type: BTreeMap<String, u64>,
}

/// A connected Etsy shop of the tenant's, with Etsy and the vault's keys,
/// or why its listing defaults cannot be chosen.
async fn connected_etsy_shop<'a>(
    s: &'a AppState,
    tenant: &TenantId,
    shop_id: Uuid,
) -> Result<(publishing::ShopDefaults, &'a EtsyConnector, &'a Arc<Keyring>), Problem> {
    let shop = publishing::shop_defaults(&s.pool, tenant, shop_id).await?.ok_or_else(|| Problem::not_found("shop"))?;
    if shop.marketplace != "etsy" {
        return Err(refused(ShopError::NoListingDefaults));
    }
    if !shop.connected {
        return Err(refused("that shop is disconnected: connect it again first"));
    }
    if shop.needs_reconnect {
        return Err(refused("Etsy no longer takes that shop's tokens: connect it again first"));
    }
    let (etsy, keys) = s.marketplaces.etsy().map_err(|why| Problem::new(StatusCode::CONFLICT, why))?;
    Ok((shop, etsy, keys))
}

/// A shop's access token (refreshed ahead of expiry, or after Etsy
/// `rejected` one), recording a refresh; a grant Etsy refuses marks the
/// shop as needing reconnection.
async fn shop_access(
    s: &AppState,
    tokens: &ShopTokens,
    tenant: &TenantId,
    shop_id: Uuid,
    rejected: Option<&Secret>,
) -> Result<Secret, Problem> {
    let got = match rejected {
        None => tokens.access(tenant, shop_id).await,
        Some(r) => tokens.after_rejection(tenant, shop_id, r).await,
    };
    let id = AggregateId::new(tenant.clone(), shop_id);
    match got {
        Ok(access) => {
            if let Some(token_expires_at) = access.refreshed_until {
                let refreshed = ShopCommand::RecordTokenRefresh { token_expires_at };
                s.shops.execute(&id, refreshed, &EventMeta::new_command()).await.map_err(failed)?;
            }
            Ok(access.token)
        }
        Err(TokenError::NeedsReconnect { reason, .. }) => {
            let reason = Note::parse(&text::note(&reason)).map_err(|e| Problem::internal(e.to_string()))?;
            let mark = ShopCommand::MarkNeedsReconnect { reason };
            s.shops.execute(&id, mark, &EventMeta::new_command()).await.map_err(failed)?;
            Err(refused("Etsy no longer takes that shop's tokens: connect it again first"))
        }
        Err(e) => Err(token_failed(e)),
    }
}

/// A token that could not be had, as a client is told it (the vault's and
/// the database's own words are logged, not answered).
fn token_failed(e: TokenError) -> Problem {
    match e {
        TokenError::NotConnected { .. } => refused("that shop has no Etsy tokens: connect it again"),
        TokenError::Refresh { source: OAuthError::Unavailable(why), .. } => {
            Problem::unavailable(format!("Etsy could not be reached: {why}; try again"))
        }
        TokenError::Refresh { source, .. } => {
            Problem::new(StatusCode::BAD_GATEWAY, format!("Etsy did not refresh the shop's token: {source}"))
        }
        e if e.is_transient() => {
            tracing::warn!(error = %e, "a shop's Etsy token could not be had");
            Problem::unavailable("the shop's tokens could not be read just now; try again")
        }
        e => {
            tracing::error!(error = %e, "a shop's Etsy token could not be had");
            Problem::internal("the shop's tokens could not be read")
        }
    }
}

/// The shop's shipping profiles and return policies as Etsy lists them now
/// (with a token refreshed once if Etsy refuses the one kept).
async fn policies_of(
    s: &AppState,
    etsy: &EtsyConnector,
    keys: &Arc<Keyring>,
    tenant: &TenantId,
    shop: &publishing::ShopDefaults,
) -> Result<(Vec<ShippingProfile>, Vec<ReturnPolicy>), Problem> {
    let etsy_shop: u64 = shop
        .external_shop_id
        .parse()
        .map_err(|_| Problem::internal(format!("shop {} has no Etsy shop id", shop.shop_id)))?;
    let tokens = ShopTokens::new(s.pool.clone(), Arc::clone(keys), etsy.oauth.clone(), etsy.refresh_ahead);
    let token = shop_access(s, &tokens, tenant, shop.shop_id, None).await?;
    let listed = match etsy_policies(&etsy.api, &token, etsy_shop).await {
        Err(ApiError::Unauthorized) => {
            let token = shop_access(s, &tokens, tenant, shop.shop_id, Some(&token)).await?;
            etsy_policies(&etsy.api, &token, etsy_shop).await
        }
        other => other,
    };
    listed.map_err(etsy_api_failed)
}

/// What the tenant's Etsy shop's listings are drafted with, and the
/// shipping profiles and return policies it has on Etsy to choose from.
pub async fn listing_defaults_options(
    s: &AppState,
    tenant: &TenantId,
    shop_id: Uuid,
) -> Result<ListingDefaultsOptions, Problem> {
    let (shop, etsy, keys) = connected_etsy_shop(s, tenant, shop_id).await?;
    let (profiles, policies) = policies_of(s, etsy, keys, tenant, &shop).await?;
    let now = shop.listing_defaults();
    Ok(ListingDefaultsOptions {
        shop_id,
        display_name: shop.display_name.clone(),
        shipping_profile_id: now.shipping_profile_id,
        return_policy_id: now.return_policy_id,
        shipping_profile_by_type: now.shipping_profile_by_type,
        shipping_profiles: profiles
            .iter()
            .map(|p| {
                let title = p.title.as_deref().map(display_name).filter(|t| !t.is_empty());
                let title = title.unwrap_or_else(|| format!("Profile {}", p.shipping_profile_id));
                ShippingProfileOption { id: p.shipping_profile_id, title }
            })
            .collect(),
        return_policies: policies
            .iter()
            .map(|p| ReturnPolicyOption { id: p.return_policy_id, terms: p.terms() })
            .collect(),
        product_types: etsy.product_types.clone(),
    })
}

/// Records the seller's choice of what the tenant's Etsy shop's listings
/// are drafted with, each id checked against what the shop has on Etsy now
/// and each product type against those Etsy is published with here.
pub async fn choose_listing_defaults(
    s: &AppState,
    tenant: &TenantId,
    by: Actor,
    shop_id: Uuid,
    choice: ListingDefaultsChoice,
    meta: &EventMeta,
) -> Result<(), Problem> {
    let (shop, etsy, keys) = connected_etsy_shop(s, tenant, shop_id).await?;
    let (profiles, policies) = policies_of(s, etsy, keys, tenant, &shop).await?;
    let errors = choice_errors(
        &choice,
        &ids(&profiles, |p| p.shipping_profile_id),
        &ids(&policies, |p| p.return_policy_id),
        &etsy.product_types,
    );
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let command = ShopCommand::ChooseListingDefaults {
        shipping_profile_id: choice.shipping_profile_id,
        return_policy_id: choice.return_policy_id,
        shipping_profile_by_type: choice.shipping_profile_by_type,
        by,
    };
    s.shops.execute(&AggregateId::new(tenant.clone(), shop_id), command, meta).await.map(drop).map_err(failed)
}

/// What is wrong with a choice, field by field, given the shop's profiles
/// and policies on Etsy and the product types published here.
fn choice_errors(
    choice: &ListingDefaultsChoice,
    profiles: &[u64],
    policies: &[u64],
    product_types: &[String],
) -> Vec<crate::problem::FieldError> {
    let error = |field: String, message: &str| crate::problem::FieldError { field, message: message.to_owned() };
    let mut errors = Vec::new();
    if !profiles.contains(&choice.shipping_profile_id) {
        errors.push(error(
            "shipping_profile_id".into(),
            "is not one of the shop's shipping profiles on Etsy (it may have been deleted there): reload and choose again",
        ));
    }
    if choice.return_policy_id.is_some_and(|id| !policies.contains(&id)) {
        errors.push(error(
            "return_policy_id".into(),
            "is not one of the shop's return policies on Etsy: reload and choose again",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    let (mut unknown, mut twice) = (false, false);
    for (product_type, id) in &choice.shipping_profile_by_type {
        let wanted = product_type.trim().to_lowercase();
        if !product_types.contains(&wanted) {
            unknown = true;
        } else if !seen.insert(wanted.clone()) {
            twice = true;
        } else if !profiles.contains(id) {
            errors.push(error(
                format!("shipping_profile_by_type.{wanted}"),
                "is not one of the shop's shipping profiles on Etsy: reload and choose again",
            ));
        }
    }
    if unknown {
        errors.push(error(
            "shipping_profile_by_type".into(),
            "names a product type that is not published to Etsy here (one with a taxonomy in marketplaces.etsy.taxonomies)",
        ));
    }
    if twice {
        errors.push(error("shipping_profile_by_type".into(), "names a product type twice"));
    }
    errors
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
    fn a_choice_is_checked_against_the_shops_policies_and_the_product_types() {
        let types = ["mug".to_owned(), "t-shirt".to_owned()];
        let choice = |profile, policy, by_type: &[(&str, u64)]| ListingDefaultsChoice {
            shipping_profile_id: profile,
            return_policy_id: policy,
            shipping_profile_by_type: by_type.iter().map(|(t, id)| (t.to_string(), *id)).collect(),
        };
        let fields = |c: &ListingDefaultsChoice| {
            choice_errors(c, &[191, 192], &[291], &types).into_iter().map(|e| e.field).collect::<Vec<_>>()
        };
        assert!(fields(&choice(192, Some(291), &[("Mug", 191)])).is_empty());
        assert!(fields(&choice(192, None, &[])).is_empty());
        assert_eq!(fields(&choice(7, Some(8), &[])), ["shipping_profile_id", "return_policy_id"]);
        assert_eq!(
            fields(&choice(191, None, &[("mug", 9), ("hoodie", 191), ("\u{202E}x", 191)])),
            ["shipping_profile_by_type.mug", "shipping_profile_by_type"]
        );
        assert_eq!(fields(&choice(191, None, &[("Mug", 191), ("mug", 192)])), ["shipping_profile_by_type"]);
    }

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
