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
# The failure flood of an integration still using a rotated password, then its security token:
# a failure every 2 minutes for an hour never reaches 10 in 15 min, but 30 in a row is a flood.
ROT = dict(login_type="Remote Access 2.0", login_sub_type="OAuth Username-Password", auth_method="oauth_username_password",
           application="DataLoader Integration", source_ip="203.0.113.10")
def rot_status(i):
    return (dict(status="Invalid Password", failure_reason="invalid_password") if i < 18
            else dict(status="Failed: API security token required", failure_reason="api_security_token_required"))
flood2 = [ev(f"fl-{i}", at(14, 2 * i, 7), U(22), outcome="failure", **ROT, **rot_status(i)) for i in range(30)]
fixed = [ev(f"fx-{i}", at(16, 2 * i, 7), U(23), outcome="failure", **ROT, **rot_status(i)) for i in range(25)]
fixed.append(ev("fx-ok", at(16, 55), U(23), **ROT))  # the owner updated the credentials
write("brute_force", "slow_failure_flood_every_two_minutes", flood2 + fixed, [
    {"start": ts(at(14, 0, 7)), "severity": "medium", "count": 30, "user_id": U(22), "source_ip": "203.0.113.10",
     "evidence": [f"fl-{i}" for i in range(20)],  # the engine keeps the first 20 evidence ids
     "message_contains": "Failure flood: 30 failed logins"},
    {"start": ts(at(16, 0, 7)), "severity": "high", "count": 25, "user_id": U(23),
     "evidence": [f"fx-{i}" for i in range(20)], "message_contains": "followed by a successful login"},
])
# Below the flood threshold (19 failures two minutes apart, peak 8 in 15 min), and a flood broken
# by gaps longer than the session gap (3 bursts of 8): quiet.
short = [ev(f"sh-{i}", at(9, 2 * i), U(24), outcome="failure", **ROT) for i in range(19)]
broken = [ev(f"br-{b}-{i}", at(12 + b, 2 * i), U(25), outcome="failure", **ROT) for b in range(3) for i in range(8)]
write("brute_force", "slow_failures_below_flood_are_quiet", short + broken, [])

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
# A person's first "Salesforce for iOS" login (Remote Access 2.0, refresh token) from the home IP
# their browser logins already came from: a new application for the user, not a new place.
MOBILE = dict(login_type="Remote Access 2.0", login_sub_type="OAuth Refresh Token", auth_method="oauth_refresh_token",
              application="Salesforce for iOS")
HOME, OFFICE = "198.51.100.50", "198.51.100.60"
evs = [ev(f"web-{d}-{h}", at(h, 10, d=d), U(26), source_ip=HOME if h % 2 else OFFICE) for d in range(5) for h in (9, 12, 15)]
evs += [ev("ios-first", at(18, 5, d=5), U(26), source_ip=HOME, **MOBILE),
        ev("ios-again", at(19, 5, d=5), U(26), source_ip=HOME, **MOBILE)]
# A newly authorised connected app used from the office network: same reasoning.
evs += [ev("app-office", at(11, 0, d=5), U(26), source_ip=OFFICE, login_type="Remote Access 2.0",
           login_sub_type="OAuth Web Server", auth_method="oauth_web_server", application="Mail Merge Helper")]
write("new_source_ip", "first_app_login_from_known_ip_is_quiet", evs, [])
# The user's first login through an application from an IP unknown in every application (a
# stolen password used through the OAuth Username-Password flow from abroad): alerts.
evs = [ev(f"web2-{d}-{h}", at(h, 10, d=d), U(27), source_ip=HOME) for d in range(5) for h in (9, 15)]
evs += [ev("stolen", at(10, 30, d=5), U(27), country_iso="RO", **dict(OAUTH_PW, source_ip="203.0.113.77"))]
write("new_source_ip", "first_app_login_from_unknown_ip", evs, [
    {"start": ts(at(10, 30, d=5)), "severity": "medium", "count": 1, "user_id": U(27), "source_ip": "203.0.113.77",
     "application": "DataLoader Integration", "evidence": ["stolen"], "message_contains": "never seen for this user in any application"},
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
# An integration around the clock (1-6 logins an hour) that has not yet logged in during Sunday
# 03:00: its first login in that hour-of-week slot is not unusual; it has no unusual hour.
INTEG = dict(login_type="Remote Access 2.0", login_sub_type="OAuth JWT Bearer", auth_method="oauth_jwt_bearer",
             application="Billing Sync", source_ip="203.0.113.20")
evs = []
for d in range(14):
    for h in range(24):
        if h == 3 and d in (6, 13):
            continue
        for i in range(1 + (d * 7 + h * 3) % 6):
            evs.append(ev(f"rc-{d}-{h}-{i}", at(h, 7 + 9 * i, d=d), U(28), **INTEG))
evs.append(ev("rc-sunday-3", at(3, 30, d=13), U(28), **INTEG))
write("unusual_hour", "round_the_clock_integration_is_quiet", evs, [])
# A person working Monday-Friday 09:00-17:59 UTC who has never logged in on a Wednesday at
# 09:00, on a Saturday, or as early as 08:00: logins in those hour-of-week slots during (or an
# hour before) their usual working hours of the day are not unusual.
evs = []
for d in range(12):
    if (BASE + dt.timedelta(days=d)).weekday() >= 5: continue
    for h in range(9, 18):
        if h == 9 and d in (2, 9): continue  # Wednesdays start late
        evs.append(ev(f"wd-{d}-{h}", at(h, 15, d=d), U(29)))
evs += [ev("wd-wednesday-9", at(9, 40, d=9), U(29)),   # Wednesday 09:40, a new hour-of-week slot
        ev("wd-early", at(8, 35, d=10), U(29)),        # Thursday 08:35, an hour before the usual start
        ev("wd-saturday", at(11, 5, d=12), U(29))]     # Saturday 11:05
write("unusual_hour", "working_hours_in_new_weekday_slot_is_quiet", evs, [])
# The same kind of person at 07:20, two hours before any login they ever made: unusual.
evs = [ev(f"dw-{d}-{h}", at(h, 15, d=d), U(30)) for d in range(12) if (BASE + dt.timedelta(days=d)).weekday() < 5 for h in range(9, 18)]
evs.append(ev("dw-dawn", at(7, 20, d=10), U(30)))
write("unusual_hour", "two_hours_before_the_working_day", evs, [
    {"start": ts(at(7, d=10)), "severity": "low", "count": 1, "user_id": U(30), "evidence": ["dw-dawn"],
     "message_contains": "logged in at 7:00 UTC; 0 of 72 earlier successes fell within 1 h of that hour of the day (the user logs in during 9 of 24"},
])

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
