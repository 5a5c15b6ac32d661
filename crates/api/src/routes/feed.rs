//! The live feed: the caller's tenant's events as they happen, from a core
//! NATS subscription to the tenant's subjects (no consumer state: a feed is
//! for watching, not for replay). Two transports carry the same JSON
//! frames: Server-Sent Events (`/feed`) and a WebSocket (`/feed/ws`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
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
use crate::problem::Problem;

/// How many feeds each caller holds open, and how often a feed re-checks its caller.
#[derive(Clone)]
pub struct FeedLimits {
    per_caller: usize,
    recheck: Duration,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl Default for FeedLimits {
    /// Five feeds per caller (a few tabs), re-checked every minute.
    fn default() -> Self {
        Self::new(5, Duration::from_secs(60))
    }
}

impl FeedLimits {
    pub fn new(per_caller: usize, recheck: Duration) -> Self {
        Self { per_caller: per_caller.max(1), recheck, open: Arc::default() }
    }

    /// A place for one more feed of `caller`, or 429 when they hold their share.
    fn take(&self, caller: &Caller) -> Result<FeedSlot, Problem> {
        let key = caller.key();
        let mut open = self.open.lock().map_err(|_| Problem::internal("feed counter poisoned"))?;
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= self.per_caller {
            return Err(Problem::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                format!("you already watch {} live feeds; close one first", self.per_caller),
            ));
        }
        *n += 1;
        Ok(FeedSlot { key, open: self.open.clone() })
    }
}

/// One open feed; its place is given back when the feed ends.
struct FeedSlot {
    key: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for FeedSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock()
            && let Some(n) = open.get_mut(&self.key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// A feed's watch over its caller: every `recheck`, whether the caller may
/// still watch (a database error closes the feed: the client reconnects and
/// is checked afresh). The check in flight lives here, not in the `select!`
/// that waits on it, so a busy feed cannot cancel it time after time.
struct Watch {
    caller: Caller,
    pool: sqlx::PgPool,
    every: Duration,
    pending: std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>,
    _slot: FeedSlot,
}

impl Watch {
    fn new(caller: Caller, s: &AppState, slot: FeedSlot) -> Self {
        let (pool, every) = (s.pool.clone(), s.feeds.recheck);
        let pending = Self::check(caller.clone(), pool.clone(), every);
        Self { caller, pool, every, pending, _slot: slot }
    }

    fn check(
        caller: Caller,
        pool: sqlx::PgPool,
        every: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> {
        Box::pin(async move {
            tokio::time::sleep(every).await;
            let ok = caller.still_allowed(&pool).await.unwrap_or(false);
            if !ok {
                tracing::info!(caller = %caller.key(), "live feed closed: its caller may no longer watch");
            }
            ok
        })
    }

    /// Resolves when the next check is done: false means close the feed.
    async fn allowed(&mut self) -> bool {
        let ok = (&mut self.pending).await;
        if ok {
            self.pending = Self::check(self.caller.clone(), self.pool.clone(), self.every);
        }
        ok
    }
}

/// `stream`, counted among the caller's feeds (429 past their share) and
/// ended once the caller may no longer watch.
pub(crate) fn watched<S, T>(
    s: &AppState,
    caller: Caller,
    stream: S,
) -> Result<impl Stream<Item = T> + use<S, T>, Problem>
where
    S: Stream<Item = T> + Unpin + Send,
{
    let slot = s.feeds.take(&caller)?;
    let watch = Watch::new(caller, s, slot);
    Ok(futures::stream::unfold((stream, watch), |(mut stream, mut watch)| async move {
        loop {
            tokio::select! {
                item = stream.next() => return item.map(|i| (i, (stream, watch))),
                ok = watch.allowed() => if !ok { return None },
            }
        }
    }))
}

/// `<prefix>.evt.*.<tenant>.>`: every aggregate type, one tenant.
async fn subscribe(s: &AppState, tenant: &pod_events::TenantId) -> Result<async_nats::Subscriber, Problem> {
    s.nats.subscribe(s.ns.tenant_events("*", tenant)).await.map_err(Problem::internal)
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
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String)
    ),
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
    // Ends when the subscription does, or when the caller may no longer watch.
    let events = watched(&s, caller, events)?;
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
    responses((status = 101, description = "Switching to the WebSocket protocol")),
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
    let slot = s.feeds.take(&caller)?;
    let sub = subscribe(&s, &caller.tenant).await?;
    let watch = Watch::new(caller, &s, slot);
    let ns = s.ns.clone();
    Ok(upgrade.on_upgrade(move |socket| pump(socket, sub, ns, watch)))
}

async fn pump(socket: WebSocket, mut sub: async_nats::Subscriber, ns: Namespace, mut watch: Watch) {
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
            ok = watch.allowed() => if !ok {
                let _ = tx.send(Message::Close(Some(axum::extract::ws::CloseFrame {
                    code: 1008,
                    reason: "no longer allowed to watch this shop".into(),
                }))).await;
                break;
            },
        }
    }
    let _ = sub.unsubscribe().await;
}
