//! Printify's products, the calls that make one: the catalog's variants of
//! a blueprint at a print provider, an uploaded image, a product placing it
//! on the variants with their prices and SKUs, and the request to publish
//! it to the shop's sales channel. A product is found again by the SKU
//! prefix this app gives its variants, so a submission that is retried
//! after a crash finds the product it made instead of making another.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::api::{ApiError, PrintifyApi};
use crate::Secret;

/// A variant the catalog offers for a blueprint at a print provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogVariant {
    pub id: u64,
    pub title: String,
}

#[derive(Deserialize)]
struct CatalogVariants {
    variants: Vec<CatalogVariant>,
}

/// An image in the account's media library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub id: String,
}

/// One variant of a product: its catalog id, price in cents and SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductVariant {
    pub id: u64,
    pub price: u64,
    pub is_enabled: bool,
    #[serde(default)]
    pub sku: String,
}

/// An image placed on a print area: centred at (x, y), scaled, turned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacedImage {
    pub id: String,
    pub x: f64,
    pub y: f64,
    pub scale: f64,
    pub angle: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placeholder {
    pub position: String,
    pub images: Vec<PlacedImage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrintArea {
    pub variant_ids: Vec<u64>,
    pub placeholders: Vec<Placeholder>,
}

/// What `POST /v1/shops/{shop}/products.json` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewProduct {
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub blueprint_id: u64,
    pub print_provider_id: u64,
    pub variants: Vec<ProductVariant>,
    pub print_areas: Vec<PrintArea>,
}

/// Where a published product lives on the sales channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct External {
    pub id: String,
    #[serde(default)]
    pub handle: String,
}

/// A product as Printify keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub title: String,
    pub variants: Vec<ProductVariant>,
    #[serde(default)]
    pub external: Option<External>,
    /// True while Printify publishes it to the sales channel.
    #[serde(default)]
    pub is_locked: bool,
}

/// A page of a shop's products.
#[derive(Debug, Clone, Deserialize)]
pub struct ProductsPage {
    pub current_page: u32,
    pub last_page: u32,
    pub data: Vec<Product>,
}

impl ProductsPage {
    /// The product one of whose variants has a SKU starting with `prefix`.
    pub fn with_sku_prefix(self, prefix: &str) -> Option<Product> {
        self.data.into_iter().find(|p| p.variants.iter().any(|v| v.sku.starts_with(prefix)))
    }

    pub fn is_last(&self) -> bool {
        self.current_page >= self.last_page
    }
}

/// Products read per page while looking for one.
const PAGE: u32 = 50;
/// Pages read at most while looking (10,000 products).
pub const MAX_PAGES: u32 = 200;

impl PrintifyApi {
    /// The variants of `blueprint` at `provider` (cache them: the catalog
    /// changes rarely).
    pub async fn catalog_variants(
        &self,
        token: &Secret,
        blueprint: u64,
        provider: u64,
    ) -> Result<Vec<CatalogVariant>, ApiError> {
        let path = format!("/v1/catalog/blueprints/{blueprint}/print_providers/{provider}/variants.json");
        let found: CatalogVariants = self.call(token, Method::GET, &path, None::<&()>).await?;
        Ok(found.variants)
    }

    /// Uploads an image (sent as base64) to the account's media library.
    pub async fn upload_image(&self, token: &Secret, file_name: &str, bytes: &[u8]) -> Result<Upload, ApiError> {
        let body = serde_json::json!({"file_name": file_name, "contents": STANDARD.encode(bytes)});
        self.call(token, Method::POST, "/v1/uploads/images.json", Some(&body)).await
    }

    pub async fn create_product(&self, token: &Secret, shop: u64, product: &NewProduct) -> Result<Product, ApiError> {
        self.call(token, Method::POST, &format!("/v1/shops/{shop}/products.json"), Some(product)).await
    }

    pub async fn product(&self, token: &Secret, shop: u64, id: &str) -> Result<Product, ApiError> {
        let path = format!("/v1/shops/{shop}/products/{}.json", super::api::path_segment(id));
        self.call(token, Method::GET, &path, None::<&()>).await
    }

    /// Deletes a product (one made twice); already gone is fine.
    pub async fn delete_product(&self, token: &Secret, shop: u64, id: &str) -> Result<(), ApiError> {
        let path = format!("/v1/shops/{shop}/products/{}.json", super::api::path_segment(id));
        match self.call::<serde_json::Value>(token, Method::DELETE, &path, None::<&()>).await {
            Ok(_) | Err(ApiError::Refused { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The shop's product one of whose variants has a SKU starting with
    /// `sku_prefix`, if there is one.
    pub async fn find_product_by_sku(
        &self,
        token: &Secret,
        shop: u64,
        sku_prefix: &str,
    ) -> Result<Option<Product>, ApiError> {
        for page in 1..=MAX_PAGES {
            let found = self.products_page(token, shop, page).await?;
            let last = found.is_last();
            if let Some(p) = found.with_sku_prefix(sku_prefix) {
                return Ok(Some(p));
            }
            if last {
                break;
            }
        }
        Ok(None)
    }

    /// Page `page` (from 1) of the shop's products, [`PAGE`] to a page.
    pub async fn products_page(&self, token: &Secret, shop: u64, page: u32) -> Result<ProductsPage, ApiError> {
        let path = format!("/v1/shops/{shop}/products.json?limit={PAGE}&page={page}");
        self.call(token, Method::GET, &path, None::<&()>).await
    }

    /// Asks Printify to publish the product to the shop's sales channel;
    /// Printify answers at once and publishes afterwards.
    pub async fn publish(&self, token: &Secret, shop: u64, id: &str) -> Result<(), ApiError> {
        let path = format!("/v1/shops/{shop}/products/{}/publish.json", super::api::path_segment(id));
        let everything = serde_json::json!({
            "title": true, "description": true, "images": true, "variants": true,
            "tags": true, "keyFeatures": true, "shipping_template": true,
        });
        self.call::<serde_json::Value>(token, Method::POST, &path, Some(&everything)).await.map(drop)
    }
}
