//! `pod screen` checks a phrase against the trademark and policy index;
//! `pod trademarks import` builds that index's word-mark list.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use pod_events::domain::idea::Verdict;
use pod_workers::kinds;
use pod_workers::screening::{screen_fields, verdict_of};

use crate::config::Settings;

#[derive(Args)]
pub struct ScreenArgs {
    /// The phrase, title or tag list to check.
    pub text: String,
    /// Nice class of the goods (25 apparel, 21 mugs, 16 paper, 18 bags, 9 cases).
    #[arg(long)]
    pub class: Option<u16>,
    #[arg(long)]
    pub json: bool,
}

/// `pod screen`: exit 0 green, 1 amber, 2 red.
pub fn screen(s: &Settings, args: ScreenArgs) -> anyhow::Result<ExitCode> {
    let index = kinds::screening_index(&s.workers)?;
    let hits = screen_fields(&index, &[("text", args.text.as_str())], args.class);
    let verdict = verdict_of(&hits);
    let word = verdict.as_str();
    if args.json {
        let out = serde_json::json!({"verdict": word, "hits": hits, "index_version": index.version()});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{word}: {:?}", args.text);
        for h in &hits {
            let sev = h.severity.as_str();
            println!("  {sev:<5} {:<7} {:?} matched {:?} ({})", h.match_kind, h.term, h.matched, h.source);
        }
    }
    Ok(ExitCode::from(match verdict {
        Verdict::Green => 0,
        Verdict::Amber => 1,
        Verdict::Red => 2,
    }))
}

#[derive(Subcommand)]
pub enum TrademarksCommand {
    /// Import live word marks from USPTO trademark bulk XML (unzipped) into the screening list.
    Import {
        file: std::path::PathBuf,
        /// Nice classes to keep (default: 25, 21, 16, 18, 9).
        #[arg(long, value_delimiter = ',')]
        classes: Vec<u16>,
        /// The list to write (default: workers.screening.trademarks_list).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

pub fn trademarks(s: &Settings, command: TrademarksCommand) -> anyhow::Result<()> {
    let TrademarksCommand::Import { file, classes, out } = command;
    let classes = if classes.is_empty() { pod_workers::screening::uspto::POD_CLASSES.to_vec() } else { classes };
    let input = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let (list, report) = pod_workers::screening::uspto::to_list(std::io::BufReader::new(input), &classes)
        .with_context(|| format!("reading {}", file.display()))?;
    let out = out.unwrap_or_else(|| s.workers.screening.trademarks_list.clone());
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Write aside, then rename: a running screening worker never reads half a list.
    let tmp = out.with_extension("tsv.tmp");
    std::fs::write(&tmp, list).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &out).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}: {} case files; {} live word marks kept in {} ({} dead, {} not word marks, {} in other classes, {} repeated)",
        file.display(),
        report.case_files,
        report.kept,
        out.display(),
        report.dead,
        report.not_words,
        report.other_classes,
        report.duplicates
    );
    println!("restart the screening workers to load it");
    Ok(())
}
