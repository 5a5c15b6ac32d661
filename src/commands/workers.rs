//! `pod worker KIND` runs one worker kind (start more to scale it); `pod up`
//! runs every kind in one process.

use anyhow::Context;
use pod_workers::kinds::{self, WorkerKind};

use crate::cli::{namespace, nats, pg, shutdown_signal};
use crate::config::Settings;

/// What publishing to connected shops needs, when the vault has keys (no
/// keys: no shop can have been connected, and only dry runs publish).
async fn shop_access(s: &Settings) -> anyhow::Result<Option<kinds::ShopAccess>> {
    let Some(keys) = s.vault.keyring_if_set()? else {
        tracing::info!("vault.keys is not set: the publishing worker publishes dry runs only");
        return Ok(None);
    };
    Ok(Some(kinds::ShopAccess {
        pool: pg(s).await?,
        keys: std::sync::Arc::new(keys),
        marketplaces: s.marketplaces.clone(),
        etsy_redirect: format!("{}{}", s.public_url().trim_end_matches('/'), pod_api::marketplaces::ETSY_CALLBACK),
    }))
}

/// Runs one worker kind until stopped.
pub async fn worker(s: &Settings, kind: WorkerKind) -> anyhow::Result<()> {
    let client = nats(s).await?;
    let shops = if matches!(kind, WorkerKind::Publishing | WorkerKind::Sync) { shop_access(s).await? } else { None };
    kinds::run(kind, client, namespace(s)?, &s.workers, shops.as_ref(), shutdown_signal())
        .await
        .with_context(|| format!("worker {kind}"))
}

/// Every worker kind in this process; the first to fail stops the rest.
pub async fn all_workers(s: &Settings) -> anyhow::Result<()> {
    let client = nats(s).await?;
    let ns = namespace(s)?;
    let shops = shop_access(s).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for kind in WorkerKind::ALL {
        let (client, ns, settings, mut stop) = (client.clone(), ns.clone(), s.workers.clone(), stop_rx.clone());
        let shops = shops.clone().filter(|_| matches!(kind, WorkerKind::Publishing | WorkerKind::Sync));
        tasks.spawn(async move {
            let res = kinds::run(kind, client, ns, &settings, shops.as_ref(), async move {
                let _ = stop.wait_for(|v| *v).await;
            })
            .await;
            (kind, res)
        });
    }
    let stopper = tokio::spawn({
        let stop_tx = stop_tx.clone();
        async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        }
    });
    let mut failed = None;
    while let Some(joined) = tasks.join_next().await {
        let (kind, res) = joined.context("a worker task panicked")?;
        if let Err(e) = res {
            tracing::error!(worker = %kind, error = %e, "worker failed; stopping the others");
            let _ = stop_tx.send(true);
            failed.get_or_insert(anyhow::Error::from(e).context(format!("worker {kind}")));
        }
    }
    stopper.abort();
    failed.map_or(Ok(()), Err)
}
