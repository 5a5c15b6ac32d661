//! Configuration: built-in defaults, then an optional TOML file (`--config`
//! or `POD_CONFIG`), then `POD__KEY` environment variables; `DATABASE_URL`
//! and `NATS_URL` are honoured last, as every tool expects.

use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// NATS ≥ 2.12 with JetStream. The project's own server listens on 14222.
    pub nats_url: String,
    pub database_url: String,
    /// Prefix of every subject, stream, bucket and consumer (several
    /// installations can share one NATS).
    pub prefix: String,
    /// Where the stream and consumer definitions live.
    pub nats_dir: PathBuf,
    /// `json` (default) or `pretty`.
    pub log_format: String,
    /// Address the API listens on.
    pub api_bind: String,
    /// Where people reach the dashboard (`https://…` in production: session
    /// cookies are then `Secure` and `__Host-` prefixed). Default:
    /// `http://` + `api_bind`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Reverse proxies in front of the API (a load balancer, an ingress):
    /// their `X-Forwarded-For` entries name the client for the per-address
    /// sign-in limit. 0 (default): the connection's peer is the client.
    #[serde(default)]
    pub trusted_proxies: u8,
    /// Maximum Postgres connections per process.
    pub db_max_connections: u32,
    /// Identity providers people may sign in with, by name:
    /// `[oidc.google]` with `issuer`, `client_id`, `client_secret`, or
    /// `POD__OIDC__GOOGLE__CLIENT_ID=…` in the environment.
    #[serde(default)]
    pub oidc: std::collections::BTreeMap<String, pod_api::auth::oidc::ProviderSettings>,
    /// The keys marketplace credentials are sealed with.
    #[serde(default)]
    pub vault: VaultSettings,
    /// `[marketplaces.etsy]`, `[marketplaces.printify]`: base URLs, the
    /// app's Etsy keystring, scopes.
    #[serde(default)]
    pub marketplaces: pod_marketplaces::MarketplacesSettings,
    /// The pipeline's workers: providers, thresholds, sources, pricing.
    #[serde(default)]
    pub workers: pod_workers::config::WorkersSettings,
}

/// `[vault]`: `keys = "id:base64-key,…"`, the current key first
/// (`POD__VAULT__KEYS`; `pod vault new-key --id …` makes one).
#[derive(Clone, Default, Deserialize)]
pub struct VaultSettings {
    #[serde(default)]
    pub keys: Option<String>,
}

impl std::fmt::Debug for VaultSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultSettings { keys: *** }")
    }
}

impl VaultSettings {
    /// The keyring, or what to fix in `POD__VAULT__KEYS`.
    pub fn keyring(&self) -> anyhow::Result<pod_marketplaces::Keyring> {
        let spec = self.keys.as_deref().unwrap_or_default();
        pod_marketplaces::Keyring::parse(spec).context("setting `vault.keys` (POD__VAULT__KEYS)")
    }

    /// The keyring when keys are set (a server runs without one until a
    /// shop is to be connected); keys that are set but wrong are an error.
    pub fn keyring_if_set(&self) -> anyhow::Result<Option<pod_marketplaces::Keyring>> {
        match self.keys.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(_) => self.keyring().map(Some),
        }
    }
}

impl Settings {
    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.api_bind))
    }
}

pub fn load(file: Option<&std::path::Path>) -> Result<Settings, config::ConfigError> {
    let default_nats_dir = if std::path::Path::new("nats/streams").is_dir() {
        "nats".to_owned()
    } else {
        concat!(env!("CARGO_MANIFEST_DIR"), "/nats").to_owned()
    };
    let mut b = config::Config::builder()
        .set_default("nats_url", "nats://127.0.0.1:14222")?
        .set_default("database_url", "postgres://pod:pod@127.0.0.1:5432/pod")?
        .set_default("prefix", "pod")?
        .set_default("nats_dir", default_nats_dir)?
        .set_default("log_format", "json")?
        .set_default("api_bind", "127.0.0.1:8080")?
        .set_default("db_max_connections", 10)?;
    let file = file.map(PathBuf::from).or_else(|| std::env::var_os("POD_CONFIG").map(PathBuf::from));
    if let Some(f) = file {
        b = b.add_source(config::File::from(f).required(true));
    }
    b = b
        .add_source(config::Environment::with_prefix("POD").prefix_separator("__").separator("__"))
        .set_override_option("database_url", std::env::var("DATABASE_URL").ok())?
        .set_override_option("nats_url", std::env::var("NATS_URL").ok())?;
    b.build()?.try_deserialize()
}
