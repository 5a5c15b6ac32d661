//! Dead letters: events a worker gave up on, kept with the error on the
//! dead-letter stream until someone retries or discards them.
//!
//! A dead letter is a copy of the event (its `Pod-*` headers and payload)
//! plus `Pod-Dlq-*` headers saying which worker failed, how often, why, and
//! where the event sits in the log. It lives on
//! `<prefix>.dlq.dead.<worker>.<tenant>`. Retrying republishes it on
//! `<prefix>.dlq.retry.<worker>.<tenant>`, which the worker consumes beside
//! the log, then deletes the dead letter; discarding just deletes it.
//! Here rather than in the workers crate so the API can list them too.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream::Stream};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;

use super::StoreError;
use crate::envelope::{H_EVENT_TYPE, H_MSG_ID, H_TENANT, RecordedEvent, nats_time};
use crate::namespace::Namespace;

pub const H_DLQ_WORKER: &str = "Pod-Dlq-Worker";
pub const H_DLQ_SUBJECT: &str = "Pod-Dlq-Subject";
pub const H_DLQ_STREAM_SEQ: &str = "Pod-Dlq-Stream-Seq";
pub const H_DLQ_ERROR: &str = "Pod-Dlq-Error";
pub const H_DLQ_DELIVERIES: &str = "Pod-Dlq-Deliveries";
pub const H_DLQ_ATTEMPT: &str = "Pod-Dlq-Attempt";
pub const H_DLQ_AT: &str = "Pod-Dlq-At";
/// A deferred event is not to be handled before this time (RFC 3339).
pub const H_NOT_BEFORE: &str = "Pod-Not-Before";
/// How often an event was deferred so far.
pub const H_DEFERRALS: &str = "Pod-Deferrals";

/// Header values must be one line; errors can be long and multi-line.
const MAX_ERROR_CHARS: usize = 2000;

/// A dead letter as listed to operators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Sequence on the dead-letter stream: what `retry` and `discard` take.
    pub dlq_seq: u64,
    pub worker: String,
    pub tenant: String,
    pub event_type: String,
    /// The event's subject and sequence on the event log.
    pub subject: String,
    pub stream_seq: u64,
    pub error: String,
    pub deliveries: u64,
    /// 1 for the first time this event died here, 2 after one retry, …
    pub attempt: u32,
    pub dead_at: DateTime<Utc>,
}

/// Where a message handed to a worker came from, and what it carries.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    pub worker: &'a str,
    pub error: &'a str,
    pub deliveries: u64,
}

fn one_line(s: &str) -> String {
    let flat: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    flat.chars().take(MAX_ERROR_CHARS).collect()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.as_str())
}

/// The `Pod-*` and trace headers of a message: NATS's own (`Nats-*`) must not
/// travel, since they would be read as dedup, batch or concurrency
/// instructions by the dead-letter stream. A deferral's due time and count
/// stay with that deferral.
fn event_headers(h: &HeaderMap) -> HeaderMap {
    event_headers_without(h, &[H_NOT_BEFORE, H_DEFERRALS])
}

fn event_headers_without(h: &HeaderMap, left_out: &[&str]) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, values) in h.iter() {
        let n: &str = name.as_ref();
        let kept = n.starts_with("Pod-") || n.eq_ignore_ascii_case("traceparent");
        if kept && !left_out.iter().any(|l| l.eq_ignore_ascii_case(n)) {
            for v in values {
                out.append(n, v.as_str());
            }
        }
    }
    out
}

/// The retry attempt a message represents (1 for an event from the log).
pub fn attempt_of(headers: Option<&HeaderMap>) -> u32 {
    headers.and_then(|h| header(h, H_DLQ_ATTEMPT)).and_then(|v| v.parse().ok()).unwrap_or(0) + 1
}

/// Where a dead letter's message sits on the event log.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub subject: &'a str,
    pub stream_seq: u64,
    /// The tenant it belongs to; a message without a readable tenant is kept under `_unknown`.
    pub tenant: Option<&'a str>,
}

impl<'a> From<&'a RecordedEvent> for Origin<'a> {
    fn from(e: &'a RecordedEvent) -> Self {
        Origin { subject: &e.subject, stream_seq: e.stream_seq, tenant: Some(&e.tenant) }
    }
}

/// Puts `event` on the dead-letter stream with the failure. Idempotent: the
/// same event, worker and attempt is stored once however often this runs.
pub async fn publish(
    js: &jetstream::Context,
    ns: &Namespace,
    event: &RecordedEvent,
    headers: Option<&HeaderMap>,
    payload: bytes::Bytes,
    failure: Failure<'_>,
) -> Result<(), StoreError> {
    publish_from(js, ns, Origin::from(event), headers, payload, failure).await
}

/// Puts a message of the log on the dead-letter stream with the failure,
/// whether or not it reads as an event (an undecodable one is kept too).
pub async fn publish_from(
    js: &jetstream::Context,
    ns: &Namespace,
    origin: Origin<'_>,
    headers: Option<&HeaderMap>,
    payload: bytes::Bytes,
    failure: Failure<'_>,
) -> Result<(), StoreError> {
    let attempt = attempt_of(headers);
    let mut h = headers.map(event_headers).unwrap_or_default();
    for (k, v) in [
        (H_DLQ_WORKER, failure.worker.to_owned()),
        (H_DLQ_SUBJECT, origin.subject.to_owned()),
        (H_DLQ_STREAM_SEQ, origin.stream_seq.to_string()),
        (H_DLQ_ERROR, one_line(failure.error)),
        (H_DLQ_DELIVERIES, failure.deliveries.to_string()),
        (H_DLQ_ATTEMPT, attempt.to_string()),
        (H_DLQ_AT, Utc::now().to_rfc3339()),
        (H_MSG_ID, format!("dead:{}:{}:{}", failure.worker, origin.stream_seq, attempt)),
    ] {
        h.insert(k, v.as_str());
    }
    let tenant = origin.tenant.and_then(|t| crate::TenantId::parse(t).ok());
    let tenant = tenant.as_ref().map_or("_unknown", |t| t.as_str());
    let subject = ns.dead_letter_subject(failure.worker, tenant);
    js.publish_with_headers(subject.clone(), h, payload)
        .await
        .map_err(|e| StoreError::nats(format!("publishing dead letter on {subject}"), e))?
        .await
        .map_err(|e| StoreError::nats(format!("storing dead letter on {subject}"), e))?;
    Ok(())
}

/// Hands an event back to `worker` for later: a copy on the worker's retry
/// subject, not to be handled before `not_before`. Each deferral of an
/// event is stored once however often this runs for it (a crash between
/// this and the ack of the original defers it again, and is deduplicated).
pub async fn defer(
    js: &jetstream::Context,
    ns: &Namespace,
    worker: &str,
    origin: Origin<'_>,
    headers: Option<&HeaderMap>,
    payload: bytes::Bytes,
    not_before: DateTime<Utc>,
) -> Result<(), StoreError> {
    let deferrals = headers.and_then(|h| header(h, H_DEFERRALS)).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0) + 1;
    let attempt = attempt_of(headers);
    // A retried dead letter's failure is not this copy's: it is not dead.
    let stale = [H_NOT_BEFORE, H_DEFERRALS, H_DLQ_ERROR, H_DLQ_WORKER, H_DLQ_DELIVERIES, H_DLQ_AT];
    let mut h = headers.map(|h| event_headers_without(h, &stale)).unwrap_or_default();
    for (k, v) in [
        (H_DLQ_SUBJECT, origin.subject.to_owned()),
        (H_DLQ_STREAM_SEQ, origin.stream_seq.to_string()),
        (H_NOT_BEFORE, not_before.to_rfc3339()),
        (H_DEFERRALS, deferrals.to_string()),
        (H_MSG_ID, format!("defer:{worker}:{}:{attempt}:{deferrals}", origin.stream_seq)),
    ] {
        h.insert(k, v.as_str());
    }
    let tenant = origin.tenant.and_then(|t| crate::TenantId::parse(t).ok());
    let tenant = tenant.as_ref().map_or("_unknown", |t| t.as_str());
    let subject = ns.retry_subject(worker, tenant);
    js.publish_with_headers(subject.clone(), h, payload)
        .await
        .map_err(|e| StoreError::nats(format!("publishing deferral on {subject}"), e))?
        .await
        .map_err(|e| StoreError::nats(format!("storing deferral on {subject}"), e))?;
    Ok(())
}

/// Removes a message of the retry subjects once its worker is done with
/// it (handled, deferred again or dead-lettered again), so retries and
/// deferrals do not pile up on the dead-letter stream. Already gone is fine.
pub async fn forget_retry(js: &jetstream::Context, ns: &Namespace, seq: u64) -> Result<(), StoreError> {
    let stream = dlq(js, ns).await?;
    match stream.delete_message(seq).await {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("no message found") => Ok(()),
        Err(e) => Err(StoreError::nats(format!("removing retry {seq}"), e)),
    }
}

/// When a deferred event may be handled (None: whenever).
pub fn not_before(headers: Option<&HeaderMap>) -> Option<DateTime<Utc>> {
    let v = header(headers?, H_NOT_BEFORE)?;
    DateTime::parse_from_rfc3339(v).ok().map(|t| t.to_utc())
}

/// Decodes a retried dead letter back into the event it carries.
pub fn decode_retry(ns: &Namespace, msg: &jetstream::Message) -> Result<RecordedEvent, StoreError> {
    let bad = |what: &str| StoreError::unreadable(format!("retry message {}: {what}", msg.subject), None);
    let h = msg.headers.as_ref().ok_or_else(|| bad("no headers"))?;
    let subject = header(h, H_DLQ_SUBJECT).ok_or_else(|| bad("no Pod-Dlq-Subject"))?;
    let seq = header(h, H_DLQ_STREAM_SEQ).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no Pod-Dlq-Stream-Seq"))?;
    let time = msg.info().map(|i| nats_time(i.published)).unwrap_or_else(|_| Utc::now());
    RecordedEvent::decode(ns, seq, subject, h, &msg.payload, time).map_err(|e| bad(&e.to_string()))
}

async fn dlq(js: &jetstream::Context, ns: &Namespace) -> Result<Stream, StoreError> {
    let name = ns.dlq_stream();
    js.get_stream(&name).await.map_err(|e| StoreError::nats(format!("opening stream {name} (run `pod nats apply`)"), e))
}

fn to_dead_letter(seq: u64, subject: &str, h: &HeaderMap, time: DateTime<Utc>) -> DeadLetter {
    let get = |n: &str| header(h, n).unwrap_or_default().to_owned();
    DeadLetter {
        dlq_seq: seq,
        worker: get(H_DLQ_WORKER),
        tenant: get(H_TENANT),
        event_type: get(H_EVENT_TYPE),
        subject: get(H_DLQ_SUBJECT),
        stream_seq: get(H_DLQ_STREAM_SEQ).parse().unwrap_or(0),
        error: get(H_DLQ_ERROR),
        deliveries: get(H_DLQ_DELIVERIES).parse().unwrap_or(0),
        attempt: get(H_DLQ_ATTEMPT).parse().unwrap_or(1),
        dead_at: header(h, H_DLQ_AT)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc())
            .unwrap_or(time),
    }
    .with_subject_fallback(subject)
}

impl DeadLetter {
    /// Fills what the headers lack from the subject,
    /// `<prefix>.dlq.dead.<worker>.<tenant>`: the subject is what tenant
    /// filtering relies on, so it is the authority for both.
    fn with_subject_fallback(mut self, dlq_subject: &str) -> Self {
        let mut tokens = dlq_subject.split('.').skip(3);
        if let Some(worker) = tokens.next().filter(|w| !w.is_empty()) {
            self.worker = worker.to_owned();
        }
        if let Some(tenant) = tokens.next().filter(|t| !t.is_empty()) {
            self.tenant = tenant.to_owned();
        }
        self
    }
}

/// Every dead letter, oldest first (of one worker kind, or of all).
pub async fn list(
    client: &async_nats::Client,
    ns: &Namespace,
    worker: Option<&str>,
) -> Result<Vec<DeadLetter>, StoreError> {
    list_on(client, ns, ns.dead_letters_filter(worker)).await
}

/// One tenant's dead letters, oldest first: read by their subject, never by
/// scanning every tenant's.
pub async fn list_for_tenant(
    client: &async_nats::Client,
    ns: &Namespace,
    tenant: &crate::TenantId,
) -> Result<Vec<DeadLetter>, StoreError> {
    list_on(client, ns, ns.tenant_dead_letters_filter(tenant)).await
}

async fn list_on(client: &async_nats::Client, ns: &Namespace, filter: String) -> Result<Vec<DeadLetter>, StoreError> {
    let js = jetstream::new(client.clone());
    let stream = dlq(&js, ns).await?;
    let mut expected = 0u64;
    {
        let mut counts = stream
            .info_with_subjects(filter.clone())
            .await
            .map_err(|e| StoreError::nats(format!("counting dead letters on {filter}"), e))?;
        while let Some(s) = counts.next().await {
            let (_, n) = s.map_err(|e| StoreError::nats(format!("counting dead letters on {filter}"), e))?;
            expected += n as u64;
        }
    }
    let mut out = Vec::with_capacity(expected as usize);
    if expected == 0 {
        return Ok(out);
    }
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig { filter_subject: filter, ..Default::default() })
        .await
        .map_err(|e| StoreError::nats("reading dead letters", e))?;
    let mut messages = consumer.messages().await.map_err(|e| StoreError::nats("reading dead letters", e))?;
    while (out.len() as u64) < expected {
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), messages.next()).await;
        let Ok(Some(msg)) = next else { break };
        let msg = msg.map_err(|e| StoreError::nats("reading dead letters", e))?;
        let info = msg.info().map_err(|e| StoreError::unreadable(format!("dead letter without info: {e}"), None))?;
        let (seq, time, pending) = (info.stream_sequence, nats_time(info.published), info.pending);
        let h = msg.headers.clone().unwrap_or_default();
        out.push(to_dead_letter(seq, msg.subject.as_str(), &h, time));
        if pending == 0 {
            break;
        }
    }
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("no dead letter has sequence {0} (list them with `pod dlq list`)")]
    NotFound(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::Transient for DeadLetterError {
    fn is_transient(&self) -> bool {
        match self {
            DeadLetterError::NotFound(_) => false,
            DeadLetterError::Store(e) => crate::Transient::is_transient(e),
        }
    }
}

async fn fetch(stream: &Stream, seq: u64) -> Result<jetstream::message::StreamMessage, DeadLetterError> {
    // Sequences start at 1; the server calls 0 a bad request, which is "no such letter" here.
    if seq == 0 {
        return Err(DeadLetterError::NotFound(seq));
    }
    match stream.get_raw_message(seq).await {
        Ok(m) if m.subject.as_str().contains(".dlq.dead.") => Ok(m),
        Ok(_) => Err(DeadLetterError::NotFound(seq)),
        Err(e) if e.kind() == jetstream::stream::RawMessageErrorKind::NoMessageFound => {
            Err(DeadLetterError::NotFound(seq))
        }
        Err(e) => Err(StoreError::nats(format!("reading dead letter {seq}"), e).into()),
    }
}

/// Sends a dead letter back to its worker, then removes it. Safe to repeat:
/// the retry is deduplicated on the dead letter's sequence.
pub async fn retry(client: &async_nats::Client, ns: &Namespace, seq: u64) -> Result<DeadLetter, DeadLetterError> {
    retry_of(client, ns, seq, None).await
}

/// Retries a dead letter of `tenant`'s; another tenant's is not found.
pub async fn retry_for_tenant(
    client: &async_nats::Client,
    ns: &Namespace,
    seq: u64,
    tenant: &crate::TenantId,
) -> Result<DeadLetter, DeadLetterError> {
    retry_of(client, ns, seq, Some(tenant)).await
}

async fn retry_of(
    client: &async_nats::Client,
    ns: &Namespace,
    seq: u64,
    tenant: Option<&crate::TenantId>,
) -> Result<DeadLetter, DeadLetterError> {
    let js = jetstream::new(client.clone());
    let stream = dlq(&js, ns).await?;
    let m = fetch(&stream, seq).await?;
    let letter = to_dead_letter(seq, m.subject.as_str(), &m.headers, nats_time(m.time));
    if tenant.is_some_and(|t| t.as_str() != letter.tenant) {
        return Err(DeadLetterError::NotFound(seq));
    }
    let mut h = event_headers(&m.headers);
    h.insert(H_MSG_ID, format!("retry:{seq}").as_str());
    let subject = ns.retry_subject(&letter.worker, &letter.tenant);
    js.publish_with_headers(subject.clone(), h, m.payload.clone())
        .await
        .map_err(|e| StoreError::nats(format!("publishing retry on {subject}"), e))?
        .await
        .map_err(|e| StoreError::nats(format!("storing retry on {subject}"), e))?;
    remove(&stream, seq).await?;
    Ok(letter)
}

/// Drops a dead letter for good.
pub async fn discard(client: &async_nats::Client, ns: &Namespace, seq: u64) -> Result<DeadLetter, DeadLetterError> {
    let js = jetstream::new(client.clone());
    let stream = dlq(&js, ns).await?;
    let m = fetch(&stream, seq).await?;
    let letter = to_dead_letter(seq, m.subject.as_str(), &m.headers, nats_time(m.time));
    remove(&stream, seq).await?;
    Ok(letter)
}

async fn remove(stream: &Stream, seq: u64) -> Result<(), DeadLetterError> {
    match stream.delete_message(seq).await {
        Ok(_) => Ok(()),
        // Already gone (a concurrent retry or discard): the same end state.
        Err(e) if e.to_string().contains("no message found") => Ok(()),
        Err(e) => Err(StoreError::nats(format!("deleting dead letter {seq}"), e).into()),
    }
}
