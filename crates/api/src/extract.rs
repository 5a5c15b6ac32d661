//! Extractors whose rejections are problems (`application/problem+json`)
//! rather than axum's plain-text answers.

use axum::extract::FromRequestParts;
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
