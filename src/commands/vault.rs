//! `pod vault`: the keys marketplace credentials are sealed with — a new
//! key to rotate to, re-sealing every credential under the current key, and
//! which keys seal how many.

use anyhow::Context;
use clap::Subcommand;
use pod_marketplaces::{Keyring, credentials};

use crate::cli::pg;
use crate::config::Settings;

#[derive(Subcommand)]
pub enum VaultCommand {
    /// Print a new random key as an entry of POD__VAULT__KEYS; put it first to make it current.
    NewKey {
        /// A short name for the key, e.g. 2026-12.
        #[arg(long)]
        id: String,
    },
    /// Re-seal every stored credential under the current key; afterwards older keys can be removed.
    Rekey,
    /// The configured keys (ids only) and how many credentials each seals.
    Status,
}

pub async fn vault(s: &Settings, command: VaultCommand) -> anyhow::Result<()> {
    match command {
        VaultCommand::NewKey { id } => {
            let entry = Keyring::new_entry(&id)?;
            // The entry must read back: this checks the id's rules too.
            Keyring::parse(&entry).with_context(|| format!("--id {id:?}"))?;
            println!("{entry}");
        }
        VaultCommand::Rekey => {
            let keys = s.vault.keyring()?;
            let pool = pg(s).await?;
            let done = credentials::rekey(&pool, &keys).await?;
            println!("{} credentials re-sealed under key {:?}", done.moved, keys.current());
            for (tenant, shop, kind) in &done.unopenable {
                eprintln!("does not open (altered, or bound elsewhere): the {kind} of shop {shop} of {tenant}");
            }
            if done.under_unknown_keys > 0 {
                eprintln!(
                    "{} credentials are sealed under keys POD__VAULT__KEYS does not hold",
                    done.under_unknown_keys
                );
            }
            if !done.unopenable.is_empty() || done.under_unknown_keys > 0 {
                anyhow::bail!(
                    "some credentials were not re-sealed: keep the older keys until their shops are connected again"
                );
            }
        }
        VaultCommand::Status => {
            let keys = s.vault.keyring()?;
            let pool = pg(s).await?;
            let sealed = credentials::count_by_key(&pool).await?;
            println!("current key: {}", keys.current());
            for (key_id, n) in sealed {
                let held = if keys.holds(&key_id) { "" } else { " (NOT in the keyring: these do not open)" };
                println!("{key_id}: {n} credentials{held}");
            }
        }
    }
    Ok(())
}
