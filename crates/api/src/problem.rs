//! Errors as `application/problem+json` (RFC 9457): a status, a title, a
//! detail a person can act on, and per-field errors where input was wrong.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A problem: boxed, so results carrying one stay small. A failure of ours
/// carries its cause, which is logged (by [`log_failures`]) and never sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem(Box<ProblemDetails>, Option<String>);

/// The cause of a 5xx answer, handed from the handler to [`log_failures`].
#[derive(Debug, Clone)]
struct FailureCause(String);

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProblemDetails {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members (RFC 9457 §3.2), e.g. the current revision of a stale edit.
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error").to_owned();
        let slug = title.to_lowercase().replace(' ', "-");
        Self(
            Box::new(ProblemDetails {
                kind: format!("https://pod-automator.dev/problems/{slug}"),
                title,
                status: status.as_u16(),
                detail: detail.into(),
                errors: vec![],
                extensions: Default::default(),
            }),
            None,
        )
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no {what} here"))
    }
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut p = Self::new(StatusCode::BAD_REQUEST, format!("{field}: {message}"));
        p.0.errors.push(FieldError { field: field.into(), message });
        p
    }
    /// Input that parsed but breaks rules: every field's error at once (422).
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        let mut p = Self::new(StatusCode::UNPROCESSABLE_ENTITY, format!("fix {}", fields.join(", ")));
        p.0.errors = errors;
        p
    }
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.0.extensions.insert(key.into(), value.into());
        self
    }
    /// Something we depend on is away for now (503): worth trying again.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }
    /// A failure of ours: shown without its cause, which is logged.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut p =
            Self::new(StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on our side; it has been logged");
        p.1 = Some(cause.to_string());
        p
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, axum::Json(&*self.0)).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status.is_server_error() {
            let cause = self.1.unwrap_or_else(|| self.0.detail.clone());
            r.extensions_mut().insert(FailureCause(cause));
        }
        r
    }
}

/// Logs every answer that is our failure (5xx), once, with its cause, the
/// method and the path; the client sees only the problem. Handlers and
/// constructors never log a problem themselves.
pub async fn log_failures(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if status.is_server_error() {
        let cause = response.extensions().get::<FailureCause>().map(|c| c.0.as_str()).unwrap_or("(no cause given)");
        tracing::error!(%method, path, status = status.as_u16(), error = cause, "request failed");
    }
    response
}

/// Free text that breaks its field's rules: 422 naming the field.
impl From<pod_events::domain::text::FreeTextError> for Problem {
    fn from(e: pod_events::domain::text::FreeTextError) -> Self {
        Problem::invalid(vec![FieldError { field: e.field().to_owned(), message: e.to_string() }])
    }
}

/// Every error the API answers is a problem, whoever wrote it: a layer
/// (413 from the body limit, 408 from the timeout) or axum's own extractors
/// (a path that is not UTF-8, a body that is not JSON) answer in plain text,
/// which this turns into `application/problem+json` with the same status and
/// their text as the detail. Pages outside `/api/` keep their HTML.
pub async fn api_errors_are_problems(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !api || is_problem || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let detail = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_lowercase(),
        t => t.to_owned(),
    };
    let mut out = Problem::new(status, detail).into_response();
    // What tells a client how to go on stays.
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

impl From<sqlx::Error> for Problem {
    fn from(e: sqlx::Error) -> Self {
        // PostgreSQL refusing a value the request carried (SQLSTATE class 22:
        // a date out of its range, a NUL in text) is the request's fault;
        // anything else is ours.
        match e.as_database_error().and_then(|d| d.code()) {
            Some(code) if code.starts_with("22") => {
                tracing::info!(error = %e, "a request's value was refused by the database");
                Problem::new(StatusCode::BAD_REQUEST, "a value in the request is out of range or not text")
            }
            _ => Problem::internal(e),
        }
    }
}

/// The event store failing: 503 when it may pass (NATS away), else ours.
pub fn store_failure(e: impl pod_events::Transient + std::fmt::Display) -> Problem {
    if e.is_transient() { Problem::unavailable(format!("event store: {e}")) } else { Problem::internal(e) }
}

impl Problem {
    /// The details, as they are sent.
    pub fn details(&self) -> &ProblemDetails {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::{FailureCause, Problem};

    #[tokio::test]
    async fn our_failure_is_shown_without_its_cause_which_goes_to_the_log() {
        let response = Problem::internal("connection to 10.0.0.7 refused").into_response();
        assert_eq!(response.status(), 500);
        let cause = response.extensions().get::<FailureCause>().map(|c| c.0.clone());
        assert_eq!(cause.as_deref(), Some("connection to 10.0.0.7 refused"), "handed to log_failures");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(!body.contains("10.0.0.7"), "{body}");
        assert!(body.contains("it has been logged"), "{body}");
    }

    #[test]
    fn a_clients_mistake_carries_no_cause_to_log() {
        let response = Problem::bad_request("status", "not one of the values").into_response();
        assert_eq!(response.status(), 400);
        assert!(response.extensions().get::<FailureCause>().is_none());
    }

    #[test]
    fn the_store_away_is_503_and_a_store_bug_is_ours() {
        use pod_events::store::{StoreError, StoreErrorKind};
        let away = super::store_failure(StoreError::new(StoreErrorKind::Unavailable, "publishing", None));
        assert_eq!(away.details().status, 503);
        let bug = super::store_failure(StoreError::new(StoreErrorKind::Misuse, "committing", None));
        assert_eq!(bug.details().status, 500);
    }
}
