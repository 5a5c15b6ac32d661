//! `trends` and `trend_observations`: every trend with its running totals,
//! and its observation time series with provenance.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use pod_events::RecordedEvent;
use pod_events::domain::trend::TrendEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ApplyError, Projection, copy_text, decode, uuid_of};

pub struct Trends;

const SEP: &str = "\u{1f}";

struct Upsert {
    keyword: String,
    normalized: String,
    niche: String,
    product_types: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    count: i64,
    last_score: f64,
    version: i64,
}

async fn apply(tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
    // Observations go in with COPY (text format), the cheapest insert there is.
    let mut obs = String::new();
    let mut obs_rows = 0usize;
    let mut upserts: Vec<((String, Uuid), Upsert)> = Vec::new();
    let mut index: HashMap<(String, Uuid), usize> = HashMap::new();
    let mut retired: Vec<(String, Uuid, i64)> = Vec::new();
    let mut ideated: Vec<(String, Uuid, i64, i32, chrono::DateTime<chrono::Utc>)> = Vec::new();
    for e in events {
        let id = uuid_of(e)?;
        match decode::<TrendEvent>(e)? {
            TrendEvent::TrendObserved(o) => {
                let at = o.observation.observed_at;
                let ob = &o.observation;
                copy_text::row(
                    &mut obs,
                    &[
                        &copy_text::Field::Text(&e.tenant),
                        &copy_text::Field::Display(&id),
                        &copy_text::Field::Text(&at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
                        &copy_text::Field::Display(&e.stream_seq),
                        &copy_text::Field::Text(&ob.source),
                        &copy_text::Field::opt(ob.rank.as_ref()),
                        &copy_text::Field::opt(ob.volume.as_ref()),
                        &copy_text::Field::Display(&ob.score),
                        &copy_text::Field::Display(&ob.estimated),
                        &copy_text::Field::Display(&ob.confidence),
                    ],
                );
                obs_rows += 1;
                let key = (e.tenant.clone(), id);
                match index.get(&key) {
                    Some(&i) => {
                        let u = &mut upserts[i].1;
                        u.keyword = o.keyword;
                        u.niche = o.niche;
                        u.product_types = o.product_types.join(SEP);
                        u.first_seen = u.first_seen.min(at);
                        u.last_seen = u.last_seen.max(at);
                        u.count += 1;
                        u.last_score = o.observation.score;
                        u.version = e.aggregate_seq as i64;
                    }
                    None => {
                        index.insert(key.clone(), upserts.len());
                        upserts.push((
                            key,
                            Upsert {
                                keyword: o.keyword,
                                normalized: o.normalized,
                                niche: o.niche,
                                product_types: o.product_types.join(SEP),
                                first_seen: at,
                                last_seen: at,
                                count: 1,
                                last_score: o.observation.score,
                                version: e.aggregate_seq as i64,
                            },
                        ));
                    }
                }
            }
            TrendEvent::TrendRetired(_) => retired.push((e.tenant.clone(), id, e.aggregate_seq as i64)),
            TrendEvent::TrendIdeated(i) => {
                let ideas = i32::try_from(i.ideas).unwrap_or(i32::MAX);
                ideated.push((e.tenant.clone(), id, e.aggregate_seq as i64, ideas, e.occurred_at));
            }
            // The round's ideas arrive as ideas; the count with TrendIdeated.
            TrendEvent::TrendIdeasRequested(_) => {}
        }
    }
    if obs_rows > 0 {
        let mut copy = tx
            .copy_in_raw(
                "COPY trend_observations (tenant, trend_id, observed_at, stream_seq, source, rank, volume, score,
                                          estimated, confidence) FROM STDIN",
            )
            .await?;
        copy.send(obs.into_bytes()).await?;
        copy.finish().await?;
    }
    if !upserts.is_empty() {
        let (keys, rows): (Vec<_>, Vec<_>) = upserts.into_iter().unzip();
        let (tenants, ids): (Vec<String>, Vec<Uuid>) = keys.into_iter().unzip();
        let col = |f: fn(&Upsert) -> String| rows.iter().map(f).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO trends AS t (tenant, trend_id, keyword, normalized, niche, product_types,
                                first_seen, last_seen, observations, last_score, version)
             SELECT u.tenant, u.trend_id, u.keyword, u.normalized, u.niche,
                    CASE WHEN u.pt = '' THEN '{}'::text[] ELSE string_to_array(u.pt, E'\\x1f') END,
                    u.first_seen, u.last_seen, u.n, u.score, u.version
             FROM UNNEST($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::timestamptz[], $8::timestamptz[], $9::bigint[], $10::float8[], $11::bigint[])
                  AS u(tenant, trend_id, keyword, normalized, niche, pt, first_seen, last_seen, n, score, version)
             ON CONFLICT (tenant, trend_id) DO UPDATE SET
                keyword = excluded.keyword,
                niche = excluded.niche,
                product_types = excluded.product_types,
                first_seen = least(t.first_seen, excluded.first_seen),
                last_seen = greatest(t.last_seen, excluded.last_seen),
                observations = t.observations + excluded.observations,
                last_score = excluded.last_score,
                version = excluded.version",
        )
        .bind(&tenants)
        .bind(&ids)
        .bind(col(|u| u.keyword.clone()))
        .bind(col(|u| u.normalized.clone()))
        .bind(col(|u| u.niche.clone()))
        .bind(col(|u| u.product_types.clone()))
        .bind(rows.iter().map(|u| u.first_seen).collect::<Vec<_>>())
        .bind(rows.iter().map(|u| u.last_seen).collect::<Vec<_>>())
        .bind(rows.iter().map(|u| u.count).collect::<Vec<_>>())
        .bind(rows.iter().map(|u| u.last_score).collect::<Vec<_>>())
        .bind(rows.iter().map(|u| u.version).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    for (tenant, id, version) in retired {
        sqlx::query(
            "UPDATE trends SET retired = true, version = greatest(version, $3) WHERE tenant = $1 AND trend_id = $2",
        )
        .bind(tenant)
        .bind(id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    }
    // Every round adds its ideas (asked-for rounds may come before the
    // automatic one); ideated_at is when the first ideas came.
    for (tenant, id, version, ideas, at) in ideated {
        sqlx::query(
            "UPDATE trends SET ideas = ideas + $4, ideated_at = coalesce(ideated_at, $5),
                               version = greatest(version, $3)
             WHERE tenant = $1 AND trend_id = $2",
        )
        .bind(tenant)
        .bind(id)
        .bind(version)
        .bind(ideas)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

impl Projection for Trends {
    fn name(&self) -> &'static str {
        "trends"
    }
    fn aggregate_types(&self) -> &'static [&'static str] {
        &["trend"]
    }
    fn tables(&self) -> &'static [&'static str] {
        &["trends", "trend_observations"]
    }
    fn hypertables(&self) -> &'static [(&'static str, &'static str)] {
        &[("trend_observations", "observed_at")]
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(apply(tx, events))
    }
}
