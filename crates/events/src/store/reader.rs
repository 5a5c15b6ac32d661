//! Reading the log in order: an ordered consumer over some filter subjects,
//! from a sequence or a time, handed out in batches until caught up. Used by
//! rebuilds and by `pod replay`.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::StoreError;
use crate::envelope::RecordedEvent;
use crate::namespace::Namespace;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    All,
    Sequence(u64),
    Time(DateTime<Utc>),
}

pub struct LogReader {
    ns: Namespace,
    messages: consumer::pull::Ordered,
    idle: Duration,
    caught_up: bool,
    /// The stream's last sequence when the reader opened.
    pub last_seq_at_open: u64,
}

impl LogReader {
    pub async fn open(
        client: async_nats::Client,
        ns: &Namespace,
        filters: Vec<String>,
        start: Start,
    ) -> Result<Self, StoreError> {
        let js = jetstream::new(client);
        let name = ns.events_stream();
        let mut stream =
            js.get_stream(&name).await.map_err(|e| StoreError::nats(format!("opening stream {name}"), e))?;
        let last_seq_at_open = stream
            .info()
            .await
            .map_err(|e| StoreError::nats(format!("reading stream {name} info"), e))?
            .state
            .last_sequence;
        let deliver_policy = match start {
            Start::All => consumer::DeliverPolicy::All,
            Start::Sequence(s) => consumer::DeliverPolicy::ByStartSequence { start_sequence: s.max(1) },
            Start::Time(t) => consumer::DeliverPolicy::ByStartTime {
                start_time: time::OffsetDateTime::from_unix_timestamp_nanos(
                    t.timestamp_nanos_opt().unwrap_or(0) as i128
                )
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            },
        };
        let (filter_subject, filter_subjects) = match filters.len() {
            0 => (ns.all_events(), vec![]),
            1 => (filters[0].clone(), vec![]),
            _ => (String::new(), filters),
        };
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject,
                filter_subjects,
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| StoreError::nats(format!("creating an ordered consumer on {name}"), e))?;
        let messages = consumer.messages().await.map_err(|e| StoreError::nats("starting to read", e))?;
        Ok(Self { ns: ns.clone(), messages, idle: Duration::from_millis(300), caught_up: false, last_seq_at_open })
    }

    /// How long to wait for a message before deciding the log has no more.
    pub fn with_idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Up to `max` events; an empty batch means caught up with the log.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let msgs = self.next_messages(max).await?;
        let mut out = Vec::with_capacity(msgs.len());
        for m in &msgs {
            out.push(RecordedEvent::from_jetstream(&self.ns, m)?);
        }
        Ok(out)
    }

    /// Up to `max` messages as delivered, for readers that decode in place
    /// ([`crate::envelope::EventView`]); empty means caught up.
    pub async fn next_messages(&mut self, max: usize) -> Result<Vec<jetstream::Message>, StoreError> {
        let mut out = Vec::new();
        self.caught_up = false;
        while out.len() < max {
            let next = match tokio::time::timeout(self.idle, self.messages.next()).await {
                Err(_) | Ok(None) => break,
                Ok(Some(m)) => m.map_err(|e| StoreError::nats("reading the log", e))?,
            };
            let pending = next.info().map(|i| i.pending).unwrap_or(1);
            out.push(next);
            if pending == 0 {
                self.caught_up = true;
                break;
            }
        }
        Ok(out)
    }

    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    /// True when the last batch ended because nothing more was pending.
    pub fn caught_up(&self) -> bool {
        self.caught_up
    }
}
