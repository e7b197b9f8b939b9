//! Input formats of `loginwatch scan` and their detection from a file's first bytes.

use std::fmt;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The export formats `scan` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum InputFormat {
    /// LoginHistory REST query response pages (`{"totalSize":…,"records":[…]}`), one or more per
    /// file, or JSON lines of LoginHistory records.
    #[value(name = "login-history-json")]
    LoginHistoryJson,
    /// The Login History CSV (or GZIP) download from Setup (`Login Time (<time zone>)`, `Username`, …).
    #[value(name = "setup-csv")]
    SetupCsv,
    /// EventLogFile `Login` CSV (`EVENT_TYPE`, `TIMESTAMP`, `LOGIN_KEY`, …).
    #[value(name = "elf-csv")]
    ElfCsv,
}

impl InputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            InputFormat::LoginHistoryJson => "login-history-json",
            InputFormat::SetupCsv => "setup-csv",
            InputFormat::ElfCsv => "elf-csv",
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many bytes are sniffed to recognise a format.
const SNIFF_BYTES: usize = 16 * 1024;

/// First bytes of a gzip stream (the Setup page offers a GZIP download).
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens a file for reading, transparently decompressing gzip. Buffered.
pub fn open(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    open_counted(path, indicatif::ProgressBar::hidden())
}

/// Like [`open`], advancing `progress` by the bytes read from disk (compressed bytes for gzip).
pub fn open_counted(
    path: &Path,
    progress: indicatif::ProgressBar,
) -> std::io::Result<Box<dyn BufRead + Send>> {
    open_watched(path, progress).map(|(reader, _)| reader)
}

/// What went wrong reading a file once it was open: parsers see a read error as the end of their
/// input (or as one bad record); this tells the caller that the file itself stopped being readable.
#[derive(Debug, Clone, Default)]
pub struct InputWatch {
    gzip: bool,
    error: Arc<Mutex<Option<(ErrorKind, String)>>>,
}

impl InputWatch {
    /// Whether the file is gzip-compressed.
    pub fn gzip(&self) -> bool {
        self.gzip
    }

    /// The first read error, if any.
    pub fn error(&self) -> Option<(ErrorKind, String)> {
        self.error.lock().map_or(None, |e| e.clone())
    }

    /// The read error as a file-level problem, after `rows` rows (records) were read:
    /// `truncated gzip: 5000 rows read before the stream ended`.
    pub fn problem(&self, rows: u64) -> Option<String> {
        let (kind, message) = self.error()?;
        Some(match (self.gzip, kind) {
            (true, ErrorKind::UnexpectedEof) => {
                format!("truncated gzip: {rows} rows read before the stream ended")
            }
            (true, _) => format!(
                "corrupt gzip ({message}): {rows} rows read before the stream became unreadable"
            ),
            (false, _) => format!("read error ({message}) after {rows} rows"),
        })
    }
}

/// Records the first read error of the (decompressed) stream into an [`InputWatch`].
struct Watched<R> {
    inner: R,
    watch: InputWatch,
}

impl<R> Watched<R> {
    fn record(&self, e: &std::io::Error) {
        if e.kind() != ErrorKind::Interrupted {
            if let Ok(mut slot) = self.watch.error.lock() {
                slot.get_or_insert_with(|| (e.kind(), e.to_string()));
            }
        }
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| self.record(e))
    }
}

impl<R: BufRead> BufRead for Watched<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if let Err(e) = self.inner.fill_buf() {
            self.record(&e);
            return Err(e);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt)
    }
}

/// Like [`open_counted`], also returning the [`InputWatch`] that learns of read errors (a
/// truncated or corrupt gzip stream, a failing disk) while the parsers read.
pub fn open_watched(
    path: &Path,
    progress: indicatif::ProgressBar,
) -> std::io::Result<(Box<dyn BufRead + Send>, InputWatch)> {
    let file = Counting {
        inner: std::fs::File::open(path)?,
        progress,
    };
    let mut file = BufReader::with_capacity(256 * 1024, file);
    let head = file.fill_buf()?;
    let gzip = head.starts_with(&GZIP_MAGIC);
    let watch = InputWatch {
        gzip,
        ..Default::default()
    };
    let reader: Box<dyn BufRead + Send> = if gzip {
        let gz = flate2::bufread::MultiGzDecoder::new(file);
        Box::new(Watched {
            inner: BufReader::with_capacity(256 * 1024, gz),
            watch: watch.clone(),
        })
    } else {
        Box::new(Watched {
            inner: file,
            watch: watch.clone(),
        })
    };
    Ok((reader, watch))
}

/// Recognises the format from the start of a (decompressed) file.
pub fn detect(reader: &mut dyn BufRead) -> Result<InputFormat, String> {
    // Peek without consuming: the parser must then see the file from its first byte.
    let buf = reader.fill_buf().map_err(|e| format!("cannot read: {e}"))?;
    detect_bytes(&buf[..buf.len().min(SNIFF_BYTES)])
}

/// Recognises the format from a file's first bytes (see [`detect`]).
pub fn detect_bytes(head: &[u8]) -> Result<InputFormat, String> {
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.is_empty() {
        return Err("the file is empty".into());
    }
    if text.starts_with('{') || text.starts_with('[') {
        return Ok(InputFormat::LoginHistoryJson);
    }
    let header = text.lines().next().unwrap_or("");
    let columns: Vec<String> = header
        .split(',')
        .map(|c| c.trim().trim_matches('"').trim().to_ascii_lowercase())
        .collect();
    let has = |name: &str| columns.iter().any(|c| c == name);
    if has("event_type")
        || (has("timestamp") && (has("login_key") || has("request_id") || has("login_status")))
    {
        return Ok(InputFormat::ElfCsv);
    }
    if columns.iter().any(|c| c.starts_with("login time")) {
        return Ok(InputFormat::SetupCsv);
    }
    let shown: String = header.chars().take(120).collect();
    Err(format!(
        "unknown format: not LoginHistory JSON (starts with `{{` or `[`), not an EventLogFile Login CSV \
         (header with EVENT_TYPE/TIMESTAMP/LOGIN_KEY), not a Setup Login History CSV (header with `Login Time`); \
         first line: {shown:?}. Pass --input-format if the file is one of these"
    ))
}

struct Counting<R> {
    inner: R,
    progress: indicatif::ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

/// Reads a whole reader into memory, for formats whose parser takes a byte slice (one JSON page).
pub fn read_all(mut r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.read_to_end(&mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_format_from_its_head() {
        assert_eq!(
            detect_bytes(b"  {\"totalSize\":1,\"done\":true,\"records\":[]}").unwrap(),
            InputFormat::LoginHistoryJson
        );
        assert_eq!(
            detect_bytes(b"{\"Id\":\"0Ya\"}\n{\"Id\":\"0Yb\"}\n").unwrap(),
            InputFormat::LoginHistoryJson
        );
        assert_eq!(
            detect_bytes(b"\"EVENT_TYPE\",\"TIMESTAMP\",\"REQUEST_ID\"\n\"Login\",\"20231218054831.655\",\"x\"\n").unwrap(),
            InputFormat::ElfCsv
        );
        assert_eq!(
            detect_bytes(b"\xef\xbb\xbfUsername,Login Time (Eastern Daylight Time),Source IP,Login Type,Status\n").unwrap(),
            InputFormat::SetupCsv
        );
    }

    #[test]
    fn unknown_and_empty_inputs_are_explained() {
        let e = detect_bytes(b"name,age\nbob,3\n").unwrap_err();
        assert!(
            e.contains("unknown format") && e.contains("name,age"),
            "{e}"
        );
        assert!(detect_bytes(b"   \n").unwrap_err().contains("empty"));
    }

    #[test]
    fn gzip_files_are_decompressed_before_detection() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lh.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(b"Username,Login Time (UTC),Status\nu@x.com,2026-11-02 10:00:00,Success\n")
            .unwrap();
        gz.finish().unwrap();
        let mut r = open(&path).unwrap();
        assert_eq!(detect(&mut *r).unwrap(), InputFormat::SetupCsv);
        let all = read_all(r).unwrap();
        assert!(all.starts_with(b"Username,"));
    }
}
