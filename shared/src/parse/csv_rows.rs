//! Streaming CSV plumbing shared by the EventLogFile and Setup-export readers: one reused
//! `ByteRecord` per reader (no per-row allocation besides the event), UTF-8 checked per field so a
//! bad byte names its column, and the raw line rebuilt only when a row fails.

use std::io::Read;

use csv::{ByteRecord, ReaderBuilder};

use super::{ParseError, Rec, RecordError, RecordLabel};
use crate::event::Source;

pub(crate) struct Rows<R: Read> {
    csv: csv::Reader<R>,
    record: ByteRecord,
    /// Header names as written in the file (for error messages).
    pub header: Vec<String>,
    source: Source,
    finished: bool,
}

/// One data row being converted.
pub(crate) struct Row<'r> {
    record: &'r ByteRecord,
    header: &'r [String],
    pub rec: Rec<'static>,
}

impl<'r> Row<'r> {
    /// The trimmed value of column `index` (`None` when the column is absent or the value empty).
    /// A value wrapped in a further pair of quotes (ELF's triple-quoted values) is unwrapped.
    pub fn get(&self, index: Option<usize>) -> Result<Option<&'r str>, ParseError> {
        let Some(i) = index else { return Ok(None) };
        let Some(bytes) = self.record.get(i) else {
            return Ok(None);
        };
        let text = std::str::from_utf8(bytes).map_err(|e| {
            self.rec.err(
                &self.header[i],
                &String::from_utf8_lossy(bytes),
                format!("is not valid UTF-8 ({e})"),
            )
        })?;
        let mut text = text.trim();
        if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
            text = text[1..text.len() - 1].trim();
        }
        Ok((!text.is_empty()).then_some(text))
    }

    /// The column's name as the file writes it (for error messages).
    pub fn name(&self, index: Option<usize>, fallback: &'static str) -> &'r str {
        index
            .and_then(|i| self.header.get(i))
            .map_or(fallback, String::as_str)
    }
}

/// Rebuilds a CSV line from a record (for the dead-letter topic).
pub(crate) fn csv_line(record: &ByteRecord) -> String {
    let mut out = String::new();
    for (i, field) in record.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let text = String::from_utf8_lossy(field);
        if text.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&text);
        }
    }
    out
}

impl<R: Read> Rows<R> {
    /// Reads the header row; an empty or unreadable header is an error naming the source.
    pub fn open(reader: R, source: Source) -> Result<Self, ParseError> {
        let mut csv = ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .buffer_capacity(256 * 1024)
            .from_reader(reader);
        let rec = Rec {
            source,
            label: RecordLabel::Header,
        };
        let header_record = csv
            .byte_headers()
            .map_err(|e| rec.err("(header)", "", format!("could not be read: {e}")))?
            .clone();
        let header: Vec<String> = header_record
            .iter()
            .map(|h| {
                let h = String::from_utf8_lossy(h);
                h.trim_start_matches('\u{feff}')
                    .trim()
                    .trim_matches('"')
                    .trim()
                    .to_string()
            })
            .collect();
        if header.iter().all(String::is_empty) {
            return Err(rec.err("(header)", "", "is empty: the file has no header row"));
        }
        Ok(Rows {
            csv,
            record: ByteRecord::new(),
            header,
            source,
            finished: false,
        })
    }

    /// The index of the first column whose normalised name satisfies `pred`.
    pub fn column(&self, normalise: impl Fn(&str) -> String, names: &[&str]) -> Option<usize> {
        let normalised: Vec<String> = self.header.iter().map(|h| normalise(h)).collect();
        names
            .iter()
            .find_map(|name| normalised.iter().position(|h| h == name))
    }

    /// Reads the next row and converts it with `convert`; `None` at the end of the input.
    pub fn next_with<T>(
        &mut self,
        convert: impl FnOnce(&Row<'_>) -> Result<T, ParseError>,
    ) -> Option<Result<T, RecordError>> {
        loop {
            if self.finished {
                return None;
            }
            match self.csv.read_byte_record(&mut self.record) {
                Ok(false) => {
                    self.finished = true;
                    return None;
                }
                Ok(true) => {
                    // Blank lines (one empty field) carry nothing.
                    if self.record.len() == 1 && self.record[0].iter().all(u8::is_ascii_whitespace)
                    {
                        continue;
                    }
                    let line = self.record.position().map_or(0, csv::Position::line);
                    let rec = Rec {
                        source: self.source,
                        label: RecordLabel::Line(line),
                    };
                    let result = if self.record.len() != self.header.len() {
                        Err(rec.err(
                            "(row)",
                            "",
                            format!(
                                "has {} fields but the header has {}; the row is truncated or has stray separators",
                                self.record.len(),
                                self.header.len()
                            ),
                        ))
                    } else {
                        convert(&Row {
                            record: &self.record,
                            header: &self.header,
                            rec,
                        })
                    };
                    return Some(result.map_err(|error| RecordError {
                        error,
                        raw: csv_line(&self.record),
                    }));
                }
                Err(e) => {
                    // An I/O error ends the file; a malformed row (bad quoting) is reported and skipped.
                    let line = e.position().map_or(0, csv::Position::line);
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        self.finished = true;
                    }
                    let rec = Rec {
                        source: self.source,
                        label: RecordLabel::Line(line),
                    };
                    let error = rec.err("(row)", "", format!("could not be read: {e}"));
                    return Some(Err(RecordError {
                        error,
                        raw: csv_line(&self.record),
                    }));
                }
            }
        }
    }
}
