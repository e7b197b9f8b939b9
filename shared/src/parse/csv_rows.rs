//! Streaming CSV plumbing shared by the EventLogFile and Setup-export readers.
//!
//! Built on `csv_core` (the parser inside the `csv` crate) so that memory stays bounded whatever
//! the input: one reused record buffer per reader (no per-row allocation besides the event), at
//! most [`MAX_FIELD_BYTES`] per field and [`MAX_RECORD_BYTES`] per row. A longer field or row is
//! read past without being stored and becomes an error for that row, naming the line, the column
//! and the size; the rows after it are read normally. UTF-8 is checked per field so a bad byte
//! names its column, and the raw line is rebuilt only when a row fails.

use std::io::{BufRead, BufReader, ErrorKind, Read};

use super::{
    excerpt, ParseError, Rec, RecordError, RecordLabel, MAX_FIELD_BYTES, MAX_RECORD_BYTES,
};
use crate::event::Source;

/// Most fields in one row (a row has as many as the header; more is an error anyway).
pub const MAX_FIELDS: usize = 4096;

/// One row as read: the fields' bytes back to back and where each field ends.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordBuf {
    /// Field bytes; only `..byte_len()` is meaningful (the rest is reusable buffer space).
    data: Vec<u8>,
    /// End offset of each field in `data`; only `..fields` is meaningful.
    ends: Vec<usize>,
    fields: usize,
    /// Line the row starts on (1 = the first line of the file).
    pub line: u64,
}

impl RecordBuf {
    pub fn len(&self) -> usize {
        self.fields
    }

    fn byte_len(&self) -> usize {
        if self.fields == 0 {
            0
        } else {
            self.ends[self.fields - 1]
        }
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.fields {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.data[start..self.ends[i]])
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.fields).filter_map(|i| self.get(i))
    }

    /// A copy holding only this row (for rows kept while the Setup reader looks ahead).
    pub fn to_owned_row(&self) -> RecordBuf {
        RecordBuf {
            data: self.data[..self.byte_len()].to_vec(),
            ends: self.ends[..self.fields].to_vec(),
            fields: self.fields,
            line: self.line,
        }
    }

    /// Bytes held by [`RecordBuf::to_owned_row`]'s copy.
    pub fn owned_size(&self) -> usize {
        self.byte_len() + self.fields * std::mem::size_of::<usize>() + std::mem::size_of::<Self>()
    }

    fn is_blank(&self) -> bool {
        self.fields == 1
            && self.data[..self.byte_len()]
                .iter()
                .all(u8::is_ascii_whitespace)
    }
}

/// One data row being converted.
pub(crate) struct Row<'r> {
    pub record: &'r RecordBuf,
    header: &'r [String],
    pub rec: Rec<'static>,
}

impl<'r> Row<'r> {
    pub fn new(record: &'r RecordBuf, header: &'r [String], source: Source) -> Row<'r> {
        Row {
            record,
            header,
            rec: Rec {
                source,
                label: RecordLabel::Line(record.line),
            },
        }
    }

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

    /// Rebuilds the CSV line (for the dead-letter topic).
    pub fn raw(&self) -> String {
        csv_line(self.record)
    }
}

/// Rebuilds a CSV line from a record (for the dead-letter topic).
pub(crate) fn csv_line(record: &RecordBuf) -> String {
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

/// Why a row was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Oversize {
    /// Field `index` (0-based) is `bytes` long (counted once its end was found).
    Field { index: usize, bytes: usize },
    /// The fields are each within the limit but the row is `bytes` long.
    Row { bytes: usize },
    /// The row has `fields` fields.
    Fields { fields: usize },
}

/// What reading one row gave.
enum Raw {
    Row,
    End,
    TooLarge(Oversize),
}

/// While an oversized row is skipped: what is known of it.
#[derive(Debug, Clone, Copy)]
enum Skip {
    /// Field `index` started at offset `start`; its end is the first end position seen.
    Field {
        index: usize,
        start: usize,
    },
    Row,
    Fields,
}

pub(crate) struct Rows<R: Read> {
    input: BufReader<R>,
    core: csv_core::Reader,
    record: RecordBuf,
    /// Discarded output while an oversized row is read past.
    scratch: Vec<u8>,
    scratch_ends: Vec<usize>,
    /// Header names as written in the file (for error messages).
    pub header: Vec<String>,
    source: Source,
    finished: bool,
    io_failed: bool,
}

/// `fill_buf`, retried on `Interrupted`.
fn fill(input: &mut BufReader<impl Read>) -> std::io::Result<&[u8]> {
    while let Err(e) = input.fill_buf() {
        if e.kind() != ErrorKind::Interrupted {
            break;
        }
    }
    input.fill_buf()
}

impl<R: Read> Rows<R> {
    /// Reads the header row; an empty, unreadable or oversized header is an error naming the source.
    pub fn open(reader: R, source: Source) -> Result<Self, ParseError> {
        let mut rows = Rows {
            input: BufReader::with_capacity(256 * 1024, reader),
            core: csv_core::Reader::new(),
            record: RecordBuf::default(),
            scratch: vec![0; 64 * 1024],
            scratch_ends: vec![0; 256],
            header: Vec::new(),
            source,
            finished: false,
            io_failed: false,
        };
        let rec = Rec {
            source,
            label: RecordLabel::Header,
        };
        match rows.read_raw() {
            Ok(Raw::Row) => {}
            Ok(Raw::End) => {
                return Err(rec.err("(header)", "", "is empty: the file has no header row"))
            }
            Ok(Raw::TooLarge(o)) => {
                return Err(rec.err("(header)", "", oversize_problem(o)));
            }
            Err(e) => return Err(rec.err("(header)", "", format!("could not be read: {e}"))),
        }
        let header: Vec<String> = rows
            .record
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
        rows.header = header;
        Ok(rows)
    }

    /// Whether the input ended with a read error (yielded as the last row error).
    pub fn io_failed(&self) -> bool {
        self.io_failed
    }

    /// The index of the first column whose normalised name satisfies `pred`.
    pub fn column(&self, normalise: impl Fn(&str) -> String, names: &[&str]) -> Option<usize> {
        let normalised: Vec<String> = self.header.iter().map(|h| normalise(h)).collect();
        names
            .iter()
            .find_map(|name| normalised.iter().position(|h| h == name))
    }

    /// Reads one row into `self.record`, storing at most the limits' worth of it.
    fn read_raw(&mut self) -> std::io::Result<Raw> {
        use csv_core::ReadRecordResult::*;
        let Rows {
            input,
            core,
            record,
            scratch,
            scratch_ends,
            ..
        } = self;
        record.fields = 0;
        record.line = core.line();
        let mut out_len = 0usize;
        let mut skip: Option<Skip> = None;
        // While skipping: the first and last end positions seen, and how many.
        let (mut first_end, mut last_end, mut skipped_ends) = (None::<usize>, None::<usize>, 0);
        loop {
            if skip.is_none() {
                let field_start = record.byte_len();
                let field_limit = field_start + MAX_FIELD_BYTES;
                // One byte over a limit is what tells a long value from one exactly at the limit.
                let window_end = field_limit.min(MAX_RECORD_BYTES) + 1;
                if out_len >= window_end {
                    skip = Some(if field_limit <= MAX_RECORD_BYTES {
                        Skip::Field {
                            index: record.fields,
                            start: field_start,
                        }
                    } else {
                        Skip::Row
                    });
                    continue;
                }
                if out_len == record.data.len() {
                    let grown = (record.data.len() * 2).clamp(4096, window_end);
                    record.data.resize(grown, 0);
                }
                if record.fields == record.ends.len() {
                    if record.fields >= MAX_FIELDS {
                        skip = Some(Skip::Fields);
                        continue;
                    }
                    let grown = (record.ends.len() * 2).clamp(64, MAX_FIELDS);
                    record.ends.resize(grown, 0);
                }
            }
            let chunk = fill(input)?;
            let (res, nin) = match skip {
                None => {
                    let end = record
                        .data
                        .len()
                        .min((record.byte_len() + MAX_FIELD_BYTES).min(MAX_RECORD_BYTES) + 1);
                    let (res, nin, nout, nend) = core.read_record(
                        chunk,
                        &mut record.data[out_len..end],
                        &mut record.ends[record.fields..],
                    );
                    out_len += nout;
                    record.fields += nend;
                    (res, nin)
                }
                Some(_) => {
                    let (res, nin, _, nend) = core.read_record(chunk, scratch, scratch_ends);
                    if nend > 0 {
                        first_end.get_or_insert(scratch_ends[0]);
                        last_end = Some(scratch_ends[nend - 1]);
                        skipped_ends += nend;
                    }
                    (res, nin)
                }
            };
            input.consume(nin);
            match res {
                InputEmpty | OutputFull | OutputEndsFull => continue,
                End => return Ok(Raw::End),
                Record => {
                    return Ok(match skip {
                        None => Raw::Row,
                        Some(Skip::Field { index, start }) => Raw::TooLarge(Oversize::Field {
                            index,
                            bytes: first_end.unwrap_or(start) - start,
                        }),
                        Some(Skip::Row) => Raw::TooLarge(Oversize::Row {
                            bytes: last_end.unwrap_or(out_len),
                        }),
                        Some(Skip::Fields) => Raw::TooLarge(Oversize::Fields {
                            fields: record.fields + skipped_ends,
                        }),
                    })
                }
            }
        }
    }

    /// Reads the next data row; `None` at the end of the input. Rows with another number of
    /// fields than the header, oversized rows and read errors are errors (an I/O error ends the
    /// input).
    pub fn next_row(&mut self) -> Option<Result<Row<'_>, RecordError>> {
        loop {
            if self.finished {
                return None;
            }
            let source = self.source;
            let rec = |line| Rec {
                source,
                label: RecordLabel::Line(line),
            };
            match self.read_raw() {
                Ok(Raw::End) => {
                    self.finished = true;
                    return None;
                }
                Ok(Raw::Row) => {
                    // Blank lines (one empty field) carry nothing.
                    if self.record.is_blank() {
                        continue;
                    }
                    if self.record.len() != self.header.len() {
                        let error = rec(self.record.line).err(
                            "(row)",
                            "",
                            format!(
                                "has {} fields but the header has {}; the row is truncated or has stray separators",
                                self.record.len(),
                                self.header.len()
                            ),
                        );
                        return Some(Err(RecordError {
                            error,
                            raw: csv_line(&self.record),
                        }));
                    }
                    return Some(Ok(Row::new(&self.record, &self.header, self.source)));
                }
                Ok(Raw::TooLarge(o)) => {
                    let field = match o {
                        Oversize::Field { index, .. } => self
                            .header
                            .get(index)
                            .cloned()
                            .unwrap_or_else(|| format!("(column {})", index + 1)),
                        Oversize::Row { .. } | Oversize::Fields { .. } => "(row)".to_string(),
                    };
                    let error = rec(self.record.line).err(&field, "", oversize_problem(o));
                    return Some(Err(RecordError {
                        error,
                        raw: self.oversized_excerpt(),
                    }));
                }
                Err(e) => {
                    // An I/O error (a truncated gzip stream, a failing disk) ends the input.
                    self.finished = true;
                    self.io_failed = true;
                    let error =
                        rec(self.core.line()).err("(row)", "", format!("could not be read: {e}"));
                    return Some(Err(RecordError {
                        error,
                        raw: String::new(),
                    }));
                }
            }
        }
    }

    /// The start of an oversized row as kept (its stored fields, each abbreviated).
    fn oversized_excerpt(&self) -> String {
        let mut out = String::new();
        let end = self.record.fields.min(self.header.len() + 1);
        for i in 0..end {
            if i > 0 {
                out.push(',');
            }
            let start = if i == 0 { 0 } else { self.record.ends[i - 1] };
            let field = String::from_utf8_lossy(&self.record.data[start..self.record.ends[i]]);
            out.push_str(&excerpt(&field));
        }
        out.push_str(",…");
        out
    }

    /// Reads the next row and converts it with `convert`; `None` at the end of the input.
    pub fn next_with<T>(
        &mut self,
        convert: impl FnOnce(&Row<'_>) -> Result<T, ParseError>,
    ) -> Option<Result<T, RecordError>> {
        Some(match self.next_row()? {
            Ok(row) => convert(&row).map_err(|error| RecordError {
                error,
                raw: row.raw(),
            }),
            Err(e) => Err(e),
        })
    }
}

fn oversize_problem(o: Oversize) -> String {
    match o {
        Oversize::Field { bytes, .. } => format!(
            "is {bytes} bytes long, over the limit of {MAX_FIELD_BYTES} bytes per field; the row is skipped"
        ),
        Oversize::Row { bytes } => format!(
            "is {bytes} bytes long, over the limit of {MAX_RECORD_BYTES} bytes per row; the row is skipped"
        ),
        Oversize::Fields { fields } => format!(
            "has {fields} fields, over the limit of {MAX_FIELDS} fields per row; the row is skipped"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<Result<Vec<String>, String>> {
        let mut rows = Rows::open(input, Source::EventLogFile).unwrap();
        let mut out = Vec::new();
        while let Some(r) = rows.next_row() {
            out.push(match r {
                Ok(row) => Ok(row
                    .record
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect()),
                Err(e) => Err(e.to_string()),
            });
        }
        out
    }

    #[test]
    fn quoting_blank_lines_and_line_numbers() {
        let got = all(b"\xef\xbb\xbf\"A\",B\n1,\"x,\"\"y\"\"\nz\"\n\n  \n2,\r\n3,c\n");
        assert_eq!(
            got,
            vec![
                Ok(vec!["1".into(), "x,\"y\"\nz".into()]),
                Ok(vec!["2".into(), "".into()]),
                Ok(vec!["3".into(), "c".into()]),
            ]
        );
        let mut rows = Rows::open(&b"A,B\n1,2\n3\n4,5"[..], Source::EventLogFile).unwrap();
        assert_eq!(rows.header, ["A", "B"]);
        assert_eq!(rows.next_row().unwrap().unwrap().record.line, 2);
        let e = rows.next_row().unwrap().err().unwrap();
        assert_eq!(e.error.record, "line 3");
        assert_eq!(e.raw, "3");
        let last = rows.next_row().unwrap().unwrap();
        assert_eq!((last.record.line, last.raw()), (4, "4,5".to_string()));
        assert!(rows.next_row().is_none());
    }

    #[test]
    fn an_oversized_field_is_an_error_for_its_row_only() {
        let big = "x".repeat(MAX_FIELD_BYTES * 3 + 17);
        let input = format!("A,Browser,C\n1,ok,a\n2,{big},b\n3,\"{big}\",c\n4,fine,d\n");
        let got = all(input.as_bytes());
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], Ok(vec!["1".into(), "ok".into(), "a".into()]));
        assert_eq!(got[3], Ok(vec!["4".into(), "fine".into(), "d".into()]));
        let want = |line: u32| {
            format!(
                "{} line {line}: field `Browser` is {} bytes long, over the limit of 65536 bytes per field; the row is skipped",
                Source::EventLogFile,
                big.len()
            )
        };
        assert_eq!(got[1], Err(want(3)));
        assert_eq!(got[2], Err(want(4)));
    }

    #[test]
    fn a_field_exactly_at_the_limit_is_kept() {
        let at = "y".repeat(MAX_FIELD_BYTES);
        let input = format!("A,B\n{at},1\n");
        assert_eq!(
            all(input.as_bytes()),
            vec![Ok(vec![at.clone(), "1".into()])]
        );
    }

    #[test]
    fn an_oversized_row_and_too_many_fields_are_errors() {
        let field = "z".repeat(60 * 1024);
        let many = vec![field.as_str(); 20].join(",");
        let input = format!("A,B\n{many}\n1,2\n");
        let got = all(input.as_bytes());
        assert_eq!(got.len(), 2);
        let e = got[0].as_ref().unwrap_err();
        assert!(
            e.contains("line 2: field `(row)` is ")
                && e.contains("over the limit of 1048576 bytes per row"),
            "{e}"
        );
        assert_eq!(got[1], Ok(vec!["1".into(), "2".into()]));
        let commas = ",".repeat(MAX_FIELDS + 5);
        let got = all(format!("A\n{commas}\nq\n").as_bytes());
        assert!(
            got[0].as_ref().unwrap_err().contains(&format!(
                "has {} fields, over the limit of 4096",
                MAX_FIELDS + 6
            )),
            "{:?}",
            got[0]
        );
        assert_eq!(got[1], Ok(vec!["q".into()]));
    }

    #[test]
    fn an_oversized_header_is_refused() {
        let input = format!("A,{}\n1,2\n", "h".repeat(MAX_FIELD_BYTES + 1));
        let e = Rows::open(input.as_bytes(), Source::EventLogFile)
            .err()
            .unwrap();
        assert_eq!(e.record, "header");
        assert!(e.problem.contains("65537 bytes long"), "{e}");
    }

    #[test]
    fn a_read_error_ends_the_rows_with_one_error() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let data = b"A,B\n1,2\n3,";
                if self.0 >= data.len() {
                    return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "cut"));
                }
                let n = (data.len() - self.0).min(buf.len());
                buf[..n].copy_from_slice(&data[self.0..self.0 + n]);
                self.0 += n;
                Ok(n)
            }
        }
        let mut rows = Rows::open(Failing(0), Source::EventLogFile).unwrap();
        assert!(rows.next_row().unwrap().is_ok());
        let e = rows.next_row().unwrap().err().unwrap();
        assert!(e.error.problem.contains("could not be read: cut"), "{e}");
        assert!(rows.next_row().is_none());
    }
}
