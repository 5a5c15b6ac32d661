//! `pod`: the one binary of POD Automator. It wires the crates together —
//! configuration, connections, and one subcommand per role.

mod bench;
mod cli;
mod commands;
mod config;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let settings = match config::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pod: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&settings.log_format);
    match cli::run(cli, settings).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pod: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,async_nats=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "pretty" {
        builder.init();
    } else {
        builder.json().init();
    }
}
