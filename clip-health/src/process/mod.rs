//! CPU and resident memory of this process from `/proc`, and the container's limits from cgroup
//! v2 or v1, as the gauges the autoscaler reads and as the Prometheus process collector's series
//! (Linux; elsewhere every figure is `None`).

mod cgroup;
mod exposition;
mod procfs;
#[cfg(test)]
mod scratch;
mod window;

use std::path::PathBuf;
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use cgroup::Limits;
use procfs::read;
use window::CpuWindow;

/// The span of the CPU-use figure: that of metrics-server and of a common scrape interval, so
/// consecutive 15 s scrapes see consecutive windows.
pub const CPU_WINDOW: Duration = Duration::from_secs(15);
/// How often the sampler of [`ProcessMetrics::shared`] reads the CPU counter.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// One reading of this process's resources. A `None` is a figure that could not be read,
/// never a zero.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcessSample {
    /// CPU time used since the process started (user + system), in seconds.
    pub cpu_seconds_total: Option<f64>,
    /// Cores busy on this process over the CPU window (the last [`CPU_WINDOW`] of the sampler's
    /// readings; since process start until it has two): 1.0 is one full core.
    pub cpu_cores_used: Option<f64>,
    /// CPU use over the same window as a percentage (0..100) of what this process may use: the
    /// cgroup CPU limit when there is one, else the CPUs available to it. This is the
    /// autoscaler's `cpu_percent`.
    pub cpu_usage_percent: Option<f64>,
    /// Resident set size (VmRSS), in bytes.
    pub resident_memory_bytes: Option<u64>,
    /// Resident memory as a percentage of the memory limit (cgroup, else the machine's RAM).
    pub memory_usage_percent: Option<f64>,
    /// The container's CPU limit in cores (cgroup `cpu.max` or CFS quota), if one is set.
    pub cpu_limit_cores: Option<f64>,
    /// The container's memory limit in bytes (cgroup `memory.max` / `memory.limit_in_bytes`), if one is set.
    pub memory_limit_bytes: Option<u64>,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

/// Reads [`ProcessSample`]s and publishes them as `clip_process_*` gauges.
///
/// The CPU figures are a rate over a fixed window of readings that [`tick`](Self::tick) takes
/// at a steady pace; reading them ([`sample`](Self::sample), [`record`](Self::record), a
/// scrape) changes nothing, so two scrapers see the same figure. [`ProcessMetrics::shared`]
/// is the process-wide instance with its sampler running; `/metrics` of
/// [`crate::axum::router`] reads that one.
///
/// ```
/// let process = clip_health::process::ProcessMetrics::shared();
/// let sample = process.record(); // also sets the gauges of the installed recorder
/// # if cfg!(target_os = "linux") {
/// assert!(sample.resident_memory_bytes.unwrap_or(0) > 0);
/// assert!(sample.cpu_usage_percent.is_some());
/// # }
/// ```
#[derive(Debug)]
pub struct ProcessMetrics {
    proc_self: PathBuf,
    proc_root: PathBuf,
    cgroup_root: PathBuf,
    window: Mutex<CpuWindow>,
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessMetrics {
    /// Reads `/proc/self` and `/sys/fs/cgroup`. Nothing samples it: call [`tick`](Self::tick)
    /// every [`SAMPLE_EVERY`], or use [`shared`](Self::shared).
    pub fn new() -> Self {
        Self::with_roots("/proc", "/proc/self", "/sys/fs/cgroup")
    }

    /// Reads from other roots: `proc_root` (for `uptime`, `meminfo`, `stat`), `proc_self` (for
    /// `stat`, `status`, `cgroup`) and the cgroup mount point. Used to test against recorded files.
    pub fn with_roots(
        proc_root: impl Into<PathBuf>,
        proc_self: impl Into<PathBuf>,
        cgroup_root: impl Into<PathBuf>,
    ) -> Self {
        Self {
            proc_root: proc_root.into(),
            proc_self: proc_self.into(),
            cgroup_root: cgroup_root.into(),
            window: Mutex::new(CpuWindow::new(CPU_WINDOW)),
        }
    }

    /// The process-wide instance, read by every `/metrics` route. On first use it starts its
    /// sampler, a thread of its own that calls [`tick`](Self::tick) and [`record`](Self::record)
    /// every [`SAMPLE_EVERY`] (a thread, not a task, so that it outlives any one tokio runtime).
    pub fn shared() -> &'static ProcessMetrics {
        static SHARED: OnceLock<ProcessMetrics> = OnceLock::new();
        static SAMPLER: Once = Once::new();
        let shared = SHARED.get_or_init(ProcessMetrics::new);
        SAMPLER.call_once(|| {
            shared.tick();
            let spawned = std::thread::Builder::new()
                .name("clip-health-process-sampler".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(SAMPLE_EVERY);
                        shared.tick();
                        shared.record();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start the process sampler; CPU figures are averaged since process start");
            }
        });
        shared
    }

    /// Takes one reading of the CPU counter into the window. The sampler of
    /// [`shared`](Self::shared) calls it every [`SAMPLE_EVERY`]; call it at a steady pace
    /// yourself only for an instance of your own.
    pub fn tick(&self) {
        let cpu = read(&self.proc_self.join("stat"))
            .as_deref()
            .and_then(procfs::cpu_seconds);
        if let Some(cpu) = cpu {
            self.lock_window().push(Instant::now(), cpu);
        }
    }

    /// Takes a reading. The CPU figures are those of the window (since process start until the
    /// window holds two readings); reading changes nothing.
    pub fn sample(&self) -> ProcessSample {
        let stat = read(&self.proc_self.join("stat"));
        let cpu_seconds_total = stat.as_deref().and_then(procfs::cpu_seconds);
        let cgroup = read(&self.proc_self.join("cgroup")).unwrap_or_default();
        let limits = Limits::read(&self.cgroup_root, &cgroup);

        let windowed = self.lock_window().cores();
        let cpu_cores_used = windowed.or_else(|| {
            let age = self.seconds_since_start(stat.as_deref()?)?;
            Some(cpu_seconds_total? / age)
        });
        let capacity_cores = limits.cpu_cores.or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as f64)
        });
        let cpu_usage_percent = cpu_cores_used
            .zip(capacity_cores)
            .map(|(used, cap)| used / cap * 100.0);

        let resident_memory_bytes = read(&self.proc_self.join("status"))
            .as_deref()
            .and_then(procfs::vm_rss);
        let memory_capacity = limits.memory_bytes.or_else(|| {
            read(&self.proc_root.join("meminfo"))
                .as_deref()
                .and_then(procfs::mem_total)
        });
        let memory_usage_percent = resident_memory_bytes
            .zip(memory_capacity)
            .filter(|(_, cap)| *cap > 0)
            .map(|(rss, cap)| rss as f64 / cap as f64 * 100.0);

        let start_time_seconds = stat.as_deref().and_then(|stat| {
            let boot = read(&self.proc_root.join("stat"))
                .as_deref()
                .and_then(procfs::boot_time)?;
            Some(boot + procfs::start_after_boot(stat)?)
        });

        ProcessSample {
            cpu_seconds_total,
            cpu_cores_used,
            cpu_usage_percent,
            resident_memory_bytes,
            memory_usage_percent,
            cpu_limit_cores: limits.cpu_cores,
            memory_limit_bytes: limits.memory_bytes,
            start_time_seconds,
        }
    }

    /// Takes a reading and sets the gauges: `clip_process_cpu_usage_percent`,
    /// `clip_process_resident_memory_bytes`,
    /// `clip_process_memory_usage_percent`, and, where a limit exists,
    /// `clip_process_cpu_limit_cores` and `clip_process_memory_limit_bytes`.
    /// (The Prometheus process collector's series are text: see [`ProcessSample::write_prometheus`].)
    pub fn record(&self) -> ProcessSample {
        let s = self.sample();
        let set = |name: &'static str, value: Option<f64>| {
            if let Some(value) = value {
                metrics::gauge!(name).set(value);
            }
        };
        set("clip_process_cpu_usage_percent", s.cpu_usage_percent);
        set(
            "clip_process_resident_memory_bytes",
            s.resident_memory_bytes.map(|b| b as f64),
        );
        set("clip_process_memory_usage_percent", s.memory_usage_percent);
        set("clip_process_cpu_limit_cores", s.cpu_limit_cores);
        set(
            "clip_process_memory_limit_bytes",
            s.memory_limit_bytes.map(|b| b as f64),
        );
        s
    }

    fn seconds_since_start(&self, stat: &str) -> Option<f64> {
        let started = procfs::start_after_boot(stat)?;
        let uptime = procfs::uptime(&read(&self.proc_root.join("uptime"))?)?;
        // Both clocks tick at 1/USER_HZ: a process started within the current tick reads as 0
        // (or less) seconds old. It is at least one tick old, and the first reading must exist.
        Some((uptime - started).max(1.0 / procfs::USER_HZ))
    }

    fn lock_window(&self) -> std::sync::MutexGuard<'_, CpuWindow> {
        // Every push leaves the window consistent, so a panic elsewhere cannot corrupt it.
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scratch::Scratch;

    #[test]
    fn samples_recorded_files_against_the_container_limit() {
        let s = Scratch::new("sample");
        s.write("proc/uptime", "1010.00 5.00\n");
        s.write("proc/meminfo", "MemTotal:       8000000 kB\n");
        s.write("proc/stat", "cpu  1 2 3 4\nbtime 1700000000\n");
        // Started at tick 1000 (10 s after boot), used 250 + 250 ticks: 5 s of CPU in 1000 s.
        s.write(
            "proc/self/stat",
            "7 (app) S 1 7 7 0 -1 0 0 0 0 0 250 250 0 0 20 0 1 0 1000 0 0",
        );
        s.write("proc/self/status", "Name:\tapp\nVmRSS:\t  262144 kB\n");
        s.write("proc/self/cgroup", "0::/app\n");
        s.write("cg/app/cpu.max", "50000 100000\n");
        s.write("cg/app/memory.max", "1073741824\n");
        let p = ProcessMetrics::with_roots(s.0.join("proc"), s.0.join("proc/self"), s.0.join("cg"));
        let sample = p.sample();
        assert_eq!(sample.cpu_seconds_total, Some(5.0));
        assert_eq!(sample.cpu_cores_used, Some(0.005));
        assert_eq!(sample.cpu_limit_cores, Some(0.5));
        assert_eq!(
            sample.cpu_usage_percent,
            Some(1.0),
            "0.005 cores of a 0.5-core limit"
        );
        assert_eq!(sample.resident_memory_bytes, Some(256 << 20));
        assert_eq!(sample.memory_limit_bytes, Some(1 << 30));
        assert_eq!(sample.memory_usage_percent, Some(25.0));
        assert_eq!(
            sample.start_time_seconds,
            Some(1_700_000_010.0),
            "boot + 1000 ticks"
        );
    }

    #[test]
    fn reading_the_cpu_figure_does_not_reset_it() {
        let s = Scratch::new("reread");
        s.write("proc/uptime", "1010.00 5.00\n");
        s.write(
            "proc/self/stat",
            "7 (app) S 1 7 7 0 -1 0 0 0 0 0 250 250 0 0 20 0 1 0 1000 0 0",
        );
        s.write("proc/self/cgroup", "0::/app\n");
        s.write("cg/app/cpu.max", "50000 100000\n");
        let p = ProcessMetrics::with_roots(s.0.join("proc"), s.0.join("proc/self"), s.0.join("cg"));
        let first = p.sample().cpu_usage_percent;
        let second = p.sample().cpu_usage_percent;
        assert_eq!(first, Some(1.0));
        assert_eq!(
            second, first,
            "the second reader saw the first one's window reset"
        );
    }

    #[test]
    fn missing_files_read_as_none_not_zero() {
        let p = ProcessMetrics::with_roots("/nonexistent", "/nonexistent/self", "/nonexistent/cg");
        let sample = p.sample();
        assert_eq!(sample.cpu_usage_percent, None);
        assert_eq!(sample.resident_memory_bytes, None);
        assert_eq!(sample.memory_limit_bytes, None);
    }

    /// The pipeline from `/proc` to the percentage, on this process: a thread burns CPU until
    /// the kernel has counted 0.3 s of it (however long a loaded machine takes), between two
    /// readings of the window. Nothing here depends on how fast the machine is.
    #[cfg(target_os = "linux")]
    #[test]
    fn measures_this_process_burning_cpu() {
        let p = ProcessMetrics::new();
        p.tick();
        let before = p.sample();
        assert!(before.resident_memory_bytes.unwrap_or(0) > 1 << 20);
        let start = before.cpu_seconds_total.expect("cpu counter");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut x = 0u64;
        let mut now = start;
        while now < start + 0.3 && Instant::now() < deadline {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            now = p.sample().cpu_seconds_total.unwrap_or(start);
        }
        assert!(
            now >= start + 0.3,
            "the counter moved {} s in 60 s",
            now - start
        );
        p.tick();
        let busy = p.sample();
        let cores = busy.cpu_cores_used.expect("two readings in the window");
        let cpus = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
        // At least 0.3 s of CPU over at most 60 s; at most every CPU (plus a 10 ms tick of slack).
        assert!(cores > 0.3 / 60.0 && cores <= cpus + 0.1, "cores {cores}");
        assert!(busy.cpu_usage_percent.is_some_and(|p| p > 0.0));
    }
}
