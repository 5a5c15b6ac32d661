//! `ideas`: every idea with its screening verdict and hits and its decision.

use futures::future::BoxFuture;
use pod_events::RecordedEvent;
use pod_events::domain::idea::IdeaEvent;
use sqlx::PgConnection;

use super::{ApplyError, Projection, decode, uuid_of};

pub struct Ideas;

async fn apply(tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
    for e in events {
        let id = uuid_of(e)?;
        let at = e.occurred_at;
        let v = e.aggregate_seq as i64;
        let q = match decode::<IdeaEvent>(e)? {
            IdeaEvent::IdeaGenerated(g) => sqlx::query(
                "INSERT INTO ideas (tenant, idea_id, trend_id, phrase, niche, product_type, style, audience,
                                    tags, provider, model, cost_micros, status, created_at, updated_at, version)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,'generated',$13,$13,$14)",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(g.trend_id)
            .bind(g.phrase)
            .bind(g.niche)
            .bind(g.product_type)
            .bind(g.style)
            .bind(g.audience)
            .bind(g.tags)
            .bind(g.provider)
            .bind(g.model)
            .bind(g.cost_micros as i64)
            .bind(at)
            .bind(v),
            IdeaEvent::IdeaScreened(s) => sqlx::query(
                "UPDATE ideas SET status = 'screened', verdict = $3, hits = $4, updated_at = $5, version = $6
                 WHERE tenant = $1 AND idea_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(s.verdict.as_str())
            .bind(serde_json::to_value(&s.hits)?)
            .bind(at)
            .bind(v),
            IdeaEvent::IdeaApproved(a) => sqlx::query(
                "UPDATE ideas SET status = 'approved', decided_by = $3, updated_at = $4, version = $5
                 WHERE tenant = $1 AND idea_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(serde_json::to_value(&a.by)?)
            .bind(at)
            .bind(v),
            IdeaEvent::IdeaRejected(r) => sqlx::query(
                "UPDATE ideas SET status = 'rejected', decided_by = $3, reject_reason = $4, updated_at = $5, version = $6
                 WHERE tenant = $1 AND idea_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(serde_json::to_value(&r.by)?)
            .bind(r.reason)
            .bind(at)
            .bind(v),
        };
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

impl Projection for Ideas {
    fn name(&self) -> &'static str {
        "ideas"
    }
    fn aggregate_types(&self) -> &'static [&'static str] {
        &["idea"]
    }
    fn tables(&self) -> &'static [&'static str] {
        &["ideas"]
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(apply(tx, events))
    }
}
