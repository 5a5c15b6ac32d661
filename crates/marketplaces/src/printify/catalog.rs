//! What a product type is made of at Printify: a blueprint (the blank: a
//! Gildan 5000 tee, an 11 oz mug) at a print provider, the variants sold
//! and where the artwork goes. The mapping is configuration
//! (`[marketplaces.printify.products."t-shirt"]`), with defaults for the
//! usual types; the catalog's variants are read from Printify and kept for
//! a while, since the catalog changes rarely.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::api::{ApiError, PrintifyApi};
use super::products::CatalogVariant;
use crate::Secret;

/// How one product type is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductTemplate {
    pub blueprint_id: u64,
    pub print_provider_id: u64,
    /// The catalog variants to sell (sizes, colours); empty: every variant
    /// the provider offers, up to [`MAX_VARIANTS`].
    #[serde(default)]
    pub variants: Vec<u64>,
    /// The print area the artwork goes on.
    #[serde(default = "front")]
    pub position: String,
}

fn front() -> String {
    "front".into()
}

/// Printify takes at most this many variants on one product.
pub const MAX_VARIANTS: usize = 100;

/// The mapping used when configuration names none. Blueprints are
/// Printify's catalog ids (6: Gildan 5000 tee, 77: Gildan 18500 hoodie,
/// 49: Gildan 18000 sweatshirt, 68: 11 oz mug, 553: tote bag, 400:
/// kiss-cut stickers, 282: matte vertical poster), all at print provider
/// 99 (Printify Choice). Check them against the live catalog before
/// selling: a pair the catalog does not offer fails publishing with a
/// message that names the setting.
pub fn default_templates() -> BTreeMap<String, ProductTemplate> {
    let at_choice =
        |blueprint_id| ProductTemplate { blueprint_id, print_provider_id: 99, variants: Vec::new(), position: front() };
    [
        ("t-shirt", 6),
        ("hoodie", 77),
        ("sweatshirt", 49),
        ("mug", 68),
        ("tote bag", 553),
        ("sticker", 400),
        ("poster", 282),
    ]
    .into_iter()
    .map(|(name, blueprint)| (name.to_owned(), at_choice(blueprint)))
    .collect()
}

/// The template of a product type, matched without regard to case or
/// surrounding space (`tote` finds `tote bag`).
pub fn template_for<'a>(
    templates: &'a BTreeMap<String, ProductTemplate>,
    product_type: &str,
) -> Option<&'a ProductTemplate> {
    let wanted = product_type.trim().to_lowercase();
    templates
        .iter()
        .find(|(name, _)| name.to_lowercase() == wanted)
        .or_else(|| templates.iter().find(|(name, _)| name.to_lowercase() == format!("{wanted} bag")))
        .map(|(_, t)| t)
}

/// The variants of a template: the configured ones the catalog offers, or
/// every one offered (up to [`MAX_VARIANTS`]). Empty when none is offered.
pub fn variants_of(template: &ProductTemplate, offered: &[CatalogVariant]) -> Vec<u64> {
    if template.variants.is_empty() {
        offered.iter().map(|v| v.id).take(MAX_VARIANTS).collect()
    } else {
        template.variants.iter().copied().filter(|id| offered.iter().any(|v| v.id == *id)).take(MAX_VARIANTS).collect()
    }
}

/// Variants by (blueprint, provider), with when they were read.
type Kept = HashMap<(u64, u64), (Instant, Vec<CatalogVariant>)>;

/// The catalog's variants, read once per blueprint and provider and kept
/// for `ttl`.
#[derive(Debug)]
pub struct Catalog {
    api: PrintifyApi,
    ttl: Duration,
    kept: Mutex<Kept>,
}

impl Catalog {
    pub fn new(api: PrintifyApi, ttl: Duration) -> Self {
        Self { api, ttl, kept: Mutex::default() }
    }

    /// The variants of `blueprint` at `provider`; read from Printify when
    /// not kept or kept too long.
    pub async fn variants(
        &self,
        token: &Secret,
        blueprint: u64,
        provider: u64,
    ) -> Result<Vec<CatalogVariant>, ApiError> {
        if let Some(v) = self.kept(blueprint, provider) {
            return Ok(v);
        }
        let read = self.api.catalog_variants(token, blueprint, provider).await?;
        self.lock().insert((blueprint, provider), (Instant::now(), read.clone()));
        Ok(read)
    }

    fn kept(&self, blueprint: u64, provider: u64) -> Option<Vec<CatalogVariant>> {
        let kept = self.lock();
        let (at, variants) = kept.get(&(blueprint, provider))?;
        (at.elapsed() < self.ttl).then(|| variants.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(ids: &[u64]) -> Vec<CatalogVariant> {
        ids.iter().map(|&id| CatalogVariant { id, title: format!("v{id}") }).collect()
    }

    #[test]
    fn product_types_are_found_as_people_write_them() {
        let t = default_templates();
        assert_eq!(template_for(&t, " T-Shirt ").map(|t| t.blueprint_id), Some(6));
        assert_eq!(template_for(&t, "tote").map(|t| t.blueprint_id), Some(553));
        assert_eq!(template_for(&t, "onesie"), None);
    }

    #[test]
    fn configured_variants_are_kept_only_where_the_catalog_offers_them() {
        let mut t = default_templates()["mug"].clone();
        t.variants = vec![3, 1, 99];
        assert_eq!(variants_of(&t, &offered(&[1, 2, 3])), vec![3, 1]);
    }

    #[test]
    fn without_configured_variants_every_offered_one_is_sold_up_to_printifys_limit() {
        let t = default_templates()["t-shirt"].clone();
        let many: Vec<u64> = (1..=150).collect();
        assert_eq!(variants_of(&t, &offered(&many)).len(), MAX_VARIANTS);
        assert!(variants_of(&t, &[]).is_empty());
    }
}
