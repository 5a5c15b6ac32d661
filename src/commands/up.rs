//! `pod up`: the whole platform in one process — migrations, NATS
//! definitions, every projection, every worker, the API and the dashboard.

use pod_projections::RunOptions;

use crate::cli::{namespace, nats, pg, shutdown_signal};
use crate::config::Settings;

/// The configured identity providers, their endpoints resolved (an issuer's
/// discovery document is fetched now, so a wrong one stops the start).
async fn identity_providers(s: &Settings) -> anyhow::Result<Vec<pod_api::auth::oidc::Provider>> {
    let mut out = Vec::new();
    for (name, settings) in &s.oidc {
        let provider = pod_api::auth::oidc::Provider::resolve(name, settings).await?;
        tracing::info!(provider = %name, callback = %format!("{}/auth/{name}/callback", s.public_url()), "sign-in provider");
        out.push(provider);
    }
    Ok(out)
}

/// The marketplaces shops can be connected to here, and the keys their
/// tokens are sealed with.
fn marketplaces(s: &Settings) -> anyhow::Result<pod_api::marketplaces::Connectors> {
    let connectors =
        pod_api::marketplaces::Connectors::configure(&s.marketplaces, s.vault.keyring_if_set()?, &s.public_url())?;
    if connectors.etsy.is_some() {
        let callback = format!("{}{}", s.public_url(), pod_api::marketplaces::ETSY_CALLBACK);
        tracing::info!(%callback, "Etsy shops can be connected");
    }
    Ok(connectors)
}

pub async fn run(s: &Settings) -> anyhow::Result<()> {
    let pool = pg(s).await?;
    pod_projections::db::migrate(&pool).await?;
    let client = nats(s).await?;
    for a in pod_events::store::definitions::apply(&client, &namespace(s)?, &s.nats_dir).await? {
        tracing::info!(change = %a, "nats definitions");
    }
    let ns = namespace(s)?;
    let index = std::sync::Arc::new(pod_workers::kinds::screening_index(&s.workers)?);
    let blobs = pod_workers::kinds::blob_store(&s.workers).await?;
    let sessions = pod_api::auth::sessions::SessionSettings {
        secure: s.public_url().starts_with("https://"),
        ..Default::default()
    };
    let state = pod_api::AppState::new(pool.clone(), client.clone(), &ns, index, blobs)
        .await?
        .with_sessions(sessions)
        .with_home_tenant(s.workers.trends.tenant.clone())
        .with_identity_providers(identity_providers(s).await?, &s.public_url())
        .with_marketplaces(marketplaces(s)?)
        .with_trusted_proxies(s.trusted_proxies);
    tracing::info!(url = %s.public_url(), "dashboard");
    let api = async { pod_api::serve(&s.api_bind, state, shutdown_signal()).await.map_err(anyhow::Error::from) };
    let projections = super::projections::run_projections(s, &[], RunOptions::default());
    let workers = super::workers::all_workers(s);
    // The first to fail ends the process (with its error).
    tokio::try_join!(api, projections, workers)?;
    Ok(())
}
