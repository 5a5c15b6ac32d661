//! The workers' settings, as they appear under `[workers]` in the
//! configuration file (or `POD__WORKERS__…` variables).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ideation::IdeationSettings;
use crate::listings::pricing::PricingSettings;
use crate::openai::OpenAiSettings;
use crate::screening::ScreeningSettings;
use crate::trends::sources::SourceSettings;
use pod_blobs::S3Settings;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkersSettings {
    /// Messages each worker process handles at once.
    pub concurrency: usize,
    /// Deliveries before a failing event becomes a dead letter.
    pub max_deliveries: u64,
    /// At SIGTERM, how long (s) handlers in hand may take to finish before
    /// their messages are given back for another replica.
    pub shutdown_grace_secs: u64,
    /// Where the local blob store keeps artwork and previews.
    pub assets_dir: PathBuf,
    /// `local` (the default: files under `assets_dir`) or `s3`.
    pub blob_store: String,
    pub s3: S3Settings,
    /// `offline` (the default) or `openai` for ideas and images; `openai`
    /// needs `openai.api_key`.
    pub ideas_provider: String,
    pub images_provider: String,
    pub openai: OpenAiSettings,
    /// Chromium for page sources (`""`: no page scraping).
    pub chromium: PathBuf,
    pub ideation: IdeationSettings,
    pub screening: ScreeningSettings,
    pub pricing: PricingSettings,
    pub trends: TrendsSettings,
}

impl Default for WorkersSettings {
    fn default() -> Self {
        Self {
            concurrency: 4,
            max_deliveries: 5,
            shutdown_grace_secs: crate::runtime::DEFAULT_GRACE.as_secs(),
            assets_dir: PathBuf::from("data/assets"),
            blob_store: "local".into(),
            s3: S3Settings::default(),
            ideas_provider: "offline".into(),
            images_provider: "offline".into(),
            openai: OpenAiSettings::default(),
            chromium: PathBuf::from(crate::trends::browser::DEBIAN_CHROMIUM),
            ideation: IdeationSettings::default(),
            screening: ScreeningSettings::default(),
            pricing: PricingSettings::default(),
            trends: TrendsSettings::default(),
        }
    }
}

/// The trend ingestion worker: which tenant it works for and its sources.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrendsSettings {
    /// Tenant the configured sources feed.
    pub tenant: String,
    /// Seconds between refreshes of a source (each source may override).
    pub refresh_secs: u64,
    /// Consecutive failures that open a source's circuit.
    pub breaker_failures: u32,
    /// Seconds an open circuit waits before one trial refresh.
    pub breaker_cooldown_secs: u64,
    /// Minimum milliseconds between two requests to the same host.
    pub host_interval_ms: u64,
    pub sources: Vec<SourceSettings>,
}

impl Default for TrendsSettings {
    fn default() -> Self {
        Self {
            tenant: "demo".into(),
            refresh_secs: 3600,
            breaker_failures: 3,
            breaker_cooldown_secs: 900,
            host_interval_ms: 1000,
            sources: Vec::new(),
        }
    }
}
