//! `pod dlq`: events a worker gave up on — list them, send them back, drop them.

use anyhow::bail;
use clap::{Args, Subcommand};
use pod_events::store::dead_letters;
use pod_workers::kinds::WorkerKind;

use crate::cli::{namespace, nats};
use crate::config::Settings;

#[derive(Subcommand)]
pub enum DlqCommand {
    /// Dead letters, oldest first.
    List {
        /// Only this worker kind's.
        #[arg(long)]
        worker: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters back to their worker.
    Retry(DlqSelection),
    /// Drop dead letters for good.
    Discard(DlqSelection),
}

#[derive(Args)]
pub struct DlqSelection {
    /// Dead-letter sequences (from `pod dlq list`).
    pub seqs: Vec<u64>,
    /// Every dead letter (of `--worker`, if given).
    #[arg(long, conflicts_with = "seqs")]
    pub all: bool,
    #[arg(long)]
    pub worker: Option<String>,
}

pub async fn dlq(s: &Settings, command: DlqCommand) -> anyhow::Result<()> {
    let client = nats(s).await?;
    let ns = namespace(s)?;
    let check_worker = |w: &Option<String>| -> anyhow::Result<()> {
        if let Some(w) = w {
            w.parse::<WorkerKind>().map_err(|e| anyhow::anyhow!("--worker: {e}"))?;
        }
        Ok(())
    };
    match command {
        DlqCommand::List { worker, json } => {
            check_worker(&worker)?;
            let letters = dead_letters::list(&client, &ns, worker.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
            } else if letters.is_empty() {
                println!("no dead letters");
            } else {
                println!(
                    "{:>8} {:<10} {:<10} {:<18} {:>8} {:>5} {:<25} ERROR",
                    "SEQ", "WORKER", "TENANT", "EVENT", "LOG SEQ", "TRIES", "DEAD AT"
                );
                for l in letters {
                    println!(
                        "{:>8} {:<10} {:<10} {:<18} {:>8} {:>5} {:<25} {}",
                        l.dlq_seq,
                        l.worker,
                        l.tenant,
                        l.event_type,
                        l.stream_seq,
                        l.deliveries,
                        l.dead_at.to_rfc3339(),
                        l.error
                    );
                }
            }
        }
        DlqCommand::Retry(sel) | DlqCommand::Discard(sel) if !sel.all && sel.seqs.is_empty() => {
            let _ = sel;
            bail!("name the dead letters to act on (their SEQ from `pod dlq list`), or pass --all");
        }
        DlqCommand::Retry(sel) => {
            check_worker(&sel.worker)?;
            for seq in selected(&client, &ns, &sel).await? {
                let l = dead_letters::retry(&client, &ns, seq).await?;
                println!("retrying {seq}: {} {} for worker {}", l.event_type, l.subject, l.worker);
            }
        }
        DlqCommand::Discard(sel) => {
            check_worker(&sel.worker)?;
            for seq in selected(&client, &ns, &sel).await? {
                let l = dead_letters::discard(&client, &ns, seq).await?;
                println!("discarded {seq}: {} {} ({})", l.event_type, l.subject, l.error);
            }
        }
    }
    Ok(())
}

async fn selected(
    client: &async_nats::Client,
    ns: &pod_events::Namespace,
    sel: &DlqSelection,
) -> anyhow::Result<Vec<u64>> {
    if sel.all {
        Ok(dead_letters::list(client, ns, sel.worker.as_deref()).await?.into_iter().map(|l| l.dlq_seq).collect())
    } else {
        Ok(sel.seqs.clone())
    }
}
