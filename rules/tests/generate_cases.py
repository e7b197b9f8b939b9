# How the recorded rule cases under rules/tests/ were written (python3 rules/tests/generate_cases.py).
import json, os, datetime as dt
ORG = "00D5g000004ABCDEAA"
BASE = dt.datetime(2026, 11, 2, 0, 0, 0, tzinfo=dt.timezone.utc)  # a Monday
root = os.path.dirname(os.path.abspath(__file__))  # rules/tests

def ts(t): return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond//1000:03d}Z"

def ev(eid, t, user, outcome="success", **kw):
    e = {"event_id": eid, "org_id": ORG, "source": "login_event_stream", "event_time": ts(t), "ingested_at": ts(t),
         "user_id": user, "username": (user[-4:] + "@example.com") if user else None,
         "login_type": "Application", "login_sub_type": None, "auth_method": "ui_password",
         "status": "Success" if outcome == "success" else "Invalid Password", "outcome": outcome,
         "failure_reason": None if outcome == "success" else "invalid_password",
         "application": "Browser", "source_ip": "198.51.100.1", "country_iso": "US"}
    e.update(kw)
    return {k: v for k, v in e.items() if v is not None}

def at(h=0, m=0, s=0, d=0): return BASE + dt.timedelta(days=d, hours=h, minutes=m, seconds=s)

def write(rule, case, events, expected):
    d = os.path.join(root, rule); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, case + ".input.jsonl"), "w") as f:
        for e in events: f.write(json.dumps(e) + "\n")
    with open(os.path.join(d, case + ".expected.jsonl"), "w") as f:
        for e in expected: f.write(json.dumps(e) + "\n")

U = lambda n: "0055g00000USER%03dAA" % n
OAUTH_PW = dict(login_type="Remote Access 2.0", login_sub_type="OAuth Username-Password", auth_method="oauth_username_password",
                application="DataLoader Integration", source_ip="203.0.113.10", api_type=None)

# LW-001
evs = [ev(f"up-{i}", at(10, 10 * i, 5), U(1), **OAUTH_PW) for i in range(5)]
evs.append(ev("up-blocked", at(11, 15), U(1), outcome="failure", status="Username-Password Flow Disabled",
              failure_reason="username_password_flow_disabled", **OAUTH_PW))
write("oauth_username_password", "success_repeats_and_blocked", evs, [
    {"start": ts(at(10)), "severity": "high", "count": 5, "user_id": U(1), "source_ip": "203.0.113.10",
     "application": "DataLoader Integration", "evidence": [f"up-{i}" for i in range(5)], "message_contains": "Successful OAuth Username-Password login"},
    {"start": ts(at(10)), "severity": "high", "count": 5, "user_id": U(1), "message_contains": "logins in this 1h window"},
    {"start": ts(at(11)), "severity": "medium", "count": 1, "user_id": U(1), "evidence": ["up-blocked"], "message_contains": "Username-Password Flow Disabled"},
])
JWT = dict(login_type="Remote Access 2.0", login_sub_type="OAuth JWT Bearer", auth_method="oauth_jwt_bearer", application="Billing Sync")
write("oauth_username_password", "jwt_bearer_never_matches", [ev(f"jwt-{i}", at(9, i), U(2), **JWT) for i in range(3)], [])
MISSING = dict(login_type="Remote Access 2.0", auth_method="oauth_other", application="Unknown Flow App")
write("oauth_username_password", "missing_sub_type_is_not_password", [ev(f"ms-{i}", at(9, i), U(3), **MISSING) for i in range(3)], [])

# LW-002
SOAP = dict(login_type="Other Apex API", login_sub_type=None, auth_method="soap_password", application="N/A",
            api_type="SOAP Partner", source_ip="192.0.2.44")
evs = [ev(f"soap-{i}", at(9, 5 * i), U(4), **SOAP) for i in range(3)]
evs.append(ev("soap-fail", at(9, 30), U(4), outcome="failure", **SOAP))
write("soap_password_login", "soap_logins", evs, [
    {"start": ts(at(9)), "severity": "high", "count": 3, "user_id": U(4), "source_ip": "192.0.2.44", "evidence": ["soap-0", "soap-1", "soap-2"], "message_contains": "SOAP API login()"},
    {"start": ts(at(9)), "severity": "high", "count": 3, "user_id": U(4), "message_contains": "logins in this 1h window"},
    {"start": ts(at(9)), "severity": "medium", "count": 1, "user_id": U(4), "evidence": ["soap-fail"]},
])
write("soap_password_login", "missing_sub_type_is_not_password", [ev(f"ms-{i}", at(9, i), U(3), **MISSING) for i in range(3)], [])

# LW-003
evs = [ev(f"bf-{i}", at(10, 0, 30 * i), U(5), outcome="failure", source_ip="203.0.113.66") for i in range(12)]
evs.append(ev("bf-ok", at(10, 7), U(5), source_ip="203.0.113.66"))
evs += [ev(f"bf-noise-{i}", at(8, i * 7), U(5)) for i in range(3)]
write("brute_force", "failures_then_success", evs, [
    {"start": ts(at(10)), "severity": "high", "count": 12, "user_id": U(5), "evidence": [f"bf-{i}" for i in range(12)], "message_contains": "followed by a successful login"},
])
flood = [ev(f"rot-{i}", at(14, 0, 10 * i), U(6), outcome="failure", status="Failed: API security token required",
            failure_reason="api_security_token_required", login_type="Other Apex API", auth_method="soap_password", application="N/A") for i in range(15)]
write("brute_force", "failure_flood_after_rotation", flood, [
    {"start": ts(at(14)), "severity": "medium", "count": 15, "user_id": U(6)},
])
slow = [ev(f"slow-{i}", at(1, 20 * i), U(7), outcome="failure") for i in range(12)]
few = [ev(f"few-{i}", at(12, 0, 20 * i), U(8), outcome="failure") for i in range(9)]
rate = [ev(f"rl-{i}", at(13, 0, i), U(9), outcome="failure", status="Login rate exceeded", failure_reason="login_rate_exceeded") for i in range(20)]
write("brute_force", "slow_or_few_failures_are_quiet", slow + few + rate, [])

# LW-004
spray = [ev(f"sp-{i}", at(10, i // 4, 10 * (i % 4)), U(100 + i), outcome="failure", source_ip="198.51.100.7") for i in range(16)]
write("password_spray", "sixteen_users_from_one_ip", spray, [
    {"start": ts(at(10)), "severity": "high", "count": 16, "source_ip": "198.51.100.7"},
])
spray2 = [ev(f"sq-{i}", at(10, i // 4, 10 * (i % 4)), U(200 + i), outcome="failure", source_ip="198.51.100.8") for i in range(14)]
spray2 += [ev(f"sq-x-{i}", at(11, 0, i), U(300 + i), outcome="failure", source_ip="198.51.100.9", status="User is Frozen", failure_reason="user_frozen") for i in range(20)]
write("password_spray", "below_threshold_or_not_password", spray2, [])

# LW-005
PARIS = dict(latitude=48.8566, longitude=2.3522, country_iso="FR", city="Paris", source_ip="192.0.2.10")
NY = dict(latitude=40.7128, longitude=-74.006, country_iso="US", city="New York", source_ip="198.51.100.20")
LONDON = dict(latitude=51.5074, longitude=-0.1278, country_iso="GB", city="London", source_ip="192.0.2.30")
evs = [ev("it-paris", at(10), U(10), **PARIS), ev("it-ny", at(12, 30), U(10), **NY)]
write("impossible_travel", "paris_then_new_york", evs, [
    {"start": ts(at(12, 30)), "severity": "high", "count": 2, "user_id": U(10), "country_iso": "US", "evidence": ["it-paris", "it-ny"], "message_contains": "km from the previous login in Paris"},
])
evs = [ev("ok-paris", at(10), U(11), **PARIS), ev("ok-london", at(12), U(11), **LONDON), ev("ok-ny", at(22), U(11), **NY),
       ev("fail-far", at(22, 5), U(11), outcome="failure", **PARIS)]
write("impossible_travel", "plausible_moves_are_quiet", evs, [])

# LW-006
evs = [ev(f"nc-{d}", at(9, d=d), U(12)) for d in range(5)]
evs.append(ev("nc-ru", at(9, d=5), U(12), country_iso="RU", source_ip="203.0.113.99"))
evs.append(ev("nc-ru2", at(10, d=5), U(12), country_iso="RU", source_ip="203.0.113.99"))
evs += [ev("young-1", at(9, d=4), U(13)), ev("young-fr", at(9, d=5), U(13), country_iso="FR")]
write("new_country", "new_country_after_learning", evs, [
    {"start": ts(at(9, d=5)), "severity": "medium", "count": 1, "user_id": U(12), "country_iso": "RU", "evidence": ["nc-ru"]},
])

# LW-007
API = dict(login_type="Remote Access 2.0", login_sub_type="OAuth JWT Bearer", auth_method="oauth_jwt_bearer", application="Billing Sync", source_ip="203.0.113.20")
evs = [ev(f"ip-{i}", at(6 * i), U(14), **API) for i in range(17)]
new_ip = dict(API); new_ip["source_ip"] = "192.0.2.99"
evs += [ev("ip-new", at(8, d=4, m=1), U(14), **new_ip), ev("ip-new-again", at(9, d=4), U(14), **new_ip)]
evs += [ev(f"ui-{i}", at(6 * i), U(15)) for i in range(17)] + [ev("ui-new", at(8, d=4), U(15), source_ip="192.0.2.123")]
write("new_source_ip", "api_login_from_new_ip", evs, [
    {"start": ts(at(8, d=4, m=1)), "severity": "medium", "count": 1, "user_id": U(14), "source_ip": "192.0.2.99", "application": "Billing Sync", "evidence": ["ip-new"]},
])

# LW-008
evs = [ev(f"app-{d}", at(9, d=d), U(16)) for d in range(5)]
evs += [ev("app-na", at(10, d=4), U(16), application="N/A", login_type="Other Apex API", auth_method="soap_password"),
        ev("app-new", at(11, d=4), U(17), application="Shady Exporter", login_type="Remote Access 2.0", auth_method="oauth_web_server")]
evs += [ev("app-early", at(10, d=1), U(16), application="Early App")]
write("new_application", "new_app_after_learning", evs, [
    {"start": ts(at(11, d=4)), "severity": "low", "count": 1, "application": "Shady Exporter", "evidence": ["app-new"]},
])

# LW-009
evs = []
for d in range(14):
    if (BASE + dt.timedelta(days=d)).weekday() >= 5: continue
    for h in range(9, 18):
        evs.append(ev(f"uh-{d}-{h}", at(h, 15, d=d), U(18)))
evs.append(ev("uh-odd", at(3, 20, d=13), U(18)))  # Sunday 03:20
evs.append(ev("uh-odd2", at(3, 40, d=13), U(18)))
write("unusual_hour", "sunday_night_login", evs, [
    {"start": ts(at(3, d=13)), "severity": "low", "count": 1, "user_id": U(18), "evidence": ["uh-odd"]},
])
write("unusual_hour", "learning_period_is_quiet", [ev(f"fresh-{h}", at(h, 5), U(19)) for h in range(24)], [])

# LW-010
evs = []
for h in range(30):
    for i in range(10):
        evs.append(ev(f"rs-{h}-{i}", at(h, i * 5), U(20), **SOAP))
for i in range(200):
    evs.append(ev(f"rs-spike-{i}", at(31, 0, i * 15), U(20), **SOAP))
evs += [ev(f"rle-{i}", at(5, 0, i), U(21), outcome="failure", status="Login rate exceeded", failure_reason="login_rate_exceeded") for i in range(3)]
write("login_rate_spike", "spike_and_rate_exceeded", evs, [
    {"start": ts(at(31)), "severity": "medium", "count": 200, "user_id": U(20)},
    {"start": ts(at(5)), "severity": "high", "count": 3, "user_id": U(21), "message_contains": "Login rate exceeded"},
])
write("login_rate_spike", "steady_rate_is_quiet", evs[:300], [])
print("ok")
