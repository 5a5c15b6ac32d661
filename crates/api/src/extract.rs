//! Extractors whose rejections are problems (`application/problem+json`)
//! rather than axum's plain-text answers.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// The query string, deserialized; a malformed one is a 400 problem.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        // No parameter is text with control characters in it (a NUL would
        // reach PostgreSQL, which refuses it): name the parameter instead.
        if let Ok(axum::extract::Query(pairs)) = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        {
            for (name, value) in &pairs {
                if let Some(c) = value.chars().find(|c| c.is_control() || *c == '\u{FFFD}') {
                    let name = name.escape_debug().to_string();
                    return Err(Problem::bad_request(&name, format!("contains the character U+{:04X}", c as u32)));
                }
            }
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(Problem::bad_request("query", e.body_text())),
        }
    }
}

/// The `{id}` of a route's path as a uuid. A malformed id is a 400 naming
/// `id`; a well-formed one of another tenant names nothing here, which the
/// tenant-scoped read or command answers with 404.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::bad_request("id", e.body_text()))?;
        raw.parse().map(PathId).map_err(|_| {
            let shown: String = raw.chars().take(40).collect();
            Problem::bad_request("id", format!("{:?} is not an id (a UUID)", shown.escape_debug().to_string()))
        })
    }
}

/// A JSON body; one that is not JSON, or not this shape, is a 422 naming
/// `body` and saying what is wrong with it.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let body = Bytes::from_request(request, state).await.map_err(|e| Problem::new(e.status(), e.body_text()))?;
        parse_body(&body).map(JsonBody)
    }
}

/// A JSON body that may be left out: an empty (or blank) body is
/// `T::default()`; anything else is read as [`JsonBody`] reads it.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let body = Bytes::from_request(request, state).await.map_err(|e| Problem::new(e.status(), e.body_text()))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_body(&body).map(OptionalJson)
    }
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(body).map_err(|e| {
        Problem::invalid(vec![crate::problem::FieldError { field: "body".into(), message: e.to_string() }])
    })
}
