//! Salesforce-style record ids for simulated records.
//!
//! Ids are 15 case-sensitive characters (3-char key prefix + 12) plus the 3-character
//! case-checksum suffix Salesforce appends to make the 18-character form.

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The 3-character case checksum of a 15-character id.
pub fn checksum(id15: &str) -> String {
    let bytes = id15.as_bytes();
    let mut out = String::with_capacity(3);
    for chunk in 0..3 {
        let mut bits = 0usize;
        for i in 0..5 {
            if bytes[chunk * 5 + i].is_ascii_uppercase() {
                bits |= 1 << i;
            }
        }
        out.push(SUFFIX[bits] as char);
    }
    out
}

/// An 18-character id: `prefix` (3 chars) + `pod` (padded/truncated to 4 chars) + `n` in base 62 (8 chars).
pub fn make_id(prefix: &str, pod: &str, n: u64) -> String {
    let mut id15 = String::with_capacity(18);
    id15.push_str(&prefix[..3]);
    let pod: String = pod.chars().chain(std::iter::repeat('0')).take(4).collect();
    id15.push_str(&pod);
    let mut digits = [b'0'; 8];
    let mut v = n;
    for d in digits.iter_mut().rev() {
        *d = BASE62[(v % 62) as usize];
        v /= 62;
    }
    id15.push_str(std::str::from_utf8(&digits).expect("base62 digits are ascii"));
    let suffix = checksum(&id15);
    id15.push_str(&suffix);
    id15
}

/// The 15-character form of an 18-character id (EventLogFile uses it).
pub fn to_15(id18: &str) -> &str {
    &id18[..id18.len().min(15)]
}

/// True when `id` is a well-formed 18-character id whose suffix matches its first 15 characters.
pub fn is_valid_18(id: &str) -> bool {
    id.len() == 18 && id.is_ascii() && checksum(&id[..15]) == id[15..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_checksums_match_salesforce() {
        // Pairs from the reference (ELF USER_ID / USER_ID_DERIVED).
        assert_eq!(checksum("0055j00000AT6I1"), "AAL");
        assert!(is_valid_18("0YaHn0000EUyGdHKQV"));
        assert!(!is_valid_18("0YaHn0000EUyGdHKQA"));
    }

    #[test]
    fn made_ids_are_valid_and_distinct() {
        let a = make_id("0Ya", "5j0", 1);
        let b = make_id("0Ya", "5j0", 2);
        assert!(is_valid_18(&a) && is_valid_18(&b));
        assert_ne!(a, b);
        assert!(a.starts_with("0Ya5j00"));
    }
}
