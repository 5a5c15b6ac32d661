//! Designs (`designs`): each idea's artwork, its take (layout, palette),
//! and where its rendering stands.

use chrono::{DateTime, Utc};
use pod_events::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Keyed, NewestFirst, Slice, Table, Timeline, column_values};

column_values! {
    /// Where a design is: `requested` (rendering), `rendered`, `failed`,
    /// `approved` or `rejected`.
    pub enum Status {
        Requested = "requested",
        Rendered = "rendered",
        Failed = "failed",
        Approved = "approved",
        Rejected = "rejected",
    }
}

/// A design and its stored files.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Design {
    pub design_id: Uuid,
    pub idea_id: Uuid,
    pub phrase: String,
    pub product_type: String,
    pub layout: String,
    pub palette: String,
    pub width: i32,
    pub height: i32,
    pub dpi: i32,
    pub status: String,
    /// `{key, sha256, bytes, width, height, content_type}` once rendered.
    pub artwork: Option<serde_json::Value>,
    pub preview: Option<serde_json::Value>,
    pub renderer: Option<String>,
    pub failure: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Keyed for Design {
    type Key = (DateTime<Utc>, Uuid);
    fn key(&self) -> Self::Key {
        (self.updated_at, self.design_id)
    }
}

const COLUMNS: &str = "design_id, idea_id, phrase, product_type, layout, palette, width, height, dpi, status, artwork,
                       preview, renderer, failure, updated_at, version";

impl Timeline for Design {
    const TIME: &'static str = "updated_at";
}

impl Table for Design {
    const TABLE: &'static str = "designs";
    const COLUMNS: &'static str = COLUMNS;
    const ID: &'static str = "design_id";
}

/// Which designs: by status, or all.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    #[param(inline)]
    pub status: Option<Status>,
}

/// Designs, most recently changed first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    filter: &Filter,
    page: &NewestFirst,
) -> Result<Slice<Design>, sqlx::Error> {
    super::newest_first(pool, tenant, &[("status", filter.status.map(Status::as_str))], page).await
}

/// One design of the tenant's.
pub async fn one(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<Option<Design>, sqlx::Error> {
    super::by_id(pool, tenant, id).await
}

/// Which stored file of a design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    /// The print file.
    Artwork,
    /// The design on the garment colour.
    Preview,
}

/// Where a stored file is: its blob key, checksum and content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub key: String,
    pub sha256: String,
    pub content_type: String,
}

/// A design's file: `None` when the design is not the tenant's,
/// `Some(None)` while it has no such file (not rendered yet).
pub async fn file(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
    which: File,
) -> Result<Option<Option<StoredFile>>, sqlx::Error> {
    let column = match which {
        File::Artwork => "artwork",
        File::Preview => "preview",
    };
    let asset: Option<Option<serde_json::Value>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {column} FROM designs WHERE tenant = $1 AND design_id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(asset.map(|a| a.as_ref().and_then(stored_file)))
}

/// The file an asset column describes, if it names one.
fn stored_file(asset: &serde_json::Value) -> Option<StoredFile> {
    let text = |field: &str| asset.get(field).and_then(|v| v.as_str());
    Some(StoredFile {
        key: text("key")?.to_owned(),
        sha256: text("sha256").unwrap_or_default().to_owned(),
        content_type: text("content_type").unwrap_or("image/png").to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::{StoredFile, stored_file};

    #[test]
    fn an_asset_names_a_file_only_with_its_key() {
        let full = serde_json::json!({"key": "t/a.png", "sha256": "ab", "content_type": "image/png"});
        let file = StoredFile { key: "t/a.png".into(), sha256: "ab".into(), content_type: "image/png".into() };
        assert_eq!(stored_file(&full), Some(file));
        let bare = serde_json::json!({"key": "t/b.png"});
        assert_eq!(stored_file(&bare).map(|f| f.content_type), Some("image/png".into()), "PNG unless it says");
        assert_eq!(stored_file(&serde_json::json!({"sha256": "ab"})), None);
    }
}
