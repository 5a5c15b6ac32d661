//! Trend ingestion: configured sources refreshed on a schedule, and
//! imports of curated lists (`pod trends import`). Keywords are normalised,
//! categorised into the niche taxonomy, and stored as observations with
//! their provenance.

pub mod browser;
pub mod sources;

pub use pod_trendlists::{ingest, parse, taxonomy};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pod_events::domain::source::{SourceCommand, SourceRefreshed};
use pod_events::{AggregateId, EventMeta, TenantId};

use self::ingest::{IngestError, ingest};
use self::sources::{Breaker, FetchError, HttpFetcher, PageScraper, RefreshAudit, SourceSettings, read_source};
use crate::config::TrendsSettings;
use crate::pipeline::Pipeline;

/// The start of the refresh window `now` falls in: records read in one
/// window share a batch id, so a restarted refresh stores nothing twice.
pub fn window_start(now: DateTime<Utc>, every: Duration) -> DateTime<Utc> {
    let secs = every.as_secs().max(1) as i64;
    let t = now.timestamp().div_euclid(secs) * secs;
    DateTime::from_timestamp(t, 0).unwrap_or(now)
}

struct SourceState {
    settings: SourceSettings,
    every: Duration,
    breaker: Breaker,
    next_due: DateTime<Utc>,
}

/// The `trends` worker: refreshes every configured source when it is due.
pub struct TrendsWorker {
    pipeline: Arc<Pipeline>,
    tenant: TenantId,
    http: HttpFetcher,
    scraper: Option<Arc<dyn PageScraper>>,
    sources: Vec<SourceState>,
}

impl TrendsWorker {
    pub fn new(
        pipeline: Arc<Pipeline>,
        settings: &TrendsSettings,
        scraper: Option<Arc<dyn PageScraper>>,
    ) -> Result<Self, TrendsError> {
        let tenant = TenantId::parse(settings.tenant.clone())
            .map_err(|e| TrendsError::Settings(format!("workers.trends.tenant: {e}")))?;
        let http = HttpFetcher::new(Duration::from_millis(settings.host_interval_ms)).map_err(TrendsError::Fetch)?;
        let sources = settings
            .sources
            .iter()
            .map(|s| SourceState {
                settings: s.clone(),
                every: Duration::from_secs(s.refresh_secs.unwrap_or(settings.refresh_secs).max(1)),
                breaker: Breaker::new(settings.breaker_failures, Duration::from_secs(settings.breaker_cooldown_secs)),
                // Due at once: the first refresh happens on start.
                next_due: DateTime::<Utc>::MIN_UTC,
            })
            .collect();
        Ok(Self { pipeline, tenant, http, scraper, sources })
    }

    /// Refreshes one source now and says what happened.
    async fn refresh(&mut self, i: usize, now: DateTime<Utc>) -> Result<RefreshAudit, IngestError> {
        let src = &mut self.sources[i];
        let window = window_start(now, src.every);
        let (records, used, errors) = read_source(&src.settings, &self.http, self.scraper.as_deref(), window).await;
        let blocked = errors.iter().filter(|e| matches!(e, FetchError::Blocked(_))).count();
        let mut audit = RefreshAudit {
            source: src.settings.name.clone(),
            at: now,
            used,
            collected: records.len(),
            persisted: 0,
            duplicates: 0,
            failed: 0,
            blocked,
            breaker: src.breaker.state(now),
            errors: errors.iter().map(ToString::to_string).collect(),
        };
        if records.is_empty() {
            src.breaker.failure(now);
        } else {
            let batch = format!("{}/{}", src.settings.name, window.timestamp());
            let report = ingest(&self.pipeline.trends, &self.tenant, &batch, &records).await?;
            audit.persisted = report.persisted;
            audit.duplicates = report.duplicates;
            audit.failed = report.failed;
            audit.errors.extend(report.errors);
            src.breaker.success();
        }
        audit.breaker = src.breaker.state(now);
        self.record(&audit).await;
        Ok(audit)
    }

    /// Records the audit as a `SourceRefreshed` event. A failure to record
    /// is logged: the observations themselves are already stored.
    async fn record(&self, audit: &RefreshAudit) {
        let event = SourceRefreshed {
            source: audit.source.clone(),
            at: audit.at,
            // Text the pipeline writes about itself (fetch errors quote pages
            // and keywords) is made safe to store, not refused: the audit stays.
            used: audit.used.as_deref().map(pod_events::domain::text::note),
            collected: audit.collected as u64,
            persisted: audit.persisted as u64,
            duplicates: audit.duplicates as u64,
            failed: audit.failed as u64,
            blocked: audit.blocked as u64,
            breaker: audit.breaker.as_str().to_owned(),
            errors: audit.errors.iter().map(|e| pod_events::domain::text::note(e)).collect(),
        };
        let id = AggregateId::derived(self.tenant.clone(), "source", &audit.source);
        let meta = EventMeta::new_command();
        if let Err(e) = self.pipeline.sources.execute(&id, SourceCommand::RecordRefresh(event), &meta).await {
            tracing::error!(source = %audit.source, error = %e, "could not record the refresh audit");
        }
    }

    /// Refreshes every source whose time has come; returns their audits (a
    /// refresh whose results could not be stored is retried 30 s later).
    pub async fn refresh_due(&mut self, now: DateTime<Utc>) -> Result<Vec<RefreshAudit>, IngestError> {
        let mut audits = Vec::new();
        for i in 0..self.sources.len() {
            if self.sources[i].next_due > now {
                continue;
            }
            let every = self.sources[i].every;
            self.sources[i].next_due = window_start(now, every) + chrono::Duration::from_std(every).unwrap_or_default();
            if !self.sources[i].breaker.allows(now) {
                tracing::info!(source = %self.sources[i].settings.name, "circuit open; refresh skipped");
                continue;
            }
            let audit = match self.refresh(i, now).await {
                Ok(a) => a,
                Err(e) => {
                    // Storing failed (NATS trouble): try again soon, within the
                    // same window, so the same batch ids make it idempotent.
                    tracing::error!(source = %self.sources[i].settings.name, error = %e, "refresh not stored; retrying in 30 s");
                    self.sources[i].next_due = now + chrono::Duration::seconds(30);
                    continue;
                }
            };
            tracing::info!(
                source = %audit.source, used = audit.used.as_deref().unwrap_or("nothing"), collected = audit.collected,
                persisted = audit.persisted, duplicates = audit.duplicates, failed = audit.failed, blocked = audit.blocked,
                breaker = ?audit.breaker, "trend source refreshed"
            );
            audits.push(audit);
        }
        Ok(audits)
    }

    /// Refreshes sources as they fall due until `shutdown`.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), TrendsError> {
        tokio::pin!(shutdown);
        if self.sources.is_empty() {
            tracing::warn!("no trend sources configured (workers.trends.sources); the trends worker idles");
        }
        loop {
            if let Err(e) = self.refresh_due(Utc::now()).await {
                tracing::error!(error = %e, "trend refresh failed");
            }
            let next = self.sources.iter().map(|s| s.next_due).min();
            let wait = next
                .and_then(|n| (n - Utc::now()).to_std().ok())
                .unwrap_or(Duration::from_secs(60))
                .clamp(Duration::from_millis(200), Duration::from_secs(60));
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrendsError {
    #[error("settings: {0}")]
    Settings(String),
    #[error(transparent)]
    Fetch(FetchError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_to_the_interval() {
        let t = DateTime::parse_from_rfc3339("2026-11-27T12:34:56Z").unwrap().to_utc();
        assert_eq!(window_start(t, Duration::from_secs(3600)).to_rfc3339(), "2026-11-27T12:00:00+00:00");
        assert_eq!(window_start(t, Duration::from_secs(900)).to_rfc3339(), "2026-11-27T12:30:00+00:00");
    }
}
