//! Records per second through parse → normalise → produce (idempotent producer, acks awaited)
//! against librdkafka's MockCluster, next to the parse floor: `serde_json::Value` of the same
//! 2,000-record LoginHistory page. Compare the two `thrpt` lines: the ratio is the cost of the
//! whole ingest path relative to merely reading the JSON.
//!
//! `cargo bench -p loginwatch-ingester --bench ingest_throughput`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loginwatch_ingester::sink::{KafkaSink, Outgoing};
use loginwatch_shared::kafka::{KafkaSettings, LOGINS_TOPIC};
use loginwatch_shared::parse::{self, ParseContext};
use rdkafka::mocking::MockCluster;
use serde_json::json;

const RECORDS: usize = 2000;

fn page() -> Vec<u8> {
    let base = chrono::DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z").unwrap();
    let records: Vec<_> = (0..RECORDS)
        .map(|i| {
            let t = base + chrono::Duration::seconds(i as i64);
            let id = loginwatch_shared::ids::to_18(&format!("0Ya{i:012}")).unwrap();
            let user = loginwatch_shared::ids::to_18(&format!("005{:012}", i % 97)).unwrap();
            json!({
                "attributes": {"type": "LoginHistory", "url": format!("/services/data/v62.0/sobjects/LoginHistory/{id}")},
                "Id": id, "UserId": user, "LoginTime": t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
                "LoginType": if i % 3 == 0 { "Remote Access 2.0" } else { "Application" },
                "LoginSubType": if i % 3 == 0 { json!("OAuth Username-Password") } else { json!(null) },
                "LoginUrl": "acme.my.salesforce.com", "SourceIp": format!("198.51.100.{}", i % 250),
                "Status": if i % 10 == 0 { "Invalid Password" } else { "Success" }, "Application": "Browser",
                "Browser": "Chrome 119", "Platform": "Mac OSX", "ApiType": null, "ApiVersion": null, "ClientVersion": null,
                "CipherSuite": "ECDHE-RSA-AES256-GCM-SHA384", "TlsProtocol": "TLS 1.2", "CountryIso": "US",
                "LoginGeoId": null, "AuthenticationServiceId": null, "AuthMethodReference": null, "NetworkId": null,
                "OptionsIsGet": false, "OptionsIsPost": true
            })
        })
        .collect();
    serde_json::to_vec(&json!({"totalSize": RECORDS, "done": true, "records": records})).unwrap()
}

fn bench(c: &mut Criterion) {
    let body = page();
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(LOGINS_TOPIC, 6, 1).unwrap();
    let settings = KafkaSettings {
        bootstrap_servers: cluster.bootstrap_servers(),
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sink = rt.block_on(async { KafkaSink::new(&settings, 20_000).unwrap() });
    let ctx = ParseContext::new("00D000000000001AAA");

    let mut g = c.benchmark_group("login_history_page");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("parse_floor_serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(&body).unwrap())
    });
    g.bench_function("parse_normalise", |b| {
        b.iter(|| parse::login_history::parse_page(&body, &ctx).unwrap())
    });
    g.bench_function("parse_normalise_produce_acked", |b| {
        b.iter(|| {
            let page = parse::login_history::parse_page(&body, &ctx).unwrap();
            let out: Vec<Outgoing> = page
                .events
                .into_iter()
                .map(|e| Outgoing::Login(Box::new(e)))
                .collect();
            rt.block_on(sink.deliver(out)).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
