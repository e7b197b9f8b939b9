//! OAuth token endpoint, REST query, EventLogFile download, limits and faults, driven with a
//! plain HTTP client.

mod common;

use std::collections::HashSet;

use common::*;
use loginwatch_sfsim::config::{
    PasswordUserConfig, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_CONSUMER_KEY,
};
use loginwatch_shared::parse::{self, ParseContext};
use serde_json::{json, Value};

const JWT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[tokio::test]
async fn jwt_bearer_issues_a_token_and_rejects_bad_assertions() {
    let sim = start(config()).await;
    let user = sim.api_username(&sim.org_ids()[0]).unwrap();
    let aud = "https://login.salesforce.com";
    let ok = assertion(
        "jwt_test_private.pem",
        TEST_CONSUMER_KEY,
        &user,
        aud,
        now_secs(&sim) + 120,
    );
    let r = post_token(&sim, &[("grant_type", JWT), ("assertion", &ok)]).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["instance_url"], json!(sim.base_url()));
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["id"].as_str().unwrap().contains(&sim.org_ids()[0]));
    assert!(
        v["scope"].is_string()
            && v["access_token"]
                .as_str()
                .unwrap()
                .starts_with(&sim.org_ids()[0][..15])
    );

    let cases = [
        (
            assertion(
                "jwt_other_private.pem",
                TEST_CONSUMER_KEY,
                &user,
                aud,
                now_secs(&sim) + 120,
            ),
            "invalid_grant",
        ),
        (
            assertion(
                "jwt_test_private.pem",
                TEST_CONSUMER_KEY,
                &user,
                aud,
                now_secs(&sim) - 600,
            ),
            "invalid_grant",
        ),
        (
            assertion(
                "jwt_test_private.pem",
                TEST_CONSUMER_KEY,
                &user,
                "https://evil.example",
                now_secs(&sim) + 120,
            ),
            "invalid_grant",
        ),
        (
            assertion(
                "jwt_test_private.pem",
                "unknown-consumer",
                &user,
                aud,
                now_secs(&sim) + 120,
            ),
            "invalid_client_id",
        ),
        (
            assertion(
                "jwt_test_private.pem",
                TEST_CONSUMER_KEY,
                "nobody@nowhere.example",
                aud,
                now_secs(&sim) + 120,
            ),
            "invalid_grant",
        ),
        ("not.a.jwt".to_string(), "invalid_grant"),
    ];
    for (a, expected) in cases {
        let r = post_token(&sim, &[("grant_type", JWT), ("assertion", &a)]).await;
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], expected, "{v}");
        assert!(v["error_description"].is_string());
    }
    // Expired within the skew is still accepted.
    let skewed = assertion(
        "jwt_test_private.pem",
        TEST_CONSUMER_KEY,
        &user,
        aud,
        now_secs(&sim) - 30,
    );
    assert_eq!(
        post_token(&sim, &[("grant_type", JWT), ("assertion", &skewed)])
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn client_credentials_and_unsupported_grants() {
    let sim = start(config()).await;
    let r = post_token(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", TEST_CLIENT_ID),
            ("client_secret", TEST_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["signature"].is_string() && v["issued_at"].as_str().unwrap().len() == 13);
    // HTTP Basic client authentication works too.
    let r = client()
        .post(format!("{}/services/oauth2/token", sim.base_url()))
        .basic_auth(TEST_CLIENT_ID, Some(TEST_CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = post_token(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", TEST_CLIENT_ID),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let r = post_token(
        &sim,
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

#[tokio::test]
async fn password_grant_is_refused_but_recorded_as_a_login() {
    let sim = start(config()).await;
    let user = sim.users(&sim.org_ids()[0])[0].username.clone();
    let before = sim.login_count();
    let r = post_token(
        &sim,
        &[
            ("grant_type", "password"),
            ("client_id", TEST_CLIENT_ID),
            ("username", &user),
            ("password", "hunter2"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_grant");
    assert_eq!(sim.login_count(), before + 1);
    // The attempt is in LoginHistory with the blocked status and the password sub-type.
    let token = token(&sim).await;
    let (records, _) = query_all(&sim, &token, "SELECT Id, UserId, Status, LoginSubType, LoginType, SourceIp FROM LoginHistory WHERE LoginTime > 2020-01-01T00:00:00Z ORDER BY LoginTime ASC", None).await;
    let row = records
        .iter()
        .rev()
        .find(|r| r["Status"] == "Username-Password Flow Disabled" && r["SourceIp"] == "127.0.0.1")
        .expect("recorded attempt");
    assert_eq!(row["LoginSubType"], "OAuth Username-Password");
    assert_eq!(row["LoginType"], "Remote Access 2.0");
}

#[tokio::test]
async fn password_grant_when_allowed() {
    let mut cfg = config();
    cfg.allow_password_grant = true;
    let sim0 = start(cfg.clone()).await;
    let user = sim0.users(&sim0.org_ids()[0])[1].username.clone();
    drop(sim0);
    cfg.password_users = vec![PasswordUserConfig {
        username: user.clone(),
        password: "right".into(),
    }];
    let sim = start(cfg).await;
    let ok = post_token(
        &sim,
        &[
            ("grant_type", "password"),
            ("username", &user),
            ("password", "right"),
        ],
    )
    .await;
    assert_eq!(ok.status(), 200);
    let bad = post_token(
        &sim,
        &[
            ("grant_type", "password"),
            ("username", &user),
            ("password", "wrong"),
        ],
    )
    .await;
    assert_eq!(bad.status(), 400);
    let logins = sim.logins(&sim.org_ids()[0]);
    let recorded: Vec<_> = logins
        .iter()
        .filter(|l| l.source_ip == "127.0.0.1" && l.user.username == user)
        .map(|l| l.status)
        .collect();
    assert_eq!(recorded, vec!["Success", "Invalid Password"]);
}

#[tokio::test]
async fn expired_and_revoked_tokens_get_invalid_session_id() {
    let mut cfg = config();
    cfg.token_lifetime_secs = 1;
    let sim = start(cfg).await;
    let t = token(&sim).await;
    assert_eq!(
        query(&sim, &t, "SELECT Id FROM User", None).await.status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (status, code, msg) = error_code(query(&sim, &t, "SELECT Id FROM User", None).await).await;
    assert_eq!(
        (status, code.as_str(), msg.as_str()),
        (401, "INVALID_SESSION_ID", "Session expired or invalid")
    );
    let (status, code, _) = error_code(
        get(
            &sim,
            "garbage",
            "/services/data/v62.0/query?q=SELECT+Id+FROM+User",
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (401, "INVALID_SESSION_ID"));

    // Revocation: through the revoke endpoint and through the fault.
    let sim = start(config()).await;
    let t = token(&sim).await;
    let r = client()
        .post(format!("{}/services/oauth2/revoke", sim.base_url()))
        .form(&[("token", t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        query(&sim, &t, "SELECT Id FROM User", None).await.status(),
        401
    );
    let r = client()
        .post(format!("{}/services/oauth2/revoke", sim.base_url()))
        .form(&[("token", t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let t = token(&sim).await;
    admin_faults(&sim, json!({"revoke_tokens": true})).await;
    assert_eq!(
        query(&sim, &t, "SELECT Id FROM User", None).await.status(),
        401
    );
    // userinfo
    let t = token(&sim).await;
    let v: Value = get(&sim, &t, "/services/oauth2/userinfo")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["organization_id"], json!(sim.org_ids()[0]));
}

#[tokio::test]
async fn pages_through_thousands_of_login_history_rows() {
    let sim = start(config()).await;
    let t = token(&sim).await;
    let soql = "SELECT Id, UserId, LoginTime, LoginType, LoginSubType, Status, SourceIp, Application, LoginGeo.City, LoginGeo.Latitude FROM LoginHistory WHERE LoginTime >= 2000-01-01T00:00:00.000Z ORDER BY LoginTime ASC";
    let r = query(&sim, &t, soql, Some(500)).await;
    let limit = r
        .headers()
        .get("sforce-limit-info")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        limit.starts_with("api-usage=") && limit.ends_with("/100000"),
        "{limit}"
    );
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["done"], false);
    assert_eq!(first["records"].as_array().unwrap().len(), 500);
    assert!(first["nextRecordsUrl"]
        .as_str()
        .unwrap()
        .starts_with("/services/data/v62.0/query/0r8"));

    let (records, pages) = query_all(&sim, &t, soql, Some(500)).await;
    // Expectations from the data: the same seeded generator run here over the same fixed
    // history, plus the token-endpoint login(s) this test recorded after the history's end.
    let cfg = config();
    let end = history_end();
    let mut generator = loginwatch_sfsim::Generator::new(
        loginwatch_sfsim::org_seed(cfg.seed, 0),
        &loginwatch_sfsim::gen_config(&cfg, 0, end),
    )
    .unwrap();
    let mut generated = 0;
    while generator.next_before(end).is_some() {
        generated += 1;
    }
    let served = sim.logins(&sim.org_ids()[0]);
    let recorded = served.iter().filter(|l| l.time >= end).count();
    assert_eq!(recorded, 1, "one JWT bearer login recorded by token()");
    let total = served.len();
    assert_eq!(total, generated + recorded);
    assert!(
        total > 4 * 500,
        "the fixed history spans several pages ({total} rows)"
    );
    assert_eq!(records.len(), total);
    assert_eq!(pages, total.div_ceil(500));
    let ids: HashSet<_> = records
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), records.len(), "no duplicates across pages");
    let times: Vec<_> = records
        .iter()
        .map(|r| r["LoginTime"].as_str().unwrap().to_string())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "ascending LoginTime"
    );
    assert!(
        records[0]["LoginGeo"]["City"].is_string()
            && records[0]["LoginGeo"]["Latitude"].is_number()
    );
    assert_eq!(records[0]["attributes"]["type"], "LoginHistory");
    // Every page parses with the shared parser.
    let body = json!({"totalSize": records.len(), "done": true, "records": records});
    let page = parse::login_history::parse_page(
        body.to_string().as_bytes(),
        &ParseContext::new(sim.org_ids()[0].clone()),
    )
    .unwrap();
    assert!(page.errors.is_empty(), "{:?}", page.errors.first());

    // WHERE bounds, LIMIT and the default batch size.
    let mid = &times[times.len() / 2];
    let lit = mid.replace("+0000", "Z");
    let (after, _) = query_all(
        &sim,
        &t,
        &format!(
            "SELECT Id, LoginTime FROM LoginHistory WHERE LoginTime > {lit} ORDER BY LoginTime ASC"
        ),
        None,
    )
    .await;
    assert!(after
        .iter()
        .all(|r| r["LoginTime"].as_str().unwrap() > mid.as_str()));
    assert_eq!(
        after.len(),
        times.iter().filter(|t| t.as_str() > mid.as_str()).count()
    );
    let limited: Value = query(
        &sim,
        &t,
        "SELECT Id FROM LoginHistory ORDER BY LoginTime ASC LIMIT 250",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (limited["totalSize"].as_u64(), limited["done"].as_bool()),
        (Some(250), Some(true))
    );
    let default_batch: Value = query(&sim, &t, "SELECT Id FROM LoginHistory", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(default_batch["records"].as_array().unwrap().len(), 2000);
    let tiny_batch: Value = query(&sim, &t, "SELECT Id FROM LoginHistory", Some(5))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        tiny_batch["records"].as_array().unwrap().len(),
        200,
        "batchSize is clamped to Salesforce's minimum"
    );
}

#[tokio::test]
async fn other_objects_and_the_event_log_file() {
    let sim = start(config()).await;
    let t = token(&sim).await;
    let org = sim.org_ids()[0].clone();
    let ctx = ParseContext::new(org.clone());
    let (users, _) = query_all(&sim, &t, "SELECT Id, Username, UserType FROM User", None).await;
    assert_eq!(users.len(), sim.users(&org).len());
    let one = users[3]["Id"].as_str().unwrap();
    let (sel, _) = query_all(
        &sim,
        &t,
        &format!("SELECT Id, Username FROM User WHERE Id IN ('{one}', '005000000000000AAA')"),
        None,
    )
    .await;
    assert_eq!(sel.len(), 1);

    let (geo, _) = query_all(
        &sim,
        &t,
        "SELECT Id, City, Country, Latitude FROM LoginGeo WHERE LoginTime > 2000-01-01T00:00:00Z",
        None,
    )
    .await;
    assert!(geo.len() > 1000 && geo[0]["attributes"]["type"] == "LoginGeo");

    let (events, _) = query_all(
        &sim,
        &t,
        "SELECT FIELDS(STANDARD) FROM LoginEvent WHERE EventDate > 2000-01-01T00:00:00Z",
        None,
    )
    .await;
    let history = sim.logins(&org);
    let rate_limited = history
        .iter()
        .filter(|l| l.status == "Login Rate Exceeded")
        .count();
    assert!(rate_limited > 0);
    assert_eq!(
        events.len(),
        history.len() - rate_limited,
        "LoginEvent leaves out rate-limited logins"
    );
    let body = json!({"totalSize": events.len(), "done": true, "records": events});
    let page = parse::login_event::parse_page(body.to_string().as_bytes(), &ctx).unwrap();
    assert!(page.errors.is_empty(), "{:?}", page.errors.first());

    let (files, _) = query_all(&sim, &t, "SELECT Id, LogDate, CreatedDate, LogFile, LogFileLength FROM EventLogFile WHERE EventType = 'Login' AND CreatedDate > 2000-01-01T00:00:00Z ORDER BY CreatedDate ASC", None).await;
    assert!(
        files.len() >= 3,
        "daily files of a 4-day history: {}",
        files.len()
    );
    let mut elf_rows = 0;
    for f in &files {
        let r = get(&sim, &t, f["LogFile"].as_str().unwrap()).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("sforce-limit-info").is_some());
        let csv = r.bytes().await.unwrap();
        assert_eq!(csv.len() as f64, f["LogFileLength"].as_f64().unwrap());
        for row in parse::elf::reader(&csv[..], &ctx).unwrap() {
            row.unwrap();
            elf_rows += 1;
        }
    }
    assert!(elf_rows > 1000);
    let r = get(
        &sim,
        &t,
        "/services/data/v62.0/sobjects/EventLogFile/0AT000000000000AAA/LogFile",
    )
    .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn query_errors_match_salesforce() {
    let sim = start(config()).await;
    let t = token(&sim).await;
    let cases = [
        (
            "SELECT Id FROM LoginHistory WHRE LoginTime > 2024-01-01T00:00:00Z",
            "MALFORMED_QUERY",
        ),
        ("SELECT Id LoginHistory", "MALFORMED_QUERY"),
        (
            "SELECT Id FROM LoginHistory WHERE LoginSubType = 'OAuth Username-Password'",
            "INVALID_FIELD",
        ),
        (
            "SELECT Id FROM LoginHistory WHERE Status = 'Success'",
            "INVALID_FIELD",
        ),
        (
            "SELECT Id FROM LoginHistory WHERE LoginTime > '2024-01-01T00:00:00Z'",
            "INVALID_FIELD",
        ),
        ("SELECT Nope FROM LoginHistory", "INVALID_FIELD"),
        ("SELECT Foo.Bar FROM LoginHistory", "INVALID_FIELD"),
        ("SELECT Id FROM Account", "INVALID_TYPE"),
        ("SELECT FIELDS(ALL) FROM LoginEvent", "MALFORMED_QUERY"),
    ];
    for (soql, expected) in cases {
        let (status, code, msg) = error_code(query(&sim, &t, soql, None).await).await;
        assert_eq!((status, code.as_str()), (400, expected), "{soql}: {msg}");
    }
    let (_, _, msg) = error_code(
        query(
            &sim,
            &t,
            "SELECT Id FROM LoginHistory WHERE LoginSubType = 'x'",
            None,
        )
        .await,
    )
    .await;
    assert!(msg.contains("can not be filtered"), "{msg}");
    // Locators: garbage, and expired by the fault.
    let (status, code, _) = error_code(
        get(
            &sim,
            &t,
            "/services/data/v62.0/query/0r8xx0000000001AAA-2000",
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "INVALID_QUERY_LOCATOR"));
    let first: Value = query(&sim, &t, "SELECT Id FROM LoginHistory", Some(200))
        .await
        .json()
        .await
        .unwrap();
    let next = first["nextRecordsUrl"].as_str().unwrap().to_string();
    assert_eq!(
        get(&sim, &t, &next).await.status(),
        200,
        "a locator can be read more than once"
    );
    admin_faults(&sim, json!({"expire_locators": true})).await;
    let (status, code, _) = error_code(get(&sim, &t, &next).await).await;
    assert_eq!((status, code.as_str()), (400, "INVALID_QUERY_LOCATOR"));
    assert_eq!(
        get(&sim, &t, "/services/data/nope/query?q=SELECT+Id+FROM+User")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn locators_expire_after_their_ttl() {
    let mut cfg = config();
    cfg.locator_ttl_secs = 1;
    let sim = start(cfg).await;
    let t = token(&sim).await;
    let first: Value = query(&sim, &t, "SELECT Id FROM LoginHistory", Some(200))
        .await
        .json()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (status, code, _) =
        error_code(get(&sim, &t, first["nextRecordsUrl"].as_str().unwrap()).await).await;
    assert_eq!((status, code.as_str()), (400, "INVALID_QUERY_LOCATOR"));
}

#[tokio::test]
async fn daily_allocation_runs_out() {
    let mut cfg = config();
    cfg.api_daily_limit = 3;
    let sim = start(cfg).await;
    let t = token(&sim).await;
    for i in 1..=3 {
        let r = query(&sim, &t, "SELECT Id FROM User", None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["sforce-limit-info"],
            format!("api-usage={i}/3").as_str()
        );
    }
    let r = query(&sim, &t, "SELECT Id FROM User", None).await;
    assert_eq!(r.headers()["sforce-limit-info"], "api-usage=3/3");
    let (status, code, _) = error_code(r).await;
    assert_eq!((status, code.as_str()), (403, "REQUEST_LIMIT_EXCEEDED"));

    let sim = start(config()).await;
    let t = token(&sim).await;
    admin_faults(&sim, json!({"exhaust_quota": true})).await;
    let (status, code, _) = error_code(query(&sim, &t, "SELECT Id FROM User", None).await).await;
    assert_eq!((status, code.as_str()), (403, "REQUEST_LIMIT_EXCEEDED"));
}

#[tokio::test]
async fn server_errors_slow_and_truncated_responses() {
    let sim = start(config()).await;
    let t = token(&sim).await;
    admin_faults(&sim, json!({"http_5xx_count": 2})).await;
    let standing: Value = client()
        .get(format!("{}/__admin/faults", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(standing["http_5xx_remaining"], 2);
    assert_eq!(
        query(&sim, &t, "SELECT Id FROM User", None).await.status(),
        503
    );
    let (status, code, _) = error_code(query(&sim, &t, "SELECT Id FROM User", None).await).await;
    assert_eq!((status, code.as_str()), (503, "SERVER_UNAVAILABLE"));
    assert_eq!(
        query(&sim, &t, "SELECT Id FROM User", None).await.status(),
        200
    );

    admin_faults(
        &sim,
        json!({"http_5xx_probability": 1.0, "http_5xx_status": 500}),
    )
    .await;
    let (status, code, _) = error_code(query(&sim, &t, "SELECT Id FROM User", None).await).await;
    assert_eq!((status, code.as_str()), (500, "UNKNOWN_EXCEPTION"));
    let r = client()
        .delete(format!("{}/__admin/faults", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    admin_faults(&sim, json!({"truncate_json_count": 1, "slow_ms": 50})).await;
    let r = query(&sim, &t, "SELECT Id FROM User", None).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "truncated body is not JSON"
    );
    let r = query(&sim, &t, "SELECT Id FROM User", None).await;
    assert!(r.json::<Value>().await.is_ok());

    // Bad fault specs are refused.
    let r = client()
        .post(format!("{}/__admin/faults", sim.base_url()))
        .json(&json!({"http_5xx_probability": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client()
        .post(format!("{}/__admin/faults", sim.base_url()))
        .json(&json!({"no_such_fault": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn late_rows_and_equal_times_across_page_boundaries() {
    let sim = start(config()).await;
    let t = token(&sim).await;
    let soql = "SELECT Id, LoginTime FROM LoginHistory WHERE LoginTime > 2000-01-01T00:00:00Z ORDER BY LoginTime ASC";
    let (before, _) = query_all(&sim, &t, soql, None).await;
    admin_faults(&sim, json!({"late_rows": 5, "late_rows_after_queries": 2})).await;
    let (hidden, _) = query_all(&sim, &t, soql, None).await;
    assert_eq!(hidden.len(), before.len() - 5);
    let newest_returned = hidden.last().unwrap()["LoginTime"]
        .as_str()
        .unwrap()
        .to_string();
    let (after, _) = query_all(&sim, &t, soql, None).await;
    assert_eq!(after.len(), before.len());
    let seen: HashSet<_> = hidden.iter().map(|r| r["Id"].clone()).collect();
    let late: Vec<_> = after.iter().filter(|r| !seen.contains(&r["Id"])).collect();
    assert_eq!(late.len(), 5);
    assert!(
        late.iter()
            .all(|r| r["LoginTime"].as_str().unwrap() < newest_returned.as_str()),
        "late rows are older than rows already returned"
    );

    admin_faults(&sim, json!({"equal_time_groups": 3})).await;
    let first: Value = query(&sim, &t, soql, Some(200)).await.json().await.unwrap();
    let recs = first["records"].as_array().unwrap();
    let next: Value = get(&sim, &t, first["nextRecordsUrl"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let (last, following) = (&recs[199]["LoginTime"], &next["records"][0]["LoginTime"]);
    // 200 is not a multiple of 3: the group straddling the boundary shares one LoginTime.
    assert_eq!(last, following);
}

#[tokio::test]
async fn labels_are_served_and_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.json");
    let mut cfg = config();
    cfg.labels_path = Some(path.clone());
    let sim = start(cfg).await;
    let file: Vec<loginwatch_sfsim::Label> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(file, sim.labels());
    let served: Vec<loginwatch_sfsim::Label> = client()
        .get(format!("{}/__admin/labels", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, file);
    let cats: HashSet<_> = file.iter().map(|l| l.category.as_str()).collect();
    assert_eq!(cats.len(), 10, "{cats:?}");
}

#[tokio::test]
async fn bad_config_names_the_key() {
    let mut cfg = config();
    cfg.default_batch_size = 50;
    let e = loginwatch_sfsim::start(cfg)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("default_batch_size"), "{e}");
    let mut cfg = config();
    cfg.orgs[0].org_id = "00Dbad".into();
    let e = loginwatch_sfsim::start(cfg)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("orgs[0].org_id"), "{e}");
    let e = loginwatch_shared::config::load_str::<loginwatch_sfsim::SimConfig>("sede = 1")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("sede"), "{e}");
}
