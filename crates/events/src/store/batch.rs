//! Atomic batch publish (ADR-50, NATS ≥ 2.12), written on async-nats's core
//! client: every message of the batch carries `Nats-Batch-Id` and
//! `Nats-Batch-Sequence`; the first carries the concurrency check; the last
//! carries `Nats-Batch-Commit: 1` and is the only one that asks for an ack.
//! The server stores all of them or none. A single event is a plain publish
//! with the concurrency check.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use bytes::Bytes;

use super::StoreError;
use crate::envelope::{H_BATCH_COMMIT, H_BATCH_ID, H_BATCH_SEQ, H_EXPECTED_LAST_SUBJECT_SEQ};

/// "atomic publish batch contains duplicate message id".
const BATCH_HAS_DUPLICATE: u64 = 10201;

fn jetstream_code(e: &(dyn std::error::Error + 'static)) -> Option<u64> {
    e.source()?.downcast_ref::<async_nats::jetstream::Error>().map(|j| j.error_code().0)
}

/// The server refuses larger batches.
pub const MAX_BATCH: usize = 1000;

pub struct OutgoingEvent {
    pub headers: HeaderMap,
    pub payload: Bytes,
}

pub struct Ack {
    /// Stream sequence of the last message.
    pub sequence: u64,
    pub duplicate: bool,
}

/// Publishes `events` to `subject` as one atomic unit, expecting the subject's
/// last stream sequence to be `expected_last` (0: no message yet).
pub async fn publish_atomic(
    js: &jetstream::Context,
    subject: &str,
    expected_last: u64,
    mut events: Vec<OutgoingEvent>,
) -> Result<Ack, StoreError> {
    let n = events.len();
    if n > MAX_BATCH {
        return Err(StoreError::nats(
            format!("publishing {n} events to {subject}"),
            std::io::Error::other(format!("a command may produce at most {MAX_BATCH} events")),
        ));
    }
    let expected = expected_last.to_string();
    if let Some(first) = events.first_mut() {
        first.headers.insert(H_EXPECTED_LAST_SUBJECT_SEQ, expected.as_str());
    }
    let client = js.client();
    let batch_id = uuid::Uuid::new_v4().simple().to_string();
    let mut last = None;
    for (i, mut e) in events.into_iter().enumerate() {
        if n > 1 {
            e.headers.insert(H_BATCH_ID, batch_id.as_str());
            e.headers.insert(H_BATCH_SEQ, (i + 1).to_string().as_str());
        }
        if i + 1 == n {
            if n > 1 {
                e.headers.insert(H_BATCH_COMMIT, "1");
            }
            last = Some(e);
        } else {
            client
                .publish_with_headers(subject.to_owned(), e.headers, e.payload)
                .await
                .map_err(|err| StoreError::nats(format!("publishing batch {batch_id} to {subject}"), err))?;
        }
    }
    let Some(last) = last else { return Ok(Ack { sequence: 0, duplicate: false }) };
    let msg = PublishMessage::build().headers(last.headers).payload(last.payload);
    let ack = js
        .send_publish(subject.to_owned(), msg)
        .await
        .map_err(|e| StoreError::nats(format!("publishing to {subject}"), e))?
        .await;
    match ack {
        Ok(a) => Ok(Ack { sequence: a.sequence, duplicate: a.duplicate }),
        Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Err(StoreError::conflict(subject)),
        // A resent batch: its message ids are within the duplicate window, so
        // the server refused it whole. Nothing new was stored.
        Err(e) if jetstream_code(&e) == Some(BATCH_HAS_DUPLICATE) => Ok(Ack { sequence: 0, duplicate: true }),
        Err(e) => Err(StoreError::nats(format!("publishing {n} event(s) to {subject}"), e)),
    }
}
