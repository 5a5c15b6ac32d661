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

/// A path id as a uuid, or a 404 (an id that cannot exist is simply not here).
pub(crate) fn uuid_path(what: &str, raw: &str) -> Result<uuid::Uuid, crate::problem::Problem> {
    raw.parse().map_err(|_| crate::problem::Problem::not_found(what))
}

/// How long an `Idempotency-Key` stays bound to its first request.
const IDEMPOTENCY_KEY_DAYS: i32 = 7;

/// The command's metadata. Without an `Idempotency-Key` the command is new.
/// With one, its id derives from the key scoped to the tenant, the route and
/// the resource (another shop's key, or the same key on another route, is
/// another command), and the key is bound to the request it first came with:
/// the same key with a different `request` is refused (422), as Stripe does.
pub(crate) async fn command_meta(
    s: &crate::AppState,
    tenant: &str,
    route: &str,
    resource: uuid::Uuid,
    headers: &axum::http::HeaderMap,
    request: &(dyn std::fmt::Debug + Sync),
) -> Result<pod_events::EventMeta, crate::problem::Problem> {
    use crate::problem::{FieldError, Problem};
    use sha2::Digest;
    let Some(v) = headers.get("idempotency-key") else { return Ok(pod_events::EventMeta::new_command()) };
    let key = v
        .to_str()
        .ok()
        .filter(|k| k.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
        .ok_or_else(|| Problem::bad_request("Idempotency-Key", "must be visible ASCII"))?;
    if key.is_empty() || key.len() > 200 {
        return Err(Problem::bad_request("Idempotency-Key", "must be 1–200 characters"));
    }
    let resource = resource.to_string();
    let fingerprint = sha2::Sha256::digest(format!("{request:?}").as_bytes()).to_vec();
    // Bound now, or already bound (to this request or another). A binding
    // older than its lifetime is taken over.
    let bound: Vec<u8> = sqlx::query_scalar(
        "INSERT INTO idempotency_keys (tenant, route, resource, key, request_sha256) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant, route, resource, key) DO UPDATE
            SET request_sha256 = CASE WHEN idempotency_keys.created_at < now() - make_interval(days => $6)
                                      THEN excluded.request_sha256 ELSE idempotency_keys.request_sha256 END,
                created_at = CASE WHEN idempotency_keys.created_at < now() - make_interval(days => $6)
                                  THEN now() ELSE idempotency_keys.created_at END
         RETURNING request_sha256",
    )
    .bind(tenant)
    .bind(route)
    .bind(&resource)
    .bind(key)
    .bind(&fingerprint)
    .bind(IDEMPOTENCY_KEY_DAYS)
    .fetch_one(&s.pool)
    .await?;
    // Now and then, forget bindings past their lifetime (they no longer bind).
    if rand::random::<u16>() < 64 {
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(days => $1 + 1)")
            .bind(IDEMPOTENCY_KEY_DAYS)
            .execute(&s.pool)
            .await?;
    }
    if bound != fingerprint {
        return Err(Problem::invalid(vec![FieldError {
            field: "Idempotency-Key".into(),
            message: "this key was used with a different request; use a new key for a new request".into(),
        }]));
    }
    // The request's fingerprint is part of the id: a key taken over after
    // its binding lapsed names a new command, not the old one.
    let scoped = format!("api/{tenant}/{route}/{resource}/{key}/{}", hex::encode(&fingerprint[..8]));
    Ok(pod_events::EventMeta::with_command_id(
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, scoped.as_bytes()).to_string(),
    ))
}

/// How a command that did not go through is answered: the aggregate's
/// refusal as `rejected` says (404, 409, 422 …), writers that kept winning
/// as 409, the event store being away as 503.
pub(crate) fn command_failed<E: std::error::Error>(
    e: pod_events::store::CommandError<E>,
    what: &str,
    rejected: impl FnOnce(E) -> crate::problem::Problem,
) -> crate::problem::Problem {
    use crate::problem::Problem;
    use axum::http::StatusCode;
    use pod_events::store::CommandError;
    match e {
        CommandError::Rejected(e) => rejected(e),
        CommandError::Conflict { .. } => {
            Problem::new(StatusCode::CONFLICT, format!("the {what} kept changing meanwhile; read it again"))
        }
        CommandError::Store(e) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, format!("event store: {e}")),
    }
}

/// An optional JSON body: empty (or blank) is `T::default()`; anything
/// else must be a `T`, or the answer is 422 naming the body and what it
/// should look like (`expected`).
pub(crate) fn optional_body<T: Default + serde::de::DeserializeOwned>(
    body: &[u8],
    expected: &str,
) -> Result<T, crate::problem::Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        crate::problem::Problem::invalid(vec![crate::problem::FieldError {
            field: "body".into(),
            message: format!("expected {expected}: {e}"),
        }])
    })
}

/// A refusal by the aggregate that is not a missing id: 409 with its reason.
pub(crate) fn refused(e: impl std::fmt::Display) -> crate::problem::Problem {
    crate::problem::Problem::new(axum::http::StatusCode::CONFLICT, e.to_string())
}

/// 202 Accepted with a link to follow.
pub(crate) fn accepted(location: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::ACCEPTED,
        [(axum::http::header::LOCATION, location.clone())],
        axum::Json(serde_json::json!({"follow": location})),
    )
        .into_response()
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
pub(crate) struct Listing<'a> {
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
    from: Listing<'_>,
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
