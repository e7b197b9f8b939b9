//! The subset of SOQL the ingester uses: `SELECT fields | FIELDS(STANDARD|ALL) FROM object
//! [WHERE cond AND cond …] [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST]] [LIMIT n]`, with
//! conditions `field (=|!=|<|<=|>|>=) value` and `field IN (values)`. Values: quoted strings,
//! unquoted dateTime literals (`2024-01-01T00:00:00Z`, `.000Z`, `+00:00`), numbers, TRUE/FALSE/NULL.
//! Anything else is a `MALFORMED_QUERY`, as Salesforce would say for real syntax errors
//! (OR, sub-queries and date literals are real SOQL this subset does not support).

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    DateTime(DateTime<Utc>),
    Number(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Cmp {
        field: String,
        op: Op,
        value: Value,
        quoted_datetime: bool,
    },
    In {
        field: String,
        values: Vec<Value>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Select {
    Fields(Vec<String>),
    /// `FIELDS(STANDARD)` or `FIELDS(ALL)`.
    All {
        standard: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub select: Select,
    pub object: String,
    pub conds: Vec<Cond>,
    pub order_by: Option<(String, bool)>,
    pub limit: Option<usize>,
}

/// A syntax error: the message and the 1-based column it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Punct(&'static str),
}

fn tokenize(q: &str) -> Result<Vec<(Tok, usize)>, SyntaxError> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(SyntaxError {
                            column: col,
                            message: "unterminated string literal".into(),
                        })
                    }
                    Some('\\') => {
                        if let Some(n) = chars.get(i + 1) {
                            s.push(*n);
                        }
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push((Tok::Str(s), col));
        } else if let Some(p) = ["<=", ">=", "!=", "<>"]
            .iter()
            .find(|p| q[char_offset(q, i)..].starts_with(**p))
        {
            out.push((Tok::Punct(if *p == "<>" { "!=" } else { p }), col));
            i += 2;
        } else if let Some(p) = [",", "(", ")", "=", "<", ">"]
            .iter()
            .find(|p| p.starts_with(c))
        {
            out.push((Tok::Punct(p), col));
            i += 1;
        } else {
            let mut s = String::new();
            while i < chars.len() && !chars[i].is_whitespace() && !",()='<>!".contains(chars[i]) {
                s.push(chars[i]);
                i += 1;
            }
            if s.is_empty() {
                return Err(SyntaxError {
                    column: col,
                    message: format!("unexpected token: '{c}'"),
                });
            }
            out.push((Tok::Word(s), col));
        }
    }
    Ok(out)
}

fn char_offset(s: &str, char_idx: usize) -> usize {
    s.char_indices()
        .nth(char_idx)
        .map(|(b, _)| b)
        .unwrap_or(s.len())
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end_col: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn col(&self) -> usize {
        self.toks
            .get(self.pos)
            .map(|(_, c)| *c)
            .unwrap_or(self.end_col)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            column: self.col(),
            message: message.into(),
        })
    }

    fn unexpected<T>(&self) -> Result<T, SyntaxError> {
        match self.peek() {
            Some(Tok::Word(w)) => self.err(format!("unexpected token: '{w}'")),
            Some(Tok::Str(s)) => self.err(format!("unexpected token: ''{s}''")),
            Some(Tok::Punct(p)) => self.err(format!("unexpected token: '{p}'")),
            None => self.err("unexpected token: '<EOF>'"),
        }
    }

    fn keyword(&mut self, kw: &str) -> bool {
        if let Some(Tok::Word(w)) = self.peek() {
            if w.eq_ignore_ascii_case(kw) {
                self.pos += 1;
                return true;
            }
        }
        false
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), SyntaxError> {
        if self.keyword(kw) {
            Ok(())
        } else {
            self.unexpected()
        }
    }

    fn punct(&mut self, p: &str) -> bool {
        if let Some(Tok::Punct(x)) = self.peek() {
            if *x == p {
                self.pos += 1;
                return true;
            }
        }
        false
    }

    fn ident(&mut self) -> Result<String, SyntaxError> {
        match self.peek() {
            Some(Tok::Word(w)) if is_ident(w) && !is_reserved(w) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => self.unexpected(),
        }
    }

    fn value(&mut self) -> Result<(Value, bool), SyntaxError> {
        let tok = self.peek().cloned();
        match tok {
            Some(Tok::Str(s)) => {
                self.pos += 1;
                let quoted_dt = parse_datetime(&s).is_some();
                Ok((Value::Str(s), quoted_dt))
            }
            Some(Tok::Word(w)) => {
                let v = if w.eq_ignore_ascii_case("true") {
                    Value::Bool(true)
                } else if w.eq_ignore_ascii_case("false") {
                    Value::Bool(false)
                } else if w.eq_ignore_ascii_case("null") {
                    Value::Null
                } else if let Some(dt) = parse_datetime(&w) {
                    Value::DateTime(dt)
                } else if let Ok(n) = w.parse::<f64>() {
                    Value::Number(n)
                } else {
                    return self.unexpected();
                };
                self.pos += 1;
                Ok((v, false))
            }
            _ => self.unexpected(),
        }
    }
}

fn is_ident(w: &str) -> bool {
    let mut parts = w.split('.');
    parts.all(|p| {
        let mut c = p.chars();
        matches!(c.next(), Some(f) if f.is_ascii_alphabetic())
            && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    })
}

fn is_reserved(w: &str) -> bool {
    [
        "select", "from", "where", "and", "or", "not", "order", "by", "limit", "asc", "desc", "in",
        "nulls", "offset", "group",
    ]
    .iter()
    .any(|k| w.eq_ignore_ascii_case(k))
}

/// SOQL dateTime literal: `YYYY-MM-DDThh:mm:ss[.sss](Z|±hh:mm|±hhmm)`.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Parses `q`.
pub fn parse(q: &str) -> Result<Query, SyntaxError> {
    let toks = tokenize(q)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end_col: q.chars().count() + 1,
    };
    p.expect_keyword("SELECT")?;
    let select = if matches!(p.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case("FIELDS"))
        && matches!(p.toks.get(p.pos + 1), Some((Tok::Punct("("), _)))
    {
        p.pos += 2;
        let standard = if p.keyword("STANDARD") {
            true
        } else if p.keyword("ALL") {
            false
        } else {
            return p.unexpected();
        };
        if !p.punct(")") {
            return p.unexpected();
        }
        Select::All { standard }
    } else {
        let mut fields = vec![p.ident()?];
        while p.punct(",") {
            fields.push(p.ident()?);
        }
        Select::Fields(fields)
    };
    p.expect_keyword("FROM")?;
    let object = p.ident()?;
    let mut conds = Vec::new();
    if p.keyword("WHERE") {
        loop {
            let field = p.ident()?;
            if p.keyword("IN") {
                if !p.punct("(") {
                    return p.unexpected();
                }
                let mut values = vec![p.value()?.0];
                while p.punct(",") {
                    values.push(p.value()?.0);
                }
                if !p.punct(")") {
                    return p.unexpected();
                }
                conds.push(Cond::In { field, values });
            } else {
                let op = match p.peek() {
                    Some(Tok::Punct("=")) => Op::Eq,
                    Some(Tok::Punct("!=")) => Op::Ne,
                    Some(Tok::Punct("<")) => Op::Lt,
                    Some(Tok::Punct("<=")) => Op::Le,
                    Some(Tok::Punct(">")) => Op::Gt,
                    Some(Tok::Punct(">=")) => Op::Ge,
                    _ => return p.unexpected(),
                };
                p.pos += 1;
                let (value, quoted_datetime) = p.value()?;
                conds.push(Cond::Cmp {
                    field,
                    op,
                    value,
                    quoted_datetime,
                });
            }
            if !p.keyword("AND") {
                break;
            }
        }
    }
    let mut order_by = None;
    if p.keyword("ORDER") {
        p.expect_keyword("BY")?;
        let field = p.ident()?;
        let asc = if p.keyword("DESC") {
            false
        } else {
            p.keyword("ASC");
            true
        };
        if p.keyword("NULLS") && !(p.keyword("FIRST") || p.keyword("LAST")) {
            return p.unexpected();
        }
        order_by = Some((field, asc));
    }
    let mut limit = None;
    if p.keyword("LIMIT") {
        match p.peek() {
            Some(Tok::Word(w)) if w.parse::<usize>().is_ok() => {
                limit = w.parse().ok();
                p.pos += 1;
            }
            _ => return p.unexpected(),
        }
    }
    if p.peek().is_some() {
        return p.unexpected();
    }
    Ok(Query {
        select,
        object,
        conds,
        order_by,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ingester_query() {
        let q = parse("SELECT Id, LoginTime, LoginGeo.City FROM LoginHistory WHERE LoginTime > 2024-01-01T00:00:00.000Z AND LoginTime <= 2024-01-02T00:00:00Z ORDER BY LoginTime ASC LIMIT 500").unwrap();
        assert_eq!(q.object, "LoginHistory");
        assert_eq!(
            q.select,
            Select::Fields(vec![
                "Id".into(),
                "LoginTime".into(),
                "LoginGeo.City".into()
            ])
        );
        assert_eq!(q.conds.len(), 2);
        assert_eq!(q.order_by, Some(("LoginTime".into(), true)));
        assert_eq!(q.limit, Some(500));
        match &q.conds[0] {
            Cond::Cmp {
                op: Op::Gt,
                value: Value::DateTime(d),
                ..
            } => assert_eq!(d.to_rfc3339(), "2024-01-01T00:00:00+00:00"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn offsets_and_fields_function() {
        let q = parse(
            "select FIELDS(STANDARD) from LoginEvent where EventDate >= 2024-01-01T10:00:00+02:00",
        )
        .unwrap();
        assert_eq!(q.select, Select::All { standard: true });
        match &q.conds[0] {
            Cond::Cmp {
                value: Value::DateTime(d),
                ..
            } => assert_eq!(d.to_rfc3339(), "2024-01-01T08:00:00+00:00"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejects_bad_syntax_with_a_column() {
        let e =
            parse("SELECT Id FROM LoginHistory WHRE LoginTime > 2024-01-01T00:00:00Z").unwrap_err();
        assert!(e.message.contains("WHRE"), "{e:?}");
        assert_eq!(e.column, 29);
        assert!(
            parse("SELECT Id FROM LoginHistory WHERE LoginTime > 2024-01-01 OR Id = 'x'").is_err()
        );
        assert!(parse("SELECT FROM LoginHistory").is_err());
        assert!(parse("SELECT Id FROM LoginHistory LIMIT x").is_err());
        assert!(parse("SELECT Id FROM LoginHistory WHERE Status = 'unterminated").is_err());
    }

    #[test]
    fn quoted_datetimes_are_flagged() {
        let q =
            parse("SELECT Id FROM LoginHistory WHERE LoginTime > '2024-01-01T00:00:00Z'").unwrap();
        assert!(matches!(
            &q.conds[0],
            Cond::Cmp {
                quoted_datetime: true,
                ..
            }
        ));
    }
}
