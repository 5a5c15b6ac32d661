//! `/api/v1`: every route takes the caller's tenant from its token or session.

pub(crate) mod analytics;
pub(crate) mod dead_letters;
pub(crate) mod designs;
pub(crate) mod feed;
pub(crate) mod ideas;
pub(crate) mod listings;
pub(crate) mod operations;
pub(crate) mod publishing;
pub(crate) mod trends;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub fn api() -> Router<AppState> {
    Router::new()
        .route("/trends", get(trends::list))
        .route("/trends/{id}", get(trends::one))
        .route("/trends/{id}/interest", get(trends::interest))
        .route("/trends/momentum", get(trends::momentum))
        .route("/trends/import", post(trends::import))
        .route("/trends/{id}/seasonality", get(trends::seasonality))
        .route("/trends/{id}/ideas", post(trends::more_ideas))
        .route("/ideas", get(ideas::list))
        .route("/ideas/{id}", get(ideas::one))
        .route("/ideas/{id}/approve", post(ideas::approve))
        .route("/ideas/{id}/reject", post(ideas::reject))
        .route("/ideas/{id}/regenerate", post(ideas::regenerate))
        .route("/designs", get(designs::list))
        .route("/designs/{id}", get(designs::one))
        .route("/designs/{id}/artwork.png", get(designs::artwork))
        .route("/designs/{id}/preview.png", get(designs::preview))
        .route("/designs/{id}/regenerate", post(designs::regenerate))
        .route("/listings", get(listings::list))
        .route("/listings.csv", get(listings::csv))
        .route("/listings/{id}", get(listings::one).patch(listings::edit))
        .route("/listings/{id}/approve", post(listings::approve))
        .route("/listings/{id}/revisions", get(listings::revisions))
        .route("/listings/{id}/submit", post(publishing::submit))
        .route("/publish-queue", get(publishing::queue))
        .route("/shops", get(publishing::shops))
        .route("/analytics/summary", get(analytics::summary))
        .route("/runs", get(analytics::runs))
        .route("/runs/{id}", get(analytics::run))
        .route("/dead-letters", get(dead_letters::list))
        .route("/dead-letters/{seq}/retry", post(dead_letters::retry))
        .route("/feed", get(feed::sse))
        .route("/feed/ws", get(feed::ws))
        .route("/sources", get(operations::sources))
        .route("/costs", get(operations::costs))
        .route("/openapi.json", get(crate::openapi::document))
        .route("/docs", get(crate::openapi::reference))
}

/// One row of a tenant's read model by id, or a 404 naming `what`. The
/// query takes the tenant as `$1` and the id as `$2`.
pub(crate) async fn by_id<T>(
    s: &AppState,
    sql: String,
    tenant: &str,
    id: uuid::Uuid,
    what: &str,
) -> Result<axum::Json<T>, crate::problem::Problem>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&s.pool)
        .await?
        .map(axum::Json)
        .ok_or_else(|| crate::problem::Problem::not_found(what))
}

/// Where a newest-first list reads from: its table, columns, time and id
/// columns (the keyset), and the text filters it takes (`column = value`).
pub(crate) struct ListSource<'a> {
    pub table: &'static str,
    pub columns: &'static str,
    pub time: &'static str,
    pub id: &'static str,
    /// Column, the values it can hold, and the value asked for (if any).
    pub filters: &'a [(&'static str, &'static [&'static str], &'a Option<String>)],
}

/// A page of a tenant's rows, newest first, after the page's cursor.
pub(crate) async fn newest_first<T>(
    s: &AppState,
    tenant: &str,
    from: ListSource<'_>,
    page_query: &crate::pagination::PageQuery,
    key: impl Fn(&T) -> (chrono::DateTime<chrono::Utc>, uuid::Uuid),
) -> Result<axum::Json<crate::pagination::Page<T>>, crate::problem::Problem>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let limit = page_query.limit()?;
    let after: Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)> = page_query.cursor()?;
    let (at, id) = after.unwrap_or((chrono::DateTime::<chrono::Utc>::MAX_UTC, uuid::Uuid::max()));
    // A value the column never holds is a mistake (`?status=aproved`), not an empty page.
    for (column, allowed, value) in from.filters {
        if let Some(v) = value
            && !allowed.contains(&v.as_str())
        {
            return Err(crate::problem::Problem::bad_request(
                column,
                format!("{:?} is not one of {}", v.escape_debug().to_string(), allowed.join(", ")),
            ));
        }
    }
    // Column names are constants of this crate; values are all bound.
    let mut sql = format!("SELECT {} FROM {} WHERE tenant = $1", from.columns, from.table);
    for (i, (column, _, _)) in from.filters.iter().enumerate() {
        sql.push_str(&format!(" AND (${n}::text IS NULL OR {column} = ${n})", n = i + 2));
    }
    let n = from.filters.len() + 2;
    sql.push_str(&format!(
        " AND ({time}, {id}) < (${n}, ${m}) ORDER BY {time} DESC, {id} DESC LIMIT ${l}",
        time = from.time,
        id = from.id,
        m = n + 1,
        l = n + 2
    ));
    let mut q = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql)).bind(tenant);
    for (_, _, value) in from.filters {
        q = q.bind(value.as_deref());
    }
    let rows = q.bind(at).bind(id).bind(limit + 1).fetch_all(&s.pool).await?;
    Ok(axum::Json(crate::pagination::page(rows, limit, key)))
}
