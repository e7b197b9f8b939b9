//! Every Salesforce source shape of `reference/salesforce.md` through the public parser API.

use chrono::{DateTime, TimeZone, Utc};
use loginwatch_shared::event::{AuthMethod, LoginEvent, Outcome, Source};
use loginwatch_shared::parse::{
    elf, login_event, login_history, setup_csv, stream, ParseContext, ParseError, RecordError,
};
use serde_json::json;

const ORG: &str = "00D5j00000DgAYGEA3";

fn ctx() -> ParseContext {
    ParseContext::new(ORG).with_ingested_at(Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap())
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn page(records: serde_json::Value) -> Vec<u8> {
    let n = records.as_array().map_or(0, Vec::len);
    serde_json::to_vec(&json!({"totalSize": n, "done": true, "records": records})).unwrap()
}

fn assert_error_names(e: &ParseError, source: Source, field: &str, value: &str) {
    let text = e.to_string();
    assert_eq!(e.source, source, "{text}");
    assert_eq!(e.field, field, "{text}");
    assert_eq!(e.value, value, "{text}");
    assert!(text.contains(source.as_str()), "{text}");
    assert!(text.contains(field), "{text}");
    assert!(text.contains(value), "{text}");
}

mod login_history_pages {
    use super::*;

    #[test]
    fn reference_page_parses_into_canonical_events() {
        let page = login_history::parse_page(&testdata("login_history_page.json"), &ctx()).unwrap();
        assert_eq!(page.total_size, 5);
        assert!(!page.done);
        assert_eq!(
            page.next_records_url.as_deref(),
            Some("/services/data/v62.0/query/0r8xx0000000001AAA-2000")
        );
        assert!(page.errors.is_empty(), "{:?}", page.errors);
        assert_eq!(page.events.len(), 5);

        // The exact observed example of the reference (§1.4).
        let e = &page.events[0];
        assert_eq!(e.event_id, "0YaHn0000EUyGdHKQV");
        assert_eq!(e.login_history_id.as_deref(), Some("0YaHn0000EUyGdHKQV"));
        assert_eq!(e.org_id, ORG);
        assert_eq!(e.source, Source::LoginHistory);
        assert_eq!(e.event_time, utc("2023-07-23T16:18:23Z"));
        assert_eq!(e.ingested_at, ctx().ingested_at);
        assert_eq!(e.user_id.as_deref(), Some("005Hn00000H35JtIAJ"));
        assert_eq!(e.username, None);
        assert_eq!(e.login_type.as_deref(), Some("Remote Access 2.0"));
        assert_eq!(e.login_sub_type, None);
        assert_eq!(
            e.auth_method,
            AuthMethod::OauthOther,
            "missing sub-type is never 'not password'"
        );
        assert_eq!(e.status.as_deref(), Some("Success"));
        assert_eq!(e.outcome, Outcome::Success);
        assert_eq!(e.failure_reason, None);
        assert_eq!(e.application.as_deref(), Some("New Connected App"));
        assert_eq!(e.source_ip.as_deref(), Some("198.51.100.1"));
        assert_eq!(e.country_iso.as_deref(), Some("US"));
        assert_eq!(
            (e.city.as_deref(), e.latitude, e.longitude),
            (None, None, None)
        );
        assert_eq!(
            (e.api_type.as_deref(), e.api_version.as_deref()),
            (None, None)
        );
        assert_eq!(e.browser.as_deref(), Some("Unknown"));
        assert_eq!(e.platform.as_deref(), Some("Unknown"));
        assert_eq!(e.login_url.as_deref(), Some("login.salesforce.com"));
        assert_eq!(e.tls_protocol.as_deref(), Some("TLS 1.2"));
        assert_eq!(
            e.cipher_suite.as_deref(),
            Some("ECDHE-RSA-AES256-GCM-SHA384")
        );
        assert_eq!(
            (
                e.login_key.as_deref(),
                e.user_type.as_deref(),
                e.session_level.as_deref()
            ),
            (None, None, None)
        );

        // OAuth Username-Password with the LoginGeo relationship.
        let e = &page.events[1];
        assert_eq!(e.event_time, utc("2026-11-02T14:03:11Z"));
        assert_eq!(e.login_sub_type.as_deref(), Some("OAuth Username-Password"));
        assert_eq!(e.auth_method, AuthMethod::OauthUsernamePassword);
        assert_eq!(e.city.as_deref(), Some("Frankfurt am Main"));
        assert_eq!(e.latitude, Some(50.1109));
        assert_eq!(e.longitude, Some(8.6821));
        assert_eq!(e.tls_protocol.as_deref(), Some("TLS 1.3"));
        assert_eq!(e.api_type.as_deref(), Some("N/A"), "N/A is a value, kept");

        // SOAP login(): Other Apex API, application N/A, 15-character ids, Salesforce.com IP in lower case.
        let e = &page.events[2];
        assert_eq!(e.event_id, "0Ya5j00003k2scRCAQ");
        assert_eq!(e.user_id.as_deref(), Some("0058W00000BAlWSQA1"));
        assert_eq!(e.event_time, utc("2026-11-02T14:04:00.250Z"));
        assert_eq!(e.auth_method, AuthMethod::SoapPassword);
        assert_eq!(e.source_ip.as_deref(), Some("Salesforce.com IP"));
        assert_eq!(e.outcome, Outcome::Failure);
        assert_eq!(e.failure_reason.as_deref(), Some("invalid_password"));
        assert_eq!(e.status.as_deref(), Some("Invalid Password"));
        assert_eq!(e.tls_protocol.as_deref(), Some("TLS 1.2"));

        // Blocked password flow; API-name spelling of the sub-type; empty strings are None; IPv6 canonical.
        let e = &page.events[3];
        assert_eq!(e.login_sub_type.as_deref(), Some("OAuth Username-Password"));
        assert_eq!(e.auth_method, AuthMethod::OauthUsernamePassword);
        assert_eq!(
            e.failure_reason.as_deref(),
            Some("username_password_flow_disabled")
        );
        assert_eq!(e.source_ip.as_deref(), Some("2001:db8::17"));
        assert_eq!(
            (
                e.browser.as_deref(),
                e.platform.as_deref(),
                e.country_iso.as_deref()
            ),
            (None, None, None)
        );

        let e = &page.events[4];
        assert_eq!(e.auth_method, AuthMethod::UiPassword);
    }

    #[test]
    fn every_login_type_and_sub_type_spelling_gives_one_label() {
        let spellings = [
            (
                ("Remote Access 2.0", "OAuth Username-Password"),
                ("Remote Access 2.0", "OAuth Username-Password"),
            ),
            (
                ("Oauth2", "OauthUsernamePassword"),
                ("Remote Access 2.0", "OAuth Username-Password"),
            ),
            (
                ("i", "oauthpassword"),
                ("Remote Access 2.0", "OAuth Username-Password"),
            ),
            (
                ("Other Apex API", "SOAP API"),
                ("Other Apex API", "SOAP API"),
            ),
            (("OtherApi", "SoapApiLogin"), ("Other Apex API", "SOAP API")),
            (("I", "SoapApiLogin"), ("Other Apex API", "SOAP API")),
            (
                ("Partner Product", "OAuth Client Credentials"),
                ("Partner Product", "OAuth Client Credentials"),
            ),
            (
                ("Partner", "OauthClientCredentials"),
                ("Partner Product", "OAuth Client Credentials"),
            ),
            (
                ("R", "oauthclientcredential"),
                ("Partner Product", "OAuth Client Credentials"),
            ),
            (
                ("Application", "UI Username-Password"),
                ("Application", "UI Username-Password"),
            ),
            (("A", "uiup"), ("Application", "UI Username-Password")),
            (
                ("Application", "UsernamePasswordUiLogin"),
                ("Application", "UI Username-Password"),
            ),
        ];
        for (i, ((lt, lst), (want_lt, want_lst))) in spellings.into_iter().enumerate() {
            let record = json!({
                "Id": "0Ya5j00003k2scQCAQ", "LoginTime": "2026-11-02T14:03:11.000+0000",
                "LoginType": lt, "LoginSubType": lst, "Status": "Success"
            });
            let e = login_history::parse_record(&record, &ctx()).unwrap();
            assert_eq!(e.login_type.as_deref(), Some(want_lt), "case {i}: {lt}");
            assert_eq!(
                e.login_sub_type.as_deref(),
                Some(want_lst),
                "case {i}: {lst}"
            );
        }
    }

    #[test]
    fn unknown_future_picklist_values_are_kept_and_map_to_other() {
        let record = json!({
            "Id": "0Ya5j00003k2scQCAQ", "LoginTime": "2026-11-02T14:03:11.000+0000",
            "LoginType": "Remote Access 3.0", "LoginSubType": "OAuth Quantum Grant", "Status": "Success"
        });
        let e = login_history::parse_record(&record, &ctx()).unwrap();
        assert_eq!(e.login_type.as_deref(), Some("Remote Access 3.0"));
        assert_eq!(e.login_sub_type.as_deref(), Some("OAuth Quantum Grant"));
        assert_eq!(e.auth_method, AuthMethod::Other);

        let record = json!({"Id": "0Ya5j00003k2scQCAQ", "LoginTime": "2026-11-02T14:03:11.000+0000",
                            "LoginType": "Hologram Login", "LoginSubType": null});
        let e = login_history::parse_record(&record, &ctx()).unwrap();
        assert_eq!(e.login_type.as_deref(), Some("Hologram Login"));
        assert_eq!(e.auth_method, AuthMethod::Other);
        assert_eq!(
            e.outcome,
            Outcome::Failure,
            "no status: success is never assumed"
        );
        assert_eq!(e.failure_reason.as_deref(), Some("unknown"));
    }

    #[test]
    fn nulls_missing_fields_and_empty_strings_are_none() {
        let record = json!({
            "Id": "0Ya5j00003k2scQCAQ", "LoginTime": "2026-11-02T14:03:11.000+0000",
            "LoginType": "", "UserId": "", "SourceIp": null, "Status": "Success", "TlsProtocol": "",
            "LoginGeo": {"City": "", "Latitude": null, "Longitude": null}
        });
        let e = login_history::parse_record(&record, &ctx()).unwrap();
        assert_eq!(e.login_type, None);
        assert_eq!(e.user_id, None);
        assert_eq!(e.source_ip, None);
        assert_eq!(e.tls_protocol, None);
        assert_eq!(e.city, None);
        assert_eq!(e.latitude, None);
        assert_eq!(e.auth_method, AuthMethod::Unknown);
        // Nothing in the event is an empty string.
        let v = serde_json::to_value(&e).unwrap();
        for (k, v) in v.as_object().unwrap() {
            assert_ne!(v, &json!(""), "field {k} is an empty string");
        }
    }

    #[test]
    fn epoch_millisecond_timestamps_are_accepted() {
        for t in [json!(1_793_628_191_000_i64), json!("1793628191000")] {
            let record = json!({"Id": "0Ya5j00003k2scQCAQ", "LoginTime": t, "Status": "Success"});
            let e = login_history::parse_record(&record, &ctx()).unwrap();
            assert_eq!(e.event_time, utc("2026-11-02T14:03:11Z"));
        }
    }

    #[test]
    fn a_bad_record_among_good_ones_loses_nothing_else() {
        let body = page(json!([
            {"Id": "0Ya5j00003k2scQCAQ", "LoginTime": "2026-11-02T14:03:11.000+0000", "Status": "Success"},
            {"Id": "0Ya5j00003k2scRCAQ", "LoginTime": "yesterday at noon", "Status": "Success"},
            {"Id": "0Ya5j00003k2scSCAQ", "LoginTime": "2026-11-02T14:05:11.000+0000", "Status": "Success"},
            {"Id": "0Ya5j00003k2scTCAQ", "LoginTime": "2026-11-02T14:06:11.000+0000", "UserId": "005-not-an-id"},
            {"Id": "0Ya5j00003k2scUCAQ", "LoginTime": "2026-11-02T14:07:11.000+0000", "Status": {"nested": true}},
            "not even an object",
            {"LoginTime": "2026-11-02T14:08:11.000+0000"},
            {"Id": "0Ya5j00003k2scVCAQ", "LoginTime": "2026-11-02T14:09:11.000+0000", "Status": "Success"}
        ]));
        let page = login_history::parse_page(&body, &ctx()).unwrap();
        let ids: Vec<_> = page.events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "0Ya5j00003k2scQCAQ",
                "0Ya5j00003k2scSCAQ",
                "0Ya5j00003k2scVCAQ"
            ]
        );
        assert_eq!(page.errors.len(), 5);

        let e: &RecordError = &page.errors[0];
        assert_error_names(
            &e.error,
            Source::LoginHistory,
            "LoginTime",
            "yesterday at noon",
        );
        assert!(e.error.record.contains("0Ya5j00003k2scRCAQ"), "{}", e.error);
        assert!(
            e.raw.contains("yesterday at noon") && e.raw.starts_with('{'),
            "raw record kept: {}",
            e.raw
        );

        assert_error_names(
            &page.errors[1].error,
            Source::LoginHistory,
            "UserId",
            "005-not-an-id",
        );
        let wrong_type = &page.errors[2].error;
        assert_eq!(wrong_type.field, "Status");
        assert!(wrong_type.problem.contains("wrong type"), "{wrong_type}");
        assert!(
            page.errors[3].error.to_string().contains("record #6"),
            "{}",
            page.errors[3].error
        );
        assert_eq!(page.errors[3].raw, "\"not even an object\"");
        assert_eq!(page.errors[4].error.field, "Id");
        assert!(
            page.errors[4].error.problem.contains("missing"),
            "{}",
            page.errors[4].error
        );
    }

    #[test]
    fn bad_ids_are_errors_naming_the_value() {
        let record =
            json!({"Id": "0Ya5j00003k2scQAAA", "LoginTime": "2026-11-02T14:03:11.000+0000"});
        let err = login_history::parse_record(&record, &ctx()).unwrap_err();
        assert_error_names(&err.error, Source::LoginHistory, "Id", "0Ya5j00003k2scQAAA");
        assert!(
            err.error.problem.contains("CAQ"),
            "says the right suffix: {}",
            err.error
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&err.raw).unwrap(),
            record
        );
    }

    #[test]
    fn truncated_or_foreign_pages_are_page_errors() {
        let full = testdata("login_history_page.json");
        let truncated = &full[..full.len() / 2];
        let err = login_history::parse_page(truncated, &ctx()).unwrap_err();
        assert_eq!(err.source, Source::LoginHistory);
        assert!(err.to_string().contains("login_history"), "{err}");
        assert!(login_history::parse_page(b"", &ctx()).is_err());
        assert!(login_history::parse_page(b"<html>503</html>", &ctx()).is_err());
        let errors =
            br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert!(login_history::parse_page(errors, &ctx()).is_err());
        let wrong_type = br#"{"totalSize": "many", "done": true, "records": []}"#;
        let err = login_history::parse_page(wrong_type, &ctx()).unwrap_err();
        assert!(
            err.problem.contains("many") || err.problem.contains("string"),
            "{err}"
        );
    }

    #[test]
    fn wrong_shapes_inside_a_record_are_record_errors() {
        let body = page(json!([
            {"Id": "0Ya5j00003k2scQCAQ", "LoginTime": "2026-11-02T14:03:11.000+0000", "LoginGeo": "Berlin"},
            {"Id": "0Ya5j00003k2scRCAQ", "LoginTime": "2026-11-02T14:03:11.000+0000",
             "LoginGeo": {"City": "Berlin", "Latitude": "north", "Longitude": 13.4}},
            {"Id": "0Ya5j00003k2scSCAQ", "LoginTime": "2026-11-02T14:03:11.000+0000",
             "LoginGeo": {"City": "Berlin", "Latitude": "52.52", "Longitude": 13.405}}
        ]));
        let page = login_history::parse_page(&body, &ctx()).unwrap();
        assert_eq!(page.events.len(), 1);
        assert_eq!(
            page.events[0].latitude,
            Some(52.52),
            "numeric strings are numbers"
        );
        assert_eq!(page.events[0].longitude, Some(13.405));
        assert_eq!(page.errors.len(), 2);
        assert!(
            page.errors[0].error.to_string().contains("record #1"),
            "{}",
            page.errors[0].error
        );
        assert_error_names(
            &page.errors[1].error,
            Source::LoginHistory,
            "LoginGeo.Latitude",
            "north",
        );
    }

    #[test]
    fn last_page_has_no_next_url() {
        let page = login_history::parse_page(&page(json!([])), &ctx()).unwrap();
        assert!(page.done);
        assert_eq!(page.next_records_url, None);
        assert!(page.events.is_empty() && page.errors.is_empty());
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let body = br#"{"totalSize":1,"done":true,"records":[{"Id":"0Ya5j00003k2scQCAQ","LoginTime":"2026-11-02T14:03:11.000+0000","Application":"Caf\u00e9 \"ETL\"","Status":"Success"}]}"#;
        let page = login_history::parse_page(body, &ctx()).unwrap();
        assert_eq!(page.events[0].application.as_deref(), Some("Café \"ETL\""));
    }
}

mod stream_messages {
    use super::*;

    fn reference_message() -> serde_json::Value {
        serde_json::from_slice(&testdata("login_event_stream_message.json")).unwrap()
    }

    #[test]
    fn observed_cometd_message_parses() {
        let m = stream::parse_message(&reference_message(), &ctx()).unwrap();
        assert_eq!(m.replay_id, 7_711_181);
        let e = &m.event;
        assert_eq!(e.source, Source::LoginEventStream);
        assert_eq!(e.event_id, "8a1b3218-6405-451b-be62-e05e507fbac0");
        assert_eq!(e.event_time, utc("2023-12-05T12:00:57Z"));
        assert_eq!(e.login_type.as_deref(), Some("Application"));
        assert_eq!(e.login_sub_type, None);
        assert_eq!(e.auth_method, AuthMethod::Unknown);
        assert_eq!(e.outcome, Outcome::Success);
        assert_eq!(e.source_ip.as_deref(), Some("Salesforce.com IP"));
        assert_eq!(e.username.as_deref(), Some("jane.doe@acme.example"));
        assert_eq!(e.user_id.as_deref(), Some("0058W00000BAlWSQA1"));
        assert_eq!(e.login_history_id.as_deref(), Some("0Ya8W0000CMszZ3SQJ"));
        assert_eq!(e.login_key.as_deref(), Some("35wFTPL4jVZ0ne73"));
        assert_eq!(e.session_level.as_deref(), Some("STANDARD"));
        assert_eq!(e.user_type.as_deref(), Some("Standard"));
        assert_eq!(e.browser.as_deref(), Some("Chrome 119"));
        assert_eq!(e.platform.as_deref(), Some("Mac OSX"));
        assert_eq!(e.api_type.as_deref(), Some("N/A"));
        assert_eq!(e.tls_protocol.as_deref(), Some("TLS 1.2"));
        assert_eq!(
            (e.city.as_deref(), e.latitude, e.country_iso.as_deref()),
            (None, None, None)
        );
    }

    #[test]
    fn inline_geo_and_password_flow() {
        let mut m = reference_message();
        let p = &mut m["data"]["payload"];
        p["LoginType"] = json!("Remote Access 2.0");
        p["LoginSubType"] = json!("OAuth Username-Password");
        p["City"] = json!("Ashburn");
        p["CountryIso"] = json!("us");
        p["LoginLatitude"] = json!(39.0438);
        p["LoginLongitude"] = json!(-77.4874);
        p["EventDate"] = json!(1_701_777_657_000_i64);
        m["data"]["event"]["replayId"] = json!("7711182");
        let s = stream::parse_message(&m, &ctx()).unwrap();
        assert_eq!(s.replay_id, 7_711_182);
        assert_eq!(s.event.auth_method, AuthMethod::OauthUsernamePassword);
        assert_eq!(s.event.city.as_deref(), Some("Ashburn"));
        assert_eq!(s.event.country_iso.as_deref(), Some("US"));
        assert_eq!(s.event.latitude, Some(39.0438));
        assert_eq!(s.event.longitude, Some(-77.4874));
        assert_eq!(s.event.event_time, utc("2023-12-05T12:00:57Z"));
    }

    #[test]
    fn malformed_messages_name_the_field() {
        let mut m = reference_message();
        m["data"]["payload"]["EventDate"] = json!("2023-12-05 noonish");
        let err = stream::parse_message(&m, &ctx()).unwrap_err();
        assert_error_names(
            &err.error,
            Source::LoginEventStream,
            "data.payload.EventDate",
            "2023-12-05 noonish",
        );
        assert!(
            err.error
                .record
                .contains("8a1b3218-6405-451b-be62-e05e507fbac0"),
            "{}",
            err.error
        );
        assert!(err.raw.contains("noonish"));

        let mut m = reference_message();
        m["data"]["event"]
            .as_object_mut()
            .unwrap()
            .remove("replayId");
        let err = stream::parse_message(&m, &ctx()).unwrap_err();
        assert_eq!(err.error.field, "data.event.replayId");

        let mut m = reference_message();
        m["data"]["payload"]["LoginLatitude"] = json!(true);
        let err = stream::parse_message(&m, &ctx()).unwrap_err();
        assert_eq!(err.error.field, "data.payload.LoginLatitude");
        assert!(err.error.problem.contains("wrong type"), "{}", err.error);

        let mut m = reference_message();
        m["data"]["payload"]["EventIdentifier"] = json!(null);
        let err = stream::parse_message(&m, &ctx()).unwrap_err();
        assert_eq!(err.error.field, "data.payload.EventIdentifier");

        let err = stream::parse_message(
            &json!({"channel": "/meta/connect", "successful": true}),
            &ctx(),
        )
        .unwrap_err();
        assert_eq!(err.error.field, "data");
        assert!(stream::parse_message(&json!([1, 2]), &ctx()).is_err());
        assert!(stream::parse_message(&json!({"data": {"payload": "text"}}), &ctx()).is_err());
    }
}

mod login_event_rows {
    use super::*;

    #[test]
    fn soql_rows_use_event_identifier_and_ignore_the_dummy_id() {
        let body = page(json!([
            {
                "attributes": {"type": "LoginEvent", "url": "/services/data/v58.0/sobjects/LoginEvent/000000000000000AAA"},
                "Id": "000000000000000AAA",
                "EventIdentifier": "3ff2b1b5-0b2c-4c4d-9b8e-0a7d1f9a1c11",
                "EventDate": "2023-12-06T05:44:24.973+0000",
                "LoginType": "Remote Access 2.0",
                "LoginSubType": "oauthclientcredential",
                "Status": "Success",
                "Username": "svc@acme.example",
                "UserId": "0055j00000AT6I1AAL",
                "SourceIp": "192.0.2.10",
                "Application": "Integration App",
                "TlsProtocol": "TLS 1.3",
                "CipherSuite": "TLS_AES_256_GCM_SHA384",
                "LoginLatitude": 37.7749, "LoginLongitude": -122.4194, "City": "San Francisco", "CountryIso": "US"
            },
            {
                "attributes": {"type": "LoginEvent"},
                "Id": "000000000000000AAA",
                "EventIdentifier": "4aa2b1b5-0b2c-4c4d-9b8e-0a7d1f9a1c12",
                "EventDate": "2023-12-06T05:45:00.000+0000",
                "LoginType": "Remote Access 2.0",
                "LoginSubType": null,
                "Status": "Failed: Missing Consumer Key Parameter",
                "TlsProtocol": "TLS 1.3"
            }
        ]));
        let page = login_event::parse_page(&body, &ctx()).unwrap();
        assert!(page.errors.is_empty(), "{:?}", page.errors);
        let [a, b] = &page.events[..] else {
            panic!("two events expected")
        };
        assert_eq!(a.source, Source::LoginEvent);
        assert_eq!(a.event_id, "3ff2b1b5-0b2c-4c4d-9b8e-0a7d1f9a1c11");
        assert_eq!(a.event_time, utc("2023-12-06T05:44:24.973Z"));
        assert_eq!(a.auth_method, AuthMethod::OauthClientCredentials);
        assert_eq!(
            a.login_sub_type.as_deref(),
            Some("OAuth Client Credentials")
        );
        assert_eq!(a.latitude, Some(37.7749));
        assert_eq!(a.city.as_deref(), Some("San Francisco"));
        assert_eq!(b.auth_method, AuthMethod::OauthOther);
        assert_eq!(b.failure_reason.as_deref(), Some("missing_consumer_key"));
        assert_eq!(b.outcome, Outcome::Failure);
    }

    #[test]
    fn a_row_without_event_identifier_is_an_error_the_rest_survive() {
        let body = page(json!([
            {"Id": "000000000000000AAA", "EventDate": "2023-12-06T05:44:24.973+0000", "Status": "Success"},
            {"Id": "000000000000000AAA", "EventIdentifier": "e2", "EventDate": "2023-12-06T05:44:25.000+0000"}
        ]));
        let page = login_event::parse_page(&body, &ctx()).unwrap();
        assert_eq!(page.events.len(), 1);
        assert_eq!(page.events[0].event_id, "e2");
        assert_eq!(page.errors.len(), 1);
        assert_eq!(page.errors[0].error.field, "EventIdentifier");
        assert_eq!(page.errors[0].error.source, Source::LoginEvent);
    }

    #[test]
    fn single_rows_parse_alone() {
        let row = json!({"EventIdentifier": "e3", "EventDate": "2023-12-06T05:44:24.973Z",
                         "LoginType": "Other Apex API", "Application": "N/A", "ApiType": "SOAP Enterprise"});
        let e = login_event::parse_record(&row, &ctx()).unwrap();
        assert_eq!(e.auth_method, AuthMethod::SoapPassword);
    }
}

mod event_log_files {
    use super::*;

    fn read(csv: &[u8]) -> (Vec<LoginEvent>, Vec<RecordError>) {
        let mut events = Vec::new();
        let mut errors = Vec::new();
        for r in elf::reader(csv, &ctx()).unwrap() {
            match r {
                Ok(e) => events.push(e),
                Err(e) => errors.push(e),
            }
        }
        (events, errors)
    }

    #[test]
    fn observed_elf_rows_parse() {
        let (events, errors) = read(&testdata("elf_login.csv"));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(events.len(), 4);

        // The exact observed row of the reference (§4.2).
        let e = &events[0];
        assert_eq!(e.source, Source::EventLogFile);
        assert_eq!(
            e.org_id, "00D5j00000DgAYGEA3",
            "15-character ORGANIZATION_ID → 18"
        );
        assert_eq!(
            e.user_id.as_deref(),
            Some("0055j00000AT6I1AAL"),
            "matches USER_ID_DERIVED"
        );
        assert_eq!(e.event_time, utc("2023-12-18T05:48:31.655Z"));
        assert_eq!(e.login_type.as_deref(), Some("Remote Access 2.0"));
        assert_eq!(e.login_sub_type, None);
        assert_eq!(
            e.auth_method,
            AuthMethod::OauthOther,
            "token endpoint without sub-type: flow unknown"
        );
        assert_eq!(e.status.as_deref(), Some("LOGIN_NO_ERROR"));
        assert_eq!(e.outcome, Outcome::Success);
        assert_eq!(
            e.source_ip.as_deref(),
            Some("103.108.207.58"),
            "SOURCE_IP wins over CLIENT_IP"
        );
        assert_eq!(e.username.as_deref(), Some("salesforceinstance@devtest.in"));
        assert_eq!(e.browser.as_deref(), Some("Go-http-client/1.1"));
        assert_eq!(e.api_version.as_deref(), Some("9998.0"));
        assert_eq!(e.api_type, None);
        assert_eq!(
            e.tls_protocol.as_deref(),
            Some("TLS 1.2"),
            "TLSv1.2 normalised"
        );
        assert_eq!(e.login_key.as_deref(), Some("bY5Wfv8t/Ith7WVE"));
        assert_eq!(e.user_type.as_deref(), Some("Standard"));
        assert_eq!(
            e.event_id,
            loginwatch_shared::parse::hash_id(&[
                "4u6LyuMrDvb_G-l1cJIQk-",
                "bY5Wfv8t/Ith7WVE",
                "20231218054831.655"
            ])
        );

        // URI=/services/oauth2/token + LOGIN_TYPE i + oauthpassword: the password grant, blocked.
        let e = &events[1];
        assert_eq!(e.login_sub_type.as_deref(), Some("OAuth Username-Password"));
        assert_eq!(e.auth_method, AuthMethod::OauthUsernamePassword);
        assert_eq!(
            e.failure_reason.as_deref(),
            Some("username_password_flow_disabled")
        );
        assert_eq!(e.api_version, None);

        // Capital I: Other Apex API over SOAP Partner; a triple-quoted value with a comma.
        let e = &events[2];
        assert_eq!(e.login_type.as_deref(), Some("Other Apex API"));
        assert_eq!(e.api_type.as_deref(), Some("SOAP Partner"));
        assert_eq!(e.auth_method, AuthMethod::SoapPassword);
        assert_eq!(e.failure_reason.as_deref(), Some("invalid_password"));
        assert_eq!(e.browser.as_deref(), Some("Java/1.8.0_392, (SOAP client)"));

        let e = &events[3];
        assert_eq!(e.login_type.as_deref(), Some("Application"));
        assert_eq!(e.auth_method, AuthMethod::UiPassword);
        assert_eq!(e.api_type.as_deref(), Some("Feed"));
        assert_eq!(e.event_time, utc("2023-12-18T07:00:00.123Z"));
    }

    #[test]
    fn column_order_does_not_matter() {
        let csv = "\u{feff}LOGIN_STATUS,USER_ID,LOGIN_TYPE,TIMESTAMP,ORGANIZATION_ID,LOGIN_SUB_TYPE,EXTRA_NEW_COLUMN,REQUEST_ID,LOGIN_KEY\n\
                   LOGIN_ERROR_PASSWORD_LOCKOUT,0055j00000AT6I1,I,20231218054831.655,00D5j00000DgAYG,,whatever,r1,k1\n\
                   LOGIN_NO_ERROR,0055j00000AT6I1,i,20231218054832.000,00D5j00000DgAYG,oauthcode,x,r2,k2\n";
        let (events, errors) = read(csv.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(events[0].login_type.as_deref(), Some("Other Apex API"));
        assert_eq!(
            events[0].failure_reason.as_deref(),
            Some("password_lockout")
        );
        assert_eq!(events[1].auth_method, AuthMethod::OauthWebServer);
        assert_ne!(events[0].event_id, events[1].event_id);
    }

    #[test]
    fn bad_rows_among_good_rows() {
        let csv = "\"TIMESTAMP\",\"REQUEST_ID\",\"LOGIN_KEY\",\"USER_ID\",\"LOGIN_TYPE\",\"LOGIN_STATUS\"\n\
                   \"20231218054831.655\",\"r1\",\"k1\",\"0055j00000AT6I1\",\"i\",\"LOGIN_NO_ERROR\"\n\
                   \"2023-12-18 noon\",\"r2\",\"k2\",\"0055j00000AT6I1\",\"i\",\"LOGIN_NO_ERROR\"\n\
                   \"20231218054833.000\",\"r3\",\"k3\",\"0055j00000AT6!1\",\"i\",\"LOGIN_NO_ERROR\"\n\
                   \"20231218054834.000\",\"r4\",\"k4\"\n\
                   \"20231218054835.000\",\"r5\",\"k5\",\"0055j00000AT6I1\",\"i\",\"LOGIN_NO_ERROR\"\n";
        let (events, errors) = read(csv.as_bytes());
        let keys: Vec<_> = events
            .iter()
            .map(|e| e.login_key.as_deref().unwrap())
            .collect();
        assert_eq!(keys, ["k1", "k5"]);
        assert_eq!(errors.len(), 3);
        assert_error_names(
            &errors[0].error,
            Source::EventLogFile,
            "TIMESTAMP",
            "2023-12-18 noon",
        );
        assert_eq!(errors[0].error.record, "line 3");
        assert!(
            errors[0].raw.contains("2023-12-18 noon") && errors[0].raw.contains("k2"),
            "{}",
            errors[0].raw
        );
        assert_error_names(
            &errors[1].error,
            Source::EventLogFile,
            "USER_ID",
            "0055j00000AT6!1",
        );
        assert!(
            errors[2].error.problem.contains("3 fields"),
            "{}",
            errors[2].error
        );
        assert_eq!(errors[2].error.record, "line 5");
    }

    #[test]
    fn unknown_codes_are_kept_and_map_to_other() {
        let csv = "TIMESTAMP,LOGIN_TYPE,LOGIN_SUB_TYPE,LOGIN_STATUS\n\
                   20231218054831.655,i,oauthquantum,LOGIN_ERROR_SOMETHING_NEW\n\
                   20231218054831.655,Q,,LOGIN_NO_ERROR\n";
        let (events, errors) = read(csv.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(events[0].login_sub_type.as_deref(), Some("oauthquantum"));
        assert_eq!(events[0].auth_method, AuthMethod::Other);
        assert_eq!(events[0].failure_reason.as_deref(), Some("other"));
        assert_eq!(
            events[0].org_id, ORG,
            "no ORGANIZATION_ID column: the context's org"
        );
        assert_eq!(events[1].login_type.as_deref(), Some("Q"));
        assert_eq!(events[1].auth_method, AuthMethod::Other);
    }

    #[test]
    fn header_without_timestamp_is_refused() {
        let err = elf::reader("Username,Login Time\na,b\n".as_bytes(), &ctx())
            .err()
            .unwrap();
        assert_eq!(err.source, Source::EventLogFile);
        assert_eq!(err.field, "TIMESTAMP");
        assert!(elf::reader("".as_bytes(), &ctx()).is_err());
    }

    #[test]
    fn other_event_types_and_bad_utf8_are_row_errors() {
        let mut csv = b"EVENT_TYPE,TIMESTAMP,USER_NAME\nLogout,20231218054831.655,a\nLogin,20231218054831.655,b\xff\nLogin,20231218054831.655,c\n".to_vec();
        csv.extend_from_slice(b"");
        let (events, errors) = read(&csv);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].username.as_deref(), Some("c"));
        assert_eq!(errors[0].error.field, "EVENT_TYPE");
        assert_eq!(errors[1].error.field, "USER_NAME");
        assert!(
            errors[1].error.problem.contains("UTF-8"),
            "{}",
            errors[1].error
        );
    }

    #[test]
    fn reading_streams_rows_lazily() {
        // An endless reader: the iterator yields rows without reading the whole input first.
        struct Endless {
            header_sent: bool,
            n: u64,
            pending: Vec<u8>,
        }
        impl std::io::Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.pending.is_empty() {
                    if !self.header_sent {
                        self.header_sent = true;
                        self.pending = b"TIMESTAMP,REQUEST_ID,LOGIN_TYPE\n".to_vec();
                    } else {
                        self.n += 1;
                        self.pending = format!("20231218054831.655,r{},i\n", self.n).into_bytes();
                    }
                }
                let k = buf.len().min(self.pending.len());
                buf[..k].copy_from_slice(&self.pending[..k]);
                self.pending.drain(..k);
                Ok(k)
            }
        }
        let reader = elf::reader(
            Endless {
                header_sent: false,
                n: 0,
                pending: Vec::new(),
            },
            &ctx(),
        )
        .unwrap();
        let first: Vec<_> = reader.take(1000).collect::<Result<_, _>>().unwrap();
        assert_eq!(first.len(), 1000);
    }
}

mod setup_exports {
    use super::*;
    use loginwatch_shared::parse::setup_csv::{DateOrder, DateOrderSource};

    fn read(csv: &[u8], ctx: &ParseContext) -> (Vec<LoginEvent>, Vec<RecordError>) {
        let mut events = Vec::new();
        let mut errors = Vec::new();
        for r in setup_csv::reader(csv, ctx).unwrap() {
            match r {
                Ok(e) => events.push(e),
                Err(e) => errors.push(e),
            }
        }
        (events, errors)
    }

    #[test]
    fn export_with_zone_in_header_converts_to_utc() {
        let (events, errors) = read(&testdata("setup_login_history.csv"), &ctx());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(events.len(), 3);
        let e = &events[0];
        assert_eq!(e.source, Source::LoginHistoryCsv);
        assert_eq!(e.org_id, ORG);
        // 2 Nov 2026 is after the DST change (1 Nov): EST, UTC-5, although the header says "Daylight".
        assert_eq!(e.event_time, utc("2026-11-02T14:03:11Z"));
        assert_eq!(e.username.as_deref(), Some("integration@acme.example"));
        assert_eq!(e.auth_method, AuthMethod::OauthUsernamePassword);
        assert_eq!(e.country_iso.as_deref(), Some("US"));
        assert_eq!(e.city.as_deref(), Some("Ashburn"));
        assert_eq!(e.latitude, Some(39.0438));
        assert_eq!(e.longitude, Some(-77.4874));
        assert_eq!(e.application.as_deref(), Some("Legacy ETL"));
        assert_eq!(e.event_id.len(), 32);

        let e = &events[1];
        assert_eq!(e.auth_method, AuthMethod::SoapPassword);
        assert_eq!(e.source_ip.as_deref(), Some("Salesforce.com IP"));
        assert_eq!(e.failure_reason.as_deref(), Some("invalid_password"));
        assert_eq!((e.country_iso.as_deref(), e.latitude), (None, None));

        let e = &events[2];
        assert_eq!(
            e.event_time,
            utc("2026-07-23T16:18:23Z"),
            "July: EDT, UTC-4"
        );
        assert_eq!(
            e.failure_reason.as_deref(),
            Some("api_security_token_required")
        );
        assert_eq!(e.auth_method, AuthMethod::UiPassword);
        assert_eq!(e.tls_protocol.as_deref(), Some("TLS 1.3"));
    }

    #[test]
    fn header_names_any_case_and_zone_spellings() {
        let cases = [
            (
                "Login Time (Pacific Standard Time)",
                "1/15/2026 6:00:00 AM",
                "2026-01-15T14:00:00Z",
            ),
            (
                "LOGIN TIME (Coordinated Universal Time)",
                "1/15/2026 6:00:00 AM",
                "2026-01-15T06:00:00Z",
            ),
            (
                "login time (Greenwich Mean Time)",
                "2026-01-15 06:00:00",
                "2026-01-15T06:00:00Z",
            ),
            (
                "Login Time (GMT)",
                "2026-01-15 06:00:00",
                "2026-01-15T06:00:00Z",
            ),
            (
                "Login Time (Central European Summer Time)",
                "2026-07-15 08:00:00",
                "2026-07-15T06:00:00Z",
            ),
            (
                "Login Time (Europe/Berlin)",
                "2026-01-15 07:00",
                "2026-01-15T06:00:00Z",
            ),
            (
                "Login Time (America/New_York)",
                "7/14/2026 12:00 PM",
                "2026-07-14T16:00:00Z",
            ),
            (
                "Login Time (GMT+05:00)",
                "2026-01-15 11:00:00",
                "2026-01-15T06:00:00Z",
            ),
            (
                "Login Time",
                "2026-01-15T06:00:00.000Z",
                "2026-01-15T06:00:00Z",
            ),
        ];
        for (header, value, want) in cases {
            let csv = format!(
                "USERNAME,{header},STATUS,Unrelated Column\nu@x.example,\"{value}\",Success,1\n"
            );
            let (events, errors) = read(csv.as_bytes(), &ctx());
            assert!(errors.is_empty(), "{header}: {errors:?}");
            assert_eq!(events[0].event_time, utc(want), "{header} {value}");
            assert_eq!(events[0].outcome, Outcome::Success);
        }
    }

    #[test]
    fn plain_login_time_uses_the_context_zone() {
        let csv = "Username,Login Time,Status\nu@x.example,11/22/2026 9:03:11 AM,Success\n";
        let tokyo = ctx().with_time_zone(chrono_tz::Asia::Tokyo);
        let (events, _) = read(csv.as_bytes(), &tokyo);
        assert_eq!(events[0].event_time, utc("2026-11-22T00:03:11Z"));
        let (events, _) = read(csv.as_bytes(), &ctx());
        assert_eq!(
            events[0].event_time,
            utc("2026-11-22T09:03:11Z"),
            "default UTC"
        );
        let r = setup_csv::reader(csv.as_bytes(), &ctx()).unwrap();
        assert!(!r.time_zone_in_header(), "the zone was assumed");
        let r = setup_csv::reader(
            "Username,Login Time (Japan Standard Time),Status\n".as_bytes(),
            &ctx(),
        )
        .unwrap();
        assert!(r.time_zone_in_header());
        assert_eq!(r.time_zone(), chrono_tz::Asia::Tokyo);
    }

    #[test]
    fn unknown_zone_and_missing_time_column_are_header_errors() {
        let err = setup_csv::reader(
            "Username,Login Time (Martian Standard Time)\n".as_bytes(),
            &ctx(),
        )
        .err()
        .unwrap();
        assert_eq!(err.record, "header");
        assert_eq!(err.value, "Martian Standard Time");
        assert!(
            err.to_string()
                .contains("Login Time (Martian Standard Time)"),
            "{err}"
        );
        let err = setup_csv::reader("Username,Status\n".as_bytes(), &ctx())
            .err()
            .unwrap();
        assert_eq!(err.field, "Login Time");
        assert_eq!(
            setup_csv::resolve_time_zone("Eastern Daylight Time"),
            Some(chrono_tz::America::New_York)
        );
        assert_eq!(
            setup_csv::resolve_time_zone("america/chicago"),
            Some(chrono_tz::America::Chicago)
        );
        assert_eq!(
            setup_csv::resolve_time_zone("(GMT-04:00) Eastern Daylight Time (America/New_York)"),
            Some(chrono_tz::America::New_York)
        );
    }

    #[test]
    fn bad_rows_are_reported_and_the_rest_kept() {
        let csv = "Username,Login Time (UTC),Status,Latitude,User ID\n\
                   a@x.example,2026-01-15 06:00:00,Success,1.5,0055j00000AT6I1\n\
                   b@x.example,not a time,Success,,\n\
                   c@x.example,2026-01-15 06:00:02,Success,north,\n\
                   d@x.example,2026-01-15 06:00:03,Success,,0055j00000AT6I1ZZZ\n\
                   e@x.example,2026-01-15 06:00:04,Success,,\n";
        let (events, errors) = read(csv.as_bytes(), &ctx());
        let names: Vec<_> = events
            .iter()
            .map(|e| e.username.as_deref().unwrap())
            .collect();
        assert_eq!(names, ["a@x.example", "e@x.example"]);
        assert_eq!(events[0].user_id.as_deref(), Some("0055j00000AT6I1AAL"));
        assert_error_names(
            &errors[0].error,
            Source::LoginHistoryCsv,
            "Login Time (UTC)",
            "not a time",
        );
        assert_eq!(errors[0].error.record, "line 3");
        assert_error_names(
            &errors[1].error,
            Source::LoginHistoryCsv,
            "Latitude",
            "north",
        );
        assert_error_names(
            &errors[2].error,
            Source::LoginHistoryCsv,
            "User ID",
            "0055j00000AT6I1ZZZ",
        );
        assert!(
            errors[2].raw.starts_with("d@x.example,"),
            "{}",
            errors[2].raw
        );
    }

    #[test]
    fn the_same_login_exported_twice_has_one_id() {
        let a = "Username,Login Time (UTC),Source IP,Status\nu@x.example,2026-01-15 06:00:00,192.0.2.1,Success\n";
        let b = "Status,Source IP,Login Time (Eastern Standard Time),Username,Extra\nSuccess,192.0.2.1,1/15/2026 1:00:00 AM,u@x.example,z\n";
        let (ea, _) = read(a.as_bytes(), &ctx());
        let (eb, _) = read(b.as_bytes(), &ctx());
        assert_eq!(ea[0].event_id, eb[0].event_id);
        let c = a.replace("192.0.2.1", "192.0.2.2");
        let (ec, _) = read(c.as_bytes(), &ctx());
        assert_ne!(ea[0].event_id, ec[0].event_id);
    }

    #[test]
    fn repeated_local_hour_takes_the_first_occurrence() {
        // 1 Nov 2026 01:30 happens twice in New York; the first is EDT (UTC-4).
        let csv = "Username,Login Time (Eastern Daylight Time),Status\nu@x.example,11/1/2026 1:30:00 AM,Success\n";
        let (events, errors) = read(csv.as_bytes(), &ctx().with_date_order(DateOrder::Mdy));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(events[0].event_time, utc("2026-11-01T05:30:00Z"));
    }

    #[test]
    fn nonexistent_local_times_are_errors() {
        // 8 March 2026 02:30 does not exist in New York (clocks jump from 02:00 to 03:00).
        let csv = "Username,Login Time (America/New_York),Status\nu@x.example,3/8/2026 2:30:00 AM,Success\n";
        let (events, errors) = read(csv.as_bytes(), &ctx().with_date_order(DateOrder::Mdy));
        assert!(events.is_empty());
        assert!(
            errors[0].error.problem.contains("does not exist"),
            "{}",
            errors[0].error
        );
    }

    fn times(events: &[LoginEvent]) -> Vec<DateTime<Utc>> {
        events.iter().map(|e| e.event_time).collect()
    }

    const DAY_FIRST: &str = "Username,Login Time (UTC),Status\n\
                             a@x.example,03/04/2026 10:00,Success\n\
                             b@x.example,05/04/2026 11:15:30,Success\n\
                             c@x.example,13/04/2026 09:30,Success\n\
                             d@x.example,01/05/2026 8:00:00 PM,Success\n";

    #[test]
    fn a_day_above_12_in_first_position_reads_the_file_day_first() {
        let mut r = setup_csv::reader(DAY_FIRST.as_bytes(), &ctx()).unwrap();
        let events: Vec<LoginEvent> = r.by_ref().map(Result::unwrap).collect();
        assert_eq!(
            times(&events),
            [
                utc("2026-04-03T10:00:00Z"),
                utc("2026-04-05T11:15:30Z"),
                utc("2026-04-13T09:30:00Z"),
                utc("2026-05-01T20:00:00Z"),
            ],
            "rows read before the deciding one are held back and come out in file order"
        );
        let names: Vec<_> = events.iter().map(|e| e.username.clone().unwrap()).collect();
        assert_eq!(
            names,
            ["a@x.example", "b@x.example", "c@x.example", "d@x.example"]
        );
        assert_eq!(
            r.date_order(),
            Some(&DateOrderSource::Inferred {
                order: DateOrder::Dmy,
                line: 4,
                value: "13/04/2026 09:30".into()
            })
        );
        assert!(r.stopped().is_none());
    }

    #[test]
    fn a_day_above_12_in_second_position_reads_the_file_month_first() {
        let csv = "Username,Login Time (UTC),Status\n\
                   a@x.example,4/3/2026 10:00:00 AM,Success\n\
                   b@x.example,4/13/2026 9:30:00 PM,Success\n\
                   c@x.example,5/1/2026 8:00:00 AM,Success\n";
        let mut r = setup_csv::reader(csv.as_bytes(), &ctx()).unwrap();
        let events: Vec<LoginEvent> = r.by_ref().map(Result::unwrap).collect();
        assert_eq!(
            times(&events),
            [
                utc("2026-04-03T10:00:00Z"),
                utc("2026-04-13T21:30:00Z"),
                utc("2026-05-01T08:00:00Z"),
            ]
        );
        assert_eq!(r.date_order().unwrap().order(), DateOrder::Mdy);
    }

    const AMBIGUOUS: &str = "Username,Login Time (UTC),Status\n\
                             a@x.example,03/04/2026 10:00,Success\n\
                             b@x.example,not a time,Success\n\
                             c@x.example,12/01/2026 09:30,Success\n";

    #[test]
    fn a_file_whose_dates_read_both_ways_is_refused_naming_the_flag() {
        let mut r = setup_csv::reader(AMBIGUOUS.as_bytes(), &ctx()).unwrap();
        let items: Vec<_> = r.by_ref().collect();
        assert_eq!(items.len(), 1, "nothing but the refusal: {items:?}");
        let e = items[0].as_ref().unwrap_err();
        assert_eq!(Some(&e.error), r.stopped());
        assert_eq!(
            e.error.to_string(),
            "login_history_csv line 2: field `Login Time (UTC)` value \"03/04/2026 10:00\" is \
             ambiguous, like all 2 dates of the file: neither number is above 12, so it could be \
             day 3 of month 4 or month 3, day 4, and the file does not say which; pass `loginwatch \
             scan --date-order dmy` (dd/mm/yyyy) or `--date-order mdy` (mm/dd/yyyy)"
        );
        assert_eq!(r.date_order(), None);
    }

    #[test]
    fn a_given_order_overrides_inference() {
        let (events, errors) = read(AMBIGUOUS.as_bytes(), &ctx().with_date_order(DateOrder::Dmy));
        assert_eq!(
            times(&events),
            [utc("2026-04-03T10:00:00Z"), utc("2026-01-12T09:30:00Z")]
        );
        assert_eq!(errors.len(), 1, "only the row without a time");
        let (events, _) = read(AMBIGUOUS.as_bytes(), &ctx().with_date_order(DateOrder::Mdy));
        assert_eq!(
            times(&events),
            [utc("2026-03-04T10:00:00Z"), utc("2026-12-01T09:30:00Z")]
        );
        // Against the evidence: the day-first file read month-first fails on the days above 12.
        let mut r = setup_csv::reader(DAY_FIRST.as_bytes(), &ctx().with_date_order(DateOrder::Mdy))
            .unwrap();
        let items: Vec<_> = r.by_ref().collect();
        assert_eq!(
            r.date_order(),
            Some(&DateOrderSource::Given(DateOrder::Mdy))
        );
        assert_eq!(items.iter().filter(|i| i.is_ok()).count(), 3);
        let e = &items[2].as_ref().unwrap_err().error;
        assert_error_names(
            e,
            Source::LoginHistoryCsv,
            "Login Time (UTC)",
            "13/04/2026 09:30",
        );
        assert!(
            e.problem
                .starts_with("is not a mm/dd/yyyy date-time (month-first dates in this file"),
            "{e}"
        );
        assert!(r.stopped().is_none());
    }

    #[test]
    fn evidence_for_both_orders_stops_the_file() {
        let csv = "Username,Login Time (UTC),Status\n\
                   a@x.example,13/04/2026 10:00,Success\n\
                   b@x.example,02/04/2026 10:00,Success\n\
                   c@x.example,04/14/2026 10:00,Success\n\
                   d@x.example,15/04/2026 10:00,Success\n";
        let mut r = setup_csv::reader(csv.as_bytes(), &ctx()).unwrap();
        let items: Vec<_> = r.by_ref().collect();
        assert_eq!(
            items.len(),
            3,
            "two rows, then the conflict ends the file: {items:?}"
        );
        assert!(items[0].is_ok() && items[1].is_ok());
        let e = &items[2].as_ref().unwrap_err().error;
        assert_eq!(Some(e), r.stopped());
        assert_eq!(e.record, "line 4");
        assert!(
            e.problem.starts_with(
                "is a month-first date, but line 2 (13/04/2026 10:00) is day-first: the file mixes both orders"
            ) && e.problem.contains("--date-order dmy"),
            "{e}"
        );
    }

    #[test]
    fn iso_dates_need_no_order_and_dates_valid_in_neither_order_are_row_errors() {
        let csv = "Username,Login Time (UTC),Status\n\
                   a@x.example,2026-04-03 10:00:00,Success\n\
                   b@x.example,2026/04/05 10:00:00,Success\n\
                   c@x.example,13/13/2026 10:00,Success\n\
                   d@x.example,2026-04-03T11:00:00.000Z,Success\n";
        let mut r = setup_csv::reader(csv.as_bytes(), &ctx()).unwrap();
        let items: Vec<_> = r.by_ref().collect();
        let events: Vec<LoginEvent> = items.iter().filter_map(|i| i.clone().ok()).collect();
        assert_eq!(
            times(&events),
            [
                utc("2026-04-03T10:00:00Z"),
                utc("2026-04-05T10:00:00Z"),
                utc("2026-04-03T11:00:00Z"),
            ]
        );
        let e = &items[2].as_ref().unwrap_err().error;
        assert_eq!(
            e.problem,
            "is not a date in either day/month (dd/mm/yyyy) or month/day (mm/dd/yyyy) order"
        );
        assert_eq!(r.date_order(), None);
        assert!(r.stopped().is_none());
    }

    #[test]
    fn a_200_mb_field_is_one_row_error_and_the_other_rows_parse() {
        // Generated on the fly: the test itself never holds the 200 MB.
        struct Huge {
            head: Vec<u8>,
            big: u64,
            tail: Vec<u8>,
            pos: u64,
        }
        impl std::io::Read for Huge {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let (h, b) = (self.head.len() as u64, self.big);
                let mut n = 0;
                while n < buf.len() {
                    let p = self.pos;
                    let byte = if p < h {
                        self.head[p as usize]
                    } else if p < h + b {
                        b'A'
                    } else if p < h + b + self.tail.len() as u64 {
                        self.tail[(p - h - b) as usize]
                    } else {
                        break;
                    };
                    buf[n] = byte;
                    n += 1;
                    self.pos += 1;
                }
                Ok(n)
            }
        }
        let input = Huge {
            head: b"Username,Login Time (UTC),Status,Browser\n\
                    a@x.example,2026-04-03 10:00:00,Success,Firefox\n\
                    b@x.example,2026-04-03 10:00:01,Success,"
                .to_vec(),
            big: 200 * 1024 * 1024,
            tail: b"\nc@x.example,2026-04-03 10:00:02,Success,Chrome\n".to_vec(),
            pos: 0,
        };
        let items: Vec<_> = setup_csv::reader(input, &ctx()).unwrap().collect();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0].as_ref().unwrap().browser.as_deref(),
            Some("Firefox")
        );
        assert_eq!(
            items[2].as_ref().unwrap().browser.as_deref(),
            Some("Chrome")
        );
        let e = items[1].as_ref().unwrap_err();
        assert_eq!(
            e.error.to_string(),
            "login_history_csv line 3: field `Browser` is 209715200 bytes long, over the limit of \
             65536 bytes per field; the row is skipped"
        );
        assert!(e.raw.len() < 1024, "the dead-letter copy is an excerpt");
        assert!(
            e.raw
                .starts_with("b@x.example,2026-04-03 10:00:01,Success,"),
            "{}",
            e.raw
        );
    }
}
