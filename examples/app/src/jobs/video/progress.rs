//! Progress in percent: ffmpeg's `-progress pipe:1` lines say how far into its output it is
//! (`out_time_us=`); the job turns that into a share of its whole work, and a task of its
//! own writes the figure to the job's row at most twice a second, so ffmpeg's output is
//! never held up by the database.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::jobs::Queue;

/// How often progress is written to the database, at most.
const WRITE_EVERY: Duration = Duration::from_millis(500);

/// The position ffmpeg reports in a `-progress` line, if the line gives one.
pub fn position(line: &str) -> Option<Duration> {
    let (key, value) = line.split_once('=')?;
    // `out_time_ms` is microseconds too (an old misnomer ffmpeg keeps); prefer `_us`.
    if key != "out_time_us" {
        return None;
    }
    let micros: i64 = value.trim().parse().ok()?;
    u64::try_from(micros).ok().map(Duration::from_micros)
}

/// A job's progress: set from anywhere, written to its row by a task of its own.
#[derive(Debug)]
pub struct Progress {
    percent: watch::Sender<f32>,
    writer: JoinHandle<()>,
}

impl Progress {
    /// Starts writing job `id`'s progress.
    pub fn start(queue: Queue, id: i64) -> Self {
        let (percent, mut changes) = watch::channel(0.0_f32);
        let writer = tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let value = *changes.borrow_and_update();
                if let Err(e) = queue.progress(id, value).await {
                    tracing::debug!(job = id, error = %e, "could not record progress");
                }
                tokio::time::sleep(WRITE_EVERY).await;
            }
        });
        Self { percent, writer }
    }

    /// Sets the progress (0..=100); it never goes back.
    pub fn set(&self, percent: f32) {
        let percent = percent.clamp(0.0, 100.0);
        self.percent.send_if_modified(|current| {
            let forward = percent > *current + 0.05;
            if forward {
                *current = percent;
            }
            forward
        });
    }

    /// A part of the work: `share` percent of the whole, starting at `from` percent.
    pub fn stage(&self, from: f32, share: f32) -> Stage<'_> {
        Stage {
            progress: self,
            from,
            share,
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.writer.abort();
    }
}

/// A stage of a job's work, reporting its own fraction done.
#[derive(Debug, Clone, Copy)]
pub struct Stage<'a> {
    progress: &'a Progress,
    from: f32,
    share: f32,
}

impl Stage<'_> {
    /// `done` of this stage (0..=1) is done.
    pub fn done(&self, done: f64) {
        let done = done.clamp(0.0, 1.0) as f32;
        self.progress.set(self.from + self.share * done);
    }

    /// The callback of an ffmpeg run whose output lasts `length`: each `-progress` line
    /// moves the stage forward.
    pub fn ffmpeg_lines(&self, length: Duration) -> impl FnMut(&str) + '_ {
        let length = length.as_secs_f64().max(1e-3);
        move |line: &str| {
            if let Some(at) = position(line) {
                self.done(at.as_secs_f64() / length);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_output_position_of_progress_blocks() {
        let block = "frame=100\nfps=0.00\nout_time_us=4010667\nout_time_ms=4010667\n\
                     out_time=00:00:04.010667\nprogress=continue";
        let positions: Vec<Duration> = block.lines().filter_map(position).collect();
        assert_eq!(positions, [Duration::from_micros(4_010_667)]);
        assert_eq!(position("out_time_us=N/A"), None);
        assert_eq!(position("out_time_us=-23220"), None);
        assert_eq!(position("progress=end"), None);
        assert_eq!(position("garbage"), None);
    }
}
