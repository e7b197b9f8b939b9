//! `loginwatch-analyzer --config FILE`: the analyzer service (thin wrapper over the library).

use std::path::PathBuf;

use clap::Parser;

/// mimalloc: the rule engine allocates many small, short-lived objects per execution.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "loginwatch-analyzer",
    about = "Evaluate loginwatch rules over loginwatch.logins.v1"
)]
struct Args {
    /// TOML config; every key can be overridden with LOGINWATCH_* environment variables.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    loginwatch_shared::runtime::init_logging();
    let args = Args::parse();
    if let Err(e) = loginwatch_analyzer::service::run_from_config(args.config.as_deref()).await {
        eprintln!("loginwatch-analyzer: {e}");
        std::process::exit(1);
    }
}
