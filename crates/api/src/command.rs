//! How a request becomes a command, and how a command's outcome is
//! answered. Every command handler — `/api/v1` and the dashboard alike —
//! takes a [`CommandRequest`], builds its command from parsed input, sends
//! it with [`CommandRequest::meta`], and answers with [`accepted`] or the
//! problem [`failed`] makes of the refusal.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pod_events::domain::Actor;
use pod_events::domain::design::DesignError;
use pod_events::domain::idea::IdeaError;
use pod_events::domain::listing::ListingError;
use pod_events::domain::order::OrderError;
use pod_events::domain::shop::ShopError;
use pod_events::domain::trend::TrendError;
use pod_events::store::CommandError;
use pod_events::{AggregateId, EventMeta};
use sha2::Digest;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::problem::{FieldError, Problem};

/// How long an `Idempotency-Key` stays bound to its first request.
const IDEMPOTENCY_KEY_DAYS: i32 = 7;

/// What a command request carries besides its body: who sends it, the
/// `Idempotency-Key` it may bring (visible ASCII, 1–200 characters, or 400),
/// and the W3C trace it continues (`traceparent`), which its events keep.
#[derive(Debug, Clone)]
pub struct CommandRequest {
    pub caller: Caller,
    key: Option<String>,
    traceparent: Option<String>,
}

impl FromRequestParts<AppState> for CommandRequest {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Self { caller, key: idempotency_key(&parts.headers)?, traceparent: traceparent(&parts.headers) })
    }
}

/// The `Idempotency-Key` header, checked.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let key = v
        .to_str()
        .ok()
        .filter(|k| k.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
        .ok_or_else(|| Problem::bad_request("Idempotency-Key", "must be visible ASCII"))?;
    if key.is_empty() || key.len() > 200 {
        return Err(Problem::bad_request("Idempotency-Key", "must be 1–200 characters"));
    }
    Ok(Some(key.to_owned()))
}

/// A well-formed `traceparent` (version 00: `00-<32 hex>-<16 hex>-<2 hex>`);
/// anything else is ignored, as the W3C recommendation asks.
fn traceparent(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("traceparent")?.to_str().ok()?;
    let parts: Vec<&str> = v.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let ok = parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0');
    ok.then(|| v.to_owned())
}

impl CommandRequest {
    /// Refuses callers below `role` (403).
    pub fn require(&self, role: Role) -> Result<(), Problem> {
        self.caller.require(role)
    }

    /// Who the events record.
    pub fn actor(&self) -> Actor {
        self.caller.actor()
    }

    /// The aggregate `id` names in the caller's tenant.
    pub fn owns(&self, id: uuid::Uuid) -> AggregateId {
        self.caller.owns(id)
    }

    /// The command's metadata. Without an `Idempotency-Key` the command is
    /// new. With one, its id derives from the key scoped to the tenant, the
    /// route and the resource (another shop's key, or the same key on
    /// another route, is another command), and the key is bound to the
    /// request it first came with: the same key with a different `request`
    /// is refused (422), as Stripe does.
    pub async fn meta(
        &self,
        s: &AppState,
        route: &str,
        resource: impl std::fmt::Display,
        request: &(dyn std::fmt::Debug + Sync),
    ) -> Result<EventMeta, Problem> {
        let mut meta = match &self.key {
            None => EventMeta::new_command(),
            Some(key) => self.keyed(s, route, &resource.to_string(), key, request).await?,
        };
        meta.traceparent = self.traceparent.clone();
        Ok(meta)
    }

    async fn keyed(
        &self,
        s: &AppState,
        route: &str,
        resource: &str,
        key: &str,
        request: &(dyn std::fmt::Debug + Sync),
    ) -> Result<EventMeta, Problem> {
        let tenant = self.caller.tenant.as_str();
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
        .bind(resource)
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
        Ok(EventMeta::with_command_id(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, scoped.as_bytes()).to_string()))
    }
}

/// The headers every command takes, for the OpenAPI document:
/// `params(("id" = …), CommandHeaders)` on each command route.
pub struct CommandHeaders;

impl utoipa::IntoParams for CommandHeaders {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let header = |name: &str, description: &str, max: usize| {
            let schema = ObjectBuilder::new().schema_type(Type::String).max_length(Some(max));
            crate::openapi::optional_parameter(ParameterIn::Header, name, description, schema)
        };
        vec![
            header(
                "Idempotency-Key",
                "The same key is the same command (1–200 visible ASCII characters, bound to its request for 7 days)",
                200,
            ),
            header("traceparent", "W3C trace context the command's events continue", 55),
        ]
    }
}

/// What an aggregate's refusal means to a client, said once per aggregate:
/// its unknown id is 404, bad input 422, any other rule 409 with its reason.
pub trait Refusal: std::error::Error + Sized {
    /// The aggregate in a sentence: "idea", "listing".
    const WHAT: &'static str;
    fn problem(self) -> Problem;
}

impl Refusal for IdeaError {
    const WHAT: &'static str = "idea";
    fn problem(self) -> Problem {
        match self {
            IdeaError::Unknown => Problem::not_found(Self::WHAT),
            e => refused(e),
        }
    }
}

impl Refusal for ListingError {
    const WHAT: &'static str = "listing";
    fn problem(self) -> Problem {
        match self {
            ListingError::Unknown => Problem::not_found(Self::WHAT),
            ListingError::Stale { current } => {
                refused(ListingError::Stale { current }).with("current_revisions", current)
            }
            e => refused(e),
        }
    }
}

impl Refusal for DesignError {
    const WHAT: &'static str = "design";
    fn problem(self) -> Problem {
        match self {
            DesignError::Unknown => Problem::not_found(Self::WHAT),
            DesignError::UnknownStyle { field, value, allowed } => Problem::invalid(vec![FieldError {
                field: field.into(),
                message: format!("{value:?} is not one of {allowed}"),
            }]),
            e => refused(e),
        }
    }
}

impl Refusal for OrderError {
    const WHAT: &'static str = "order";
    fn problem(self) -> Problem {
        match self {
            OrderError::Unknown => Problem::not_found(Self::WHAT),
            e => refused(e),
        }
    }
}

impl Refusal for ShopError {
    const WHAT: &'static str = "shop";
    fn problem(self) -> Problem {
        match self {
            e @ ShopError::NotAProductType(_) => {
                Problem::invalid(vec![FieldError { field: "shipping_profile_by_type".into(), message: e.to_string() }])
            }
            e => refused(e),
        }
    }
}

impl Refusal for TrendError {
    const WHAT: &'static str = "trend";
    fn problem(self) -> Problem {
        match self {
            TrendError::Unknown => Problem::not_found(Self::WHAT),
            e => refused(e),
        }
    }
}

/// How a command that did not go through is answered: the aggregate's
/// refusal as its [`Refusal`] says, writers that kept winning as 409, the
/// event store being away as 503, anything else as our failure.
pub fn failed<E: Refusal>(e: CommandError<E>) -> Problem {
    match e {
        CommandError::Rejected(e) => e.problem(),
        CommandError::Conflict { .. } => {
            Problem::new(StatusCode::CONFLICT, format!("the {} kept changing meanwhile; read it again", E::WHAT))
        }
        CommandError::Store(e) => crate::problem::store_failure(e),
    }
}

/// A refusal by the aggregate that is not a missing id: 409 with its reason.
pub fn refused(e: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::CONFLICT, e.to_string())
}

/// 202 Accepted with a link to follow.
pub fn accepted(location: String) -> Response {
    (
        StatusCode::ACCEPTED,
        [(axum::http::header::LOCATION, location.clone())],
        axum::Json(serde_json::json!({"follow": location})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h
    }

    #[test]
    fn an_idempotency_key_is_visible_ascii_of_at_most_200_characters() {
        assert_eq!(super::idempotency_key(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            super::idempotency_key(&headers("idempotency-key", "order 42")).unwrap().as_deref(),
            Some("order 42")
        );
        for bad in ["", &"k".repeat(201), "a\tb"] {
            let p = super::idempotency_key(&headers("idempotency-key", bad)).unwrap_err();
            assert_eq!((p.details().status, p.details().errors[0].field.as_str()), (400, "Idempotency-Key"), "{bad:?}");
        }
    }

    #[test]
    fn each_aggregates_refusal_means_one_thing_to_a_client() {
        use pod_events::domain::idea::IdeaError;
        use pod_events::domain::listing::ListingError;
        use pod_events::store::{CommandError, StoreError, StoreErrorKind};
        let status = |p: crate::problem::Problem| p.details().status;
        assert_eq!(status(super::failed(CommandError::Rejected(IdeaError::Unknown))), 404);
        assert_eq!(status(super::failed(CommandError::Rejected(IdeaError::ScreenedRed))), 409);
        let stale = super::failed(CommandError::Rejected(ListingError::Stale { current: 3 }));
        assert_eq!((stale.details().status, stale.details().extensions["current_revisions"].as_u64()), (409, Some(3)));
        let raced = super::failed(CommandError::<IdeaError>::Conflict { aggregate_id: "a".into(), attempts: 5 });
        assert_eq!(raced.details().status, 409);
        assert!(raced.details().detail.contains("the idea kept changing"), "{}", raced.details().detail);
        let away = StoreError::new(StoreErrorKind::Unavailable, "publishing", None);
        assert_eq!(status(super::failed(CommandError::<IdeaError>::Store(away))), 503);
    }

    #[test]
    fn only_a_well_formed_traceparent_is_continued() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(super::traceparent(&headers("traceparent", good)).as_deref(), Some(good));
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert_eq!(super::traceparent(&headers("traceparent", bad)), None, "{bad}");
        }
    }
}
