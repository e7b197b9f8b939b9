//! `loginwatch-sfsim`: the Salesforce simulator service, and a file exporter of generated histories.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use loginwatch_sfsim::export::{export_file, ExportFormat, ExportOptions};
use loginwatch_sfsim::render::SetupZone;
use loginwatch_sfsim::{GenConfig, SubTypeSpelling};

#[derive(Parser)]
#[command(
    name = "loginwatch-sfsim",
    version,
    about = "Simulated Salesforce org: OAuth, REST query, CometD, EventLogFile, with labelled incidents"
)]
struct Cli {
    /// TOML config (every key has a default; `LOGINWATCH_*` env vars override).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the simulated org (the default).
    Serve,
    /// Write a generated history to a file, streaming.
    Export {
        /// login-history-json | login-event-json | stream-json | elf-csv | setup-csv
        #[arg(long)]
        format: ExportFormat,
        /// Number of logins to write.
        #[arg(long)]
        rows: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Also write the incident labels (JSON) here.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// First simulated hour (RFC 3339).
        #[arg(long, default_value = "2026-01-05T00:00:00Z")]
        start: DateTime<Utc>,
        /// Org id of the records.
        #[arg(long, default_value = loginwatch_sfsim::config::DEFAULT_ORG_ID)]
        org_id: String,
        #[arg(long, default_value = "acme")]
        my_domain: String,
        /// Interactive users (more users = more logins per simulated hour).
        #[arg(long, default_value_t = 40)]
        users: u32,
        #[arg(long, default_value_t = 6)]
        integrations: u32,
        /// Logins per hour of each JWT / client-credentials / refresh-token integration.
        #[arg(long, default_value_t = 6.0)]
        integration_rate: f64,
        /// Days of clean baseline before the first incident.
        #[arg(long, default_value_t = 7)]
        learning_days: u32,
        /// Minutes between incidents.
        #[arg(long, default_value_t = 240)]
        incident_spacing_mins: u32,
        /// Zone named in the Setup CSV header (UTC, America/New_York, Europe/London, …).
        #[arg(long, default_value = "UTC")]
        zone: String,
        /// LoginSubType spelling: label | api_name.
        #[arg(long, default_value = "label")]
        sub_type_spelling: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    loginwatch_shared::runtime::init_logging();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => loginwatch_sfsim::run(cli.config.as_deref()).await,
        Command::Export {
            format,
            rows,
            seed,
            out,
            labels,
            start,
            org_id,
            my_domain,
            users,
            integrations,
            integration_rate,
            learning_days,
            incident_spacing_mins,
            zone,
            sub_type_spelling,
        } => {
            let mut cfg = GenConfig::new(&org_id, &my_domain, start);
            cfg.interactive_users = users;
            cfg.integrations = integrations;
            cfg.integration_logins_per_hour = integration_rate;
            cfg.learning_days = learning_days;
            cfg.incident_spacing_mins = incident_spacing_mins;
            let spelling = match sub_type_spelling.as_str() {
                "label" => SubTypeSpelling::Label,
                "api_name" => SubTypeSpelling::ApiName,
                other => anyhow::bail!("--sub-type-spelling `{other}`: use label or api_name"),
            };
            let setup_zone = SetupZone::named(&zone)
                .ok_or_else(|| anyhow::anyhow!("--zone `{zone}`: use UTC, America/New_York, America/Los_Angeles, Europe/London, Europe/Berlin or Asia/Tokyo"))?;
            let opts = ExportOptions {
                format,
                rows: Some(rows),
                until: None,
                api_version: "62.0".into(),
                spelling,
                setup_zone,
            };
            let t = std::time::Instant::now();
            let n = export_file(seed, &cfg, &opts, &out, labels.as_deref())?;
            eprintln!(
                "wrote {n} logins to {} in {:.2?}",
                out.display(),
                t.elapsed()
            );
            Ok(())
        }
    }
}
