//! Terminal-safe text: every value that came from a login record (user name, user agent,
//! application, failure reason, city, a quoted record in an error message, …) goes through
//! [`escape`] before it is written to a terminal or a text report.
//!
//! Without it, a user name such as `"\x1b[2J\rResult: clean (exit 0)\n"` clears the screen,
//! rewrites a line or prints a fake verdict, and OSC sequences change colours, titles or
//! clipboards. Escaped, the same name shows as `\u{1b}[2J\rResult: clean (exit 0)\n` on one line.
//!
//! Escaped (with Rust's own escapes from [`char::escape_default`]: `\n`, `\r`, `\t`, `\u{1b}`):
//! - every control character (Unicode `Cc`: C0 including ESC, CR, LF and TAB, DEL, C1 including CSI
//!   and OSC introducers);
//! - the Unicode bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069),
//!   which reorder the text shown after them ("Trojan Source");
//! - the line and paragraph separators U+2028 and U+2029.
//!
//! Everything else is kept as is, backslashes included (`ops\admin` stays readable), so ordinary
//! names and messages are unchanged. JSON output does not need this (serde escapes controls) and
//! HTML has its own escaping.

use std::borrow::Cow;

/// Whether `c` is escaped by [`escape`].
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `s` with control, bidi-control and line-separator characters escaped (see the module docs);
/// borrowed when there is nothing to escape.
pub fn escape(s: &str) -> Cow<'_, str> {
    let Some(first) = s.find(needs_escape) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crafted_name_becomes_one_inert_line() {
        let name = "\x1b[2J\rResult: clean (exit 0)\n";
        assert_eq!(escape(name), "\\u{1b}[2J\\rResult: clean (exit 0)\\n");
        let osc = "\x1b]0;owned\x07\x1b]52;c;SGVsbG8=\x1b\\ \u{9b}31m\t\u{7f}";
        assert_eq!(
            escape(osc),
            "\\u{1b}]0;owned\\u{7}\\u{1b}]52;c;SGVsbG8=\\u{1b}\\ \\u{9b}31m\\t\\u{7f}"
        );
    }

    #[test]
    fn bidi_controls_and_separators_are_escaped() {
        assert_eq!(
            escape("admin\u{202e}moc.evil\u{202c}@acme"),
            "admin\\u{202e}moc.evil\\u{202c}@acme"
        );
        assert_eq!(
            escape("a\u{2066}b\u{2069}c\u{200f}\u{061c}\u{2028}\u{2029}"),
            "a\\u{2066}b\\u{2069}c\\u{200f}\\u{61c}\\u{2028}\\u{2029}"
        );
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in [
            "",
            "jane.doe@acme.example",
            "ops\\admin@acme.example",
            "Data|Sync = v2\\beta \"quoted\"",
            "Zürich, Łódź, 東京, São Paulo, مدينة",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(b) if b == s), "{s}");
        }
    }

    #[test]
    fn each_character_is_kept_or_escaped_and_nothing_else() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(!escape(&all).chars().any(needs_escape));
        for c in all.chars() {
            let want: String = if needs_escape(c) {
                c.escape_default().collect()
            } else {
                c.to_string()
            };
            assert_eq!(escape(&c.to_string()), want, "U+{:04X}", c as u32);
        }
        let escaped = (0u32..0x3000)
            .filter_map(char::from_u32)
            .filter(|c| needs_escape(*c))
            .count();
        // 65 controls (C0, DEL, C1), 12 bidi controls, 2 separators.
        assert_eq!(escaped, 65 + 1 + 2 + 5 + 4 + 2);
    }
}
