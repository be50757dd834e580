//! The local directory a job attempt works in (`VIDEO_WORK_DIR/job-<id>-<pid>-<random>`):
//! the source copied out of storage, the clips and posters ffmpeg writes. It is removed
//! when the attempt ends, however it ends (dropped with a cancelled or timed-out job too);
//! the directories of a process that was killed are swept by the next instance that starts
//! or takes a job on the same machine.

use std::path::{Path, PathBuf};

use crate::Error;

/// A job attempt's directory, removed on drop.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Creates the directory of an attempt at job `job` under `root`.
    pub async fn create(root: &Path, job: i64) -> Result<Self, Error> {
        let name = format!(
            "job-{job}-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let path = root.join(name);
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(Error::io(format!("creating {}", path.display())))?;
        Ok(Self { path })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.path);
        let remove = move || {
            if let Err(e) = std::fs::remove_dir_all(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %path.display(), error = %e, "could not remove a job's work directory");
            }
        };
        // Deleting a few hundred megabytes takes a moment: not on an async worker.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

/// The pid in a work directory's name (`job-<id>-<pid>-<random>`).
fn owner(name: &str) -> Option<u32> {
    let mut parts = name.strip_prefix("job-")?.split('-');
    let _job = parts.next()?;
    parts.next()?.parse().ok()
}

/// Whether process `pid` is alive (Linux: `/proc/<pid>`; elsewhere assumed alive).
fn alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the work directories under `root` whose process is gone; returns how many.
pub async fn sweep(root: &Path) -> usize {
    let root = root.to_path_buf();
    let swept = tokio::task::spawn_blocking(move || {
        let Ok(entries) = std::fs::read_dir(&root) else {
            return 0;
        };
        let mut swept = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(owner) else {
                continue;
            };
            if pid != std::process::id()
                && !alive(pid)
                && std::fs::remove_dir_all(entry.path()).is_ok()
            {
                swept += 1;
            }
        }
        swept
    })
    .await
    .unwrap_or(0);
    if swept > 0 {
        tracing::info!(
            directories = swept,
            "removed the work directories of video jobs whose process died"
        );
    }
    swept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn directories_go_with_their_attempt_or_their_dead_process() {
        let root = std::env::temp_dir().join(format!("clip-workdir-{}", std::process::id()));
        let dir = WorkDir::create(&root, 7).await.expect("created");
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("source"), b"bytes").expect("write");
        assert_eq!(
            owner(&path.file_name().unwrap_or_default().to_string_lossy()),
            Some(std::process::id())
        );

        // A directory of a process that no longer runs (pids stay below 2^22 on Linux).
        let dead = root.join("job-8-4999999-abcdef12");
        std::fs::create_dir_all(&dead).expect("dead dir");
        assert_eq!(sweep(&root).await, 1);
        assert!(
            !dead.exists() && path.exists(),
            "only the dead process's directory goes"
        );

        drop(dir);
        for _ in 0..100 {
            if !path.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(!path.exists(), "removed on drop");
        let _ = std::fs::remove_dir_all(root);
    }
}
