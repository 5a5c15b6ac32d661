//! Aggregate snapshots in a KV bucket, written with compare-and-set so a slow
//! writer never replaces a newer snapshot with an older one.

use async_nats::jetstream::{self, kv};
use cqrs_es::Aggregate;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::jetstream::JetStreamContext;
use crate::domain::StateVersion;
use crate::ids::AggregateId;
use crate::namespace::Namespace;

#[derive(Clone)]
pub struct SnapshotStore {
    kv: kv::Store,
}

/// `<type>.<tenant>.<id>.v<state version>`: a release with another state
/// version reads and writes keys of its own, so during a rolling deploy the
/// old and new releases never read (or overwrite) each other's snapshots.
fn key(aggregate_type: &str, id: &AggregateId, state_version: u32) -> String {
    format!("{aggregate_type}.{}.{}.v{state_version}", id.tenant, id.id)
}

/// What a snapshot holds: the aggregate's state version beside its context.
#[derive(Serialize)]
struct Stored<'a, C> {
    state_version: u32,
    context: &'a C,
}

/// What loading a snapshot found.
#[derive(Debug)]
pub enum Loaded<C> {
    /// No snapshot.
    None,
    /// A snapshot of the aggregate's current state version.
    Usable(C),
    /// A snapshot of another state version (or one that does not read):
    /// ignored, to be rewritten from a replay.
    Unusable,
}

/// The state version and aggregate version a stored snapshot says it has.
fn versions_of(value: &serde_json::Value) -> (Option<u64>, Option<u64>) {
    let state = value.get("state_version").and_then(|v| v.as_u64());
    let version = value.get("context").and_then(|c| c.get("version")).and_then(|v| v.as_u64());
    (state, version)
}

impl SnapshotStore {
    pub async fn open(js: &jetstream::Context, ns: &Namespace) -> Result<Self, StoreError> {
        let bucket = ns.snapshot_bucket();
        let kv = js
            .get_key_value(&bucket)
            .await
            .map_err(|e| StoreError::nats(format!("opening KV bucket {bucket} (run `pod nats apply`)"), e))?;
        Ok(Self { kv })
    }

    pub async fn load<A: Aggregate + StateVersion + DeserializeOwned>(
        &self,
        aggregate_type: &str,
        id: &AggregateId,
    ) -> Result<Loaded<JetStreamContext<A>>, StoreError> {
        let k = key(aggregate_type, id, A::STATE_VERSION);
        let Some(entry) = self.kv.entry(&k).await.map_err(|e| StoreError::nats(format!("reading snapshot {k}"), e))?
        else {
            return Ok(Loaded::None);
        };
        if entry.operation != kv::Operation::Put {
            return Ok(Loaded::None);
        }
        let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&entry.value) else {
            tracing::warn!(snapshot = %k, "snapshot is not JSON; replaying instead");
            return Ok(Loaded::Unusable);
        };
        let (state_version, _) = versions_of(&value);
        if state_version != Some(u64::from(A::STATE_VERSION)) {
            tracing::info!(
                snapshot = %k,
                found = ?state_version,
                current = A::STATE_VERSION,
                "snapshot of another state version; replaying instead"
            );
            return Ok(Loaded::Unusable);
        }
        let context = value.get_mut("context").map(serde_json::Value::take).unwrap_or_default();
        match serde_json::from_value::<JetStreamContext<A>>(context) {
            Ok(ctx) => Ok(Loaded::Usable(ctx)),
            Err(e) => {
                tracing::warn!(snapshot = %k, error = %e, "snapshot does not read; replaying instead");
                Ok(Loaded::Unusable)
            }
        }
    }

    pub async fn save<A: Aggregate + StateVersion + Serialize>(
        &self,
        aggregate_type: &str,
        id: &AggregateId,
        ctx: &JetStreamContext<A>,
    ) -> Result<(), StoreError> {
        let k = key(aggregate_type, id, A::STATE_VERSION);
        let value = serde_json::to_vec(&Stored { state_version: A::STATE_VERSION, context: ctx })
            .map_err(|e| StoreError::unreadable(format!("encoding snapshot {k}"), Some(Box::new(e))))?;
        let current = self.kv.entry(&k).await.map_err(|e| StoreError::nats(format!("reading snapshot {k}"), e))?;
        match current {
            None => {
                self.kv
                    .create(&k, value.into())
                    .await
                    .map_err(|e| StoreError::nats(format!("creating snapshot {k}"), e))?;
            }
            Some(entry) => {
                // Replaced when older, or of another state version (whatever its version).
                let stored = serde_json::from_slice::<serde_json::Value>(&entry.value).ok();
                let replace = match stored.as_ref().map(versions_of) {
                    Some((Some(state), Some(version))) if state == u64::from(A::STATE_VERSION) => version < ctx.version,
                    _ => true,
                };
                if replace {
                    self.kv
                        .update(&k, value.into(), entry.revision)
                        .await
                        .map_err(|e| StoreError::nats(format!("updating snapshot {k}"), e))?;
                }
            }
        }
        Ok(())
    }
}
