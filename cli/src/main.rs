//! `loginwatch`: one CLI over the library crates.

use clap::{Parser, Subcommand};

/// mimalloc: the rule engine allocates many small, short-lived objects per execution.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "loginwatch",
    version,
    about = "Find Salesforce integrations and attackers that log in with passwords"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline in one process against a simulated org.
    Demo(loginwatch::demo::DemoArgs),
    /// Audit exports (LoginHistory JSON, Setup CSV, EventLogFile CSV) with the rules; exit 0 clean, 1 findings, 2 errors.
    Scan(loginwatch::scan::ScanArgs),
    /// The rule library: list, run the recorded tests, explain one rule.
    Rules(loginwatch::rules_cmd::RulesArgs),
    /// Deliver detections from Kafka to the configured SIEM sinks (Splunk HEC, Elasticsearch, syslog CEF, webhook, terminal).
    Forward {
        /// TOML config file; every key can be overridden by LOGINWATCH_* environment variables.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
    /// Evaluate the rules over loginwatch.logins.v1 and produce detections (the analyzer service).
    Analyze {
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
    /// Poll LoginHistory and stream LoginEventStream from the configured orgs into Kafka (the ingester service).
    Ingest {
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
    /// Run the simulated Salesforce org (OAuth, REST query, CometD, EventLogFile) with labelled incidents.
    Sfsim {
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => std::process::exit(loginwatch::demo::run(args)),
        Command::Scan(args) => std::process::exit(loginwatch::scan::run(args)),
        Command::Rules(args) => std::process::exit(loginwatch::rules_cmd::run(args)),
        Command::Forward { config } => {
            loginwatch_shared::runtime::init_logging();
            tokio::runtime::Runtime::new()?
                .block_on(loginwatch_forwarder::app::serve(config.as_deref()))
        }
        Command::Analyze { config } => {
            loginwatch_shared::runtime::init_logging();
            tokio::runtime::Runtime::new()?
                .block_on(loginwatch_analyzer::service::run_from_config(
                    config.as_deref(),
                ))
                .map_err(Into::into)
        }
        Command::Ingest { config } => {
            loginwatch_shared::runtime::init_logging();
            tokio::runtime::Runtime::new()?
                .block_on(loginwatch_ingester::run_until_signal(config.as_deref()))
        }
        Command::Sfsim { config } => {
            loginwatch_shared::runtime::init_logging();
            tokio::runtime::Runtime::new()?.block_on(loginwatch_sfsim::run(config.as_deref()))
        }
    }
}
