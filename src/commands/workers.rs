//! `pod worker KIND` runs one worker kind (start more to scale it); `pod up`
//! runs every kind in one process.

use anyhow::Context;
use pod_workers::kinds::{self, WorkerKind};

use crate::cli::{namespace, nats, shutdown_signal};
use crate::config::Settings;

/// Runs one worker kind until stopped.
pub async fn worker(s: &Settings, kind: WorkerKind) -> anyhow::Result<()> {
    let client = nats(s).await?;
    kinds::run(kind, client, namespace(s)?, &s.workers, shutdown_signal())
        .await
        .with_context(|| format!("worker {kind}"))
}

/// Every worker kind in this process; the first to fail stops the rest.
pub async fn all_workers(s: &Settings) -> anyhow::Result<()> {
    let client = nats(s).await?;
    let ns = namespace(s)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for kind in WorkerKind::ALL {
        let (client, ns, settings, mut stop) = (client.clone(), ns.clone(), s.workers.clone(), stop_rx.clone());
        tasks.spawn(async move {
            let res = kinds::run(kind, client, ns, &settings, async move {
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
