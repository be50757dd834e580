//! ffmpeg and ffprobe: found on `PATH` and checked once at start-up (they run, and ffmpeg
//! has the H.264 and AAC encoders the clips need), so a machine without them stops start-up
//! with a message saying what to install, rather than failing every job later.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::process;
use crate::Error;

/// How long the start-up checks may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);
/// Encoders the clips need: `(name in ffmpeg -encoders, what it is)`.
const ENCODERS: &[(&str, &str)] = &[("libx264", "H.264"), ("aac", "AAC")];

/// ffmpeg and ffprobe, checked.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The ffmpeg binary.
    pub ffmpeg: PathBuf,
    /// The ffprobe binary.
    pub ffprobe: PathBuf,
    /// ffmpeg's version line (`ffmpeg version 5.1.6-0+deb12u1 ...`).
    pub version: String,
}

impl Tools {
    /// Finds both on `PATH` and checks that they run and that ffmpeg can encode the clips.
    pub async fn check() -> Result<Tools, Error> {
        let path = std::env::var_os("PATH");
        let ffmpeg = find("ffmpeg", path.as_deref())?;
        let ffprobe = find("ffprobe", path.as_deref())?;
        let (version, probe, encoders) = tokio::join!(
            output(&ffmpeg, &["-hide_banner", "-version"]),
            output(&ffprobe, &["-hide_banner", "-version"]),
            output(&ffmpeg, &["-hide_banner", "-encoders"]),
        );
        let (version, encoders) = (version?, encoders?);
        probe?;
        let version = version.lines().next().unwrap_or("ffmpeg").to_owned();
        for (encoder, what) in ENCODERS {
            let present = encoders
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(*encoder));
            if !present {
                return Err(Error::Ffmpeg(format!(
                    "{} ({version}) has no {encoder} encoder, which {what} clips need: \
                     install Debian's ffmpeg (./scripts/install-deps.sh)",
                    ffmpeg.display()
                )));
            }
        }
        Ok(Tools {
            ffmpeg,
            ffprobe,
            version,
        })
    }

    /// A command running ffmpeg quietly (errors only), never reading stdin.
    pub fn ffmpeg(&self) -> Command {
        let mut command = Command::new(&self.ffmpeg);
        command.args(["-nostdin", "-hide_banner", "-loglevel", "error"]);
        command
    }

    /// A command running ffprobe quietly (errors only).
    pub fn ffprobe(&self) -> Command {
        let mut command = Command::new(&self.ffprobe);
        command.args(["-hide_banner", "-loglevel", "error"]);
        command
    }
}

/// The executable `name` in the directories of `path` (a `PATH` value).
pub fn find(name: &str, path: Option<&OsStr>) -> Result<PathBuf, Error> {
    let found = path
        .map(std::env::split_paths)
        .into_iter()
        .flatten()
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate));
    found.ok_or_else(|| {
        Error::Ffmpeg(format!(
            "{name} was not found on PATH ({}): install ffmpeg (Debian: apt-get install ffmpeg, \
             or ./scripts/install-deps.sh), or set VIDEO_WORKERS=0 to run this instance \
             without video jobs",
            path.map_or_else(|| "unset".into(), OsStr::to_string_lossy)
        ))
    })
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = path.metadata() else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// What `program args` prints, or an error saying it does not run.
async fn output(program: &Path, args: &[&str]) -> Result<String, Error> {
    let mut command = Command::new(program);
    command.args(args);
    let broken = |why: String| {
        Error::Ffmpeg(format!(
            "{} does not run ({why}): reinstall ffmpeg (./scripts/install-deps.sh)",
            program.display()
        ))
    };
    let finished = tokio::time::timeout(CHECK_TIMEOUT, process::run(command, 1 << 20, |_| {}))
        .await
        .map_err(|_| broken(format!("no answer within {CHECK_TIMEOUT:?}")))?
        .map_err(|e| broken(e.to_string()))?;
    if !finished.status.success() {
        return Err(broken(format!(
            "{}: {}",
            finished.status,
            finished.last_error().unwrap_or("no message")
        )));
    }
    Ok(String::from_utf8_lossy(&finished.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_says_what_to_install_and_how_to_do_without() {
        let dir = std::env::temp_dir().join(format!("clip-tools-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let error = find("ffmpeg", Some(dir.as_os_str())).expect_err("not there");
        let text = error.to_string();
        assert!(text.contains("ffmpeg was not found on PATH"), "{text}");
        assert!(text.contains(&dir.display().to_string()), "{text}");
        assert!(text.contains("VIDEO_WORKERS=0"), "{text}");
        assert!(find("ffmpeg", None).is_err());

        // A file that is not executable is not the tool.
        std::fs::write(dir.join("ffmpeg"), "#!/bin/sh\n").expect("write");
        assert!(find("ffmpeg", Some(dir.as_os_str())).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn the_installed_ffmpeg_passes_the_start_up_check() {
        let tools = Tools::check()
            .await
            .expect("ffmpeg from scripts/install-deps.sh");
        assert!(
            tools.version.starts_with("ffmpeg version"),
            "{}",
            tools.version
        );
    }
}
