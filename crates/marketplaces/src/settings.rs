//! `[marketplaces.etsy]` and `[marketplaces.printify]`: where each
//! marketplace's API and OAuth endpoints are (so tests and staging point
//! them at local servers, `POD__MARKETPLACES__ETSY__BASE_URL=…`), the app's
//! own key, and what it asks for.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::printify::catalog::{ProductTemplate, default_templates};

/// Every marketplace's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketplacesSettings {
    pub etsy: EtsySettings,
    pub printify: PrintifySettings,
}

/// The scopes a shop is connected with: read and write listings, read the
/// shop, read receipts.
pub const ETSY_SCOPES: [&str; 4] = ["listings_r", "listings_w", "shops_r", "transactions_r"];

/// `[marketplaces.etsy]`.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EtsySettings {
    /// Open API v3, without the `/v3`.
    pub base_url: String,
    /// Where the seller grants access.
    pub authorize_url: String,
    pub token_url: String,
    /// The app's keystring: its OAuth client id and `x-api-key`. Without
    /// one, Etsy shops cannot be connected.
    pub keystring: Option<String>,
    /// The app's shared secret; when set, `x-api-key` is
    /// `keystring:shared_secret`, as Etsy asks of apps since 2026.
    pub shared_secret: Option<String>,
    pub scopes: Vec<String>,
    /// How long before its expiry an access token is refreshed.
    pub refresh_ahead_secs: u32,
    /// Product type → Etsy's seller taxonomy id (`getSellerTaxonomyNodes`),
    /// the category a listing published straight to Etsy is filed under.
    /// Configured types replace the defaults of the same name.
    pub taxonomies: BTreeMap<String, u64>,
    /// Etsy's limits on the app (all its shops together): requests a
    /// second and a day. Work beyond them waits its turn.
    pub requests_per_second: u32,
    pub requests_per_day: u32,
    /// The most of the app's day one tenant may spend (counted per UTC
    /// day across every worker), so one tenant's bulk publish never spends
    /// every other tenant's day. At least the whole day: no share.
    pub tenant_requests_per_day: u32,
    /// How often each connected shop's receipts and listings are polled.
    pub sync_every_secs: u32,
    /// How far back a shop's first sync reads its receipts.
    pub first_sync_days: u32,
}

/// The taxonomy ids known without configuration: Etsy's "Clothing ›
/// Unisex Adult Clothing › Tops & Tees › T-shirts". Other product types
/// are set in `[marketplaces.etsy.taxonomies]` from Etsy's seller
/// taxonomy, as each shop files them.
pub fn default_taxonomies() -> BTreeMap<String, u64> {
    BTreeMap::from([("t-shirt".to_owned(), 482)])
}

impl EtsySettings {
    /// The product types that can be published straight to Etsy (those
    /// with a taxonomy), lower case, sorted.
    pub fn product_types(&self) -> Vec<String> {
        let configured = self.taxonomies.keys().map(|k| k.trim().to_lowercase());
        let mut all: Vec<String> = configured
            .chain(default_taxonomies().into_keys())
            .filter(|k| pod_events::domain::shop::is_product_type(k))
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The taxonomy id for a product type, if one is known.
    pub fn taxonomy_for(&self, product_type: &str) -> Option<u64> {
        let wanted = product_type.trim().to_lowercase();
        let configured = self.taxonomies.iter().find(|(k, _)| k.trim().to_lowercase() == wanted).map(|(_, v)| *v);
        configured.or_else(|| default_taxonomies().get(&wanted).copied())
    }
}

impl Default for EtsySettings {
    fn default() -> Self {
        Self {
            base_url: "https://openapi.etsy.com".into(),
            authorize_url: "https://www.etsy.com/oauth/connect".into(),
            token_url: "https://api.etsy.com/v3/public/oauth/token".into(),
            keystring: None,
            shared_secret: None,
            scopes: ETSY_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            refresh_ahead_secs: 300,
            taxonomies: BTreeMap::new(),
            requests_per_second: 10,
            requests_per_day: 10_000,
            tenant_requests_per_day: 5_000,
            sync_every_secs: 300,
            first_sync_days: 30,
        }
    }
}

impl std::fmt::Debug for EtsySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtsySettings")
            .field("base_url", &self.base_url)
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("keystring", &self.keystring)
            .field("shared_secret", &self.shared_secret.as_ref().map(|_| "***"))
            .field("scopes", &self.scopes)
            .field("refresh_ahead_secs", &self.refresh_ahead_secs)
            .field("taxonomies", &self.taxonomies)
            .field("requests_per_second", &self.requests_per_second)
            .field("requests_per_day", &self.requests_per_day)
            .field("tenant_requests_per_day", &self.tenant_requests_per_day)
            .field("sync_every_secs", &self.sync_every_secs)
            .field("first_sync_days", &self.first_sync_days)
            .finish()
    }
}

/// `[marketplaces.printify]`. Shops connect with their own personal access
/// tokens, so the app needs no key of its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrintifySettings {
    /// API v1, without the `/v1`.
    pub base_url: String,
    /// Product type → blueprint, print provider, variants, print area.
    /// Configured types replace the defaults of the same name; the others
    /// stay (`printify::catalog::default_templates`).
    pub products: BTreeMap<String, ProductTemplate>,
    /// Seconds the catalog's variants are kept before being read again.
    pub catalog_ttl_secs: u64,
    /// Printify's limits, kept per connected shop (each has its own token):
    /// requests a minute, and publishes per half hour. Work beyond them
    /// waits its turn.
    pub requests_per_minute: u32,
    pub publishes_per_half_hour: u32,
    /// Minutes after the publish request from which a product Printify
    /// no longer works on (unlocked: its channel's `publishing_failed`, or
    /// the publish cancelled) yet has not listed is failed back to its
    /// editor. Long enough for a lock Printify takes late: a product failed
    /// back while its publish is still coming would be made again by the
    /// next submission. A product still locked is waited for.
    pub publish_deadline_mins: u32,
}

impl Default for PrintifySettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.printify.com".into(),
            products: BTreeMap::new(),
            catalog_ttl_secs: 24 * 3600,
            requests_per_minute: 600,
            publishes_per_half_hour: 200,
            publish_deadline_mins: 30,
        }
    }
}

impl PrintifySettings {
    /// The product templates in force: the defaults, with the configured
    /// ones over them.
    pub fn templates(&self) -> BTreeMap<String, ProductTemplate> {
        let mut all = default_templates();
        all.extend(self.products.iter().map(|(k, v)| (k.trim().to_lowercase(), v.clone())));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_product_types_etsy_takes_are_those_with_a_taxonomy() {
        let mut etsy = EtsySettings::default();
        assert_eq!(etsy.product_types(), ["t-shirt"]);
        etsy.taxonomies = BTreeMap::from([
            (" Mug".to_owned(), 1),
            ("T-Shirt".to_owned(), 2),
            ("".to_owned(), 3),
            ("mug/11oz".to_owned(), 4),
        ]);
        assert_eq!(etsy.product_types(), ["mug", "t-shirt"]);
    }
}
