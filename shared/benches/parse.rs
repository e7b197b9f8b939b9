//! Parse + normalise + Arrow conversion of a 2,000-record LoginHistory page (the largest page the
//! REST API returns), against the parse floor: the same bytes into `serde_json::Value`.
//!
//! `cargo bench -p loginwatch-shared --bench parse`. Criterion reports each; at the end the bench
//! prints records/second of both and their ratio (how many times the floor the full path costs).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use loginwatch_shared::arrow::to_record_batch;
use loginwatch_shared::parse::{elf, login_history, ParseContext};
use serde_json::json;

const RECORDS: usize = 2_000;
const ORG: &str = "00D5j00000DgAYGEA3";
const COUNTRIES: [&str; 4] = ["US", "DE", "GB", "IN"];
const CITIES: [&str; 4] = ["Ashburn", "Frankfurt am Main", "London", "Mumbai"];

fn id(prefix: &str, n: usize) -> String {
    let base = format!("{prefix}{:0>9}", format!("{n:X}"));
    loginwatch_shared::ids::to_18(&base).expect("generated ids are valid")
}

/// A realistic mix: UI logins, OAuth flows in every spelling (and without sub-type), SOAP logins
/// with application N/A, failures of several kinds; a third carry the LoginGeo relationship.
fn login_history_page() -> Vec<u8> {
    let apps = [
        "Browser",
        "Legacy ETL",
        "Data Loader",
        "N/A",
        "Salesforce for iOS",
        "Workbench",
    ];
    let ips = [
        "198.51.100.1",
        "203.0.113.77",
        "Salesforce.com IP",
        "2001:db8::17",
        "192.0.2.44",
    ];
    let statuses = [
        "Success",
        "Success",
        "Success",
        "Invalid Password",
        "Failed: API security token required",
        "Login Rate Exceeded",
    ];
    let records: Vec<_> = (0..RECORDS)
        .map(|i| {
            let (login_type, sub_type, application, api_type) = match i % 10 {
                0..=2 => ("Application", json!("UI Username-Password"), "Browser", json!(null)),
                3 => ("Remote Access 2.0", json!("OAuth Username-Password"), apps[1], json!(null)),
                4 => ("Remote Access 2.0", json!("OauthUsernamePassword"), apps[2], json!(null)),
                5 => ("Remote Access 2.0", json!(null), apps[5], json!(null)),
                6 => ("Remote Access 2.0", json!("OAuth Client Credentials"), apps[4], json!(null)),
                7 | 8 => ("Other Apex API", json!(null), "N/A", json!("SOAP Partner")),
                _ => ("SAML Sfdc Initiated SSO", json!(null), "Browser", json!(null)),
            };
            let lh_id = id("0Ya5j0", i);
            let mut r = json!({
                "attributes": {"type": "LoginHistory", "url": format!("/services/data/v62.0/sobjects/LoginHistory/{lh_id}")},
                "Id": lh_id,
                "UserId": id("0055j0", i % 300),
                "LoginTime": format!("2026-11-02T{:02}:{:02}:{:02}.{:03}+0000", (i / 3600) % 24, (i / 60) % 60, i % 60, i % 1000),
                "LoginType": login_type,
                "LoginSubType": sub_type,
                "LoginUrl": if i % 2 == 0 { "login.salesforce.com" } else { "acme.my.salesforce.com" },
                "SourceIp": ips[i % ips.len()],
                "Status": statuses[i % statuses.len()],
                "Application": application,
                "Browser": if application == "Browser" { "Chrome 119" } else { "Unknown" },
                "Platform": if application == "Browser" { "Mac OSX" } else { "Unknown" },
                "ApiType": api_type,
                "ApiVersion": if login_type == "Other Apex API" { json!("58.0") } else { json!(null) },
                "ClientVersion": null,
                "CipherSuite": "ECDHE-RSA-AES256-GCM-SHA384",
                "TlsProtocol": if i % 7 == 0 { "TLS 1.3" } else { "TLS 1.2" },
                "CountryIso": COUNTRIES[i % 4],
                "LoginGeoId": id("04F5j0", i),
                "AuthenticationServiceId": null, "AuthMethodReference": null,
                "NetworkId": null, "OptionsIsGet": false, "OptionsIsPost": true, "ForwardedForIp": null
            });
            if i % 3 == 0 {
                r["LoginGeo"] = json!({
                    "attributes": {"type": "LoginGeo", "url": format!("/services/data/v62.0/sobjects/LoginGeo/{}", id("04F5j0", i))},
                    "City": CITIES[i % 4],
                    "Latitude": 39.0438 + (i % 10) as f64 * 0.01,
                    "Longitude": -77.4874 + (i % 10) as f64 * 0.01
                });
            }
            r
        })
        .collect();
    serde_json::to_vec(&json!({
        "totalSize": RECORDS * 3,
        "done": false,
        "nextRecordsUrl": "/services/data/v62.0/query/0r8xx0000000001AAA-2000",
        "records": records
    }))
    .expect("page serialises")
}

fn elf_csv(rows: usize) -> Vec<u8> {
    let mut out = String::from(
        "\"EVENT_TYPE\",\"TIMESTAMP\",\"REQUEST_ID\",\"ORGANIZATION_ID\",\"USER_ID\",\"RUN_TIME\",\"CPU_TIME\",\"URI\",\"SESSION_KEY\",\"LOGIN_KEY\",\"USER_TYPE\",\"REQUEST_STATUS\",\"DB_TOTAL_TIME\",\"LOGIN_TYPE\",\"BROWSER_TYPE\",\"API_TYPE\",\"API_VERSION\",\"USER_NAME\",\"TLS_PROTOCOL\",\"CIPHER_SUITE\",\"AUTHENTICATION_METHOD_REFERENCE\",\"LOGIN_SUB_TYPE\",\"TIMESTAMP_DERIVED\",\"USER_ID_DERIVED\",\"CLIENT_IP\",\"URI_ID_DERIVED\",\"LOGIN_STATUS\",\"SOURCE_IP\"\n",
    );
    for i in 0..rows {
        let (lt, sub, status) = match i % 4 {
            0 => ("i", "oauthpassword", "LOGIN_NO_ERROR"),
            1 => ("I", "", "LOGIN_ERROR_INVALID_PASSWORD"),
            2 => ("A", "uiup", "LOGIN_NO_ERROR"),
            _ => ("i", "", "OAUTH_UN_PW_FLOW_DISABLED"),
        };
        out.push_str(&format!(
            "\"Login\",\"20231218{:02}{:02}{:02}.{:03}\",\"4u6LyuMrDvb_G-l1cJI{i:05}\",\"00D5j00000DgAYG\",\"0055j00000AT6I1\",\"1219\",\"127\",\"/services/oauth2/token\",\"\",\"bY5Wfv8t/Ith7{i:05}\",\"Standard\",\"\",\"1051271151\",\"{lt}\",\"Go-http-client/1.1\",\"\",\"9998.0\",\"user{}@devtest.in\",\"TLSv1.2\",\"ECDHE-RSA-AES256-GCM-SHA384\",\"\",\"{sub}\",\"2023-12-18T05:48:31.655Z\",\"0055j00000AT6I1AAL\",\"Salesforce.com IP\",\"\",\"{status}\",\"103.108.207.58\"\n",
            (i / 3600) % 24, (i / 60) % 60, i % 60, i % 1000, i % 500
        ));
    }
    out.into_bytes()
}

fn ctx() -> ParseContext {
    ParseContext::new(ORG)
}

fn full_path(body: &[u8], ctx: &ParseContext) -> usize {
    let page = login_history::parse_page(body, ctx).expect("page parses");
    assert!(page.errors.is_empty());
    let batch = to_record_batch(&page.events).expect("batch");
    batch.num_rows()
}

fn parse_floor(body: &[u8]) -> usize {
    let v: serde_json::Value = serde_json::from_slice(body).expect("json");
    v["records"].as_array().map_or(0, Vec::len)
}

fn benches(c: &mut Criterion) {
    let body = login_history_page();
    let ctx = ctx();
    assert_eq!(full_path(&body, &ctx), RECORDS);

    let mut g = c.benchmark_group("login_history_page_2000");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("parse_normalise_arrow", |b| {
        b.iter(|| full_path(black_box(&body), &ctx))
    });
    g.bench_function("serde_json_value_floor", |b| {
        b.iter(|| parse_floor(black_box(&body)))
    });
    g.finish();

    let csv = elf_csv(10_000);
    let mut g = c.benchmark_group("elf_csv_10000_rows");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("read_normalise", |b| {
        b.iter(|| {
            elf::reader(black_box(&csv[..]), &ctx)
                .expect("header")
                .filter(Result::is_ok)
                .count()
        })
    });
    g.finish();
}

/// Best-of-rounds time per call of `f`, for the summary line.
fn per_call(mut f: impl FnMut() -> usize) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..7 {
        let start = Instant::now();
        let mut n = 0;
        let mut calls = 0u32;
        while start.elapsed() < Duration::from_millis(300) {
            n += black_box(f());
            calls += 1;
        }
        black_box(n);
        best = best.min(start.elapsed() / calls);
    }
    best
}

fn summary() {
    let body = login_history_page();
    let ctx = ctx();
    let full = per_call(|| full_path(&body, &ctx));
    let floor = per_call(|| parse_floor(&body));
    let rate = |d: Duration| RECORDS as f64 / d.as_secs_f64();
    println!();
    println!(
        "LoginHistory page: {RECORDS} records, {} bytes ({:.0} bytes/record)",
        body.len(),
        body.len() as f64 / RECORDS as f64
    );
    println!(
        "  parse + normalise + Arrow : {:>10.0} records/s ({:.2} ms/page)",
        rate(full),
        full.as_secs_f64() * 1e3
    );
    println!(
        "  serde_json::Value floor   : {:>10.0} records/s ({:.2} ms/page)",
        rate(floor),
        floor.as_secs_f64() * 1e3
    );
    println!(
        "  ratio full / floor        : {:.2}x the time of the parse floor",
        full.as_secs_f64() / floor.as_secs_f64()
    );
}

criterion_group!(parse, benches);

fn main() {
    parse();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
