//! HTTP endpoints: OAuth token / revoke / userinfo, REST query + query-more, EventLogFile
//! LogFile download, CometD, and the `/__admin` fault-injection and label endpoints.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use rand::Rng;
use serde_json::{json, Value};

use crate::faults::FaultSpec;
use crate::model::{status, LoginSubType};
use crate::query::{self, ApiError};
use crate::state::{AppState, Cursor, TokenInfo};

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/services/oauth2/token", post(token))
        .route("/services/oauth2/revoke", post(revoke))
        .route("/services/oauth2/userinfo", get(userinfo))
        .route("/services/data/{ver}/query", get(query_start))
        .route("/services/data/{ver}/query/{locator}", get(query_more))
        .route(
            "/services/data/{ver}/sobjects/EventLogFile/{id}/LogFile",
            get(log_file),
        )
        .route("/cometd/{ver}", post(crate::cometd::handle))
        .route(
            "/__admin/faults",
            post(faults_set).get(faults_get).delete(faults_clear),
        )
        .route("/__admin/labels", get(labels))
        .route("/__admin/stats", get(stats))
        .fallback(not_found)
        .with_state(state)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

fn api_error(e: &ApiError) -> Response {
    json_response(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        &e.body(),
    )
}

fn oauth_error(error: &str, description: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": error, "error_description": description}),
    )
}

async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]),
    )
}

/// Standing faults shared by REST and OAuth: delay, then maybe a 5xx.
async fn standing_faults(state: &AppState) -> Option<Response> {
    let (slow, fail, code) = {
        let mut f = state.faults.lock().expect("faults lock");
        let mut fail = false;
        if f.http_5xx_remaining > 0 {
            f.http_5xx_remaining -= 1;
            fail = true;
        } else if f.http_5xx_probability > 0.0 {
            fail = state
                .fault_rng
                .lock()
                .expect("fault rng lock")
                .gen_bool(f.http_5xx_probability);
        }
        (f.slow_ms, fail, f.http_5xx_status)
    };
    if slow > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(slow)).await;
    }
    if fail {
        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let body = if code == StatusCode::SERVICE_UNAVAILABLE {
            json!([{"errorCode": "SERVER_UNAVAILABLE", "message": "Server temporarily unavailable. Please try again later."}])
        } else {
            json!([{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-1234567890)"}])
        };
        return Some(json_response(code, &body));
    }
    None
}

fn access_token(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("Bearer") || scheme.eq_ignore_ascii_case("OAuth"))
        .then(|| token.trim().to_string())
}

fn session_invalid() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
    )
}

fn limit_header(state: &AppState, org: usize) -> (header::HeaderName, HeaderValue) {
    let used = state.orgs[org]
        .api_used
        .load(Ordering::SeqCst)
        .min(state.cfg.api_daily_limit);
    (
        header::HeaderName::from_static("sforce-limit-info"),
        HeaderValue::from_str(&format!("api-usage={used}/{}", state.cfg.api_daily_limit))
            .expect("ascii header"),
    )
}

fn valid_version(ver: &str) -> bool {
    ver.strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.chars().all(|c| c.is_ascii_digit())
                && b.chars().all(|c| c.is_ascii_digit())
        })
}

/// Faults, version, session and daily allocation checks of every data API call.
async fn rest_prelude(
    state: &AppState,
    ver: &str,
    headers: &HeaderMap,
) -> Result<TokenInfo, Response> {
    if let Some(r) = standing_faults(state).await {
        return Err(r);
    }
    if !valid_version(ver) {
        return Err(not_found().await);
    }
    let Some(auth) = access_token(headers).and_then(|t| state.check_token(&t)) else {
        return Err(session_invalid());
    };
    let org = &state.orgs[auth.org];
    let used = org.api_used.load(Ordering::SeqCst);
    if used >= state.cfg.api_daily_limit {
        let mut r = json_response(
            StatusCode::FORBIDDEN,
            &json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]),
        );
        let (k, v) = limit_header(state, auth.org);
        r.headers_mut().insert(k, v);
        return Err(r);
    }
    org.api_used.fetch_add(1, Ordering::SeqCst);
    Ok(auth)
}

fn with_limit(state: &AppState, org: usize, mut r: Response) -> Response {
    let (k, v) = limit_header(state, org);
    r.headers_mut().insert(k, v);
    r
}

fn batch_size(state: &AppState, headers: &HeaderMap) -> usize {
    requested_batch_size(headers).unwrap_or(state.cfg.default_batch_size)
}

fn requested_batch_size(headers: &HeaderMap) -> Option<usize> {
    headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',').find_map(|kv| {
                kv.trim()
                    .strip_prefix("batchSize=")
                    .and_then(|n| n.trim().parse::<usize>().ok())
            })
        })
        // Salesforce: min 200, max 2000, not guaranteed.
        .map(|n| n.clamp(200, 2000))
}

fn page(
    state: &AppState,
    ver: &str,
    locator: &str,
    cursor: &Cursor,
    offset: usize,
    batch: usize,
) -> Value {
    let org = &state.orgs[cursor.org];
    let data = org.data.read().expect("org lock");
    let end = (offset + batch).min(cursor.rows.len());
    let records = query::render_records(&cursor.plan, &data, &cursor.rows[offset..end], &org.pod);
    let mut body = json!({"totalSize": cursor.rows.len(), "done": end >= cursor.rows.len(), "records": records});
    if end < cursor.rows.len() {
        body["nextRecordsUrl"] = json!(format!("/services/data/{ver}/query/{locator}-{end}"));
    }
    body
}

fn maybe_truncate(state: &AppState, body: String) -> String {
    let mut f = state.faults.lock().expect("faults lock");
    if f.truncate_json_remaining > 0 {
        f.truncate_json_remaining -= 1;
        let mut cut = body.len() / 2;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        return body[..cut].to_string();
    }
    body
}

fn ok_json(state: &AppState, org: usize, body: &Value) -> Response {
    let text = maybe_truncate(state, body.to_string());
    with_limit(
        state,
        org,
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
            text,
        )
            .into_response(),
    )
}

async fn query_start(
    State(state): State<Arc<AppState>>,
    Path(ver): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let auth = match rest_prelude(&state, &ver, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let q = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned());
    let Some(q) = q.filter(|q| !q.trim().is_empty()) else {
        return with_limit(
            &state,
            auth.org,
            api_error(&ApiError::new(
                400,
                "MALFORMED_QUERY",
                "A query string has to be specified",
            )),
        );
    };
    let api_version = ver.trim_start_matches('v').to_string();
    let plan = match query::plan(&q, &api_version, state.cfg.login_sub_type_spelling) {
        Ok(p) => Arc::new(p),
        Err(e) => return with_limit(&state, auth.org, api_error(&e)),
    };
    let org = &state.orgs[auth.org];
    let rows = {
        org.data.write().expect("org lock").queries += 1;
        let data = org.data.read().expect("org lock");
        query::execute(
            &plan,
            &data,
            state.now(),
            &org.pod,
            state.cfg.cometd.omit_integration_users,
        )
    };
    let n = state.locator_counter.fetch_add(1, Ordering::SeqCst);
    let locator = crate::ids::make_id("0r8", "xx00", n);
    let batch = batch_size(&state, &headers);
    let cursor = Cursor {
        org: auth.org,
        plan,
        rows: Arc::new(rows),
        batch,
        expires: Instant::now() + std::time::Duration::from_secs(state.cfg.locator_ttl_secs),
    };
    let body = page(&state, &ver, &locator, &cursor, 0, batch);
    if body["done"] == json!(false) {
        state
            .cursors
            .lock()
            .expect("cursors lock")
            .insert(locator, cursor);
    }
    ok_json(&state, auth.org, &body)
}

async fn query_more(
    State(state): State<Arc<AppState>>,
    Path((ver, locator)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let auth = match rest_prelude(&state, &ver, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let invalid = || {
        with_limit(
            &state,
            auth.org,
            api_error(&ApiError::new(
                400,
                "INVALID_QUERY_LOCATOR",
                "invalid query locator",
            )),
        )
    };
    let Some((loc, offset)) = locator.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid();
    };
    let found = {
        let mut cursors = state.cursors.lock().expect("cursors lock");
        match cursors.get(loc) {
            Some(c) if c.expires <= Instant::now() => {
                cursors.remove(loc);
                None
            }
            Some(c) if c.org == auth.org && offset <= c.rows.len() => Some(Cursor {
                org: c.org,
                plan: c.plan.clone(),
                rows: c.rows.clone(),
                batch: c.batch,
                expires: c.expires,
            }),
            _ => None,
        }
    };
    let Some(cursor) = found else {
        return invalid();
    };
    let batch = requested_batch_size(&headers).unwrap_or(cursor.batch);
    let body = page(&state, &ver, loc, &cursor, offset, batch);
    ok_json(&state, auth.org, &body)
}

async fn log_file(
    State(state): State<Arc<AppState>>,
    Path((ver, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let auth = match rest_prelude(&state, &ver, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let org = &state.orgs[auth.org];
    let data = org.data.read().expect("org lock");
    let day = query::elf_days(&data, state.now())
        .into_iter()
        .find(|&d| query::elf_id(&org.pod, d) == id);
    let Some(day) = day else {
        drop(data);
        return with_limit(
            &state,
            auth.org,
            json_response(
                StatusCode::NOT_FOUND,
                &json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]),
            ),
        );
    };
    let csv = query::elf_csv(&data, day);
    drop(data);
    with_limit(
        &state,
        auth.org,
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/csv")], csv).into_response(),
    )
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let text = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?,
    )
    .ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn token_response(
    state: &AppState,
    org: usize,
    token: &str,
    user_id: &str,
    with_signature: bool,
) -> Response {
    let mut body = json!({
        "access_token": token,
        "scope": "api",
        "instance_url": state.base_url,
        "id": format!("https://login.salesforce.com/id/{}/{}", state.orgs[org].org_id, user_id),
        "token_type": "Bearer",
    });
    if with_signature {
        let sig: [u8; 32] = state.fault_rng.lock().expect("rng lock").gen();
        body["signature"] = json!(base64::engine::general_purpose::STANDARD.encode(sig));
        body["issued_at"] = json!(state.now().timestamp_millis().to_string());
    }
    json_response(StatusCode::OK, &body)
}

fn find_user(state: &AppState, username: &str) -> Option<(usize, Arc<crate::model::SimUser>)> {
    state.orgs.iter().enumerate().find_map(|(i, o)| {
        if o.api_user.username.eq_ignore_ascii_case(username) {
            return Some((i, o.api_user.clone()));
        }
        o.data
            .read()
            .expect("org lock")
            .user_by_name(username)
            .map(|u| (i, u))
    })
}

fn app_name_for_client(state: &AppState, client_id: Option<&str>) -> String {
    let Some(id) = client_id else {
        return "Unknown".into();
    };
    state
        .jwt_keys
        .iter()
        .find(|(k, _, _)| k == id)
        .map(|(_, _, n)| n.clone())
        .or_else(|| {
            state
                .cfg
                .client_credentials
                .iter()
                .find(|c| c.client_id == id)
                .map(|c| c.app_name.clone())
        })
        .unwrap_or_else(|| "Unknown".into())
}

async fn token(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = standing_faults(&state).await {
        return r;
    }
    let f = form(&body);
    let source_ip = peer.ip().to_string();
    match f.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            jwt_bearer(&state, f.get("assertion").map(String::as_str), &source_ip)
        }
        Some("client_credentials") => {
            let (id, secret) = match (f.get("client_id"), f.get("client_secret")) {
                (Some(i), Some(s)) => (i.clone(), s.clone()),
                _ => match basic_auth(&headers) {
                    Some(p) => p,
                    None => return oauth_error("invalid_client", "invalid client credentials"),
                },
            };
            let Some(app) = state
                .cfg
                .client_credentials
                .iter()
                .find(|c| c.client_id == id && c.client_secret == secret)
            else {
                return oauth_error("invalid_client", "invalid client credentials");
            };
            let org = match &app.org_id {
                Some(o) => match state.org_index(o) {
                    Some(i) => i,
                    None => return oauth_error("invalid_client", "invalid client credentials"),
                },
                None => 0,
            };
            let user = match &app.run_as {
                Some(name) => match find_user(&state, name) {
                    Some((_, u)) => u,
                    None => {
                        return oauth_error("invalid_grant", "no client credentials user enabled")
                    }
                },
                None => state.orgs[org].api_user.clone(),
            };
            let token = state.issue_token(org, user.clone());
            state.record_login(
                org,
                user.clone(),
                Some(LoginSubType::OauthClientCredentials),
                status::SUCCESS,
                &app.app_name,
                &source_ip,
            );
            token_response(&state, org, &token, &user.user_id, true)
        }
        Some("password") => {
            let (Some(username), Some(password)) = (f.get("username"), f.get("password")) else {
                return oauth_error("invalid_grant", "authentication failure");
            };
            let app = app_name_for_client(&state, f.get("client_id").map(String::as_str));
            let Some((org, user)) = find_user(&state, username) else {
                return oauth_error("invalid_grant", "authentication failure");
            };
            let sub = Some(LoginSubType::OauthUsernamePassword);
            if !state.cfg.allow_password_grant {
                state.record_login(
                    org,
                    user,
                    sub,
                    status::UN_PW_FLOW_DISABLED,
                    &app,
                    &source_ip,
                );
                return oauth_error("invalid_grant", "authentication failure");
            }
            let ok = state
                .cfg
                .password_users
                .iter()
                .any(|p| p.username.eq_ignore_ascii_case(username) && &p.password == password);
            if !ok {
                state.record_login(org, user, sub, status::INVALID_PASSWORD, &app, &source_ip);
                return oauth_error("invalid_grant", "authentication failure");
            }
            let token = state.issue_token(org, user.clone());
            state.record_login(org, user.clone(), sub, status::SUCCESS, &app, &source_ip);
            token_response(&state, org, &token, &user.user_id, true)
        }
        _ => oauth_error("unsupported_grant_type", "grant type not supported"),
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: Option<String>,
    prn: Option<String>,
    exp: i64,
}

fn jwt_bearer(state: &AppState, assertion: Option<&str>, source_ip: &str) -> Response {
    let Some(assertion) = assertion else {
        return oauth_error("invalid_grant", "invalid assertion");
    };
    // Find the app by `iss` before verifying (the key depends on it).
    let iss = assertion
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p.trim_end_matches('='))
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("iss").and_then(Value::as_str).map(str::to_string));
    let Some(iss) = iss else {
        return oauth_error("invalid_grant", "invalid assertion");
    };
    let Some((_, key, app_name)) = state.jwt_keys.iter().find(|(k, _, _)| *k == iss) else {
        return oauth_error("invalid_client_id", "client identifier invalid");
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    // `exp` is checked against the simulated clock below (jsonwebtoken would read the wall clock).
    validation.validate_exp = false;
    let mut auds = state.cfg.jwt_audiences.clone();
    auds.push(state.base_url.clone());
    validation.set_audience(&auds);
    validation.set_issuer(&[iss.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    let claims = match jsonwebtoken::decode::<Claims>(assertion, key, &validation) {
        Ok(d) => d.claims,
        Err(_) => return oauth_error("invalid_grant", "invalid assertion"),
    };
    let skew = i64::try_from(state.cfg.jwt_skew_secs).unwrap_or(i64::MAX);
    if claims.exp.saturating_add(skew) < state.now().timestamp() {
        return oauth_error("invalid_grant", "invalid assertion");
    }
    // `prn` wins over `sub` when both are present (KB 000204593).
    let Some(username) = claims.prn.or(claims.sub) else {
        return oauth_error("invalid_grant", "invalid assertion");
    };
    let Some((org, user)) = find_user(state, &username) else {
        return oauth_error("invalid_grant", "user hasn't approved this consumer");
    };
    let token = state.issue_token(org, user.clone());
    state.record_login(
        org,
        user.clone(),
        None,
        status::SUCCESS,
        app_name,
        source_ip,
    );
    token_response(state, org, &token, &user.user_id, false)
}

async fn revoke(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let f = form(&body);
    let Some(t) = f.get("token") else {
        return oauth_error("unsupported_token_type", "this token type is not supported");
    };
    if state
        .tokens
        .lock()
        .expect("tokens lock")
        .remove(t)
        .is_some()
    {
        StatusCode::OK.into_response()
    } else {
        oauth_error("invalid_token", "invalid token")
    }
}

async fn userinfo(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(auth) = access_token(&headers).and_then(|t| state.check_token(&t)) else {
        // The identity service answers 403 with a plain text body for bad tokens.
        return (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response();
    };
    let org = &state.orgs[auth.org];
    json_response(
        StatusCode::OK,
        &json!({
            "sub": format!("https://login.salesforce.com/id/{}/{}", org.org_id, auth.user.user_id),
            "user_id": auth.user.user_id,
            "organization_id": org.org_id,
            "preferred_username": auth.user.username,
            "name": auth.user.name,
            "email": auth.user.username,
            "user_type": "STANDARD",
            "active": true
        }),
    )
}

async fn faults_set(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("fault spec: {e}")}),
            )
        }
    };
    match state.apply_faults(&spec) {
        Ok(()) => json_response(StatusCode::OK, &json!({"applied": spec})),
        Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e})),
    }
}

async fn faults_get(State(state): State<Arc<AppState>>) -> Response {
    let f = state.faults.lock().expect("faults lock").clone();
    json_response(
        StatusCode::OK,
        &serde_json::to_value(f).unwrap_or(Value::Null),
    )
}

async fn faults_clear(State(state): State<Arc<AppState>>) -> Response {
    let _ = state.apply_faults(&FaultSpec::default());
    json_response(StatusCode::OK, &json!({"cleared": true}))
}

async fn labels(State(state): State<Arc<AppState>>) -> Response {
    let all: Vec<_> = state
        .orgs
        .iter()
        .flat_map(|o| o.data.read().expect("org lock").labels.clone())
        .collect();
    json_response(
        StatusCode::OK,
        &serde_json::to_value(all).unwrap_or(Value::Null),
    )
}

async fn stats(State(state): State<Arc<AppState>>) -> Response {
    let orgs: Vec<Value> = state
        .orgs
        .iter()
        .map(|o| {
            let d = o.data.read().expect("org lock");
            json!({"org_id": o.org_id, "logins": d.logins.len(), "stream_events": d.stream.len(), "api_used": o.api_used.load(Ordering::SeqCst)})
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"logins": state.login_count(), "sim_time": crate::render::iso_time(state.now()), "cometd_clients": state.cometd.len(), "orgs": orgs}),
    )
}
