//! Salesforce record ids: 15-character (case-sensitive, as EventLogFile writes them) to
//! 18-character (case-insensitive checksum suffix, as the objects and APIs return them).
//!
//! The suffix encodes, for each 5-character chunk of the 15-character id, which characters are
//! upper-case letters (bit `i` set for position `i`); the 5-bit number indexes `A…Z0…5`.

use std::fmt;

const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// Why a text is not a Salesforce id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    /// Not 15 or 18 characters long.
    Length { id: String, len: usize },
    /// A character outside `[0-9A-Za-z]`.
    Character { id: String, position: usize },
    /// 18 characters, but the last three do not match the first fifteen.
    Checksum { id: String, expected: String },
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Length { id, len } => {
                write!(f, "{id:?} is not a Salesforce id: it has {len} characters, ids have 15 or 18")
            }
            IdError::Character { id, position } => write!(
                f,
                "{id:?} is not a Salesforce id: character {} is not a letter or digit",
                position + 1
            ),
            IdError::Checksum { id, expected } => write!(
                f,
                "{id:?} is not a valid 18-character Salesforce id: its suffix should be {expected:?}"
            ),
        }
    }
}

impl std::error::Error for IdError {}

/// The three-character checksum suffix of a 15-character id (the caller checked the characters).
fn suffix(id15: &[u8]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (chunk_index, chunk) in id15.chunks(5).enumerate() {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_uppercase())
            .fold(0usize, |acc, (i, _)| acc | (1 << i));
        out[chunk_index] = SUFFIX_ALPHABET[bits];
    }
    out
}

fn check_characters(id: &str) -> Result<(), IdError> {
    match id.bytes().position(|c| !c.is_ascii_alphanumeric()) {
        Some(position) => Err(IdError::Character {
            id: id.to_string(),
            position,
        }),
        None => Ok(()),
    }
}

/// Converts a 15-character id to its 18-character form; an 18-character id is validated (the
/// suffix compared case-insensitively, as Salesforce does) and returned with a canonical upper-case suffix.
pub fn to_18(id: &str) -> Result<String, IdError> {
    let id = id.trim();
    match id.len() {
        15 => {
            check_characters(id)?;
            let mut out = String::with_capacity(18);
            out.push_str(id);
            out.extend(suffix(id.as_bytes()).iter().map(|&c| c as char));
            Ok(out)
        }
        18 => {
            check_characters(id)?;
            let (head, tail) = id.split_at(15);
            let expected = suffix(head.as_bytes());
            if tail.as_bytes().eq_ignore_ascii_case(&expected) {
                let mut out = String::with_capacity(18);
                out.push_str(head);
                out.extend(expected.iter().map(|&c| c as char));
                Ok(out)
            } else {
                Err(IdError::Checksum {
                    id: id.to_string(),
                    expected: String::from_utf8_lossy(&expected).into_owned(),
                })
            }
        }
        len => Err(IdError::Length {
            id: id.to_string(),
            len,
        }),
    }
}

/// The 15-character (case-sensitive) form of a 15- or 18-character id.
pub fn to_15(id: &str) -> Result<String, IdError> {
    let id18 = to_18(id)?;
    Ok(id18[..15].to_string())
}

/// True when `id` is a well-formed 15- or 18-character id (18-character ids must carry the right suffix).
pub fn is_valid(id: &str) -> bool {
    to_18(id).is_ok()
}

/// The 3-character key prefix (`005` user, `00D` organisation, `0Ya` login history, …).
pub fn key_prefix(id: &str) -> Option<&str> {
    id.get(..3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_the_ids_of_the_reference_elf_row() {
        // USER_ID / USER_ID_DERIVED pair from the observed EventLogFile row.
        assert_eq!(to_18("0055j00000AT6I1").unwrap(), "0055j00000AT6I1AAL");
        // `00D5j` → bit 2 (D) = 4 → E; `00000` → A; `DgAYG` → bits 0,2,3,4 = 29 → 3.
        assert_eq!(to_18("00D5j00000DgAYG").unwrap(), "00D5j00000DgAYGEA3");
    }

    #[test]
    fn accepts_18_character_ids_with_any_case_suffix() {
        for id in [
            "0YaHn0000EUyGdHKQV",
            "005Hn00000H35JtIAJ",
            "0058W00000BAlWSQA1",
            "0Ya5j00003k2scQCAQ",
        ] {
            assert_eq!(to_18(id).unwrap(), id);
            let lower_suffix = format!("{}{}", &id[..15], id[15..].to_lowercase());
            assert_eq!(to_18(&lower_suffix).unwrap(), id);
            assert_eq!(to_18(&id[..15]).unwrap(), id, "15 → 18 of {id}");
            assert_eq!(to_15(id).unwrap(), &id[..15]);
        }
    }

    #[test]
    fn all_upper_case_chunk_uses_the_digit_part_of_the_alphabet() {
        assert_eq!(to_18("AAAAAaaaaa00000").unwrap(), "AAAAAaaaaa000005AA");
        assert_eq!(to_18("aaaaaBBBBB00000").unwrap(), "aaaaaBBBBB00000A5A");
    }

    #[test]
    fn rejects_bad_ids_with_the_reason() {
        assert!(matches!(to_18("005"), Err(IdError::Length { len: 3, .. })));
        assert!(matches!(
            to_18("0055j00000AT6I1AA"),
            Err(IdError::Length { len: 17, .. })
        ));
        assert!(matches!(
            to_18("0055j00000AT6-1"),
            Err(IdError::Character { position: 13, .. })
        ));
        let err = to_18("0055j00000AT6I1AAA").unwrap_err();
        assert_eq!(
            err,
            IdError::Checksum {
                id: "0055j00000AT6I1AAA".into(),
                expected: "AAL".into()
            }
        );
        assert!(err.to_string().contains("AAL"), "{err}");
        assert!(!is_valid("0055j00000AT6I1AAA"));
        assert!(is_valid("0055j00000AT6I1"));
    }

    #[test]
    fn never_panics_on_multibyte_text() {
        assert!(to_18("ééééééé0000000").is_err());
        assert!(to_18("0055j00000AT6Ié").is_err());
        assert!(matches!(
            to_18("0055j00000AT6é"),
            Err(IdError::Character { .. })
        ));
        assert_eq!(key_prefix("0055j00000AT6I1"), Some("005"));
    }
}
