//! `pod trends import`: a trend list (CSV, JSON, RSS/Atom; a file or a URL)
//! recorded as observations of a tenant's trends.

use std::path::Path;

use anyhow::{Context, bail};
use clap::Subcommand;
use pod_events::TenantId;
use pod_workers::trends::ingest::ingest;
use pod_workers::trends::parse::{Format, parse};

use crate::cli::{namespace, nats};
use crate::config::Settings;

#[derive(Subcommand)]
pub enum TrendsCommand {
    /// Import a trend list: a CSV, JSON or RSS/Atom file, or an http(s) URL.
    Import {
        /// File path or URL.
        source: String,
        /// Tenant the trends belong to (default: workers.trends.tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Source name recorded with every observation (default: the file name).
        #[arg(long)]
        name: Option<String>,
        /// csv, json or feed (default: guessed from the name and contents).
        #[arg(long)]
        format: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn trends(s: &Settings, command: TrendsCommand) -> anyhow::Result<()> {
    match command {
        TrendsCommand::Import { source, tenant, name, format, json } => {
            let tenant_raw = tenant.unwrap_or_else(|| s.workers.trends.tenant.clone());
            let tenant =
                TenantId::parse(tenant_raw.clone()).map_err(|e| anyhow::anyhow!("--tenant {tenant_raw:?}: {e}"))?;
            let is_url = source.starts_with("http://") || source.starts_with("https://");
            let bytes = if is_url {
                let fetcher = pod_workers::trends::sources::HttpFetcher::new(std::time::Duration::from_millis(1))?;
                fetcher.get(&source).await.with_context(|| format!("fetching {source}"))?
            } else {
                std::fs::read(&source).with_context(|| format!("reading {source}"))?
            };
            let format = match format.as_deref() {
                None => Format::detect(&source, &bytes),
                Some("csv") => Format::Csv,
                Some("json") => Format::Json,
                Some("feed" | "rss" | "atom") => Format::Feed,
                Some(other) => bail!("--format {other:?}: use csv, json or feed"),
            };
            let name = name.unwrap_or_else(|| {
                if is_url {
                    url_host(&source)
                } else {
                    Path::new(&source)
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "import".into())
                }
            });
            // The name, given or derived from the file or URL, is the observations' source.
            let name = pod_events::domain::text::SourceName::parse_as("--name", &name)
                .map_err(|e| anyhow::anyhow!("{e} (name the source with --name)"))?;
            let records = parse(format, &bytes, name.as_str(), chrono::Utc::now())
                .with_context(|| format!("reading {source}"))?;
            let client = nats(s).await?;
            let pipeline = pod_workers::pipeline::Pipeline::open(client, &namespace(s)?).await?;
            // The same content imported again is the same batch: stored once
            // (while the stream's duplicate window or the trend's last 64
            // commands remember it).
            let batch = format!("import/{}", pod_blobs::sha256_hex(&bytes));
            let report = ingest(&pipeline.trends, &tenant, &batch, &records).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{source}: {} records, {} keywords; {} observations stored, {} already stored, {} refused",
                    report.collected, report.keywords, report.persisted, report.duplicates, report.failed
                );
                for e in &report.errors {
                    println!("  refused: {e}");
                }
            }
        }
    }
    Ok(())
}

/// The host of a URL, without any `user:password@`, to name an import's source.
fn url_host(u: &str) -> String {
    let authority = u.split("://").nth(1).and_then(|r| r.split(['/', '?', '#']).next()).unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() { "import".into() } else { host.to_owned() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_import_url_names_its_host_and_never_its_credentials() {
        assert_eq!(super::url_host("https://user:secret@lists.example.com/trends.csv"), "lists.example.com");
        assert_eq!(super::url_host("https://lists.example.com?x=1"), "lists.example.com");
        assert_eq!(super::url_host("https://"), "import");
    }
}
