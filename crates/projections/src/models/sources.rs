//! `source_refreshes`: the audit of every refresh of every trend source.

use futures::future::BoxFuture;
use pod_events::RecordedEvent;
use pod_events::domain::source::SourceEvent;
use sqlx::PgConnection;

use super::{ApplyError, Projection, decode};

pub struct Sources;

async fn apply(tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
    for e in events {
        let SourceEvent::SourceRefreshed(r) = decode::<SourceEvent>(e)?;
        sqlx::query(
            "INSERT INTO source_refreshes (tenant, source, at, stream_seq, used, collected, persisted, duplicates,
                                           failed, blocked, breaker, errors)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
        )
        .bind(&e.tenant)
        .bind(&r.source)
        .bind(r.at)
        .bind(e.stream_seq as i64)
        .bind(&r.used)
        .bind(r.collected as i64)
        .bind(r.persisted as i64)
        .bind(r.duplicates as i64)
        .bind(r.failed as i64)
        .bind(r.blocked as i64)
        .bind(&r.breaker)
        .bind(sqlx::types::Json(&r.errors))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

impl Projection for Sources {
    fn name(&self) -> &'static str {
        "sources"
    }
    fn aggregate_types(&self) -> &'static [&'static str] {
        &["source"]
    }
    fn tables(&self) -> &'static [&'static str] {
        &["source_refreshes"]
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(apply(tx, events))
    }
}
