//! `pod bench`: benchmarks that print each figure beside its ceiling,
//! measured in the same run on the same machine.

mod api;
mod backbone;
mod pipeline;
mod publish;

use clap::Subcommand;

use crate::config::Settings;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Event store, projections and replay against their ceilings.
    Backbone(backbone::BackboneArgs),
    /// Trends in to listings out through the worker processes (offline providers).
    Pipeline(pipeline::PipelineArgs),
    /// The gateway's read endpoints and commands under load, against its static route.
    Api(api::ApiArgs),
    /// Listings published straight to the Etsy stand-in at Etsy's rate limit: 429s caused, wall time against the minimum.
    Publish(publish::PublishArgs),
}

pub async fn run(s: &Settings, cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Backbone(args) => backbone::run(s, args).await,
        BenchCommand::Pipeline(args) => pipeline::run(s, args).await,
        BenchCommand::Api(args) => api::run(s, args).await,
        BenchCommand::Publish(args) => publish::run(s, args).await,
    }
}
