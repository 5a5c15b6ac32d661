//! The live feed: the caller's tenant's events as they happen, as
//! Server-Sent Events, from a core NATS subscription to the tenant's
//! subjects (no consumer state: a feed is for watching, not for replay).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use pod_events::envelope::{H_EVENT_TYPE, H_EVENT_VERSION};

use crate::AppState;
use crate::auth::Caller;
use crate::problem::Problem;

/// `<prefix>.evt.*.<tenant>.>`: every aggregate type, one tenant.
fn subject(s: &AppState, tenant: &str) -> Result<String, Problem> {
    let tenant = pod_events::TenantId::parse(tenant.to_owned()).map_err(Problem::internal)?;
    Ok(s.ns.tenant_events("*", &tenant))
}

pub async fn sse(
    caller: Caller,
    State(s): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let sub = s.nats.subscribe(subject(&s, &caller.tenant)?).await.map_err(Problem::internal)?;
    let ns = s.ns.clone();
    let events = sub.map(move |msg| {
        let event_type =
            msg.headers.as_ref().and_then(|h| h.get(H_EVENT_TYPE)).map(|v| v.as_str().to_owned()).unwrap_or_default();
        let version = msg.headers.as_ref().and_then(|h| h.get(H_EVENT_VERSION)).map(|v| v.as_str().to_owned());
        let (aggregate_type, aggregate_id) = ns
            .parse_subject(msg.subject.as_str())
            .map(|p| (p.aggregate_type.to_owned(), p.id.to_owned()))
            .unwrap_or_default();
        let payload: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap_or(serde_json::Value::Null);
        let data = serde_json::json!({
            "event_type": event_type, "version": version, "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id, "payload": payload,
        });
        Ok(Event::default().event(event_type).data(data.to_string()))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
