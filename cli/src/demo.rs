//! `loginwatch demo`: the whole product in one process, with the production code paths.
//!
//! sfsim (a simulated org in live mode, with a short history) → the ingester (LoginHistory polling
//! and the LoginEventStream over CometD, authenticating with client credentials) → an embedded
//! Kafka-protocol broker (librdkafka's mock cluster) → the analyzer (the built-in rules) → the
//! forwarder with its terminal sink. `/metrics` is served on a printed address. Ctrl-C (or
//! `--duration`) prints a summary: events, detections per category, the password-login inventory.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use loginwatch_shared::kafka::{KafkaSettings, DEADLETTER_TOPIC, DETECTIONS_TOPIC, LOGINS_TOPIC};
use loginwatch_shared::ops::Readiness;
use loginwatch_shared::{Category, Detection, LoginEvent};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;
use serde_json::json;
use tokio_util_like::Shutdown;

use crate::broker::EmbeddedBroker;
use crate::engine::RuleSource;
use crate::inventory::Inventory;
use crate::report::{want_color, Style};

/// Days of simulated history replayed before going live (the first day is the clean baseline).
const HISTORY_DAYS: u32 = 2;
/// Partitions of the demo topics.
const PARTITIONS: i32 = 3;

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Simulated seconds per real second once live (the history is always replayed at full speed).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Stop by itself after this long (e.g. `20s`, `5m`) and print the summary.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Seed of the simulated org's traffic (same seed, same org, same incidents).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the simulated history ends and live traffic begins, RFC 3339 (e.g.
    /// `2026-03-09T00:00:00Z`); with `--seed`, the same start replays the same org. Default: now.
    #[arg(long, value_parser = parse_start)]
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    /// Address of `/metrics`, `/healthz`, `/readyz` (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub metrics_listen: SocketAddr,
}

/// An RFC 3339 instant, e.g. `2026-03-09T00:00:00Z`.
pub fn parse_start(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| loginwatch_shared::time::truncate_to_millis(t.with_timezone(&chrono::Utc)))
        .map_err(|e| {
            format!("`{s}` is not an RFC 3339 instant ({e}); use e.g. 2026-03-09T00:00:00Z")
        })
}

/// `20s`, `5m`, `1h`, `1500ms` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; use e.g. 20s, 5m, 1h"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}`; use ms, s, m or h")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("`{s}` must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A small shutdown broadcast (no extra dependency).
mod tokio_util_like {
    #[derive(Clone)]
    pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

    impl Shutdown {
        pub fn new() -> (tokio::sync::watch::Sender<bool>, Shutdown) {
            let (tx, rx) = tokio::sync::watch::channel(false);
            (tx, Shutdown(rx))
        }
        pub async fn wait(mut self) {
            let _ = self.0.wait_for(|v| *v).await;
        }
    }
}

/// What the summary needs, filled by consumers of the two topics (their own consumer groups).
#[derive(Default)]
struct Tally {
    records: u64,
    logins: HashSet<String>,
    inventory: Inventory,
    detections: BTreeMap<Category, u64>,
    detection_ids: HashSet<String>,
}

pub fn run(args: DemoArgs) -> i32 {
    if std::env::var_os("RUST_LOG").is_none() {
        // Keep the terminal for detections; warnings and errors still show.
        std::env::set_var("RUST_LOG", "warn");
    }
    loginwatch_shared::runtime::init_logging();
    if !(args.speed.is_finite() && args.speed > 0.0) {
        eprintln!("loginwatch demo: --speed must be a positive number (simulated seconds per real second)");
        return 2;
    }
    let broker = match EmbeddedBroker::start(
        &[LOGINS_TOPIC, DETECTIONS_TOPIC, DEADLETTER_TOPIC],
        PARTITIONS,
    ) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("loginwatch demo: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loginwatch demo: cannot start the runtime: {e}");
            return 2;
        }
    };
    let code = match rt.block_on(run_async(args, broker.bootstrap_servers().to_string())) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("loginwatch demo: {e:#}");
            2
        }
    };
    rt.shutdown_timeout(Duration::from_secs(5));
    drop(broker);
    code
}

async fn run_async(args: DemoArgs, bootstrap: String) -> anyhow::Result<()> {
    let color = want_color(std::io::stdout().is_terminal());
    let style = Style { color };
    let mut kafka = KafkaSettings {
        bootstrap_servers: bootstrap,
        partitions: PARTITIONS,
        ..Default::default()
    };
    // The mock cluster never answers CreateTopics (the topics already exist): bound the services'
    // topic check to seconds instead of librdkafka's default 60 s socket timeout.
    kafka
        .properties
        .insert("socket.timeout.ms".into(), "4000".into());
    let state_dir = tempfile::Builder::new()
        .prefix("loginwatch-demo-")
        .tempdir()?;
    let (rules_dir, _rules_guard) = RuleSource::Embedded
        .materialize()
        .map_err(anyhow::Error::msg)?;

    // 1. The simulated org: a short history (baseline day, then incidents every half hour), then live.
    let sim_cfg = loginwatch_sfsim::config::SimConfig {
        seed: args.seed,
        history_end: args.start,
        history_days: HISTORY_DAYS,
        learning_days: 1,
        incident_spacing_mins: 30,
        mode: loginwatch_sfsim::config::Mode::Live,
        live: loginwatch_sfsim::config::LiveConfig {
            speed: args.speed,
            ..Default::default()
        },
        cometd: loginwatch_sfsim::config::CometdConfig {
            hold_ms: 1000,
            advice_timeout_ms: 1000,
            ..Default::default()
        },
        ..Default::default()
    };
    let sim = loginwatch_sfsim::start(sim_cfg).await?;
    let org_id = sim.org_ids().first().cloned().unwrap_or_default();

    let (stop_tx, shutdown) = Shutdown::new();
    let readiness = Readiness::new();
    readiness.set("demo", true);
    let ops_addr = loginwatch_shared::ops::serve(
        args.metrics_listen,
        readiness.clone(),
        shutdown.clone().wait(),
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on --metrics-listen {}: {e}",
            args.metrics_listen
        )
    })?;

    println!("{}", style.bold("loginwatch demo"));
    println!(
        "  simulated org {org_id} at {} ({} days of history, then live at {}x), embedded broker {}",
        sim.base_url(),
        HISTORY_DAYS,
        args.speed,
        kafka.bootstrap_servers
    );
    println!("  metrics: http://{ops_addr}/metrics");
    match args.duration {
        Some(d) => println!(
            "  running for {:?}; Ctrl-C stops earlier and prints the summary",
            d
        ),
        None => println!("  Ctrl-C stops and prints the summary"),
    }
    println!();
    let _ = std::io::stdout().flush();

    // 2. Summary consumers (own groups), started first so they see everything from the beginning.
    let tally = Arc::new(Mutex::new(Tally::default()));
    let logins_task = tokio::spawn(consume(
        kafka.clone(),
        "loginwatch-demo-summary-logins",
        LOGINS_TOPIC,
        tally.clone(),
        shutdown.clone(),
    ));
    let detections_task = tokio::spawn(consume(
        kafka.clone(),
        "loginwatch-demo-summary-detections",
        DETECTIONS_TOPIC,
        tally.clone(),
        shutdown.clone(),
    ));

    // 3. The analyzer with the built-in rules.
    let analyzer_cfg = loginwatch_analyzer::service::AnalyzerConfig {
        kafka: kafka.clone(),
        group_id: "loginwatch-demo-analyzer".into(),
        rules_dir: rules_dir.clone(),
        ops_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        engine: loginwatch_analyzer::engine::EngineConfig {
            clock: sim.clock(),
            ..Default::default()
        },
        ..Default::default()
    };
    let analyzer =
        loginwatch_analyzer::service::Analyzer::new(analyzer_cfg, readiness.clone()).await?;
    let analyzer_task = tokio::spawn(analyzer.run(shutdown.clone().wait()));

    // 4. The forwarder with its terminal sink.
    let forwarder_cfg: loginwatch_forwarder::config::ForwarderConfig =
        serde_json::from_value(json!({
            "kafka": serde_json::to_value(&kafka)?,
            "group_id": "loginwatch-demo-forwarder",
            "ops_listen": "127.0.0.1:0",
            "drain_timeout_secs": 5,
            "sinks": [{ "name": "terminal", "type": "stdout", "color": color }],
        }))?;
    let forwarder_task = tokio::spawn(loginwatch_forwarder::pipeline::run(
        forwarder_cfg,
        readiness.clone(),
        shutdown.clone().wait(),
    ));

    // 5. The ingester, authenticating to the simulated org with client credentials.
    let ingester_cfg: loginwatch_ingester::IngesterConfig = serde_json::from_value(json!({
        "state_dir": state_dir.path(),
        "ops": { "listen": "127.0.0.1:0" },
        "kafka": serde_json::to_value(&kafka)?,
        "orgs": [{
            "org_id": org_id,
            "login_url": sim.base_url(),
            "auth": {
                "type": "client_credentials",
                "client_id": loginwatch_sfsim::config::TEST_CLIENT_ID,
                "client_secret": { "value": loginwatch_sfsim::config::TEST_CLIENT_SECRET },
            },
            "login_history": {
                "poll_interval_secs": 2,
                "settle_secs": 0,
                "initial_lookback_secs": (HISTORY_DAYS as u64) * 86_400 + 3_600,
            },
            "stream": { "enabled": true },
        }],
    }))?;
    // The ingester reads the simulated org's clock: its "now" is the org's, also at --speed > 1.
    let ingester = loginwatch_ingester::start_with_clock(ingester_cfg, sim.clock()).await?;

    // Run until Ctrl-C / SIGTERM or the duration.
    match args.duration {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => {},
                _ = loginwatch_shared::runtime::shutdown_signal() => {},
            }
        }
        None => loginwatch_shared::runtime::shutdown_signal().await,
    }

    // Stop in pipeline order: sources first, then let the rest drain briefly.
    ingester.shutdown().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_tx.send(true);
    match analyzer_task.await {
        Ok(Err(e)) => eprintln!("loginwatch demo: analyzer: {e}"),
        Err(e) => eprintln!("loginwatch demo: analyzer task: {e}"),
        Ok(Ok(())) => {}
    }
    match forwarder_task.await {
        Ok(Err(e)) => eprintln!("loginwatch demo: forwarder: {e}"),
        Err(e) => eprintln!("loginwatch demo: forwarder task: {e}"),
        Ok(Ok(_)) => {}
    }
    let _ = logins_task.await;
    let _ = detections_task.await;
    sim.shutdown().await;

    let tally = tally.lock().expect("tally lock");
    let mut out = std::io::stdout().lock();
    print_summary(&tally, &mut out, style)?;
    Ok(())
}

/// Folds one topic into the tally until shutdown.
async fn consume(
    kafka: KafkaSettings,
    group: &'static str,
    topic: &'static str,
    tally: Arc<Mutex<Tally>>,
    shutdown: Shutdown,
) {
    let consumer: StreamConsumer = match kafka.consumer_config(group).create() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, topic, "summary consumer failed; the summary will be incomplete");
            return;
        }
    };
    if let Err(e) = consumer.subscribe(&[topic]) {
        tracing::warn!(error = %e, topic, "summary subscribe failed");
        return;
    }
    let mut stream = consumer.stream();
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            m = stream.next() => match m {
                Some(Ok(m)) => {
                    let payload = m.payload().unwrap_or_default();
                    let mut t = tally.lock().expect("tally lock");
                    if topic == LOGINS_TOPIC {
                        if let Ok(e) = serde_json::from_slice::<LoginEvent>(payload) {
                            t.records += 1;
                            // LoginHistory and the stream deliver the same login twice: count it once.
                            if t.logins.insert(e.login_identity()) {
                                t.inventory.observe(&e);
                            }
                        }
                    } else if let Ok(d) = serde_json::from_slice::<Detection>(payload) {
                        if t.detection_ids.insert(d.event.id.clone()) {
                            *t.detections.entry(d.rule.category).or_default() += 1;
                        }
                    }
                }
                Some(Err(e)) => tracing::debug!(error = %e, "summary consumer"),
                None => break,
            }
        }
    }
}

fn print_summary(t: &Tally, out: &mut dyn Write, style: Style) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "{}", style.bold("Summary"))?;
    writeln!(
        out,
        "  login records ingested: {} ({} distinct logins)",
        t.records,
        t.logins.len()
    )?;
    let total: u64 = t.detections.values().sum();
    writeln!(out, "  detections: {total}")?;
    for (c, n) in &t.detections {
        writeln!(out, "    {:<24} {n}", c.as_str())?;
    }
    writeln!(out, "  password-based authentication inventory:")?;
    if t.inventory.is_empty() {
        writeln!(out, "    none seen")?;
    }
    for e in t.inventory.entries() {
        writeln!(
            out,
            "    {:<40} {:<20} {:<23} logins {:>5} (ok {}, failed {}), {} IP(s), last seen {}",
            // Names come from the org's records: escaped, so they cannot drive the terminal.
            loginwatch_shared::terminal::escape(&e.key.user),
            loginwatch_shared::terminal::escape(&e.key.application),
            e.key.auth_method.as_str(),
            e.logins,
            e.successes,
            e.failures,
            e.distinct_ips_text(),
            e.last_seen.format("%Y-%m-%d %H:%M UTC")
        )?;
    }
    if !t.inventory.is_empty() {
        writeln!(
            out,
            "  next step: {}",
            loginwatch_shared::detection::PASSWORD_FLOW_REMEDIATION
        )?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("0s").is_err());
    }
}
