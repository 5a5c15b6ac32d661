//! Cursor pagination: a page holds `limit` items and, when there are more,
//! an opaque `next` cursor (the last item's sort key, base64url JSON) to
//! pass back as `?cursor=`. Stable under inserts, unlike offsets.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pod_projections::read::{Keyed, Keyset, Slice};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::problem::Problem;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// `?cursor=…&limit=…`. Kept as text and parsed here: query strings are
/// text, and filters that embed this (`#[serde(flatten)]`) cannot parse
/// numbers through serde.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub cursor: Option<String>,
    pub limit: Option<String>,
}

/// The page parameters as the OpenAPI document declares them:
/// `params(…, PageQuery)` on each list route.
impl utoipa::IntoParams for PageQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let query = |name: &str, description: &str, schema: ObjectBuilder| {
            crate::openapi::optional_parameter(ParameterIn::Query, name, description, schema)
        };
        vec![
            query("cursor", "The `next` of the previous page", ObjectBuilder::new().schema_type(Type::String)),
            query(
                "limit",
                "1–200, default 50",
                ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(MAX_LIMIT)),
            ),
        ]
    }
}

impl PageQuery {
    pub fn limit(&self) -> Result<i64, Problem> {
        let Some(raw) = &self.limit else { return Ok(DEFAULT_LIMIT) };
        match raw.trim().parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Ok(n) => Err(Problem::bad_request("limit", format!("{n} is not within 1–{MAX_LIMIT}"))),
            Err(_) => Err(Problem::bad_request("limit", format!("{raw:?} is not a number"))),
        }
    }
    pub fn cursor<K: DeserializeOwned>(&self) -> Result<Option<K>, Problem> {
        let Some(c) = &self.cursor else { return Ok(None) };
        let bad = || Problem::bad_request("cursor", "not a cursor this API gave out");
        let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
        // The cursors this API gives out hold printable text (a NUL would reach PostgreSQL).
        if !std::str::from_utf8(&bytes).is_ok_and(|t| !t.contains("\\u0000") && !t.chars().any(char::is_control)) {
            return Err(bad());
        }
        serde_json::from_slice(&bytes).map(Some).map_err(|_| bad())
    }

    /// The page asked for, as the read models take it.
    pub fn keyset<K: DeserializeOwned>(&self) -> Result<Keyset<K>, Problem> {
        Ok(Keyset { after: self.cursor()?, limit: self.limit()? })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T: Keyed> Page<T> {
    /// A read model's slice as a page: when more rows follow, `next` is the
    /// cursor of its last row's key.
    pub fn of(slice: Slice<T>) -> Self {
        let next = match slice.more {
            true => slice
                .rows
                .last()
                .and_then(|last| serde_json::to_vec(&last.key()).ok())
                .map(|b| URL_SAFE_NO_PAD.encode(b)),
            false => None,
        };
        Page { items: slice.rows, next }
    }
}
