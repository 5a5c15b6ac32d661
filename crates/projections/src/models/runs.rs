//! `pipeline_runs`: one row per flow. Every command a worker issues keeps
//! the correlation id of the event it reacts to, so everything that followed
//! from one import, one source refresh or one person's action shares it;
//! a run counts each stage's events under that id.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use pod_events::RecordedEvent;
use sqlx::PgConnection;

use super::{ApplyError, Projection};

pub struct Runs;

/// What one batch adds to one run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RunDelta {
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    pub started_by: String,
    pub source: Option<String>,
    pub observations: i32,
    pub ideas: i32,
    pub ideas_red: i32,
    pub ideas_approved: i32,
    pub designs: i32,
    pub listings: i32,
    pub published: i32,
    pub failures: i32,
    pub events: i32,
}

impl RunDelta {
    /// Counts one event of the run.
    pub fn add(&mut self, event_type: &str, payload: &serde_json::Value, at: DateTime<Utc>) {
        if self.first_at.is_none() {
            self.started_by = event_type.to_owned();
        }
        self.first_at = Some(self.first_at.map_or(at, |f| f.min(at)));
        self.last_at = Some(self.last_at.map_or(at, |l| l.max(at)));
        self.events += 1;
        match event_type {
            "TrendObserved" => {
                self.observations += 1;
                if self.source.is_none() {
                    // v1 observations kept the source at the top.
                    let source = payload["observation"]["source"].as_str().or(payload["source"].as_str());
                    self.source = source.map(str::to_owned);
                }
            }
            "IdeaGenerated" => self.ideas += 1,
            "IdeaScreened" if payload["verdict"] == "red" => self.ideas_red += 1,
            "IdeaApproved" => self.ideas_approved += 1,
            "DesignRendered" => self.designs += 1,
            "ListingDrafted" => self.listings += 1,
            "ListingPublished" => self.published += 1,
            "DesignFailed" | "ListingPublishFailed" => self.failures += 1,
            _ => {}
        }
    }
}

/// The batch's events grouped by run, in the order runs first appear.
pub fn deltas(events: &[RecordedEvent]) -> Vec<((String, String), RunDelta)> {
    let mut order = Vec::new();
    let mut by_run: HashMap<(String, String), RunDelta> = HashMap::new();
    for e in events {
        let key = (e.tenant.clone(), e.correlation_id.clone());
        let delta = by_run.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            RunDelta::default()
        });
        delta.add(&e.event_type, &e.payload, e.occurred_at);
    }
    order.into_iter().filter_map(|k| by_run.remove(&k).map(|d| (k, d))).collect()
}

async fn apply(tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
    for ((tenant, run), d) in deltas(events) {
        let (Some(first), Some(last)) = (d.first_at, d.last_at) else { continue };
        sqlx::query(
            "INSERT INTO pipeline_runs AS r (tenant, run_id, started_at, updated_at, started_by, source, observations,
                                             ideas, ideas_red, ideas_approved, designs, listings, published,
                                             failures, events)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (tenant, run_id) DO UPDATE SET
                started_at = least(r.started_at, excluded.started_at),
                updated_at = greatest(r.updated_at, excluded.updated_at),
                source = coalesce(r.source, excluded.source),
                observations = r.observations + excluded.observations,
                ideas = r.ideas + excluded.ideas,
                ideas_red = r.ideas_red + excluded.ideas_red,
                ideas_approved = r.ideas_approved + excluded.ideas_approved,
                designs = r.designs + excluded.designs,
                listings = r.listings + excluded.listings,
                published = r.published + excluded.published,
                failures = r.failures + excluded.failures,
                events = r.events + excluded.events",
        )
        .bind(tenant)
        .bind(run)
        .bind(first)
        .bind(last)
        .bind(d.started_by)
        .bind(d.source)
        .bind(d.observations)
        .bind(d.ideas)
        .bind(d.ideas_red)
        .bind(d.ideas_approved)
        .bind(d.designs)
        .bind(d.listings)
        .bind(d.published)
        .bind(d.failures)
        .bind(d.events)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

impl Projection for Runs {
    fn name(&self) -> &'static str {
        "runs"
    }
    fn aggregate_types(&self) -> &'static [&'static str] {
        &[]
    }
    fn tables(&self) -> &'static [&'static str] {
        &["pipeline_runs"]
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(apply(tx, events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_run_counts_each_stage_and_keeps_its_first_source() {
        let at = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let mut d = RunDelta::default();
        d.add("TrendObserved", &json!({"observation": {"source": "upload"}}), at(5));
        d.add("TrendObserved", &json!({"observation": {"source": "other"}}), at(1));
        d.add("IdeaGenerated", &json!({}), at(6));
        d.add("IdeaScreened", &json!({"verdict": "red"}), at(7));
        d.add("IdeaScreened", &json!({"verdict": "green"}), at(7));
        d.add("IdeaApproved", &json!({}), at(8));
        d.add("DesignFailed", &json!({}), at(9));
        d.add("CostRecorded", &json!({}), at(3));
        assert_eq!(d.started_by, "TrendObserved");
        assert_eq!(d.source.as_deref(), Some("upload"));
        assert_eq!((d.first_at, d.last_at), (Some(at(1)), Some(at(9))));
        assert_eq!((d.observations, d.ideas, d.ideas_red, d.ideas_approved, d.failures, d.events), (2, 1, 1, 1, 1, 8));
    }
}
