//! Human durations in rule files and configs: `500ms`, `30s`, `15m`, `1h`, `7d`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of event time, in milliseconds. Written `500ms`, `30s`, `15m`, `1h` or `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub i64);

impl Span {
    pub const fn millis(ms: i64) -> Span {
        Span(ms)
    }
    pub const fn seconds(s: i64) -> Span {
        Span(s * 1000)
    }
    pub const fn minutes(m: i64) -> Span {
        Span(m * 60_000)
    }
    pub const fn hours(h: i64) -> Span {
        Span(h * 3_600_000)
    }
    pub fn as_millis(self) -> i64 {
        self.0
    }
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.max(0) as u64)
    }
    /// SQL interval literal DataFusion understands, e.g. `INTERVAL '900000 milliseconds'`.
    pub fn sql_interval(self) -> String {
        format!("INTERVAL '{} milliseconds'", self.0)
    }

    pub fn parse(text: &str) -> Result<Span, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: i64 = num.parse().map_err(|_| {
            format!("{text:?} is not a duration; write e.g. 500ms, 30s, 15m, 1h or 7d")
        })?;
        let factor = match unit.trim() {
            "ms" => 1,
            "s" => 1000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => {
                return Err(format!(
                    "{text:?} has unknown unit {unit:?}; use ms, s, m, h or d"
                ))
            }
        };
        n.checked_mul(factor)
            .map(Span)
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        for (unit, factor) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
        ] {
            if ms != 0 && ms % factor == 0 {
                return write!(f, "{}{unit}", ms / factor);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(Span::parse("15m").unwrap(), Span::minutes(15));
        assert_eq!(Span::parse("500ms").unwrap(), Span::millis(500));
        assert_eq!(Span::parse("7d").unwrap().to_string(), "7d");
        assert_eq!(Span::parse("90s").unwrap().to_string(), "90s");
        assert!(Span::parse("5 parsecs").unwrap_err().contains("unit"));
        assert!(Span::parse("m").is_err());
    }
}
