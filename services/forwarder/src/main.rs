//! `loginwatch-forwarder --config FILE`: deliver detections from Kafka to the configured sinks.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "loginwatch-forwarder",
    version,
    about = "Deliver loginwatch detections to SIEMs"
)]
struct Args {
    /// TOML config file; every key can be overridden by LOGINWATCH_* environment variables.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    loginwatch_shared::runtime::init_logging();
    let args = Args::parse();
    loginwatch_forwarder::app::serve(args.config.as_deref()).await
}
