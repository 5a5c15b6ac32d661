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

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
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
        let query = parts.uri.query().unwrap_or_default();
        let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(pairs).map(Query).map_err(|e| {
            // A value one parameter cannot take names that parameter
            // (`?status=aproved`: the values it can); a query of the wrong
            // shape as a whole is the query's.
            let field = match e.path().iter().next() {
                Some(serde_path_to_error::Segment::Map { key }) => key.clone(),
                _ => "query".to_owned(),
            };
            let shown: String = e.inner().to_string().chars().take(300).collect();
            Problem::bad_request(&field, shown)
        })
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

#[cfg(test)]
mod tests {
    use axum::extract::FromRequestParts;
    use pod_projections::read::ideas::{Filter, Status};

    use super::Query;
    use crate::pagination::PageQuery;

    async fn query<T: serde::de::DeserializeOwned>(uri: &str) -> Result<T, (String, String)> {
        let (mut parts, ()) = axum::http::Request::get(uri).body(()).unwrap().into_parts();
        match Query::<T>::from_request_parts(&mut parts, &()).await {
            Ok(Query(v)) => Ok(v),
            Err(p) => {
                let d = p.details();
                assert_eq!(d.status, 400, "{}", d.detail);
                Err((d.errors[0].field.clone(), d.errors[0].message.clone()))
            }
        }
    }

    #[tokio::test]
    async fn a_filter_takes_the_values_its_column_holds() {
        let f: Filter = query("/ideas?status=screened&verdict=amber&limit=5").await.unwrap();
        assert_eq!(f.status, Some(Status::Screened));
        assert_eq!(f.verdict.map(|v| v.as_str()), Some("amber"));
        let none: Filter = query("/ideas").await.unwrap();
        assert_eq!(none, Filter::default());
    }

    #[tokio::test]
    async fn a_value_the_column_never_holds_names_its_parameter_and_the_values_it_takes() {
        let (field, message) = query::<Filter>("/ideas?status=aproved").await.unwrap_err();
        assert_eq!(field, "status");
        for value in ["generated", "screened", "approved", "rejected"] {
            assert!(message.contains(value), "{message}");
        }
        let (field, _) = query::<Filter>("/ideas?verdict=purple").await.unwrap_err();
        assert_eq!(field, "verdict");
    }

    #[tokio::test]
    async fn a_query_of_the_wrong_shape_is_the_querys_and_its_message_is_bounded() {
        // Each value is one the column holds; twice is the query's mistake.
        let (field, message) = query::<Filter>("/ideas?status=screened&status=approved").await.unwrap_err();
        assert_eq!((field.as_str(), message.as_str()), ("query", "duplicate field `status`"));
        let flood = format!("/ideas?status={}", "x".repeat(10_000));
        let (_, message) = query::<Filter>(&flood).await.unwrap_err();
        assert!(message.chars().count() <= 300, "{} characters", message.chars().count());
        let (field, _) = query::<Filter>("/ideas?status=%00").await.unwrap_err();
        assert_eq!(field, "status", "control characters are refused before parsing");
        let page: PageQuery = query("/ideas?status=screened&cursor=abc&limit=7").await.unwrap();
        assert_eq!((page.cursor.as_deref(), page.limit.as_deref()), (Some("abc"), Some("7")));
    }
}
