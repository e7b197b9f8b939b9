//! Durable ingest positions: one small JSON file per org and source in a local state directory,
//! replaced atomically (write to a temporary file, fsync, rename, fsync the directory).
//!
//! Why a local directory rather than a compacted Kafka topic: the position must be readable when
//! the broker is down (the ingester then waits instead of guessing), it works with any broker,
//! including ones without log compaction (tansu, managed services with restricted topic configs),
//! and it is written only after Kafka acknowledged the records before it, so it can never be
//! ahead of the data. Mount it on a persistent volume (one replica per org set).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: {message}; fix or delete the file (deleting restarts from the configured lookback)")]
    Corrupt { path: PathBuf, message: String },
    #[error("cannot write state file {path}: {source}; check that state_dir is writable")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// LoginHistory polling position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginHistoryCursor {
    /// Every row with `LoginTime` before this (minus the overlap window) has been acknowledged by Kafka.
    #[serde(with = "loginwatch_shared::time::rfc3339_millis")]
    pub watermark: DateTime<Utc>,
    /// Ids already delivered whose `LoginTime` is inside the overlap window, with that time (for pruning).
    #[serde(default)]
    pub seen: BTreeMap<String, DateTime<Utc>>,
}

/// LoginEventStream position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamCursor {
    /// Replay id of the newest event acknowledged by Kafka.
    pub replay_id: i64,
}

#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub fn new(dir: impl Into<PathBuf>) -> Result<StateStore, StateError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| StateError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(StateStore { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, org_id: &str, source: &str) -> PathBuf {
        self.dir.join(format!("{org_id}.{source}.json"))
    }

    pub fn load<T: DeserializeOwned>(
        &self,
        org_id: &str,
        source: &str,
    ) -> Result<Option<T>, StateError> {
        let path = self.path(org_id, source);
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StateError::Corrupt {
                        path,
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// Atomically replaces the state: a crash leaves either the old or the new file, never half of one.
    pub fn save<T: Serialize>(
        &self,
        org_id: &str,
        source: &str,
        value: &T,
    ) -> Result<(), StateError> {
        let path = self.path(org_id, source);
        let tmp = self.dir.join(format!(".{org_id}.{source}.json.tmp"));
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let bytes = serde_json::to_vec(value).expect("state serialises");
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateStore::new(dir.path()).unwrap();
        assert_eq!(s.load::<StreamCursor>("00D1", "stream").unwrap(), None);
        s.save("00D1", "stream", &StreamCursor { replay_id: 7 })
            .unwrap();
        s.save("00D1", "stream", &StreamCursor { replay_id: 9 })
            .unwrap();
        assert_eq!(
            s.load::<StreamCursor>("00D1", "stream").unwrap(),
            Some(StreamCursor { replay_id: 9 })
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    }

    #[test]
    fn corrupt_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateStore::new(dir.path()).unwrap();
        std::fs::write(dir.path().join("00D1.login_history.json"), b"{not json").unwrap();
        let err = s
            .load::<LoginHistoryCursor>("00D1", "login_history")
            .unwrap_err()
            .to_string();
        assert!(err.contains("00D1.login_history.json"), "{err}");
    }
}
