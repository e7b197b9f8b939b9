//! Any canonical event survives JSON (the Kafka wire format) → struct → Arrow → struct unchanged.

use chrono::{DateTime, Utc};
use loginwatch_shared::arrow::{from_record_batch, login_schema, to_record_batch};
use loginwatch_shared::event::{AuthMethod, LoginEvent, Outcome, Source};
use proptest::prelude::*;

/// 0001-01-01 .. 9999-12-31: the years RFC 3339 can write.
const MIN_MS: i64 = -62_135_596_800_000;
const MAX_MS: i64 = 253_402_300_799_999;

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (MIN_MS..=MAX_MS).prop_map(|ms| DateTime::from_timestamp_millis(ms).unwrap())
}

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including quotes, control characters and the empty string.
    any::<String>()
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn opt_float() -> impl Strategy<Value = Option<f64>> {
    prop::option::of(any::<f64>().prop_filter("finite", |x| x.is_finite()))
}

fn event() -> impl Strategy<Value = LoginEvent> {
    let keys = (
        text(),
        text(),
        prop::sample::select(Source::ALL.to_vec()),
        time(),
        time(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        prop::sample::select(AuthMethod::ALL.to_vec()),
        opt_text(),
        prop::sample::select(vec![Outcome::Success, Outcome::Failure]),
    );
    let middle = (
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_float(),
        opt_float(),
        opt_text(),
        opt_text(),
        opt_text(),
    );
    let rest = (
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
    );
    (keys, middle, rest).prop_map(|(k, m, r)| LoginEvent {
        event_id: k.0,
        org_id: k.1,
        source: k.2,
        event_time: k.3,
        ingested_at: k.4,
        user_id: k.5,
        username: k.6,
        login_type: k.7,
        login_sub_type: k.8,
        auth_method: k.9,
        status: k.10,
        outcome: k.11,
        failure_reason: m.0,
        application: m.1,
        source_ip: m.2,
        country_iso: m.3,
        city: m.4,
        latitude: m.5,
        longitude: m.6,
        api_type: m.7,
        api_version: m.8,
        client_version: m.9,
        browser: r.0,
        platform: r.1,
        login_url: r.2,
        tls_protocol: r.3,
        cipher_suite: r.4,
        login_history_id: r.5,
        login_key: r.6,
        user_type: r.7,
        session_level: r.8,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn events_survive_json_and_arrow(events in prop::collection::vec(event(), 0..8)) {
        let wire: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        let decoded: Vec<LoginEvent> = wire.iter().map(|w| serde_json::from_str(w).unwrap()).collect();
        prop_assert_eq!(&decoded, &events);

        let batch = to_record_batch(&decoded).unwrap();
        prop_assert_eq!(batch.schema(), login_schema());
        prop_assert_eq!(batch.num_rows(), events.len());
        let back = from_record_batch(&batch).unwrap();
        prop_assert_eq!(&back, &events);
    }
}

#[test]
fn parsed_events_survive_arrow() {
    // The events the parsers produce (not only generated ones) make the same round trip.
    let ctx = loginwatch_shared::parse::ParseContext::new("00D5j00000DgAYGEA3");
    let body = std::fs::read(format!(
        "{}/testdata/login_history_page.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let page = loginwatch_shared::parse::login_history::parse_page(&body, &ctx).unwrap();
    assert_eq!(page.events.len(), 5);
    let back = from_record_batch(&to_record_batch(&page.events).unwrap()).unwrap();
    assert_eq!(back, page.events);
}
