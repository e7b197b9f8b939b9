//! Configuration loading: a TOML file, every key overridable by `LOGINWATCH_*` environment variables
//! (`LOGINWATCH_KAFKA__BOOTSTRAP_SERVERS` sets `kafka.bootstrap_servers`; `__` separates levels),
//! and secrets that never print.
//!
//! Secrets ([`SecretRef`]) are written `{ env = "VAR" }` or `{ file = "/path" }` (tests may use
//! `{ value = "…" }`). A secret written as a plain string is refused, naming the key and the
//! accepted forms but never the value; settings that may carry a secret without always being one
//! (a webhook URL, a header) are [`Sensitive`]: plain or in a secret form, never printed. Errors
//! never quote the config file's text: a TOML syntax error names the line, column and key, and a
//! type error at a key that may hold a secret does not show the value found.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use figment::error::{Actual, Kind};
use figment::providers::{Env, Format, Toml};
use figment::value::Value;
use figment::Figment;
use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The forms a secret takes in a config file, as quoted in errors.
pub const SECRET_FORMS: &str = "`{ env = \"VAR\" }` (read from environment variable VAR at start-up) or `{ file = \"/path\" }` (read from a file, e.g. a mounted secret; a trailing newline is dropped); `{ value = \"…\" }` is for tests only";

/// What a plain-string secret is told. The value is never part of it.
const PLAIN_SECRET: &str = "is a secret written as a plain string, which is refused (the value is not shown). Whoever maintains this config must move the value out of the file and write the key as";

/// A config problem the operator must fix; the message names the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
}

impl ConfigError {
    pub fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Key {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The message without the key or file it is about.
    pub fn message(&self) -> &str {
        match self {
            ConfigError::File { message, .. } | ConfigError::Key { message, .. } => message,
        }
    }
}

/// Loads `T` from an optional TOML file plus `LOGINWATCH_*` environment overrides.
/// Unknown keys are rejected when `T` uses `#[serde(deny_unknown_fields)]`.
pub fn load<T: DeserializeOwned>(path: Option<&Path>) -> Result<T, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = path {
        if !path.exists() {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                message: "does not exist; pass an existing TOML file to --config".into(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            message: format!(
                "cannot read it: {e}; check the path, its permissions and that it is UTF-8 text"
            ),
        })?;
        check_syntax(&text, Some(path))?;
        figment = figment.merge(Toml::string(&text));
    }
    load_from(
        figment.merge(Env::prefixed("LOGINWATCH_").split("__")),
        path,
    )
}

/// Loads `T` from TOML text (tests, embedded defaults) plus environment overrides.
pub fn load_str<T: DeserializeOwned>(toml: &str) -> Result<T, ConfigError> {
    check_syntax(toml, None)?;
    load_from(
        Figment::new()
            .merge(Toml::string(toml))
            .merge(Env::prefixed("LOGINWATCH_").split("__")),
        None,
    )
}

/// Parses `text` as TOML only to report syntax errors without quoting the file: the toml crate's
/// own message shows the offending line, which may hold a secret.
fn check_syntax(text: &str, path: Option<&Path>) -> Result<(), ConfigError> {
    let Err(e) = toml::from_str::<toml::Table>(text) else {
        return Ok(());
    };
    let what = e
        .message()
        .trim()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    let Some(span) = e.span() else {
        let message = format!("TOML syntax error: {what}; fix the file");
        return Err(match path {
            Some(p) => ConfigError::File {
                path: p.to_path_buf(),
                message,
            },
            None => ConfigError::key("(root)", message),
        });
    };
    let start = span.start.min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map_or(before, |(_, l)| l)
        .chars()
        .count()
        + 1;
    let key = key_at_line(text, line);
    let message = |place: String| {
        format!(
            "TOML syntax error at {place}: {what}. Fix the file there; the line is not quoted because it may hold a secret"
        )
    };
    let at = format!("line {line}, column {column}");
    Err(match (path, key) {
        (Some(p), Some(k)) => ConfigError::File {
            path: p.to_path_buf(),
            message: message(format!("{at} (key `{k}`)")),
        },
        (Some(p), None) => ConfigError::File {
            path: p.to_path_buf(),
            message: message(at),
        },
        (None, Some(k)) => ConfigError::key(k, message(at)),
        (None, None) => ConfigError::key("(root)", message(at)),
    })
}

/// The dotted key written on line `line` (1-based), prefixed by its `[table]`, when the line is a
/// `key = …` line outside a multi-line string; never any part of a value.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let current = lines.get(line.checked_sub(1)?)?;
    // Inside a multi-line string (a PEM key, say) nothing on the line is a key.
    let quotes: usize = lines[..line - 1]
        .iter()
        .map(|l| l.matches("\"\"\"").count() + l.matches("'''").count())
        .sum();
    if quotes % 2 == 1 {
        return None;
    }
    let is_key = |s: &str| {
        !s.is_empty()
            && s.len() <= 80
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | ' '))
    };
    let table = lines[..line - 1].iter().rev().find_map(|l| {
        let l = l.split('#').next().unwrap_or_default().trim();
        let inner = l
            .strip_prefix("[[")
            .and_then(|r| r.strip_suffix("]]"))
            .or_else(|| l.strip_prefix('[').and_then(|r| r.strip_suffix(']')))?;
        is_key(inner.trim()).then(|| inner.trim().to_string())
    });
    let (lhs, _) = current.split_once('=')?;
    let key = lhs.trim();
    if !is_key(key) || key.contains(' ') && !key.starts_with('"') {
        return None;
    }
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

thread_local! {
    /// The plain string a [`SecretRef`] was last refused for during this thread's extraction:
    /// only used to find which key held it (serde's internally tagged enums lose the path).
    static REFUSED_PLAIN_SECRET: RefCell<Option<Secret>> = const { RefCell::new(None) };
}

fn load_from<T: DeserializeOwned>(figment: Figment, path: Option<&Path>) -> Result<T, ConfigError> {
    REFUSED_PLAIN_SECRET.with(|s| s.borrow_mut().take());
    let extracted = figment.extract::<T>();
    let refused = REFUSED_PLAIN_SECRET.with(|s| s.borrow_mut().take());
    extracted.map_err(|errors| {
        let e = errors
            .into_iter()
            .next()
            .expect("figment reports at least one error");
        let mut segments = e.path.clone();
        let redact = segments.iter().any(|s| may_hold_secret(s));
        let message = match &e.kind {
            Kind::UnknownField(field, expected) => format!(
                "unknown key `{field}`; expected one of: {}",
                expected.join(", ")
            ),
            Kind::MissingField(field) => {
                format!("missing required key `{field}`; add it to the config file")
            }
            Kind::Message(m) if m.starts_with(PLAIN_SECRET) => {
                // Name the very key: inside an internally tagged enum (the ingester's `auth`)
                // figment's path stops at the enum.
                if let Some(plain) = &refused {
                    if let Ok(root) = figment.extract::<Value>() {
                        if let Some(rest) = locate(&root, &segments, plain.expose()) {
                            segments.extend(rest);
                        }
                    }
                }
                m.clone()
            }
            Kind::InvalidType(actual, expected) => format!(
                "invalid type: found {}, expected {expected}",
                shown(actual, redact)
            ),
            Kind::InvalidValue(actual, expected) => format!(
                "invalid value: found {}, expected {expected}",
                shown(actual, redact)
            ),
            Kind::Unsupported(actual) => {
                format!("unsupported type: {}", shown(actual, redact))
            }
            other => other.to_string(),
        };
        let key = segments.join(".");
        match (key.is_empty(), path) {
            (true, Some(p)) => ConfigError::File {
                path: p.to_path_buf(),
                message,
            },
            (true, None) => ConfigError::key("(root)", message),
            (false, _) => ConfigError::key(key, message),
        }
    })
}

/// The path, below `at`, of the string leaf equal to `needle`.
fn locate(root: &Value, at: &[String], needle: &str) -> Option<Vec<String>> {
    let mut node = root;
    for segment in at {
        node = match node {
            Value::Dict(_, d) => d.get(segment)?,
            Value::Array(_, a) => a.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    fn search(node: &Value, needle: &str, path: &mut Vec<String>) -> bool {
        match node {
            Value::String(_, s) => s == needle,
            Value::Dict(_, d) => d.iter().any(|(k, v)| {
                path.push(k.clone());
                let found = search(v, needle, path);
                if !found {
                    path.pop();
                }
                found
            }),
            Value::Array(_, a) => a.iter().enumerate().any(|(i, v)| {
                path.push(i.to_string());
                let found = search(v, needle, path);
                if !found {
                    path.pop();
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = Vec::new();
    search(node, needle, &mut path).then_some(path)
}

/// How a value found where another was expected reads in an error: its kind only when the key
/// may hold a secret.
fn shown(actual: &Actual, redact: bool) -> String {
    if !redact {
        return actual.to_string();
    }
    let kind = match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "an array",
        Actual::Map => "a table",
        Actual::Other(_) => "another type",
        other => return other.to_string(),
    };
    format!("{kind} (value not shown: the key may hold a secret)")
}

/// Whether a config key (one path segment) may hold a secret, so errors about it must not show
/// its value. Deliberately broad: it only hides values from error messages.
pub fn may_hold_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "secret",
        "password",
        "passwd",
        "passphrase",
        "token",
        "credential",
        "private",
        "key",
        "hmac",
        "auth",
        "cookie",
        "sasl",
        "jaas",
        "header",
        "url",
        "properties",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// A secret value (token, key, password). Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a secret comes from in a config file: `{ env = "NAME" }`, `{ file = "/path" }` or,
/// for tests only, `{ value = "…" }`. A plain string is refused without echoing it.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct SecretRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    #[serde(skip_serializing)]
    pub value: Option<String>,
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRef")
            .field("env", &self.env)
            .field("file", &self.file)
            .field("value", &self.value.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretRefVisitor)
    }
}

/// Deserialises a [`SecretRef`] table; anything else is refused without showing it.
struct SecretRefVisitor;

/// The error for a secret that is not a table: names the forms, never the value.
fn not_a_table<E: de::Error>(kind: &str) -> E {
    E::custom(format!(
        "is a secret and must be {SECRET_FORMS}, not {kind} (the value is not shown)"
    ))
}

impl<'de> Visitor<'de> for SecretRefVisitor {
    type Value = SecretRef;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a secret: {SECRET_FORMS}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretRef, E> {
        REFUSED_PLAIN_SECRET.with(|s| *s.borrow_mut() = Some(Secret::new(v)));
        Err(E::custom(format!("{PLAIN_SECRET} {SECRET_FORMS}")))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretRef, E> {
        Err(not_a_table("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretRef, E> {
        Err(not_a_table("a number"))
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<SecretRef, E> {
        Err(not_a_table("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretRef, E> {
        Err(not_a_table("a number"))
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<SecretRef, E> {
        Err(not_a_table("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretRef, E> {
        Err(not_a_table("a number"))
    }
    fn visit_char<E: de::Error>(self, _: char) -> Result<SecretRef, E> {
        Err(not_a_table("a character"))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<SecretRef, E> {
        Err(not_a_table("bytes"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<SecretRef, E> {
        Err(not_a_table("empty"))
    }
    fn visit_none<E: de::Error>(self) -> Result<SecretRef, E> {
        Err(not_a_table("empty"))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<SecretRef, A::Error> {
        Err(not_a_table("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretRef, A::Error> {
        const FIELDS: &[&str] = &["env", "file", "value"];
        let mut r = SecretRef {
            env: None,
            file: None,
            value: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "env" => &mut r.env,
                "value" => &mut r.value,
                "file" => {
                    r.file = Some(PathBuf::from(map.next_value::<SecretPart>()?.0));
                    continue;
                }
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            };
            *slot = Some(map.next_value::<SecretPart>()?.0);
        }
        Ok(r)
    }
}

/// One string inside a secret table; any other type is refused without showing it.
struct SecretPart(String);

impl<'de> Deserialize<'de> for SecretPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SecretPart;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretPart, E> {
                Ok(SecretPart(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretPart, E> {
                Err(E::custom("must be a string (the value is not shown)"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretPart, E> {
                Err(E::custom(
                    "must be a string, e.g. \"1234\" (the value is not shown)",
                ))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretPart, E> {
                Err(E::custom(
                    "must be a string, e.g. \"1234\" (the value is not shown)",
                ))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretPart, E> {
                Err(E::custom("must be a string (the value is not shown)"))
            }
        }
        d.deserialize_any(V)
    }
}

impl SecretRef {
    pub fn from_env(name: &str) -> Self {
        SecretRef {
            env: Some(name.into()),
            file: None,
            value: None,
        }
    }

    pub fn from_file(path: impl Into<PathBuf>) -> Self {
        SecretRef {
            env: None,
            file: Some(path.into()),
            value: None,
        }
    }

    pub fn from_value(value: &str) -> Self {
        SecretRef {
            env: None,
            file: None,
            value: Some(value.into()),
        }
    }

    /// Reads the secret. `key` is the config key, named in errors (the value never is).
    pub fn resolve(&self, key: &str) -> Result<Secret, ConfigError> {
        let set = [
            self.env.is_some(),
            self.file.is_some(),
            self.value.is_some(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            return Err(ConfigError::key(
                key,
                "set exactly one of `env` (environment variable name), `file` (path) or `value`",
            ));
        }
        if let Some(name) = &self.env {
            return match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret(v)),
                _ => Err(ConfigError::key(
                    key,
                    format!("environment variable {name} is not set or empty; export it before starting"),
                )),
            };
        }
        if let Some(path) = &self.file {
            return match std::fs::read_to_string(path) {
                Ok(v) if !v.trim().is_empty() => {
                    Ok(Secret(v.trim_end_matches(['\n', '\r']).to_string()))
                }
                Ok(_) => Err(ConfigError::key(
                    key,
                    format!("file {} is empty", path.display()),
                )),
                Err(e) => Err(ConfigError::key(
                    key,
                    format!(
                        "cannot read file {}: {e}; check the path and permissions",
                        path.display()
                    ),
                )),
            };
        }
        Ok(Secret(self.value.clone().unwrap_or_default()))
    }
}

/// A setting that may carry a secret without always being one: a webhook URL (Slack and Teams put
/// the token in the path), an HTTP header value. Written as a plain string or in a secret form
/// ([`SECRET_FORMS`]); either way `Debug` never shows it and errors never quote it.
#[derive(Clone, PartialEq, Eq)]
pub enum Sensitive {
    Plain(String),
    Ref(SecretRef),
}

impl Sensitive {
    pub fn plain(value: impl Into<String>) -> Self {
        Sensitive::Plain(value.into())
    }

    /// The value (read from the environment or file for the secret forms). `key` is named in
    /// errors; the value never is.
    pub fn resolve(&self, key: &str) -> Result<Secret, ConfigError> {
        match self {
            Sensitive::Plain(v) => Ok(Secret::new(v.clone())),
            Sensitive::Ref(r) => r.resolve(key),
        }
    }
}

impl std::fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sensitive::Plain(_) => f.write_str("Sensitive([redacted])"),
            Sensitive::Ref(r) => f.debug_tuple("Sensitive").field(r).finish(),
        }
    }
}

impl Serialize for Sensitive {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Sensitive::Plain(v) => s.serialize_str(v),
            Sensitive::Ref(r) => r.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Sensitive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Sensitive;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a string or a secret: {SECRET_FORMS}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Sensitive, E> {
                Ok(Sensitive::Plain(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Sensitive, A::Error> {
                SecretRefVisitor.visit_map(map).map(Sensitive::Ref)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Sensitive, E> {
                Err(not_a_string("a boolean"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Sensitive, E> {
                Err(not_a_string("a number"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Sensitive, E> {
                Err(not_a_string("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Sensitive, E> {
                Err(not_a_string("a number"))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Sensitive, A::Error> {
                Err(not_a_string("an array"))
            }
        }
        fn not_a_string<E: de::Error>(kind: &str) -> E {
            E::custom(format!(
                "must be a string or a secret ({SECRET_FORMS}), not {kind} (the value is not shown)"
            ))
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        #[serde(default)]
        name: String,
        #[serde(default)]
        nested: Nested,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nested {
        #[serde(default)]
        count: u32,
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load_str::<Demo>("[nested]\ncuont = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cuont"), "{err}");
        assert!(err.contains("count"), "{err}");
    }

    #[test]
    fn wrong_type_names_key() {
        let err = load_str::<Demo>("[nested]\ncount = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nested.count"), "{err}");
        // Not a secret-bearing key: the value found helps and is shown.
        assert!(err.contains("many"), "{err}");
    }

    #[test]
    fn parses_values() {
        let d: Demo = load_str("name = \"x\"\n[nested]\ncount = 3\n").unwrap();
        assert_eq!((d.name.as_str(), d.nested.count), ("x", 3));
    }

    #[test]
    fn secrets_never_print() {
        let s = SecretRef::from_value("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        let v = s.resolve("k").unwrap();
        assert!(!format!("{v:?} {v}").contains("hunter2"));
        assert_eq!(v.expose(), "hunter2");
    }

    #[test]
    fn missing_env_secret_names_key_not_value() {
        let err = SecretRef::from_env("LOGINWATCH_TEST_SURELY_UNSET_VAR")
            .resolve("sinks.splunk.token")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sinks.splunk.token") && err.contains("LOGINWATCH_TEST_SURELY_UNSET_VAR")
        );
    }

    // --- Secrets in config files -----------------------------------------------------------

    #[allow(dead_code)] // read through Debug only
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct App {
        #[serde(default)]
        sinks: Vec<SinkDemo>,
        #[serde(default)]
        orgs: Vec<OrgDemo>,
    }

    #[allow(dead_code)] // read through Debug only
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SinkDemo {
        name: String,
        #[serde(default)]
        token: Option<SecretRef>,
        #[serde(default)]
        url: Option<Sensitive>,
        #[serde(default)]
        headers: std::collections::BTreeMap<String, Sensitive>,
        #[serde(default)]
        api_key: Option<u32>,
    }

    /// Like the ingester's `auth`: an internally tagged enum, where figment's path stops.
    #[allow(dead_code)] // read through Debug only
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct OrgDemo {
        auth: AuthDemo,
    }

    #[allow(dead_code)] // read through Debug only
    #[derive(Debug, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum AuthDemo {
        ClientCredentials(CredsDemo),
    }

    #[allow(dead_code)] // read through Debug only
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CredsDemo {
        client_id: String,
        client_secret: SecretRef,
    }

    const VALUE: &str = "SUPERSECRET123";

    fn assert_refused(err: &str, key: &str) {
        assert!(!err.contains(VALUE), "the value leaked: {err}");
        assert!(
            err.contains(&format!("`{key}`")),
            "key {key} not named: {err}"
        );
        assert!(
            err.contains("{ env = \"VAR\" }") && err.contains("{ file = \"/path\" }"),
            "forms not named: {err}"
        );
    }

    #[test]
    fn plain_string_secret_is_refused_naming_key_and_forms_not_value() {
        let err = load_str::<App>(&format!("[[sinks]]\nname = \"s\"\ntoken = \"{VALUE}\"\n"))
            .unwrap_err()
            .to_string();
        assert_refused(&err, "sinks.0.token");
    }

    #[test]
    fn plain_string_secret_inside_tagged_enum_names_the_field() {
        let err = load_str::<App>(&format!(
            "[[orgs]]\nauth = {{ type = \"client_credentials\", client_id = \"id\", client_secret = \"{VALUE}\" }}\n"
        ))
        .unwrap_err()
        .to_string();
        assert_refused(&err, "orgs.0.auth.client_secret");
    }

    #[test]
    fn plain_string_secret_in_a_file_is_refused_without_echo() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!("[[orgs]]\n[orgs.auth]\ntype = \"client_credentials\"\nclient_id = \"id\"\nclient_secret = \"{VALUE}\"\n"),
        )
        .unwrap();
        let err = load::<App>(Some(&path)).unwrap_err().to_string();
        assert_refused(&err, "orgs.0.auth.client_secret");
    }

    #[test]
    fn non_string_secret_is_refused_without_echo() {
        let err = load_str::<App>("[[sinks]]\nname = \"s\"\ntoken = 987654321\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("987654321"), "{err}");
        assert!(
            err.contains("sinks.0.token") && err.contains("env ="),
            "{err}"
        );
        let err = load_str::<App>("[[sinks]]\nname = \"s\"\ntoken = { value = 987654321 }\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("987654321"), "{err}");
        assert!(err.contains("sinks.0.token.value"), "{err}");
    }

    #[test]
    fn secret_forms_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tok");
        std::fs::write(&file, "from-file\n").unwrap();
        let app: App = load_str(&format!(
            "[[sinks]]\nname = \"a\"\ntoken = {{ env = \"SOME_VAR\" }}\n[[sinks]]\nname = \"b\"\ntoken = {{ file = {:?} }}\n[[sinks]]\nname = \"c\"\ntoken = {{ value = \"v\" }}\n",
            file.display().to_string()
        ))
        .unwrap();
        assert_eq!(app.sinks[0].token, Some(SecretRef::from_env("SOME_VAR")));
        let b = app.sinks[1].token.as_ref().unwrap().resolve("k").unwrap();
        assert_eq!(b.expose(), "from-file");
        assert_eq!(app.sinks[2].token, Some(SecretRef::from_value("v")));
        let err =
            load_str::<App>("[[sinks]]\nname = \"a\"\ntoken = { env = \"X\", nope = \"y\" }\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("nope") && err.contains("env, file, value"),
            "{err}"
        );
    }

    #[test]
    fn sensitive_accepts_plain_and_secret_forms_and_never_prints() {
        let app: App = load_str(&format!(
            "[[sinks]]\nname = \"a\"\nurl = \"https://hooks.example/T0/B0/{VALUE}\"\nheaders = {{ Authorization = {{ value = \"Bearer {VALUE}\" }}, X-Team = \"soc\" }}\n"
        ))
        .unwrap();
        let s = &app.sinks[0];
        assert!(!format!("{app:?}").contains(VALUE), "{app:?}");
        assert_eq!(
            s.url.as_ref().unwrap().resolve("url").unwrap().expose(),
            format!("https://hooks.example/T0/B0/{VALUE}")
        );
        assert_eq!(
            s.headers["Authorization"].resolve("h").unwrap().expose(),
            format!("Bearer {VALUE}")
        );
        assert_eq!(s.headers["X-Team"], Sensitive::plain("soc"));
        let err = load_str::<App>("[[sinks]]\nname = \"a\"\nheaders = { X = 4242 }\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sinks.0.headers.X") && !err.contains("4242"),
            "{err}"
        );
    }

    #[test]
    fn type_error_at_a_secret_bearing_key_does_not_show_the_value() {
        let err = load_str::<App>(&format!("[[sinks]]\nname = \"a\"\napi_key = \"{VALUE}\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sinks.0.api_key"), "{err}");
        assert!(
            err.contains("found a string") && !err.contains(VALUE),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_names_line_and_key_but_never_quotes_the_line() {
        // An unterminated string holding a secret.
        let text = format!(
            "[[orgs]]\n[orgs.auth]\ntype = \"client_credentials\"\nclient_secret = \"{VALUE}\n"
        );
        let err = load_str::<App>(&text).unwrap_err().to_string();
        assert!(!err.contains(VALUE), "{err}");
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("orgs.auth.client_secret"), "{err}");
        assert!(err.contains("syntax"), "{err}");

        // The same in a file: the file is named.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, &text).unwrap();
        let err = load::<App>(Some(&path)).unwrap_err().to_string();
        assert!(!err.contains(VALUE), "{err}");
        assert!(err.contains("bad.toml") && err.contains("line 4"), "{err}");

        // Inside a multi-line string (a PEM key) nothing of the line is taken for a key.
        let text = format!("[x]\npem = \"\"\"\nAB{VALUE}CD = \\q\n\"\"\"\n");
        let err = load_str::<App>(&text).unwrap_err().to_string();
        assert!(!err.contains(VALUE), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn syntax_error_in_an_inline_table_does_not_quote_it() {
        let text = format!(
            "[[orgs]]\nauth = {{ type = \"client_credentials\", client_id = \"id\", client_secret = {VALUE} }}\n"
        );
        let err = load_str::<App>(&text).unwrap_err().to_string();
        assert!(!err.contains(VALUE), "{err}");
        assert!(err.contains("line 2") && err.contains("orgs.auth"), "{err}");
    }
}
