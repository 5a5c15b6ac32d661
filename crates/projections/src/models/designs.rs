//! `designs`: every design with its status and stored assets.

use futures::future::BoxFuture;
use pod_events::RecordedEvent;
use pod_events::domain::design::DesignEvent;
use sqlx::PgConnection;

use super::{ApplyError, Projection, decode, uuid_of};

pub struct Designs;

async fn apply(tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
    for e in events {
        let id = uuid_of(e)?;
        let at = e.occurred_at;
        let v = e.aggregate_seq as i64;
        let q = match decode::<DesignEvent>(e)? {
            DesignEvent::DesignRequested(r) => sqlx::query(
                "INSERT INTO designs (tenant, design_id, idea_id, phrase, product_type, layout, palette,
                                      width, height, dpi, status, created_at, updated_at, version)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'requested',$11,$11,$12)",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(r.idea_id)
            .bind(r.phrase)
            .bind(r.product_type)
            .bind(r.layout)
            .bind(r.palette)
            .bind(r.print_area.width as i32)
            .bind(r.print_area.height as i32)
            .bind(r.print_area.dpi as i32)
            .bind(at)
            .bind(v),
            DesignEvent::DesignRendered(r) => sqlx::query(
                "UPDATE designs SET status = 'rendered', artwork = $3, preview = $4, renderer = $5,
                        cost_micros = cost_micros + $6, failure = NULL, updated_at = $7, version = $8
                 WHERE tenant = $1 AND design_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(serde_json::to_value(&r.artwork)?)
            .bind(serde_json::to_value(&r.preview)?)
            .bind(r.renderer)
            .bind(r.cost_micros as i64)
            .bind(at)
            .bind(v),
            DesignEvent::DesignFailed(f) => sqlx::query(
                "UPDATE designs SET status = 'failed', failure = $3, failures = failures + 1, updated_at = $4, version = $5
                 WHERE tenant = $1 AND design_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(f.reason)
            .bind(at)
            .bind(v),
            DesignEvent::DesignApproved(_) => sqlx::query(
                "UPDATE designs SET status = 'approved', updated_at = $3, version = $4 WHERE tenant = $1 AND design_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(at)
            .bind(v),
            DesignEvent::DesignRejected(r) => sqlx::query(
                "UPDATE designs SET status = 'rejected', failure = $3, updated_at = $4, version = $5
                 WHERE tenant = $1 AND design_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(r.reason)
            .bind(at)
            .bind(v),
            // Another take: rendering again; the old artwork shows until the new one lands.
            DesignEvent::DesignRegenerationRequested(r) => sqlx::query(
                "UPDATE designs SET status = 'requested', layout = $3, palette = $4, failure = NULL,
                        updated_at = $5, version = $6
                 WHERE tenant = $1 AND design_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(r.layout)
            .bind(r.palette)
            .bind(at)
            .bind(v),
        };
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

impl Projection for Designs {
    fn name(&self) -> &'static str {
        "designs"
    }
    fn aggregate_types(&self) -> &'static [&'static str] {
        &["design"]
    }
    fn tables(&self) -> &'static [&'static str] {
        &["designs"]
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(apply(tx, events))
    }
}
