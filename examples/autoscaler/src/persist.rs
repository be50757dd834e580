//! The state that outlives the process: the policy's [`ScalingState`] (cooldown clocks,
//! stabilization window, override, demand history), the recent events and the last decision.
//! One small JSON file, replaced atomically (written beside, synced, renamed, directory
//! synced): a crash leaves the old file or the new one, never half of one.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clip_scaling_policy::ScalingState;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::record::{DecisionRecord, EventRecord};

/// The file's format version; a file of another version is moved aside, not misread.
const VERSION: u32 = 1;

/// What the state file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Persisted {
    /// The format version (1).
    pub version: u32,
    /// When it was written.
    #[serde(with = "crate::time::text")]
    pub saved_at: SystemTime,
    /// The policy's memory.
    pub scaling: ScalingState,
    /// Recent scaling events, oldest first.
    pub events: VecDeque<EventRecord>,
    /// The last decision.
    pub last_decision: Option<DecisionRecord>,
}

impl Persisted {
    /// A fresh state for a fleet of `current` instances.
    pub fn new(current: u32) -> Self {
        Self {
            version: VERSION,
            saved_at: SystemTime::now(),
            scaling: ScalingState::new(current),
            events: VecDeque::new(),
            last_decision: None,
        }
    }
}

/// The state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads it: `None` when there is none yet. A file that is not this autoscaler's state is
    /// moved aside to `PATH.corrupt-SECONDS` (kept for a person to read) and reported.
    pub fn load(&self) -> Result<Option<Persisted>, Error> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let reason = match serde_json::from_str::<Persisted>(&text) {
            Ok(p) if p.version == VERSION => return Ok(Some(p)),
            Ok(p) => format!(
                "format version {}, this autoscaler reads {VERSION}",
                p.version
            ),
            Err(e) => e.to_string(),
        };
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let moved_to = self.sibling(&format!("corrupt-{stamp}"));
        fs::rename(&self.path, &moved_to).map_err(|source| Error::Io {
            action: "move aside",
            path: self.path.clone(),
            source,
        })?;
        Err(Error::CorruptState {
            path: self.path.clone(),
            reason,
            moved_to,
        })
    }

    /// Reads it without side effects, for a passive autoscaler showing what the leader saved:
    /// `None` when it is absent or unreadable (the leader deals with a bad file).
    pub fn peek(&self) -> Option<Persisted> {
        let text = fs::read_to_string(&self.path).ok()?;
        serde_json::from_str::<Persisted>(&text)
            .ok()
            .filter(|p| p.version == VERSION)
    }

    /// Replaces it with `state`, atomically.
    pub fn save(&self, state: &Persisted) -> Result<(), Error> {
        let io = |action: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io {
                action,
                path,
                source,
            }
        };
        let json = serde_json::to_vec(state).map_err(|e| Error::Io {
            action: "encode",
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        // Unique per write: two writers never share a temporary file.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.sibling(&format!("tmp-{}-{n}", std::process::id()));
        let mut f = File::create(&tmp).map_err(io("write", &tmp))?;
        f.write_all(&json).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(io("replace", &self.path))?;
        // The rename itself is durable once the directory is synced.
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync", &dir))
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".");
        name.push(suffix);
        self.path.with_file_name(name)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn round_trips_the_policy_state_and_moves_a_corrupt_file_aside() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("state.json"));
        assert!(file.load().unwrap().is_none());

        let mut p = Persisted::new(3);
        let expires = SystemTime::now() + Duration::from_secs(600);
        p.scaling.set_override(6, "launch", expires);
        file.save(&p).unwrap();
        let back = file.load().unwrap().unwrap();
        assert_eq!(back.scaling, p.scaling);

        std::fs::write(file.path(), b"{ not json").unwrap();
        let err = file.load().unwrap_err();
        let Error::CorruptState { moved_to, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(std::fs::read(moved_to).unwrap(), b"{ not json");
        assert!(
            file.load().unwrap().is_none(),
            "the corrupt file is out of the way"
        );
    }
}
