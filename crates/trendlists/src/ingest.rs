//! Trend records in, Trend commands out. Keywords are normalised and
//! grouped, each keyword's observations are committed atomically, and each
//! command id derives from the batch and keyword, so importing or
//! refreshing the same data twice stores it once.

use std::collections::BTreeMap;

use pod_events::domain::trend::Trend;
use pod_events::domain::trend::{Observation, TrendCommand, normalize_keyword};
use pod_events::store::{CommandBus, CommandError, Outcome};
use pod_events::{AggregateId, EventMeta, TenantId};
use serde::Serialize;

use crate::parse::TrendRecord;
use crate::taxonomy::categorise;

/// What one import or refresh did, per keyword and in total.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct IngestReport {
    /// Records read from the source.
    pub collected: usize,
    /// Observations stored now.
    pub persisted: usize,
    /// Observations already stored by an earlier run of the same batch.
    pub duplicates: usize,
    /// Records refused (with why), e.g. a retired trend.
    pub failed: usize,
    /// Sources or pages that refused us (captcha, 403, 429).
    pub blocked: usize,
    /// Distinct keywords.
    pub keywords: usize,
    /// The pipeline run the batch started (`GET /api/v1/runs/{run}`).
    pub run: String,
    pub errors: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("storing trend {keyword:?}: {reason}")]
    Store { keyword: String, reason: String, transient: bool },
}

impl pod_events::Transient for IngestError {
    fn is_transient(&self) -> bool {
        match self {
            IngestError::Store { transient, .. } => *transient,
        }
    }
}

/// Groups records by normalised keyword, dropping exact repeats.
pub fn group(records: &[TrendRecord]) -> BTreeMap<String, Vec<&TrendRecord>> {
    let mut by_kw: BTreeMap<String, Vec<&TrendRecord>> = BTreeMap::new();
    for r in records {
        let key = normalize_keyword(&r.keyword);
        if key.is_empty() {
            continue;
        }
        let list = by_kw.entry(key).or_default();
        let o = &r.observation;
        if !list.iter().any(|l| l.observation.source == o.source && l.observation.observed_at == o.observed_at) {
            list.push(r);
        }
    }
    by_kw
}

/// The pipeline run a batch starts: the correlation id every event that
/// follows from it carries (the same batch is the same run).
pub fn run_id(tenant: &TenantId, batch: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("run/{tenant}/{batch}").as_bytes()).to_string()
}

/// Stores the records as observations of their trends. `batch` names the
/// data (a file's checksum, a source and refresh window): the same batch
/// is stored once however often it is ingested.
pub async fn ingest(
    trends: &CommandBus<Trend>,
    tenant: &TenantId,
    batch: &str,
    records: &[TrendRecord],
) -> Result<IngestReport, IngestError> {
    let mut report = IngestReport { collected: records.len(), ..Default::default() };
    let run = run_id(tenant, batch);
    report.run = run.clone();
    let grouped = group(records);
    report.keywords = grouped.len();
    for (normalized, obs) in grouped {
        let (niche, product_types) = categorise(&normalized);
        let observations: Vec<Observation> = obs.iter().map(|r| r.observation.clone()).collect();
        let n = observations.len();
        let id = AggregateId::derived(tenant.clone(), "trend", &normalized);
        let command = TrendCommand::ObserveMany {
            keyword: obs[0].keyword.clone(),
            niche: niche.to_owned(),
            product_types,
            observations,
        };
        let command_id =
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("trends/{tenant}/{batch}/{normalized}").as_bytes());
        let mut meta = EventMeta::with_command_id(command_id.to_string());
        // Everything that follows from this batch is one pipeline run.
        meta.correlation_id = run.clone();
        match trends.execute(&id, command, &meta).await {
            Ok(Outcome::Committed { .. }) => report.persisted += n,
            Ok(Outcome::Duplicate) | Ok(Outcome::Unchanged { .. }) => report.duplicates += n,
            // A retired trend, a figure out of range: refused, reported, not retried.
            Err(CommandError::Rejected(e)) => {
                report.failed += n;
                report.errors.push(format!("{normalized}: {e}"));
            }
            Err(e) => {
                let transient = pod_events::Transient::is_transient(&e);
                return Err(IngestError::Store { keyword: normalized, reason: e.to_string(), transient });
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn rec(kw: &str, source: &str, at: &str) -> TrendRecord {
        TrendRecord {
            keyword: kw.into(),
            observation: Observation {
                source: source.into(),
                observed_at: DateTime::parse_from_rfc3339(at).unwrap().to_utc(),
                rank: None,
                volume: None,
                score: 50.0,
                estimated: true,
                confidence: 0.5,
            },
        }
    }

    #[test]
    fn keywords_group_after_normalising_and_exact_repeats_drop() {
        let t = "2026-11-01T00:00:00Z";
        let records = [
            rec("Cat  Mom", "a", t),
            rec("cat mom", "a", t),
            rec("cat mom", "b", t),
            rec(" ", "a", t),
            rec("Dog Dad", "a", t),
        ];
        let g = group(&records);
        assert_eq!(g.keys().collect::<Vec<_>>(), ["cat mom", "dog dad"]);
        assert_eq!(g["cat mom"].len(), 2);
        let _: DateTime<Utc> = g["dog dad"][0].observation.observed_at;
    }
}
