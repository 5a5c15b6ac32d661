//! The typed reads over the read models, one module per area, each beside
//! the tables its projection in `models/` writes. Every read takes the
//! tenant (`&TenantId`): there is no way to read across shops. The API and
//! the dashboard read only through here; they write no SQL against these
//! tables.
//!
//! A list is read a page at a time by keyset ([`Keyset`] → [`Slice`]):
//! the rows after the sort key the previous page ended on, which stays
//! stable while rows are added (unlike an offset).

pub mod analytics;
pub mod designs;
pub mod ideas;
pub mod listings;
pub mod operations;
pub mod publishing;
pub mod trends;
pub mod usage;

use chrono::{DateTime, Utc};
use pod_events::TenantId;
use sqlx::PgPool;
use sqlx::postgres::PgRow;
use uuid::Uuid;

/// Which page of a list: the rows after `after` (the sort key of the
/// previous page's last row; `None` for the first page), at most `limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyset<K> {
    pub after: Option<K>,
    pub limit: i64,
}

impl<K> Keyset<K> {
    /// The first `limit` rows.
    pub fn first(limit: i64) -> Self {
        Self { after: None, limit }
    }
}

/// The key of a list ordered newest first: a time and the row's id.
pub type NewestFirst = Keyset<(DateTime<Utc>, Uuid)>;

/// A row of a list read by keyset: the key the list is ordered by, which
/// the next page starts after.
pub trait Keyed {
    type Key: serde::Serialize + serde::de::DeserializeOwned;
    fn key(&self) -> Self::Key;
}

/// A page of rows, and whether more follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice<T> {
    pub rows: Vec<T>,
    pub more: bool,
}

impl<T> Slice<T> {
    /// From up to `limit + 1` rows: the extra one only says there is more.
    fn of(mut rows: Vec<T>, limit: i64) -> Self {
        let limit = usize::try_from(limit.max(0)).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        Self { rows, more }
    }
}

/// A closed set of values a read-model column holds, as a filter takes it:
/// serde and the OpenAPI document spell each as its column value.
macro_rules! column_values {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in the order the column's life goes.
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            /// The value as the column holds it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use column_values;

/// A read-model table whose rows are read one by id: its name, the
/// columns a row is read from, and its id column.
trait Table: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {
    const TABLE: &'static str;
    const COLUMNS: &'static str;
    const ID: &'static str;
}

/// A table listed newest first: by this time column, then by id.
trait Timeline: Table {
    const TIME: &'static str;
}

/// A page of a tenant's rows, newest first, after the keyset's key, where
/// each filter's column holds its value (a filter without one takes all).
async fn newest_first<T: Timeline>(
    pool: &PgPool,
    tenant: &TenantId,
    filters: &[(&'static str, Option<&'static str>)],
    page: &NewestFirst,
) -> Result<Slice<T>, sqlx::Error> {
    let (at, id) = page.after.unwrap_or((DateTime::<Utc>::MAX_UTC, Uuid::max()));
    // Column names are constants of this crate; values are all bound.
    let mut sql = format!("SELECT {} FROM {} WHERE tenant = $1", T::COLUMNS, T::TABLE);
    for (i, (column, _)) in filters.iter().enumerate() {
        sql.push_str(&format!(" AND (${n}::text IS NULL OR {column} = ${n})", n = i + 2));
    }
    let n = filters.len() + 2;
    sql.push_str(&format!(
        " AND ({time}, {id}) < (${n}, ${m}) ORDER BY {time} DESC, {id} DESC LIMIT ${l}",
        time = T::TIME,
        id = T::ID,
        m = n + 1,
        l = n + 2
    ));
    let mut q = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql)).bind(tenant);
    for (_, value) in filters {
        q = q.bind(*value);
    }
    let rows = q.bind(at).bind(id).bind(page.limit + 1).fetch_all(pool).await?;
    Ok(Slice::of(rows, page.limit))
}

/// One row of a tenant's table by id.
async fn by_id<T: Table>(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<Option<T>, sqlx::Error> {
    let sql = format!("SELECT {} FROM {} WHERE tenant = $1 AND {} = $2", T::COLUMNS, T::TABLE, T::ID);
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(id).fetch_optional(pool).await
}

#[cfg(test)]
mod tests {
    use super::Slice;

    #[test]
    fn a_slice_keeps_its_limit_and_says_whether_more_follow() {
        assert_eq!(Slice::of(vec![1, 2, 3], 2), Slice { rows: vec![1, 2], more: true });
        assert_eq!(Slice::of(vec![1, 2], 2), Slice { rows: vec![1, 2], more: false });
        assert_eq!(Slice::of(Vec::<i32>::new(), 5), Slice { rows: vec![], more: false });
    }
}
