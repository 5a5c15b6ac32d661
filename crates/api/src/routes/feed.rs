//! The live feed: the caller's tenant's events as they happen, from a core
//! NATS subscription to the tenant's subjects (no consumer state: a feed is
//! for watching, not for replay). Two transports carry the same JSON
//! frames: Server-Sent Events (`/feed`) and a WebSocket (`/feed/ws`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{SinkExt, Stream, StreamExt};
use pod_events::Namespace;
use pod_events::envelope::{H_EVENT_TYPE, H_EVENT_VERSION};

use crate::AppState;
use crate::auth::{Caller, Principal};
use crate::problem::{Problem, ProblemDetails};

/// `<prefix>.evt.*.<tenant>.>`: every aggregate type, one tenant.
async fn subscribe(s: &AppState, tenant: &str) -> Result<async_nats::Subscriber, Problem> {
    let tenant = pod_events::TenantId::parse(tenant.to_owned()).map_err(Problem::internal)?;
    s.nats.subscribe(s.ns.tenant_events("*", &tenant)).await.map_err(Problem::internal)
}

/// One event as a frame: its type, and `{event_type, version,
/// aggregate_type, aggregate_id, payload}`.
fn frame(ns: &Namespace, msg: &async_nats::Message) -> (String, serde_json::Value) {
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
    (event_type, data)
}

#[utoipa::path(
    get,
    path = "/api/v1/feed",
    tag = "feed",
    summary = "The tenant's events as Server-Sent Events (`event:` is the type, `data:` the frame)",
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String), (status = 401, description = "No valid token or session", body = ProblemDetails, content_type = "application/problem+json")),
    security(("token" = []), ("session" = []))
)]
pub async fn sse(
    caller: Caller,
    State(s): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let sub = subscribe(&s, &caller.tenant).await?;
    let ns = s.ns.clone();
    let events = sub.map(move |msg| {
        let (event_type, data) = frame(&ns, &msg);
        Ok(Event::default().event(event_type).data(data.to_string()))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The same frames over a WebSocket, one text message per event. A browser
/// connecting with its session must come from this site (WebSockets are not
/// bound by CORS, so the origin check is what stops another site reading).
#[utoipa::path(
    get,
    path = "/api/v1/feed/ws",
    tag = "feed",
    summary = "The same frames over a WebSocket (browsers must send their Origin)",
    responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 401, description = "No valid token or session", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "The role or the CSRF token does not allow this", body = ProblemDetails, content_type = "application/problem+json")),
    security(("token" = []), ("session" = []))
)]
pub async fn ws(
    caller: Caller,
    State(s): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, Problem> {
    if matches!(caller.principal, Principal::Person { .. }) {
        crate::auth::sessions::check_origin(&headers)?;
        if headers.get(axum::http::header::ORIGIN).is_none() {
            return Err(Problem::forbidden("a browser's WebSocket must name its origin"));
        }
    }
    let sub = subscribe(&s, &caller.tenant).await?;
    let ns = s.ns.clone();
    Ok(upgrade.on_upgrade(move |socket| pump(socket, sub, ns)))
}

async fn pump(socket: WebSocket, mut sub: async_nats::Subscriber, ns: Namespace) {
    let (mut tx, mut rx) = socket.split();
    let every = Duration::from_secs(20);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            msg = sub.next() => {
                let Some(msg) = msg else { break };
                let (_, data) = frame(&ns, &msg);
                if tx.send(Message::Text(data.to_string().into())).await.is_err() {
                    break;
                }
            }
            incoming = rx.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if tx.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = sub.unsubscribe().await;
}
