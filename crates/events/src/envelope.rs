//! The event envelope: what travels in NATS headers beside each event's JSON
//! payload. Only this module and [`crate::store`] know the header names.

use std::collections::HashMap;

use async_nats::HeaderMap;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::namespace::Namespace;

pub const H_EVENT_TYPE: &str = "Pod-Event-Type";
pub const H_EVENT_VERSION: &str = "Pod-Event-Version";
pub const H_AGGREGATE_SEQ: &str = "Pod-Aggregate-Seq";
pub const H_TENANT: &str = "Pod-Tenant";
pub const H_CORRELATION_ID: &str = "Pod-Correlation-Id";
pub const H_CAUSATION_ID: &str = "Pod-Causation-Id";
pub const H_COMMAND_ID: &str = "Pod-Command-Id";
pub const H_OCCURRED_AT: &str = "Pod-Occurred-At";
pub const H_TRACEPARENT: &str = "traceparent";
pub const H_MSG_ID: &str = "Nats-Msg-Id";
pub const H_EXPECTED_LAST_SUBJECT_SEQ: &str = "Nats-Expected-Last-Subject-Sequence";
pub const H_BATCH_ID: &str = "Nats-Batch-Id";
pub const H_BATCH_SEQ: &str = "Nats-Batch-Sequence";
pub const H_BATCH_COMMIT: &str = "Nats-Batch-Commit";

/// Keys of the cqrs-es metadata map that the store understands.
pub mod meta_keys {
    pub const COMMAND_ID: &str = "command_id";
    pub const CORRELATION_ID: &str = "correlation_id";
    pub const CAUSATION_ID: &str = "causation_id";
    pub const TRACEPARENT: &str = "traceparent";
}

/// Where a command came from. Becomes the metadata of every event it produces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventMeta {
    /// Idempotency key: the same command id never produces events twice.
    pub command_id: String,
    /// The business flow this belongs to (a pipeline run, an API request).
    pub correlation_id: String,
    /// The event or request that caused the command.
    pub causation_id: String,
    /// W3C trace context.
    pub traceparent: Option<String>,
}

impl EventMeta {
    /// A command with a fresh id that starts its own flow.
    pub fn new_command() -> Self {
        let id = uuid::Uuid::now_v7().to_string();
        Self { command_id: id.clone(), correlation_id: id.clone(), causation_id: id, traceparent: None }
    }
    /// A command with a caller-chosen id (an API `Idempotency-Key`).
    pub fn with_command_id(command_id: impl Into<String>) -> Self {
        let id = command_id.into();
        Self { command_id: id.clone(), correlation_id: id.clone(), causation_id: id, traceparent: None }
    }
    /// The command a worker issues in reaction to `cause`: its id is derived
    /// from the cause (and a step name), so redelivery gives the same id.
    pub fn caused_by(cause: &RecordedEvent, step: &str) -> Self {
        let name = format!("{}/{}", cause.msg_id(), step);
        let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string();
        Self {
            command_id: id,
            correlation_id: cause.correlation_id.clone(),
            causation_id: cause.msg_id(),
            traceparent: cause.traceparent.clone(),
        }
    }
    pub fn into_map(self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert(meta_keys::COMMAND_ID.into(), self.command_id);
        m.insert(meta_keys::CORRELATION_ID.into(), self.correlation_id);
        m.insert(meta_keys::CAUSATION_ID.into(), self.causation_id);
        if let Some(tp) = self.traceparent {
            m.insert(meta_keys::TRACEPARENT.into(), tp);
        }
        m
    }
    pub fn from_map(map: &HashMap<String, String>) -> Self {
        let get = |k: &str| map.get(k).cloned().unwrap_or_default();
        let command_id = map.get(meta_keys::COMMAND_ID).cloned().unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let correlation_id = map.get(meta_keys::CORRELATION_ID).cloned().unwrap_or_else(|| command_id.clone());
        let causation_id = map.get(meta_keys::CAUSATION_ID).cloned().unwrap_or_else(|| command_id.clone());
        let tp = get(meta_keys::TRACEPARENT);
        Self { command_id, correlation_id, causation_id, traceparent: (!tp.is_empty()).then_some(tp) }
    }
}

/// Fresh W3C `traceparent` for a flow that arrives without one.
pub fn new_traceparent() -> String {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
}

/// One event as read back from the stream: the envelope fields, typed, and
/// the payload as JSON (already upcast only if the reader asks for it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub stream_seq: u64,
    pub subject: String,
    pub aggregate_type: String,
    pub tenant: String,
    pub aggregate_id: String,
    pub aggregate_seq: u64,
    pub event_type: String,
    pub event_version: u32,
    pub command_id: String,
    pub correlation_id: String,
    pub causation_id: String,
    pub occurred_at: DateTime<Utc>,
    pub traceparent: Option<String>,
    pub payload: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("subject {0:?} is not an event subject of this namespace")]
    Subject(String),
    #[error("header {0} is missing or malformed on stream message {1}")]
    Header(&'static str, u64),
    #[error("payload of stream message {0} is not JSON: {1}")]
    Payload(u64, serde_json::Error),
}

impl RecordedEvent {
    /// A stable identity of this event (`<aggregate id>:<aggregate seq>`), used
    /// as the causation id of whatever it triggers.
    pub fn msg_id(&self) -> String {
        format!("{}:{}", self.aggregate_id, self.aggregate_seq)
    }

    /// Decodes a stream message. `time` is the stream's timestamp, used when
    /// the occurred-at header is absent.
    pub fn decode(
        ns: &Namespace,
        stream_seq: u64,
        subject: &str,
        headers: &HeaderMap,
        payload: &[u8],
        time: DateTime<Utc>,
    ) -> Result<Self, EnvelopeError> {
        let head = Head::parse(ns, stream_seq, subject, headers, time)?;
        let payload = serde_json::from_slice(payload).map_err(|e| EnvelopeError::Payload(stream_seq, e))?;
        Ok(head.into_recorded(payload))
    }

    /// Decodes a message delivered by a JetStream consumer.
    pub fn from_jetstream(ns: &Namespace, msg: &async_nats::jetstream::Message) -> Result<Self, EnvelopeError> {
        let (seq, headers, time) = message_parts(msg)?;
        RecordedEvent::decode(ns, seq, msg.subject.as_str(), headers, &msg.payload, time)
    }

    /// The payload upcast to the current version of its event type and
    /// decoded into the aggregate's event enum.
    pub fn to_domain<E: crate::EventCodec>(&self) -> Result<E, crate::CodecError> {
        E::decode(&self.event_type, self.event_version, self.payload.clone())
    }
}

/// A NATS timestamp as chrono's.
pub fn nats_time(t: time::OffsetDateTime) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_default()
}

/// Stream sequence, headers and stored time of a consumer-delivered message.
fn message_parts(msg: &async_nats::jetstream::Message) -> Result<(u64, &HeaderMap, DateTime<Utc>), EnvelopeError> {
    static EMPTY: std::sync::OnceLock<HeaderMap> = std::sync::OnceLock::new();
    let info = msg.info().map_err(|_| EnvelopeError::Header("Nats-Sequence", 0))?;
    let headers = msg.headers.as_ref().unwrap_or_else(|| EMPTY.get_or_init(HeaderMap::new));
    Ok((info.stream_sequence, headers, nats_time(info.published)))
}

/// The envelope, borrowed from a message: the one parser of headers and subject.
#[derive(Debug, Serialize)]
pub struct Head<'a> {
    pub stream_seq: u64,
    pub subject: &'a str,
    pub aggregate_type: &'a str,
    pub tenant: &'a str,
    pub aggregate_id: String,
    pub aggregate_seq: u64,
    pub event_type: &'a str,
    pub event_version: u32,
    pub command_id: &'a str,
    pub correlation_id: &'a str,
    pub causation_id: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub traceparent: Option<&'a str>,
}

impl<'a> Head<'a> {
    pub fn parse(
        ns: &Namespace,
        stream_seq: u64,
        subject: &'a str,
        headers: &'a HeaderMap,
        time: DateTime<Utc>,
    ) -> Result<Self, EnvelopeError> {
        let parts = ns.parse_subject(subject).ok_or_else(|| EnvelopeError::Subject(subject.into()))?;
        let h = |name: &'static str| headers.get(name).map(|v| v.as_str());
        let req = |name: &'static str| h(name).ok_or(EnvelopeError::Header(name, stream_seq));
        let event_version =
            req(H_EVENT_VERSION)?.parse().map_err(|_| EnvelopeError::Header(H_EVENT_VERSION, stream_seq))?;
        let aggregate_seq =
            req(H_AGGREGATE_SEQ)?.parse().map_err(|_| EnvelopeError::Header(H_AGGREGATE_SEQ, stream_seq))?;
        let occurred_at = match h(H_OCCURRED_AT) {
            Some(s) => DateTime::parse_from_rfc3339(s)
                .map_err(|_| EnvelopeError::Header(H_OCCURRED_AT, stream_seq))?
                .with_timezone(&Utc),
            None => time,
        };
        Ok(Self {
            stream_seq,
            subject,
            aggregate_type: parts.aggregate_type,
            tenant: parts.tenant,
            aggregate_id: format!("{}.{}", parts.tenant, parts.id),
            aggregate_seq,
            event_type: req(H_EVENT_TYPE)?,
            event_version,
            command_id: h(H_COMMAND_ID).unwrap_or_default(),
            correlation_id: h(H_CORRELATION_ID).unwrap_or_default(),
            causation_id: h(H_CAUSATION_ID).unwrap_or_default(),
            occurred_at,
            traceparent: h(H_TRACEPARENT),
        })
    }

    fn into_recorded(self, payload: serde_json::Value) -> RecordedEvent {
        RecordedEvent {
            stream_seq: self.stream_seq,
            subject: self.subject.to_owned(),
            aggregate_type: self.aggregate_type.to_owned(),
            tenant: self.tenant.to_owned(),
            aggregate_id: self.aggregate_id,
            aggregate_seq: self.aggregate_seq,
            event_type: self.event_type.to_owned(),
            event_version: self.event_version,
            command_id: self.command_id.to_owned(),
            correlation_id: self.correlation_id.to_owned(),
            causation_id: self.causation_id.to_owned(),
            occurred_at: self.occurred_at,
            traceparent: self.traceparent.map(str::to_owned),
            payload,
        }
    }
}

/// An event read in place: the envelope borrowed from the message's headers
/// and the payload as raw JSON, never parsed. For readers that pass events on
/// (replay); serialises exactly like [`RecordedEvent`].
#[derive(Debug, Serialize)]
pub struct EventView<'a> {
    #[serde(flatten)]
    pub head: Head<'a>,
    pub payload: &'a serde_json::value::RawValue,
}

impl<'a> EventView<'a> {
    /// Reads a message delivered by a JetStream consumer in place.
    pub fn from_jetstream(ns: &Namespace, msg: &'a async_nats::jetstream::Message) -> Result<Self, EnvelopeError> {
        let (seq, headers, time) = message_parts(msg)?;
        let head = Head::parse(ns, seq, msg.subject.as_str(), headers, time)?;
        let payload = serde_json::from_slice(&msg.payload).map_err(|e| EnvelopeError::Payload(seq, e))?;
        Ok(Self { head, payload })
    }

    /// The owned event, with the payload parsed.
    pub fn to_recorded(&self) -> Result<RecordedEvent, EnvelopeError> {
        let payload = serde_json::from_str(self.payload.get())
            .map_err(|err| EnvelopeError::Payload(self.head.stream_seq, err))?;
        let head = Head { aggregate_id: self.head.aggregate_id.clone(), ..self.head };
        Ok(head.into_recorded(payload))
    }
}
