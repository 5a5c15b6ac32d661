//! Etsy's listing calls, for sellers who publish straight to Etsy: a draft
//! made form-encoded (`createDraftListing`), its image uploaded as
//! multipart (`uploadListingImage`), then made active (`updateListing`,
//! which publishes it on etsy.com and needs the image).

use serde::Deserialize;

use super::api::{ApiError, Body, EtsyApi};
use crate::Secret;

/// Who made the product, as Etsy asks (`who_made`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhoMade {
    /// Designed by the seller, made by a production partner: `i_did`.
    IDid,
    SomeoneElse,
    Collective,
}

impl WhoMade {
    fn as_str(self) -> &'static str {
        match self {
            Self::IDid => "i_did",
            Self::SomeoneElse => "someone_else",
            Self::Collective => "collective",
        }
    }
}

/// A listing to draft: what `createDraftListing` takes. Print on demand is
/// made to order, physical, by the seller with a production partner.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftListing {
    pub title: String,
    pub description: String,
    pub price_cents: u64,
    pub quantity: u32,
    pub tags: Vec<String>,
    pub taxonomy_id: u64,
    pub who_made: WhoMade,
    pub shipping_profile_id: Option<u64>,
    pub return_policy_id: Option<u64>,
    pub production_partner_ids: Vec<u64>,
}

impl DraftListing {
    /// The form Etsy takes: the price in the shop's currency units (not
    /// cents); arrays (tags, production partners) as repeated `name[]`
    /// fields, which Etsy (and Prism, checking its document) reads as
    /// arrays, where a repeated plain name would be one string.
    pub fn form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("quantity", self.quantity.max(1).to_string()),
            ("title", self.title.clone()),
            ("description", self.description.clone()),
            ("price", price(self.price_cents)),
            ("who_made", self.who_made.as_str().to_owned()),
            ("when_made", "made_to_order".to_owned()),
            ("taxonomy_id", self.taxonomy_id.to_string()),
            ("type", "physical".to_owned()),
            ("is_supply", "false".to_owned()),
        ];
        form.extend(self.tags.iter().map(|t| ("tags[]", t.clone())));
        if let Some(id) = self.shipping_profile_id {
            form.push(("shipping_profile_id", id.to_string()));
        }
        if let Some(id) = self.return_policy_id {
            form.push(("return_policy_id", id.to_string()));
        }
        form.extend(self.production_partner_ids.iter().map(|id| ("production_partner_ids[]", id.to_string())));
        form
    }
}

/// Cents as Etsy's decimal price: 2499 → "24.99".
pub fn price(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A listing as Etsy answers it (the fields used here).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EtsyListing {
    pub listing_id: u64,
    pub state: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// When it was made, in seconds since the epoch.
    #[serde(default)]
    pub created_timestamp: Option<i64>,
}

/// How many of a shop's newest drafts a search looks through.
pub const DRAFTS_PAGE: u32 = 100;

/// An image of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListingImage {
    pub listing_image_id: u64,
    pub listing_id: u64,
}

impl EtsyApi {
    /// `createDraftListing`: a draft in the shop, not yet for sale.
    pub async fn create_draft_listing(
        &self,
        token: &Secret,
        shop_id: u64,
        draft: &DraftListing,
    ) -> Result<EtsyListing, ApiError> {
        let path = format!("/v3/application/shops/{shop_id}/listings");
        self.call(token, reqwest::Method::POST, &path, Body::Form(draft.form())).await
    }

    /// `uploadListingImage`: the artwork as the listing's first image.
    pub async fn upload_listing_image(
        &self,
        token: &Secret,
        shop_id: u64,
        listing_id: u64,
        png: Vec<u8>,
        alt_text: &str,
    ) -> Result<ListingImage, ApiError> {
        let path = format!("/v3/application/shops/{shop_id}/listings/{listing_id}/images");
        let image = reqwest::multipart::Part::bytes(png)
            .file_name(format!("{listing_id}.png"))
            .mime_str("image/png")
            .map_err(|e| ApiError::Settings { field: "image", reason: e.without_url().to_string() })?;
        let alt: String = alt_text.chars().take(250).collect();
        let form = reqwest::multipart::Form::new().part("image", image).text("rank", "1").text("alt_text", alt);
        self.call(token, reqwest::Method::POST, &path, Body::Multipart(form)).await
    }

    /// `getListingsByShop`: the shop's drafts, newest first, a page from `offset`.
    pub async fn newest_drafts(&self, token: &Secret, shop_id: u64, offset: u32) -> Result<Vec<EtsyListing>, ApiError> {
        let path = format!(
            "/v3/application/shops/{shop_id}/listings?state=draft&sort_on=created&sort_order=desc\
             &limit={DRAFTS_PAGE}&offset={offset}"
        );
        let drafts: super::api::Results<EtsyListing> = self.get(token, &path).await?;
        Ok(drafts.results)
    }

    /// `getListing`: the listing, in whatever state; none where Etsy has
    /// no such listing (deleted).
    pub async fn listing(&self, token: &Secret, listing_id: u64) -> Result<Option<EtsyListing>, ApiError> {
        match self.get(token, &format!("/v3/application/listings/{listing_id}")).await {
            Ok(found) => Ok(Some(found)),
            Err(ApiError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `getListingsByListingIds`: those of the listings (at most 100) that
    /// exist on Etsy, in whatever state.
    pub async fn listings_by_ids(&self, token: &Secret, ids: &[u64]) -> Result<Vec<EtsyListing>, ApiError> {
        let query: Vec<String> = ids.iter().take(100).map(|id| format!("listing_ids={id}")).collect();
        let path = format!("/v3/application/listings/batch?{}", query.join("&"));
        let found: super::api::Results<EtsyListing> = self.get(token, &path).await?;
        Ok(found.results)
    }

    /// `getListingImages`.
    pub async fn listing_images(&self, token: &Secret, listing_id: u64) -> Result<Vec<ListingImage>, ApiError> {
        let images: super::api::Results<ListingImage> =
            self.get(token, &format!("/v3/application/listings/{listing_id}/images")).await?;
        Ok(images.results)
    }

    /// `updateListing` with `state=active`: the draft goes on sale.
    pub async fn activate_listing(
        &self,
        token: &Secret,
        shop_id: u64,
        listing_id: u64,
    ) -> Result<EtsyListing, ApiError> {
        let path = format!("/v3/application/shops/{shop_id}/listings/{listing_id}");
        self.call(token, reqwest::Method::PATCH, &path, Body::Form(vec![("state", "active".to_owned())])).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_sent_in_currency_units() {
        assert_eq!(price(2499), "24.99");
        assert_eq!(price(5), "0.05");
        assert_eq!(price(100_000), "1000.00");
    }

    #[test]
    fn a_draft_is_made_to_order_physical_and_names_its_policies_and_partners() {
        let draft = DraftListing {
            title: "Cat Mom Shirt".into(),
            description: "Soft.".into(),
            price_cents: 2499,
            quantity: 0,
            tags: vec!["cat mom".into(), "cat lover".into()],
            taxonomy_id: 482,
            who_made: WhoMade::IDid,
            shipping_profile_id: Some(7),
            return_policy_id: None,
            production_partner_ids: vec![11, 12],
        };
        let form = draft.form();
        let get = |k: &str| form.iter().filter(|(n, _)| *n == k).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(get("quantity"), ["1"], "at least one for sale");
        assert_eq!(get("price"), ["24.99"]);
        assert_eq!(get("when_made"), ["made_to_order"]);
        assert_eq!(get("who_made"), ["i_did"]);
        assert_eq!(get("tags[]"), ["cat mom", "cat lover"]);
        assert_eq!(get("shipping_profile_id"), ["7"]);
        assert!(get("return_policy_id").is_empty());
        assert_eq!(get("production_partner_ids[]"), ["11", "12"]);
    }
}
