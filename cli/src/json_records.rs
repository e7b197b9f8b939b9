//! Streams LoginHistory records out of any JSON layout an export may have, one record in memory
//! at a time, with the field-size limits of the shared parsers.
//!
//! Layouts: one or more REST query pages (`{"totalSize":…,"records":[…]}`, concatenated or one
//! per line), JSON lines of records, or an array of either.
//!
//! Limits: a string or number longer than [`MAX_FIELD_BYTES`] (as written in the file) is cut
//! by the byte-level [`Limiter`] before `serde_json` buffers it, and a record whose decoded
//! content passes [`MAX_RECORD_BYTES`] stops being stored. Either makes that record an error
//! naming its line, the field and the limit; the records after it are read normally. So a 200 MB
//! string costs a 64 KiB buffer, not gigabytes. (A number whose kept 64 KiB of digits are still
//! beyond `f64`'s range is refused by `serde_json` as it would refuse any out-of-range number: the
//! file ends there with a "malformed JSON" error naming the line and column.)

use std::cell::Cell;
use std::io::{ErrorKind, Read};
use std::rc::Rc;

use loginwatch_shared::parse::{ParseError, MAX_FIELD_BYTES, MAX_RECORD_BYTES};
use loginwatch_shared::Source;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Approximate bytes charged per stored JSON value besides its text (the `Value` and its slot).
const VALUE_OVERHEAD: usize = 32;

/// Streams every record of `reader` to `on_record`: the record, or the error of a record over a
/// limit. A malformed or truncated file ends the stream with an error (the records before it
/// were delivered).
pub fn stream_json_records(
    reader: impl Read,
    on_record: &mut dyn FnMut(Result<Value, ParseError>),
) -> Result<(), String> {
    let limits = Rc::new(Limits::default());
    let mut de = serde_json::Deserializer::from_reader(Limiter::new(reader, limits.clone()));
    let mut items = 0u64;
    loop {
        let mut started = false;
        let seed = ItemSeed {
            on_record,
            started: &mut started,
            limits: &limits,
        };
        match seed.deserialize(&mut de) {
            Ok(()) => items += 1,
            Err(e) if e.is_eof() && !started => break,
            Err(e) if e.is_eof() => {
                return Err(format!(
                    "truncated JSON: the file ends inside a value (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            }
            Err(e) => {
                return Err(format!(
                    "malformed JSON after {items} complete value(s): {e}"
                ))
            }
        }
    }
    if items == 0 {
        return Err("the file is empty".into());
    }
    Ok(())
}

/// What the [`Limiter`] tells the deserializer: where it is, and the values it cut.
#[derive(Debug, Default)]
struct Limits {
    /// Line of the last byte handed to `serde_json` (1-based).
    line: Cell<u64>,
    /// Values cut so far, and the last one: (line it starts on, its length in bytes).
    cut: Cell<u64>,
    last_cut: Cell<(u64, u64)>,
}

/// A string or number token being passed through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Outside,
    String,
    Number,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// After `\`.
    Backslash,
    /// Inside `\uXXXX`: hex digits left and the value so far.
    Hex(u8, u16),
}

/// A byte-level pass over JSON text that shortens any string or number token longer than
/// [`MAX_FIELD_BYTES`] (keeping valid JSON: strings are cut at a character boundary outside an
/// escape, numbers after a digit) and counts lines. Hands bytes out as `serde_json` asks for them
/// (one at a time), so [`Limits`] is in step with the deserializer.
struct Limiter<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    pending_error: Option<std::io::Error>,
    limits: Rc<Limits>,
    line: u64,
    token: Token,
    escape: Escape,
    /// The last escape was a UTF-16 high surrogate: its pair must not be cut off.
    high_surrogate: bool,
    /// The previous byte of a number token was a digit.
    after_digit: bool,
    token_len: u64,
    token_line: u64,
    cutting: bool,
}

impl<R: Read> Limiter<R> {
    fn new(inner: R, limits: Rc<Limits>) -> Self {
        limits.line.set(1);
        Limiter {
            inner,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            end: 0,
            pending_error: None,
            limits,
            line: 1,
            token: Token::Outside,
            escape: Escape::None,
            high_surrogate: false,
            after_digit: false,
            token_len: 0,
            token_line: 1,
            cutting: false,
        }
    }

    fn end_cut(&mut self) {
        if self.cutting {
            self.cutting = false;
            self.limits.cut.set(self.limits.cut.get() + 1);
            self.limits.last_cut.set((self.token_line, self.token_len));
        }
    }

    /// One input byte → the byte to hand out, or `None` when it is cut.
    fn step(&mut self, b: u8) -> Option<u8> {
        if b == b'\n' {
            self.line += 1;
        }
        let over = self.token_len >= MAX_FIELD_BYTES as u64;
        match self.token {
            Token::String => {
                match self.escape {
                    Escape::Backslash => {
                        self.escape = if b == b'u' {
                            Escape::Hex(4, 0)
                        } else {
                            self.high_surrogate = false;
                            Escape::None
                        };
                    }
                    Escape::Hex(left, value) => {
                        let digit = (b as char).to_digit(16).unwrap_or(0) as u16;
                        let value = value.wrapping_mul(16).wrapping_add(digit);
                        self.escape = if left > 1 {
                            Escape::Hex(left - 1, value)
                        } else {
                            self.high_surrogate = (0xD800..=0xDBFF).contains(&value);
                            Escape::None
                        };
                    }
                    Escape::None if b == b'"' => {
                        self.token = Token::Outside;
                        self.end_cut();
                        return Some(b);
                    }
                    Escape::None => {
                        // A safe place to cut: not inside an escape or a UTF-8 sequence, and
                        // not between the halves of a surrogate pair.
                        if over && !self.cutting && b & 0xC0 != 0x80 && !self.high_surrogate {
                            self.cutting = true;
                        }
                        if b == b'\\' {
                            self.escape = Escape::Backslash;
                        } else {
                            self.high_surrogate = false;
                        }
                    }
                }
                self.token_len += 1;
                (!self.cutting).then_some(b)
            }
            Token::Number if matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') => {
                // Cut after a digit: the kept prefix is still a number.
                if over && !self.cutting && self.after_digit {
                    self.cutting = true;
                }
                self.after_digit = b.is_ascii_digit();
                self.token_len += 1;
                (!self.cutting).then_some(b)
            }
            Token::Number | Token::Outside => {
                if self.token == Token::Number {
                    self.end_cut();
                }
                self.token = match b {
                    b'"' => Token::String,
                    b'-' | b'0'..=b'9' => Token::Number,
                    _ => Token::Outside,
                };
                if self.token != Token::Outside {
                    self.token_len = u64::from(self.token == Token::Number);
                    self.token_line = self.line;
                    self.escape = Escape::None;
                    self.high_surrogate = false;
                    self.after_digit = b.is_ascii_digit();
                }
                Some(b)
            }
        }
    }
}

impl<R: Read> Read for Limiter<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < out.len() {
            if self.pos == self.end {
                if let Some(e) = self.pending_error.take() {
                    return if n == 0 { Err(e) } else { Ok(n) };
                }
                match self.inner.read(&mut self.buf) {
                    Ok(0) => {
                        // End of input ends a number token (and any cut in it).
                        if self.token == Token::Number {
                            self.token = Token::Outside;
                            self.end_cut();
                        }
                        break;
                    }
                    Ok(k) => (self.pos, self.end) = (0, k),
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if n == 0 => return Err(e),
                    Err(e) => {
                        self.pending_error = Some(e);
                        break;
                    }
                }
            }
            while self.pos < self.end && n < out.len() {
                let b = self.buf[self.pos];
                self.pos += 1;
                if let Some(b) = self.step(b) {
                    out[n] = b;
                    n += 1;
                }
            }
        }
        self.limits.line.set(self.line);
        Ok(n)
    }
}

/// How much of a record has been stored, and why it stopped being stored.
struct Budget<'a> {
    limits: &'a Limits,
    /// Line the record starts on.
    line: u64,
    used: usize,
    over: Option<ParseError>,
}

impl Budget<'_> {
    fn over(&mut self, field: &str, problem: String) {
        if self.over.is_none() {
            self.over = Some(ParseError {
                source: Source::LoginHistory,
                record: format!("line {}", self.line),
                field: field.to_string(),
                value: String::new(),
                problem,
            });
        }
    }

    /// Charges `bytes`; false once the record is over its limit (nothing more is stored).
    fn charge(&mut self, bytes: usize) -> bool {
        self.used = self.used.saturating_add(bytes + VALUE_OVERHEAD);
        if self.used > MAX_RECORD_BYTES {
            self.over(
                "(record)",
                format!(
                    "is over the limit of {MAX_RECORD_BYTES} bytes per record; the record is skipped"
                ),
            );
        }
        self.over.is_none()
    }

    /// After the value of `field`: whether the [`Limiter`] cut something in it.
    fn check_cut(&mut self, cut_before: u64, field: &str) {
        if self.limits.cut.get() != cut_before {
            let (line, bytes) = self.limits.last_cut.get();
            self.line = line;
            self.over.take_if(|e| e.field == "(record)");
            self.over(
                field,
                format!(
                    "is {bytes} bytes long, over the limit of {MAX_FIELD_BYTES} bytes per field; \
                     the record is skipped"
                ),
            );
        }
    }

    fn into_result(self, value: Value) -> Result<Value, ParseError> {
        match self.over {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}

/// A record in a `records` array: its line is known once `serde_json` has looked at its first
/// byte, which it has when it hands the element to this seed.
struct RecordStart<'b, 'a> {
    budget: &'b mut Budget<'a>,
}

impl<'de> DeserializeSeed<'de> for RecordStart<'_, '_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.budget.line = self.budget.limits.line.get();
        d.deserialize_any(ValueSeed {
            budget: self.budget,
        })
    }
}

/// Any JSON value, stored while the record's [`Budget`] allows.
struct ValueSeed<'b, 'a> {
    budget: &'b mut Budget<'a>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(self.scalar(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(self.scalar(Value::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(self.scalar(Value::Number(v.into())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(self.scalar(Number::from_f64(v).map_or(Value::Null, Value::Number)))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(self.scalar(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(self.scalar(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(if self.budget.charge(v.len()) {
            Value::String(v.to_string())
        } else {
            Value::Null
        })
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(if self.budget.charge(v.len()) {
            Value::String(v)
        } else {
            Value::Null
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed {
            budget: &mut *self.budget,
        })? {
            if self.budget.over.is_none() {
                out.push(v);
            }
        }
        Ok(if self.budget.charge(0) {
            Value::Array(out)
        } else {
            Value::Null
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        Ok(visit_fields(self.budget, &mut map, |_, _| Ok(false))?
            .map_or(Value::Null, Value::Object))
    }
}

impl ValueSeed<'_, '_> {
    fn scalar(self, v: Value) -> Value {
        if self.budget.charge(0) {
            v
        } else {
            Value::Null
        }
    }
}

/// The fields of an object into a map while the budget allows (`None` once it is over), each
/// checked for a cut value. `special(key, map)` may consume a key's value itself (returns true).
fn visit_fields<'de, A: MapAccess<'de>>(
    budget: &mut Budget<'_>,
    map: &mut A,
    mut special: impl FnMut(&str, &mut A) -> Result<bool, A::Error>,
) -> Result<Option<Map<String, Value>>, A::Error> {
    let mut fields = Map::new();
    loop {
        let cut_before = budget.limits.cut.get();
        let Some(key) = map.next_key::<String>()? else {
            break;
        };
        budget.check_cut(cut_before, "(key)");
        if special(&key, map)? {
            continue;
        }
        let cut_before = budget.limits.cut.get();
        let value = map.next_value_seed(ValueSeed {
            budget: &mut *budget,
        })?;
        budget.check_cut(cut_before, &key);
        if budget.charge(key.len()) {
            fields.insert(key, value);
        }
    }
    Ok(budget.over.is_none().then_some(fields))
}

/// A top-level JSON item: a query page, a record, or an array of those.
struct ItemSeed<'a> {
    on_record: &'a mut dyn FnMut(Result<Value, ParseError>),
    started: &'a mut bool,
    limits: &'a Rc<Limits>,
}

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a LoginHistory query page, a LoginHistory record, or an array of them")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        *self.started = true;
        let mut budget = Budget {
            limits: self.limits,
            line: self.limits.line.get(),
            used: 0,
            over: None,
        };
        let mut page = false;
        let on_record = &mut *self.on_record;
        let limits = self.limits;
        let fields = visit_fields(&mut budget, &mut map, |key, map| {
            if key != "records" {
                return Ok(false);
            }
            page = true;
            map.next_value_seed(RecordsSeed {
                on_record: &mut *on_record,
                limits,
            })?;
            Ok(true)
        })?;
        if !page {
            (self.on_record)(budget.into_result(fields.map_or(Value::Null, Value::Object)));
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        *self.started = true;
        loop {
            let mut inner = true;
            let item = ItemSeed {
                on_record: &mut *self.on_record,
                started: &mut inner,
                limits: self.limits,
            };
            if seq.next_element_seed(item)?.is_none() {
                return Ok(());
            }
        }
    }
}

/// The `records` array of a page, element by element.
struct RecordsSeed<'a> {
    on_record: &'a mut dyn FnMut(Result<Value, ParseError>),
    limits: &'a Rc<Limits>,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of LoginHistory records")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(()) // `"records": null` on an empty page
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let mut budget = Budget {
                limits: self.limits,
                line: self.limits.line.get(),
                used: 0,
                over: None,
            };
            let cut_before = self.limits.cut.get();
            let Some(value) = seq.next_element_seed(RecordStart {
                budget: &mut budget,
            })?
            else {
                return Ok(());
            };
            budget.check_cut(cut_before, "(record)");
            (self.on_record)(budget.into_result(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        stream_json_records(text.as_bytes(), &mut |v| out.push(v.unwrap()))?;
        Ok(out)
    }

    #[test]
    fn json_layouts_all_yield_their_records() {
        let page = r#"{"totalSize":2,"done":true,"records":[{"Id":"a"},{"Id":"b"}]}"#;
        assert_eq!(records(page).unwrap().len(), 2);
        assert_eq!(
            records(&format!("{page}\n{page}\n")).unwrap().len(),
            4,
            "concatenated pages"
        );
        assert_eq!(
            records("{\"Id\":\"a\"}\n{\"Id\":\"b\"}\n{\"Id\":\"c\"}")
                .unwrap()
                .len(),
            3,
            "JSON lines"
        );
        assert_eq!(
            records(&format!("[{page},{{\"Id\":\"c\"}}]"))
                .unwrap()
                .len(),
            3,
            "array of pages and records"
        );
        assert_eq!(
            records(r#"{"totalSize":0,"done":true,"records":[]}"#)
                .unwrap()
                .len(),
            0
        );
        assert_eq!(records(&format!("{page}\n")).unwrap()[0]["Id"], "a");
    }

    #[test]
    fn values_pass_through_unchanged() {
        let rec = r#"{"Id":"a","Browser":"Mozilla \"x\" \\ \u00e9\ud83d\ude00 ☃","N":-12.5e3,"Big":18446744073709551615,"T":true,"Z":null,"L":[1,{"k":"v"}],"O":{"a":[]}}"#;
        let got = records(rec).unwrap();
        let want: Value = serde_json::from_str(rec).unwrap();
        assert_eq!(got, [want]);
    }

    #[test]
    fn truncated_and_malformed_json_are_named_and_keep_what_was_read() {
        let mut seen = 0;
        let e = stream_json_records(
            &br#"{"totalSize":3,"records":[{"Id":"a"},{"Id":"b"},{"Id":"#[..],
            &mut |_| seen += 1,
        )
        .unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        assert_eq!(seen, 2, "records before the cut are kept");
        let e = records("{\"Id\":\"a\"}\nnot json\n").unwrap_err();
        assert!(e.contains("malformed JSON after 1"), "{e}");
        assert!(records("").unwrap_err().contains("empty"));
        assert!(records("42").unwrap_err().contains("malformed"));
    }

    fn outcomes(text: &str) -> Vec<Result<String, String>> {
        let mut out = Vec::new();
        stream_json_records(text.as_bytes(), &mut |r| {
            out.push(
                r.map(|v| v["Id"].as_str().unwrap_or("?").to_string())
                    .map_err(|e| e.to_string()),
            )
        })
        .unwrap();
        out
    }

    #[test]
    fn an_oversized_string_is_an_error_for_its_record_only() {
        let big = "x".repeat(MAX_FIELD_BYTES * 2 + 3);
        // JSON lines, then the same inside a pretty page: the line is the field's.
        let lines =
            format!("{{\"Id\":\"a\"}}\n{{\"Id\":\"b\",\"Browser\":\"{big}\"}}\n{{\"Id\":\"c\"}}\n");
        let want = |line: u32, field: &str, bytes: usize| {
            format!(
                "login_history line {line}: field `{field}` is {bytes} bytes long, over the limit \
                 of 65536 bytes per field; the record is skipped"
            )
        };
        assert_eq!(
            outcomes(&lines),
            [
                Ok("a".to_string()),
                Err(want(2, "Browser", big.len())),
                Ok("c".to_string())
            ]
        );
        // Escapes and multi-byte characters around the cut point stay valid JSON.
        for filler in ["é", "\\u00e9", "\\ud83d\\ude00", "\\\"", "😀"] {
            let big = filler.repeat(MAX_FIELD_BYTES / filler.len() + 5);
            let page = format!(
                "{{\"totalSize\":3,\"done\":true,\"records\":[\n  {{\"Id\":\"a\"}},\n  {{\"Id\":\"b\",\n   \"City\":\"{big}\"}},\n  {{\"Id\":\"c\"}}\n]}}"
            );
            assert_eq!(
                outcomes(&page),
                [
                    Ok("a".to_string()),
                    Err(want(4, "City", big.len())),
                    Ok("c".to_string())
                ],
                "{filler}"
            );
        }
        // A number and a key too.
        let digits = format!("0.{}", "7".repeat(MAX_FIELD_BYTES + 10));
        assert_eq!(
            outcomes(&format!(
                "{{\"Id\":\"a\",\"Latitude\":{digits}}}\n{{\"Id\":\"b\"}}"
            )),
            [Err(want(1, "Latitude", digits.len())), Ok("b".to_string())]
        );
        assert_eq!(
            outcomes(&format!("{{\"{big}\":1,\"Id\":\"a\"}}\n{{\"Id\":\"b\"}}")),
            [Err(want(1, "(key)", big.len())), Ok("b".to_string())]
        );
    }

    #[test]
    fn a_string_exactly_at_the_limit_is_kept() {
        let at = "y".repeat(MAX_FIELD_BYTES);
        let got = records(&format!("{{\"Id\":\"a\",\"Browser\":\"{at}\"}}")).unwrap();
        assert_eq!(got[0]["Browser"].as_str().unwrap().len(), MAX_FIELD_BYTES);
    }

    #[test]
    fn an_oversized_record_is_an_error_for_itself_only() {
        let field = "z".repeat(60 * 1024);
        let fields: Vec<String> = (0..20).map(|i| format!("\"F{i}\":\"{field}\"")).collect();
        let text = format!(
            "{{\"Id\":\"a\"}}\n{{\"Id\":\"b\",{}}}\n[{{\"Id\":\"c\"}}]\n",
            fields.join(",")
        );
        let want = |line: u32| {
            format!(
                "login_history line {line}: field `(record)` is over the limit of 1048576 bytes \
                 per record; the record is skipped"
            )
        };
        assert_eq!(
            outcomes(&text),
            [Ok("a".to_string()), Err(want(2)), Ok("c".to_string())]
        );
        // In a pretty page the line is the record's first.
        let page = format!(
            "{{\"totalSize\":3,\"done\":true,\"records\":[\n  {{\"Id\":\"a\"}},\n\n  {{\"Id\":\"b\",\n{}}},\n  {{\"Id\":\"c\"}}\n]}}",
            fields.join(",\n")
        );
        assert_eq!(
            outcomes(&page),
            [Ok("a".to_string()), Err(want(4)), Ok("c".to_string())]
        );
    }

    #[test]
    fn a_200_mb_string_is_read_past_in_bounded_memory() {
        struct Huge(u64);
        impl Read for Huge {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                const HEAD: &[u8] = b"{\"Id\":\"a\"}\n{\"Id\":\"b\",\"Browser\":\"";
                const TAIL: &[u8] = b"\"}\n{\"Id\":\"c\"}\n";
                let big = 200 * 1024 * 1024u64;
                let total = HEAD.len() as u64 + big + TAIL.len() as u64;
                let mut n = 0;
                while n < buf.len() && self.0 < total {
                    let p = self.0;
                    buf[n] = if p < HEAD.len() as u64 {
                        HEAD[p as usize]
                    } else if p < HEAD.len() as u64 + big {
                        b'Q'
                    } else {
                        TAIL[(p - HEAD.len() as u64 - big) as usize]
                    };
                    n += 1;
                    self.0 += 1;
                }
                Ok(n)
            }
        }
        let mut out = Vec::new();
        stream_json_records(Huge(0), &mut |r| {
            out.push(
                r.map(|v| v["Id"].as_str().unwrap().to_string())
                    .map_err(|e| e.to_string()),
            )
        })
        .unwrap();
        assert_eq!(
            out,
            [
                Ok("a".to_string()),
                Err(
                    "login_history line 2: field `Browser` is 209715200 bytes long, over the \
                     limit of 65536 bytes per field; the record is skipped"
                        .to_string()
                ),
                Ok("c".to_string())
            ]
        );
    }
}
