//! `loginwatch-ingester --config FILE`: Salesforce login telemetry into Kafka.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "loginwatch-ingester",
    version,
    about = "Ingest Salesforce LoginHistory and LoginEventStream into Kafka"
)]
struct Args {
    /// TOML config file; every key can be overridden by LOGINWATCH_* environment variables.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() {
    loginwatch_shared::runtime::init_logging();
    let args = Args::parse();
    if let Err(e) = loginwatch_ingester::run_until_signal(args.config.as_deref()).await {
        eprintln!("loginwatch-ingester: {e:#}");
        std::process::exit(1);
    }
}
