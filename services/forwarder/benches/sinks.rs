//! Detections per second per sink type, each against a local receiver implementing the API
//! (the same receivers as the contract tests), through the real worker (batching, acks).
//! Plus the cost of rendering each payload format. Run: `cargo bench -p loginwatch-forwarder`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use loginwatch_forwarder::render::{self, HecMeta, PayloadFormat, SyslogMeta};
use loginwatch_forwarder::samples;

const N: usize = 500;

fn sinks(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let detections = samples::many(N);
    let batch = "batch = { max_events = 100, linger_ms = 1, queue_capacity = 1000 }";
    let (hec, hec_state) = rt.block_on(hec_server(false));
    let (hec_ack, hec_ack_state) = rt.block_on(hec_server(true));
    let (bulk, bulk_state) = rt.block_on(bulk_server());
    let (hook, hook_state) = rt.block_on(webhook_server());
    let tcp = rt.block_on(TcpSyslogServer::start(true));
    let udp = rt.block_on(UdpSyslogServer::start());
    let configs = vec![
        ("splunk_hec", format!("[[sinks]]\nname = \"b-hec\"\ntype = \"splunk_hec\"\nurl = \"{}\"\ntoken = {{ value = \"{HEC_TOKEN}\" }}\n{batch}", hec.url())),
        ("splunk_hec_acks", format!("[[sinks]]\nname = \"b-hec-ack\"\ntype = \"splunk_hec\"\nurl = \"{}\"\ntoken = {{ value = \"{HEC_TOKEN}\" }}\nacknowledgements = true\nack_poll_interval_ms = 10\n{batch}", hec_ack.url())),
        ("elasticsearch", format!("[[sinks]]\nname = \"b-es\"\ntype = \"elasticsearch\"\nurl = \"{}\"\naction = \"index\"\n{batch}", bulk.url())),
        ("syslog_tcp", format!("[[sinks]]\nname = \"b-tcp\"\ntype = \"syslog\"\naddress = \"{}\"\n{batch}", tcp.addr)),
        ("syslog_udp", format!("[[sinks]]\nname = \"b-udp\"\ntype = \"syslog\"\naddress = \"{}\"\nprotocol = \"udp\"\n{batch}", udp.addr)),
        ("webhook", format!("[[sinks]]\nname = \"b-hook\"\ntype = \"webhook\"\nurl = \"{}/hooks/loginwatch\"\nhmac_secret = {{ value = \"{WEBHOOK_KEY}\" }}\n{batch}", hook.url())),
    ];
    let mut group = c.benchmark_group("sink_detections_per_second");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    for (kind, toml) in configs {
        let config = sink_config(&toml);
        group.bench_with_input(BenchmarkId::from_parameter(kind), &config, |b, config| {
            b.iter(|| {
                let run = rt.block_on(run_worker(config, &detections, Duration::from_secs(60)));
                assert_eq!(run.acks.len(), N, "{kind}: every detection confirmed");
                // Keep the receivers' memory flat across iterations.
                hec_state.events.lock().unwrap().clear();
                hec_ack_state.events.lock().unwrap().clear();
                hook_state.received.lock().unwrap().clear();
                tcp.messages.lock().unwrap().clear();
                udp.messages.lock().unwrap().clear();
                bulk_state.writes.lock().unwrap().clear();
            })
        });
    }
    group.finish();
}

fn renderers(c: &mut Criterion) {
    let detections = samples::many(100);
    let hec = HecMeta {
        host: "h".into(),
        source: "loginwatch".into(),
        sourcetype: "loginwatch:detection".into(),
        index: Some("security".into()),
    };
    let syslog = SyslogMeta {
        facility: 10,
        hostname: "h".into(),
        app_name: "loginwatch".into(),
    };
    let mut group = c.benchmark_group("render_detections_per_second");
    group.throughput(Throughput::Elements(detections.len() as u64));
    group.bench_function("ecs", |b| {
        b.iter(|| {
            detections
                .iter()
                .map(|d| render::ecs(d).to_string().len())
                .sum::<usize>()
        })
    });
    group.bench_function("hec", |b| {
        b.iter(|| {
            detections
                .iter()
                .map(|d| {
                    render::hec_envelope(d, &hec, PayloadFormat::Ecs)
                        .to_string()
                        .len()
                })
                .sum::<usize>()
        })
    });
    group.bench_function("ocsf", |b| {
        b.iter(|| {
            detections
                .iter()
                .map(|d| render::ocsf(d).to_string().len())
                .sum::<usize>()
        })
    });
    group.bench_function("cef_syslog", |b| {
        b.iter(|| {
            detections
                .iter()
                .map(|d| render::syslog_cef(d, &syslog).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, renderers, sinks);
criterion_main!(benches);
