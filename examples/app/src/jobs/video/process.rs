//! Running ffmpeg and ffprobe as child processes: no stdin, stdout read as it comes (ffprobe's
//! JSON, ffmpeg's `-progress` lines), the tail of stderr kept for the error message. The
//! child dies with its job: dropping the future kills it (`kill_on_drop`), and on Linux it
//! also dies with this process (`PR_SET_PDEATHSIG`), so a `kill -9` of the instance leaves no
//! ffmpeg running on for minutes.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

use crate::Error;

/// Lines of stderr kept for the error message.
const STDERR_LINES: usize = 20;
/// Longest stderr line kept.
const STDERR_LINE_CHARS: usize = 400;

/// How a child process ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// What it wrote to stdout, up to the limit asked for.
    pub stdout: Vec<u8>,
    /// The last lines it wrote to stderr.
    pub stderr: Vec<String>,
}

impl Finished {
    /// The last non-empty stderr line: ffmpeg's own summary of what went wrong.
    pub fn last_error(&self) -> Option<&str> {
        self.stderr
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
    }
}

/// Runs `command` to its end. Every stdout line goes to `on_line`; the first `keep_stdout`
/// bytes of stdout are kept (more is an error: the caller expected less).
pub async fn run(
    mut command: Command,
    keep_stdout: usize,
    mut on_line: impl FnMut(&str),
) -> Result<Finished, Error> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    die_with_parent(&mut command);
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let mut child = command
        .spawn()
        .map_err(Error::io(format!("starting {program}")))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Error::Ffmpeg(format!("{program} has no output pipes")));
    };
    // Reads to the end whatever happens, so the child never blocks on a full pipe.
    let read_stdout = async {
        let mut kept = Vec::new();
        let mut overflow = false;
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::with_capacity(256);
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => return (kept, overflow),
                Ok(_) => {}
            }
            if kept.len() + line.len() > keep_stdout {
                overflow |= keep_stdout > 0;
            } else {
                kept.extend_from_slice(&line);
            }
            on_line(String::from_utf8_lossy(&line).trim_end());
        }
    };
    let ((stdout, overflow), stderr, status) =
        tokio::join!(read_stdout, tail(stderr), child.wait());
    let status = status.map_err(Error::io(format!("waiting for {program}")))?;
    if overflow {
        return Err(Error::Ffmpeg(format!(
            "{program} printed more than {keep_stdout} bytes"
        )));
    }
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

/// The last [`STDERR_LINES`] lines of a stream, each cut to [`STDERR_LINE_CHARS`].
async fn tail(stream: impl AsyncRead + Unpin) -> Vec<String> {
    let mut lines = BufReader::new(stream).lines();
    let mut kept = VecDeque::with_capacity(STDERR_LINES);
    while let Ok(Some(line)) = lines.next_line().await {
        if kept.len() == STDERR_LINES {
            kept.pop_front();
        }
        kept.push_back(line.chars().take(STDERR_LINE_CHARS).collect());
    }
    kept.into()
}

/// Asks the kernel to kill the child when this process dies (Linux only).
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: between fork and exec the closure calls only prctl(2) and getppid(2), both
    // async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent died before the prctl took effect: nobody waits for this child.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(std::io::Error::other("the parent process has exited"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stdout_lines_and_the_tail_of_stderr_are_captured() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo out=1; echo out=2; for i in $(seq 1 30); do echo err $i >&2; done; exit 3",
        ]);
        let mut lines = Vec::new();
        let finished = run(command, 1024, |l| lines.push(l.to_owned()))
            .await
            .expect("ran");
        assert_eq!(lines, ["out=1", "out=2"]);
        assert_eq!(finished.stdout, b"out=1\nout=2\n");
        assert_eq!(finished.status.code(), Some(3));
        assert_eq!(finished.stderr.len(), STDERR_LINES);
        assert_eq!(finished.last_error(), Some("err 30"));
    }

    #[tokio::test]
    async fn too_much_output_is_an_error_not_a_memory_leak() {
        let mut command = Command::new("sh");
        command.args(["-c", "yes | head -c 100000"]);
        let error = run(command, 1000, |_| {}).await.expect_err("refused");
        assert!(
            error.to_string().contains("more than 1000 bytes"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_naming_it() {
        let command = Command::new("/nonexistent/ffmpeg");
        let error = run(command, 0, |_| {}).await.expect_err("no program");
        assert!(error.to_string().contains("/nonexistent/ffmpeg"), "{error}");
    }
}
