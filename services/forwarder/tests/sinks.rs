//! Each sink against a local receiver implementing the real API's contract: success, 5xx then
//! recovery, 429, a poison item to the dead-letter topic, a receiver that goes away and comes back.

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use loginwatch_forwarder::samples;
use loginwatch_shared::{Category, Detection};

const FAST_RETRY: &str = "retry = { initial_backoff_ms = 20, max_backoff_ms = 200, max_item_attempts = 3 }\ncircuit_breaker = { failure_threshold = 3, open_secs = 1 }\n";

fn ids(ds: &[Detection]) -> HashSet<String> {
    ds.iter().map(|d| d.id().to_string()).collect()
}

fn hec_toml(url: &str, acks: bool, extra: &str) -> String {
    format!(
        "[[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nurl = \"{url}\"\ntoken = {{ value = \"{HEC_TOKEN}\" }}\nindex = \"security\"\nhost = \"fw-test\"\nacknowledgements = {acks}\nack_poll_interval_ms = 20\nbatch = {{ max_events = 10, linger_ms = 20 }}\n{FAST_RETRY}{extra}"
    )
}

#[tokio::test]
async fn hec_delivers_batches_confirmed_by_indexer_acks() {
    let (server, state) = hec_server(true).await;
    let config = sink_config(&hec_toml(&server.url(), true, ""));
    let detections = samples::many(35);
    let run = run_worker(&config, &detections, Duration::from_secs(20)).await;

    assert_eq!(run.acks.len(), 35);
    assert!(run.dead_letters.is_empty());
    let received = state.detection_ids();
    assert_eq!(received.len(), 35, "each detection sent once");
    assert_eq!(
        received.iter().cloned().collect::<HashSet<_>>(),
        ids(&detections)
    );
    assert!(
        state.requests.load(Ordering::SeqCst) >= 4,
        "35 detections in batches of at most 10"
    );
    assert!(
        state.ack_polls.load(Ordering::SeqCst) >= 4,
        "every batch waited for its ack"
    );
    let first = &state.events.lock().unwrap()[0];
    assert_eq!(first["index"], "security");
    assert_eq!(first["host"], "fw-test");
    assert_eq!(first["sourcetype"], "loginwatch:detection");
    assert_eq!(first["fields"]["rule_id"], detections[0].rule.id);
    assert_eq!(first["event"]["event"]["kind"], "alert");
}

#[tokio::test]
async fn hec_without_channel_header_is_not_lost_and_ocsf_format_is_used() {
    // acks off: no channel header; OCSF payloads inside the envelope.
    let (server, state) = hec_server(false).await;
    let config = sink_config(&hec_toml(&server.url(), false, "format = \"ocsf\"\n"));
    let detections = samples::many(5);
    let run = run_worker(&config, &detections, Duration::from_secs(10)).await;
    assert_eq!(run.acks.len(), 5);
    let events = state.events.lock().unwrap();
    assert!(events.iter().all(|e| e["event"]["class_uid"] == 2004));
}

#[tokio::test]
async fn hec_5xx_then_recovery_delivers_everything_once() {
    let (server, state) = hec_server(true).await;
    state.faults.unavailable.store(4, Ordering::SeqCst);
    let config = sink_config(&hec_toml(&server.url(), true, ""));
    let detections = samples::many(20);
    let run = run_worker(&config, &detections, Duration::from_secs(20)).await;
    assert_eq!(run.acks.len(), 20);
    assert!(
        run.dead_letters.is_empty(),
        "503 is never the detection's fault"
    );
    assert_eq!(
        state.faults.unavailable.load(Ordering::SeqCst),
        0,
        "the 503s were served"
    );
    let received = state.detection_ids();
    assert_eq!(
        received.len(),
        20,
        "503 means not indexed: nothing duplicated"
    );
    assert_eq!(
        received.into_iter().collect::<HashSet<_>>(),
        ids(&detections)
    );
}

#[tokio::test]
async fn hec_429_is_retried() {
    let (server, state) = hec_server(false).await;
    state.faults.throttled.store(3, Ordering::SeqCst);
    let config = sink_config(&hec_toml(&server.url(), false, ""));
    let detections = samples::many(8);
    let run = run_worker(&config, &detections, Duration::from_secs(10)).await;
    assert_eq!(run.acks.len(), 8);
    assert!(run.dead_letters.is_empty());
    assert_eq!(state.detection_ids().len(), 8);
}

#[tokio::test]
async fn hec_poison_item_goes_to_dead_letter_and_the_rest_of_its_batch_is_delivered() {
    let (server, state) = hec_server(true).await;
    let config = sink_config(&hec_toml(&server.url(), true, ""));
    let mut detections = samples::many(6);
    detections[3] = poisoned(detections[3].clone());
    let run = run_worker(&config, &detections, Duration::from_secs(20)).await;
    assert_eq!(run.acks.len(), 6);
    assert_eq!(run.dead_letters.len(), 1);
    let dl = &run.dead_letters[0];
    assert_eq!(dl.origin, "sink:splunk");
    assert_eq!(dl.service, "forwarder");
    assert!(
        dl.error.contains("400") && dl.error.contains("Invalid data format"),
        "{}",
        dl.error
    );
    assert!(
        dl.raw.contains(detections[3].id()),
        "the whole detection is kept"
    );
    let dead: Vec<_> = run
        .acks
        .iter()
        .filter(|a| a.dead_lettered)
        .map(|a| a.detection_id.clone())
        .collect();
    assert_eq!(dead, vec![detections[3].id().to_string()]);
    let mut expected = ids(&detections);
    expected.remove(detections[3].id());
    let received = state.detection_ids();
    assert_eq!(received.len(), 5);
    assert_eq!(received.into_iter().collect::<HashSet<_>>(), expected);
}

#[tokio::test]
async fn hec_down_then_back_loses_nothing() {
    let (mut server, state) = hec_server(true).await;
    server.stop().await;
    let config = sink_config(&hec_toml(&server.url(), true, ""));
    let detections = samples::many(12);
    let run = {
        let worker = run_worker(&config, &detections, Duration::from_secs(20));
        let restart = async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            server.restart().await;
        };
        let (run, ()) = tokio::join!(worker, restart);
        run
    };
    assert_eq!(run.acks.len(), 12);
    assert!(run.dead_letters.is_empty());
    assert_eq!(
        state.detection_ids().into_iter().collect::<HashSet<_>>(),
        ids(&detections)
    );
    assert_eq!(state.detection_ids().len(), 12);
}

fn bulk_toml(url: &str, extra: &str) -> String {
    format!(
        "[[sinks]]\nname = \"es\"\ntype = \"elasticsearch\"\nurl = \"{url}\"\nindex = \"logs-loginwatch.detections-test\"\nbatch = {{ max_events = 25, linger_ms = 20 }}\n{FAST_RETRY}{extra}"
    )
}

#[tokio::test]
async fn bulk_per_item_statuses_retry_429_and_dead_letter_mapping_errors() {
    let (server, state) = bulk_server().await;
    let mut detections = samples::many(30);
    detections[7] = poisoned(detections[7].clone());
    for d in &detections[10..13] {
        state
            .throttle_once
            .lock()
            .unwrap()
            .insert(d.id().to_string());
    }
    let config = sink_config(&bulk_toml(&server.url(), ""));
    let run = run_worker(&config, &detections, Duration::from_secs(20)).await;

    assert_eq!(run.acks.len(), 30);
    assert_eq!(run.dead_letters.len(), 1);
    assert!(
        run.dead_letters[0]
            .error
            .contains("mapper_parsing_exception"),
        "{}",
        run.dead_letters[0].error
    );
    assert!(run.dead_letters[0].raw.contains(detections[7].id()));
    assert!(
        state.throttle_once.lock().unwrap().is_empty(),
        "the 429 items were retried"
    );
    let docs = state.docs.lock().unwrap();
    assert_eq!(docs.len(), 29);
    for d in detections
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 7)
        .map(|(_, d)| d)
    {
        let doc = &docs[d.id()];
        assert_eq!(doc["event"]["id"], d.id(), "_id is the detection id");
        assert_eq!(doc["rule"]["category"], d.rule.category.as_str());
    }
    assert!(
        state.writes.lock().unwrap().values().all(|n| *n == 1),
        "no document written twice"
    );
}

#[tokio::test]
async fn bulk_5xx_then_recovery_and_redelivery_is_not_duplicated() {
    let (server, state) = bulk_server().await;
    state.faults.unavailable.store(3, Ordering::SeqCst);
    let config = sink_config(&bulk_toml(&server.url(), ""));
    let detections = samples::many(10);
    let run = run_worker(&config, &detections, Duration::from_secs(20)).await;
    assert_eq!(run.acks.len(), 10);
    assert!(run.dead_letters.is_empty());
    // A redelivery (e.g. after a crash before the offset commit): `create` answers 409, which
    // counts as delivered, and the index still holds one document per id.
    let again = run_worker(&config, &detections, Duration::from_secs(20)).await;
    assert_eq!(again.acks.len(), 10);
    assert!(again.dead_letters.is_empty());
    assert_eq!(state.docs.lock().unwrap().len(), 10);
    assert!(state.writes.lock().unwrap().values().all(|n| *n == 1));
}

#[tokio::test]
async fn bulk_item_failing_every_attempt_is_dead_lettered_after_max_attempts() {
    let (server, state) = bulk_server().await;
    let detections = samples::many(4);
    state
        .always_fail
        .lock()
        .unwrap()
        .insert(detections[1].id().to_string());
    let config = sink_config(&bulk_toml(&server.url(), ""));
    let run = run_worker(&config, &detections, Duration::from_secs(20)).await;
    assert_eq!(run.acks.len(), 4);
    assert_eq!(run.dead_letters.len(), 1);
    assert!(
        run.dead_letters[0]
            .error
            .contains("gave up after 3 attempts"),
        "{}",
        run.dead_letters[0].error
    );
    assert_eq!(state.docs.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn bulk_whole_request_429_is_retried() {
    let (server, state) = bulk_server().await;
    state.faults.throttled.store(2, Ordering::SeqCst);
    let config = sink_config(&bulk_toml(
        &server.url(),
        "action = \"index\"\nformat = \"ocsf\"\n",
    ));
    let detections = samples::many(5);
    let run = run_worker(&config, &detections, Duration::from_secs(10)).await;
    assert_eq!(run.acks.len(), 5);
    let docs = state.docs.lock().unwrap();
    assert!(docs
        .values()
        .all(|d| d["class_uid"] == 2004 && d["finding_info"]["uid"].is_string()));
    assert_eq!(docs.len(), 5);
}

fn syslog_toml(addr: &str, protocol: &str, framing: &str) -> String {
    format!(
        "[[sinks]]\nname = \"siem-syslog\"\ntype = \"syslog\"\naddress = \"{addr}\"\nprotocol = \"{protocol}\"\nframing = \"{framing}\"\nhost = \"fw-test\"\nbatch = {{ max_events = 5, linger_ms = 10 }}\n{FAST_RETRY}"
    )
}

/// What a SIEM would read back from the CEF must be the detection.
fn assert_cef_matches(parsed: &[SyslogCef], detections: &[Detection]) {
    assert_eq!(parsed.len(), detections.len());
    for d in detections {
        let m = parsed
            .iter()
            .find(|m| m.extension.get("externalId").map(String::as_str) == Some(d.id()))
            .unwrap_or_else(|| panic!("{} not received", d.id()));
        assert_eq!(m.header[0], "loginwatch");
        assert_eq!(m.header[3], d.rule.id);
        assert_eq!(m.header[4], d.rule.name);
        assert_eq!(m.extension["msg"], d.message, "CEF escaping round-trips");
        assert_eq!(m.extension["cat"], d.rule.category.as_str());
        assert_eq!(m.extension["cnt"], d.loginwatch.count.to_string());
        assert_eq!(
            m.extension["rt"],
            d.timestamp.timestamp_millis().to_string()
        );
        assert_eq!(
            m.extension.get("suser"),
            d.user.as_ref().and_then(|u| u.name.as_ref())
        );
        assert_eq!(
            m.extension.get("cs3"),
            d.salesforce.login.application.as_ref()
        );
        assert_eq!(m.hostname, "fw-test");
        assert_eq!(m.msgid, d.rule.category.as_str());
        assert_eq!(
            m.pri,
            10 * 8 + loginwatch_forwarder::render::syslog_severity(d.loginwatch.severity) as u16
        );
    }
}

#[tokio::test]
async fn syslog_tcp_octet_counting_carries_parseable_cef() {
    let server = TcpSyslogServer::start(true).await;
    let config = sink_config(&syslog_toml(
        &server.addr.to_string(),
        "tcp",
        "octet_counting",
    ));
    let detections: Vec<Detection> = Category::ALL
        .iter()
        .map(|c| samples::detection(*c))
        .collect();
    let run = run_worker(&config, &detections, Duration::from_secs(10)).await;
    assert_eq!(run.acks.len(), 10);
    // Delivered means written and flushed; give the receiver a moment to read.
    wait_for(|| server.messages.lock().unwrap().len() == 10).await;
    assert_cef_matches(&server.parsed(), &detections);
}

#[tokio::test]
async fn syslog_tcp_newline_framing_reconnects_after_the_receiver_restarts() {
    let server = TcpSyslogServer::start(false).await;
    let config = sink_config(&syslog_toml(&server.addr.to_string(), "tcp", "newline"));
    let first = samples::many(5);
    // One worker across the restart, so the sink holds a connection the receiver then drops.
    let (tx, rx) = tokio::sync::mpsc::channel(100);
    let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel();
    let (dl_tx, _dl_rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = loginwatch_forwarder::worker::SinkWorker {
        index: 0,
        name: config.name.clone(),
        sink: loginwatch_forwarder::sink::Sink::from_config(0, &config).unwrap(),
        batch: config.batch.clone(),
        retry: config.retry.clone(),
        breaker: loginwatch_forwarder::worker::CircuitBreaker::new(
            &config.circuit_breaker,
            &config.name,
        ),
        dead_letters: loginwatch_forwarder::worker::DeadLetters::Channel(dl_tx),
        acks: ack_tx,
    };
    let task = tokio::spawn(worker.run(rx));
    let send = |ds: Vec<Detection>| {
        let tx = tx.clone();
        async move {
            for d in ds {
                let raw = std::sync::Arc::from(serde_json::to_string(&d).unwrap());
                tx.send(loginwatch_forwarder::worker::Envelope {
                    detection: std::sync::Arc::new(d),
                    raw,
                    origin: None,
                })
                .await
                .unwrap();
            }
        }
    };
    send(first.clone()).await;
    for _ in 0..5 {
        tokio::time::timeout(Duration::from_secs(10), ack_rx.recv())
            .await
            .unwrap()
            .unwrap();
    }
    wait_for(|| server.messages.lock().unwrap().len() == 5).await;
    server.stop().await;
    // Let the sink's runtime see the close (FIN) before it writes again. TCP syslog has no
    // application acks: bytes written before the close is noticed are lost with the receiver.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = samples::many(12)[5..].to_vec();
    let sender = tokio::spawn(send(second.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart().await;
    for _ in 0..second.len() {
        tokio::time::timeout(Duration::from_secs(15), ack_rx.recv())
            .await
            .unwrap()
            .unwrap();
    }
    sender.await.unwrap();
    wait_for(|| server.messages.lock().unwrap().len() >= 12).await;
    task.abort();
    let all: Vec<Detection> = first.into_iter().chain(second).collect();
    assert_cef_matches(&server.parsed(), &all);
    assert!(
        server.connections.load(Ordering::SeqCst) >= 2,
        "reconnected"
    );
}

#[tokio::test]
async fn syslog_udp_one_message_per_datagram() {
    let server = UdpSyslogServer::start().await;
    let config = sink_config(&syslog_toml(
        &server.addr.to_string(),
        "udp",
        "octet_counting",
    ));
    let detections: Vec<Detection> = Category::ALL
        .iter()
        .map(|c| samples::detection(*c))
        .collect();
    let run = run_worker(&config, &detections, Duration::from_secs(10)).await;
    assert_eq!(run.acks.len(), 10);
    wait_for(|| server.messages.lock().unwrap().len() == 10).await;
    assert_cef_matches(&server.parsed(), &detections);
}

fn webhook_toml(url: &str) -> String {
    format!(
        "[[sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{url}/hooks/loginwatch\"\nhmac_secret = {{ value = \"{WEBHOOK_KEY}\" }}\nheaders = {{ \"X-Team\" = \"soc\" }}\nbatch = {{ max_events = 4, linger_ms = 10 }}\n{FAST_RETRY}"
    )
}

#[tokio::test]
async fn webhook_signed_5xx_429_recovery_and_poison() {
    let (server, state) = webhook_server().await;
    state.faults.unavailable.store(2, Ordering::SeqCst);
    state.faults.throttled.store(2, Ordering::SeqCst);
    let config = sink_config(&webhook_toml(&server.url()));
    let mut detections = samples::many(9);
    detections[4] = poisoned(detections[4].clone());
    let run = run_worker(&config, &detections, Duration::from_secs(20)).await;
    assert_eq!(run.acks.len(), 9);
    assert_eq!(
        state.bad_signatures.load(Ordering::SeqCst),
        0,
        "every request carried a valid HMAC"
    );
    assert_eq!(run.dead_letters.len(), 1);
    assert!(
        run.dead_letters[0].error.contains("422"),
        "{}",
        run.dead_letters[0].error
    );
    let received = state.received.lock().unwrap();
    assert_eq!(received.len(), 8);
    let got: HashSet<String> = received
        .iter()
        .map(|v| v["event"]["id"].as_str().unwrap().to_string())
        .collect();
    let mut expected = ids(&detections);
    expected.remove(detections[4].id());
    assert_eq!(got, expected);
}

#[tokio::test]
async fn webhook_url_and_headers_from_secret_forms_never_show_in_debug() {
    let (server, state) = webhook_server().await;
    let var = "LW_TEST_WEBHOOK_URL_5C1E";
    std::env::set_var(var, format!("{}/hooks/loginwatch", server.url()));
    let config = sink_config(&format!(
        "[[sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = {{ env = \"{var}\" }}\nhmac_secret = {{ value = \"{WEBHOOK_KEY}\" }}\nheaders = {{ Authorization = {{ value = \"Bearer hdr-secret-7\" }} }}\nbatch = {{ max_events = 4, linger_ms = 10 }}\n{FAST_RETRY}"
    ));
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("hdr-secret-7")
            && !debug.contains("/hooks/loginwatch")
            && !debug.contains(WEBHOOK_KEY),
        "{debug}"
    );
    let detections = samples::many(3);
    let run = run_worker(&config, &detections, Duration::from_secs(10)).await;
    assert_eq!(run.acks.len(), 3);
    assert!(run.dead_letters.is_empty());
    assert_eq!(state.bad_signatures.load(Ordering::SeqCst), 0);
    assert_eq!(state.received.lock().unwrap().len(), 3);
    assert_eq!(
        *state.authorizations.lock().unwrap(),
        vec!["Bearer hdr-secret-7".to_string(); 3]
    );
}

/// The verification the README shows, done by the test receiver: replays and tampering fail.
#[test]
fn webhook_receiver_refuses_replayed_or_tampered_requests() {
    use loginwatch_forwarder::sink::webhook::signature;
    let now = chrono::Utc::now().timestamp();
    let body = br#"{"event":{"id":"x"}}"#;
    let header = signature(WEBHOOK_KEY.as_bytes(), now, body);
    assert!(header.starts_with(&format!("t={now},v1=")), "{header}");
    assert!(verify_webhook_signature(&header, body, now));
    assert!(verify_webhook_signature(&header, body, now + 299));
    // The same request replayed more than 5 minutes later.
    assert!(!verify_webhook_signature(&header, body, now + 301));
    // Another body under the same header.
    assert!(!verify_webhook_signature(
        &header,
        br#"{"event":{"id":"y"}}"#,
        now
    ));
    // A fresh timestamp pasted in without the key.
    let forged = header.replacen(&format!("t={now}"), &format!("t={}", now + 600), 1);
    assert!(!verify_webhook_signature(&forged, body, now + 600));
    // Another key.
    let other = signature(b"another key", now, body);
    assert!(!verify_webhook_signature(&other, body, now));
}

async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(cond(), "condition not reached within 5 s");
}

fn tls_toml(addr: &str, tls: &str) -> String {
    format!(
        "[[sinks]]\nname = \"siem-tls\"\ntype = \"syslog\"\naddress = \"{addr}\"\nprotocol = \"tls\"\nhost = \"fw-test\"\nbatch = {{ max_events = 5, linger_ms = 10 }}\n{FAST_RETRY}tls = {{ {tls} }}\n"
    )
}

#[tokio::test]
async fn syslog_tls_verifies_the_server_against_the_ca_file() {
    let server = TlsSyslogServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();
    let config = sink_config(&tls_toml(
        &server.addr.to_string(),
        &format!(
            "ca_file = \"{}\", server_name = \"localhost\"",
            ca.display()
        ),
    ));
    let detections: Vec<Detection> = Category::ALL
        .iter()
        .map(|c| samples::detection(*c))
        .collect();
    let run = run_worker(&config, &detections, Duration::from_secs(10)).await;
    assert_eq!(run.acks.len(), 10);
    wait_for(|| server.messages.lock().unwrap().len() == 10).await;
    let parsed: Vec<SyslogCef> = server
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|m| parse_syslog_cef(m))
        .collect();
    assert_cef_matches(&parsed, &detections);
}

#[tokio::test]
async fn syslog_tls_refuses_an_untrusted_server_and_keeps_the_detections() {
    let server = TlsSyslogServer::start().await;
    // No ca_file: the Mozilla roots do not trust a self-signed certificate.
    let config = sink_config(&tls_toml(
        &server.addr.to_string(),
        "server_name = \"localhost\"",
    ));
    let run = run_worker(&config, &samples::many(3), Duration::from_secs(2)).await;
    assert!(
        run.acks.is_empty(),
        "nothing confirmed to an unverified server"
    );
    assert!(
        run.dead_letters.is_empty(),
        "a TLS failure is not the detection's fault"
    );
    assert!(server.messages.lock().unwrap().is_empty());
    assert!(server.handshake_failures.load(Ordering::SeqCst) >= 1);

    // insecure_skip_verify connects anyway (and logs a loud warning).
    let config = sink_config(&tls_toml(
        &server.addr.to_string(),
        "insecure_skip_verify = true",
    ));
    let run = run_worker(&config, &samples::many(3), Duration::from_secs(10)).await;
    assert_eq!(run.acks.len(), 3);
}
