//! The generator: deterministic per seed, every docs/contracts.md category labelled after the learning
//! period, ids shared across shapes, and every shape parses with the shared parsers.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use loginwatch_sfsim::export::{export, ExportFormat, ExportOptions};
use loginwatch_sfsim::render::{self, SetupZone};
use loginwatch_sfsim::{GenConfig, Generator, SimLogin, SubTypeSpelling};
use loginwatch_shared::parse::{self, ParseContext};
use loginwatch_shared::{AuthMethod, Outcome};

const ORG: &str = "00D5j00000DgAYGEA3";

const CATEGORIES: [&str; 10] = [
    "oauth_username_password",
    "soap_password_login",
    "brute_force",
    "password_spray",
    "impossible_travel",
    "new_country",
    "new_source_ip",
    "new_application",
    "unusual_hour",
    "login_rate_spike",
];

fn start() -> DateTime<Utc> {
    "2026-01-05T00:00:00Z".parse().unwrap()
}

fn small() -> GenConfig {
    let mut c = GenConfig::new(ORG, "acme", start());
    c.interactive_users = 24;
    c.learning_days = 7;
    c.incident_spacing_mins = 120;
    c.rate_spike_logins = 400;
    c
}

fn history(seed: u64, cfg: &GenConfig, days: i64) -> (Vec<SimLogin>, Vec<loginwatch_sfsim::Label>) {
    let mut g = Generator::new(seed, cfg).unwrap();
    let until = cfg.start + Duration::days(days);
    let mut out = Vec::new();
    while let Some(l) = g.next_before(until) {
        out.push(l);
    }
    (out, g.labels())
}

fn fingerprint(l: &SimLogin) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{:?}",
        l.login_history_id,
        l.event_identifier,
        l.time,
        l.user.username,
        l.source_ip,
        l.status,
        l.application,
        l.login_type.label(),
        l.sub_type
    )
}

#[test]
fn same_seed_same_history_different_seed_different_history() {
    let cfg = small();
    let (a, la) = history(7, &cfg, 9);
    let (b, lb) = history(7, &cfg, 9);
    let (c, _) = history(8, &cfg, 9);
    assert!(
        a.len() > 3000,
        "a 9-day history has thousands of logins, got {}",
        a.len()
    );
    assert_eq!(
        a.iter().map(fingerprint).collect::<Vec<_>>(),
        b.iter().map(fingerprint).collect::<Vec<_>>()
    );
    assert_eq!(la, lb);
    assert_ne!(
        a.iter().map(fingerprint).collect::<Vec<_>>(),
        c.iter().map(fingerprint).collect::<Vec<_>>()
    );
}

#[test]
fn logins_are_in_time_order_with_unique_valid_ids() {
    let (logins, _) = history(1, &small(), 9);
    assert!(
        logins.windows(2).all(|w| w[0].time <= w[1].time),
        "time order"
    );
    let ids: HashSet<_> = logins.iter().map(|l| l.login_history_id.clone()).collect();
    assert_eq!(ids.len(), logins.len(), "LoginHistory ids are unique");
    let evs: HashSet<_> = logins.iter().map(|l| l.event_identifier.clone()).collect();
    assert_eq!(evs.len(), logins.len(), "EventIdentifiers are unique");
    for l in &logins {
        assert!(
            loginwatch_sfsim::ids::is_valid_18(&l.login_history_id)
                && l.login_history_id.starts_with("0Ya")
        );
        assert!(
            loginwatch_sfsim::ids::is_valid_18(&l.user.user_id)
                && l.user.user_id.starts_with("005")
        );
    }
}

#[test]
fn every_category_is_labelled_after_the_learning_period() {
    let cfg = small();
    let (logins, labels) = history(3, &cfg, 9);
    let by_id: HashMap<&str, &SimLogin> = logins
        .iter()
        .map(|l| (l.login_history_id.as_str(), l))
        .collect();
    let learning_end = cfg.start + Duration::days(cfg.learning_days as i64);
    for cat in CATEGORIES {
        let primary: Vec<_> = labels
            .iter()
            .filter(|l| l.category == cat && l.primary)
            .collect();
        assert!(!primary.is_empty(), "no primary label for {cat}");
    }
    for label in &labels {
        assert_eq!(label.login_history_ids.len(), label.event_identifiers.len());
        assert!(!label.login_history_ids.is_empty());
        for id in &label.login_history_ids {
            assert!(
                by_id.contains_key(id.as_str()),
                "label {} names unknown id {id}",
                label.id
            );
        }
        if label.incident.starts_with("inc") {
            assert!(
                label.start >= learning_end,
                "{} starts in the learning period",
                label.id
            );
        }
    }
    // Ground truth matches the definitions in docs/contracts.md.
    let get = |cat: &str| {
        labels
            .iter()
            .find(|l| l.category == cat && l.primary)
            .unwrap()
    };
    let spray = get("password_spray");
    let users: HashSet<_> = spray
        .login_history_ids
        .iter()
        .map(|id| by_id[id.as_str()].user.user_id.clone())
        .collect();
    assert!(users.len() >= 15, "spray covers {} users", users.len());
    assert!(spray.end - spray.start <= Duration::minutes(5));
    assert!(spray
        .login_history_ids
        .iter()
        .all(|id| by_id[id.as_str()].status == "Invalid Password"));

    let brute = get("brute_force");
    let rows: Vec<_> = brute
        .login_history_ids
        .iter()
        .map(|id| by_id[id.as_str()])
        .collect();
    assert!(
        rows.iter()
            .filter(|l| l.status == "Invalid Password")
            .count()
            >= 10
    );
    assert_eq!(rows.last().unwrap().status, "Success");
    assert!(brute.end - brute.start <= Duration::minutes(15));

    let flood = labels
        .iter()
        .find(|l| l.category == "brute_force" && l.description.contains("rotation"))
        .unwrap();
    assert!(flood
        .login_history_ids
        .iter()
        .any(|id| by_id[id.as_str()].status == "Failed: API security token required"));

    let travel = get("impossible_travel");
    let pair: Vec<_> = travel
        .login_history_ids
        .iter()
        .map(|id| by_id[id.as_str()])
        .collect();
    assert_eq!(pair.len(), 2);
    let km = pair[0].place.distance_km(&pair[1].place);
    let hours = (pair[1].time - pair[0].time).num_seconds() as f64 / 3600.0;
    assert!(km > 500.0 && km / hours > 1000.0, "{km} km in {hours} h");

    let spike = get("login_rate_spike");
    let last = by_id[spike.login_history_ids.last().unwrap().as_str()];
    assert_eq!(last.status, "Login Rate Exceeded");

    let stolen = get("oauth_username_password");
    let l = by_id[stolen.login_history_ids[0].as_str()];
    assert_eq!(l.status, "Success");
    assert_eq!(
        l.sub_type.map(|s| s.label()),
        Some("OAuth Username-Password")
    );
    // The victim never logged in from that country before.
    assert!(!logins.iter().any(|o| o.user.user_id == l.user.user_id
        && o.time < l.time
        && o.place.country_iso == l.place.country_iso));

    let soap = get("soap_password_login");
    let s = by_id[soap.login_history_ids[0].as_str()];
    assert_eq!(
        (s.login_type.label(), &*s.application, s.api_type),
        ("Other Apex API", "N/A", Some("SOAP Partner"))
    );

    let app = get("new_application");
    let a = by_id[app.login_history_ids[0].as_str()];
    assert!(!logins
        .iter()
        .any(|o| o.time < a.time && o.application == a.application));
}

#[test]
fn baseline_has_the_integration_mix() {
    let (logins, _) = history(5, &small(), 3);
    let statuses: HashSet<&str> = logins.iter().map(|l| l.status).collect();
    assert!(statuses.contains("Username-Password Flow Disabled"));
    assert!(statuses.contains("Invalid Password"));
    let subs: HashSet<Option<&str>> = logins
        .iter()
        .filter(|l| l.login_type.label() == "Remote Access 2.0")
        .map(|l| l.sub_type.map(|s| s.label()))
        .collect();
    for s in [
        None,
        Some("OAuth Client Credentials"),
        Some("OAuth Refresh Token"),
        Some("OAuth Username-Password"),
    ] {
        assert!(subs.contains(&s), "missing sub type {s:?}");
    }
    // Integrations log in around the clock.
    let hours: HashSet<u32> = logins
        .iter()
        .filter(|l| l.is_integration())
        .map(|l| chrono::Timelike::hour(&l.time))
        .collect();
    assert_eq!(hours.len(), 24);
}

fn ctx() -> ParseContext {
    ParseContext::new(ORG)
}

/// sfsim writes Setup CSV dates month-first (`render::setup_time`); a short history (5,000 rows
/// from 5 January) has no day above 12 to infer that from, so the order is given.
fn setup_ctx() -> ParseContext {
    ctx().with_date_order(parse::setup_csv::DateOrder::Mdy)
}

fn with_labels_and_events(days: i64) -> Vec<SimLogin> {
    history(11, &small(), days).0
}

#[test]
fn every_shape_parses_with_the_shared_parsers() {
    let logins = with_labels_and_events(9);
    for spelling in [SubTypeSpelling::Label, SubTypeSpelling::ApiName] {
        // LoginHistory pages.
        for chunk in logins.chunks(2000) {
            let records: Vec<_> = chunk
                .iter()
                .map(|l| {
                    serde_json::Value::Object(render::login_history_record(l, "62.0", spelling))
                })
                .collect();
            let body =
                serde_json::json!({"totalSize": records.len(), "done": true, "records": records});
            let page =
                parse::login_history::parse_page(body.to_string().as_bytes(), &ctx()).unwrap();
            assert!(
                page.errors.is_empty(),
                "LoginHistory errors: {:?}",
                page.errors.first()
            );
            assert_eq!(page.events.len(), chunk.len());
            for (e, l) in page.events.iter().zip(chunk) {
                assert_eq!(e.event_id, l.login_history_id);
                assert_eq!(e.event_time, l.time);
                assert_eq!(e.outcome == Outcome::Success, l.is_success());
                check_auth_method(e.auth_method, l);
            }
        }
        // LoginEvent pages and stream messages.
        let on_stream: Vec<&SimLogin> = logins
            .iter()
            .filter(|l| render::on_stream(l, false))
            .collect();
        for chunk in on_stream.chunks(2000) {
            let records: Vec<_> = chunk
                .iter()
                .map(|l| serde_json::Value::Object(render::login_event_record(l, "62.0", spelling)))
                .collect();
            let body =
                serde_json::json!({"totalSize": records.len(), "done": true, "records": records});
            let page = parse::login_event::parse_page(body.to_string().as_bytes(), &ctx()).unwrap();
            assert!(
                page.errors.is_empty(),
                "LoginEvent errors: {:?}",
                page.errors.first()
            );
            assert_eq!(page.events.len(), chunk.len());
        }
        for (k, l) in on_stream.iter().enumerate() {
            let msg = render::stream_message(l, 1000 + k as i64, spelling);
            let ev = parse::stream::parse_message(&msg, &ctx())
                .unwrap_or_else(|e| panic!("stream message {k}: {e:?}"));
            assert_eq!(ev.replay_id, 1000 + k as i64);
            // The stream event and the LoginHistory row of one login share the login identity.
            assert_eq!(
                ev.event.login_history_id.as_deref(),
                Some(l.login_history_id.as_str())
            );
            check_auth_method(ev.event.auth_method, l);
        }
    }
    // EventLogFile CSV.
    let mut w = render::elf_writer(Vec::new());
    w.write_record(render::ELF_HEADER).unwrap();
    for l in &logins {
        w.write_record(render::elf_row(l)).unwrap();
    }
    let csv = w.into_inner().unwrap();
    let events: Vec<_> = parse::elf::reader(&csv[..], &ctx()).unwrap().collect();
    assert_eq!(events.len(), logins.len());
    for (r, l) in events.iter().zip(&logins) {
        let e = r.as_ref().unwrap_or_else(|e| panic!("ELF row: {e:?}"));
        assert_eq!(e.event_time, l.time);
        assert_eq!(e.org_id, ORG);
        assert_eq!(e.user_id.as_deref(), Some(l.user.user_id.as_str()));
        check_auth_method(e.auth_method, l);
    }
    // Setup CSV in two zones: same UTC times.
    for zone in [
        SetupZone::UTC,
        SetupZone::named("America/New_York").unwrap(),
    ] {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(render::setup_header(zone)).unwrap();
        for l in &logins {
            w.write_record(render::setup_row(l, zone)).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let events: Vec<_> = parse::setup_csv::reader(&bytes[..], &setup_ctx())
            .unwrap()
            .collect();
        assert_eq!(events.len(), logins.len());
        for (r, l) in events.iter().zip(&logins) {
            let e = r
                .as_ref()
                .unwrap_or_else(|e| panic!("Setup CSV row ({}): {e:?}", zone.display));
            assert_eq!(e.event_time, l.time, "zone {}", zone.display);
        }
    }
}

/// What the parser must conclude about each kind of simulated login.
fn check_auth_method(m: AuthMethod, l: &SimLogin) {
    match (l.login_type.label(), l.sub_type.map(|s| s.label())) {
        (_, Some("OAuth Username-Password")) => assert_eq!(
            m,
            AuthMethod::OauthUsernamePassword,
            "{}",
            l.login_history_id
        ),
        ("Other Apex API", _) => assert_eq!(m, AuthMethod::SoapPassword, "{}", l.login_history_id),
        (_, Some("OAuth Client Credentials")) => assert_eq!(m, AuthMethod::OauthClientCredentials),
        _ => assert!(
            !m.is_password_based() || l.login_type.label() == "Application",
            "{m:?} for {}",
            l.login_history_id
        ),
    }
}

#[test]
fn export_streams_every_format_and_counts_rows() {
    let cfg = small();
    for format in [
        ExportFormat::LoginHistoryJson,
        ExportFormat::LoginEventJson,
        ExportFormat::StreamJson,
        ExportFormat::ElfCsv,
        ExportFormat::SetupCsv,
    ] {
        let mut g = Generator::new(9, &cfg).unwrap();
        let opts = ExportOptions {
            format,
            rows: Some(5000),
            until: None,
            api_version: "62.0".into(),
            spelling: SubTypeSpelling::Label,
            setup_zone: SetupZone::UTC,
        };
        let mut out = Vec::new();
        let (n, _) = export(&mut g, &opts, &mut out).unwrap();
        assert_eq!(n, 5000);
        let parsed = match format {
            ExportFormat::LoginHistoryJson => out
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|p| {
                    let page = parse::login_history::parse_page(p, &ctx()).unwrap();
                    assert!(page.errors.is_empty());
                    page.events.len()
                })
                .sum(),
            ExportFormat::LoginEventJson => out
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|p| {
                    let page = parse::login_event::parse_page(p, &ctx()).unwrap();
                    assert!(page.errors.is_empty());
                    page.events.len()
                })
                .sum(),
            ExportFormat::StreamJson => out
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|m| {
                    parse::stream::parse_message(&serde_json::from_slice(m).unwrap(), &ctx())
                        .unwrap();
                    1
                })
                .sum(),
            ExportFormat::ElfCsv => {
                parse::elf::reader(&out[..], &ctx())
                    .unwrap()
                    .fold(0, |n, r| {
                        r.unwrap();
                        n + 1
                    })
            }
            ExportFormat::SetupCsv => parse::setup_csv::reader(&out[..], &setup_ctx())
                .unwrap()
                .fold(0, |n, r| {
                    r.unwrap();
                    n + 1
                }),
        };
        // The stream shapes leave out rate-limited logins; there are none in the first 5,000 (learning period).
        assert_eq!(parsed, 5000, "{format:?}");
    }
}

#[test]
fn bad_generator_config_names_the_key() {
    let mut c = small();
    c.org_id = "00D123".into();
    assert!(Generator::new(1, &c).err().unwrap().contains("org_id"));
    let mut c = small();
    c.interactive_users = 3;
    assert!(Generator::new(1, &c)
        .err()
        .unwrap()
        .contains("interactive_users"));
}
