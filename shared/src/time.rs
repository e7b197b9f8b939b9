//! Time helpers: the wire format of timestamps (RFC 3339, UTC, milliseconds).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// Truncates to millisecond precision, the precision of every Salesforce source and of the Arrow schema.
pub fn truncate_to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t.timestamp_millis())
        .single()
        .unwrap_or(t)
}

pub fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

pub fn to_rfc3339_millis(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// serde `with` module: `2026-11-02T14:03:11.000Z` on the wire; accepts any RFC 3339 offset on input.
pub mod rfc3339_millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::to_rfc3339_millis(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| serde::de::Error::custom(format!("invalid timestamp {text:?}: {e}")))
    }
}

/// Same as [`rfc3339_millis`] for optional timestamps.
pub mod rfc3339_millis_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::to_rfc3339_millis(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        text.map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| serde::de::Error::custom(format!("invalid timestamp {text:?}: {e}")))
        })
        .transpose()
    }
}

/// Where the product reads the current time.
///
/// Production uses [`Clock::system`]. The simulator, tests and replays anchor a clock at a fixed
/// instant ([`Clock::starting_at`]): it then advances with real elapsed (monotonic) time, so a
/// test's data and expectations are the same on any day, at any hour and in any time zone,
/// while timeouts, token lifetimes and long polls still behave as they would in production.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    anchor: Option<Anchor>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Anchor {
    real: std::time::Instant,
    at: DateTime<Utc>,
    speed: f64,
}

impl Clock {
    /// The machine's wall clock.
    pub fn system() -> Clock {
        Clock { anchor: None }
    }

    /// Reads `at` now, then advances with real elapsed time.
    pub fn starting_at(at: DateTime<Utc>) -> Clock {
        Clock::starting_at_speed(at, 1.0)
    }

    /// Reads `at` now, then advances `speed` times faster than real time (the simulator's live mode).
    /// A speed that is not a positive finite number is taken as 1.
    pub fn starting_at_speed(at: DateTime<Utc>, speed: f64) -> Clock {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Clock {
            anchor: Some(Anchor {
                real: std::time::Instant::now(),
                at,
                speed,
            }),
        }
    }

    /// True for the machine's wall clock.
    pub fn is_system(&self) -> bool {
        self.anchor.is_none()
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.anchor {
            None => Utc::now(),
            Some(a) => {
                let elapsed = a.real.elapsed().as_secs_f64() * a.speed;
                let micros = (elapsed * 1e6).min(i64::MAX as f64) as i64;
                a.at.checked_add_signed(chrono::Duration::microseconds(micros))
                    .unwrap_or(a.at)
            }
        }
    }

    /// The current time at millisecond precision (the precision of every timestamp on the wire).
    pub fn now_millis(&self) -> DateTime<Utc> {
        truncate_to_millis(self.now())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn an_anchored_clock_starts_at_its_anchor_and_advances_with_real_time() {
        let at: DateTime<Utc> = "2028-02-29T23:59:59.500Z".parse().unwrap();
        let clock = Clock::starting_at(at);
        let first = clock.now();
        assert!(
            first >= at && first - at < chrono::Duration::seconds(5),
            "{first}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        let later = clock.now();
        assert!(
            later - first >= chrono::Duration::milliseconds(20),
            "{first} → {later}"
        );
        assert!(!clock.is_system());
        assert_eq!(clock.now_millis().timestamp_subsec_micros() % 1000, 0);
    }

    #[test]
    fn a_fast_clock_runs_speed_times_faster_and_a_bad_speed_is_real_time() {
        let at: DateTime<Utc> = "2026-12-31T23:59:00Z".parse().unwrap();
        let fast = Clock::starting_at_speed(at, 1000.0);
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert!(
            fast.now() - at >= chrono::Duration::seconds(10),
            "{}",
            fast.now()
        );
        let bad = Clock::starting_at_speed(at, f64::NAN);
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert!(bad.now() - at < chrono::Duration::seconds(5));
    }

    #[test]
    fn the_system_clock_is_the_wall_clock() {
        let c = Clock::system();
        assert!(c.is_system());
        let d = (c.now() - Utc::now()).num_seconds().abs();
        assert!(d <= 1);
    }
}
