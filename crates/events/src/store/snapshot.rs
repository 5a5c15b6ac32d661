//! Aggregate snapshots in a KV bucket, written with compare-and-set so a slow
//! writer never replaces a newer snapshot with an older one.

use async_nats::jetstream::{self, kv};
use cqrs_es::Aggregate;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::jetstream::JetStreamContext;
use crate::ids::AggregateId;
use crate::namespace::Namespace;

#[derive(Clone)]
pub struct SnapshotStore {
    kv: kv::Store,
}

fn key(aggregate_type: &str, id: &AggregateId) -> String {
    format!("{aggregate_type}.{}.{}", id.tenant, id.id)
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

    pub async fn load<A: Aggregate + DeserializeOwned>(
        &self,
        aggregate_type: &str,
        id: &AggregateId,
    ) -> Result<Option<JetStreamContext<A>>, StoreError> {
        let k = key(aggregate_type, id);
        let Some(entry) = self.kv.entry(&k).await.map_err(|e| StoreError::nats(format!("reading snapshot {k}"), e))?
        else {
            return Ok(None);
        };
        if entry.operation != kv::Operation::Put {
            return Ok(None);
        }
        let ctx: JetStreamContext<A> =
            serde_json::from_slice(&entry.value).map_err(|e| StoreError::Snapshot(k.clone(), e))?;
        Ok(Some(ctx))
    }

    pub async fn save<A: Aggregate + Serialize>(
        &self,
        aggregate_type: &str,
        id: &AggregateId,
        ctx: &JetStreamContext<A>,
    ) -> Result<(), StoreError> {
        let k = key(aggregate_type, id);
        let value = serde_json::to_vec(ctx).map_err(|e| StoreError::Snapshot(k.clone(), e))?;
        let current = self.kv.entry(&k).await.map_err(|e| StoreError::nats(format!("reading snapshot {k}"), e))?;
        match current {
            None => {
                self.kv
                    .create(&k, value.into())
                    .await
                    .map_err(|e| StoreError::nats(format!("creating snapshot {k}"), e))?;
            }
            Some(entry) => {
                let older = serde_json::from_slice::<serde_json::Value>(&entry.value)
                    .ok()
                    .and_then(|v| v.get("version").and_then(|v| v.as_u64()))
                    .is_none_or(|v| v < ctx.version);
                if older {
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
