//! CPU and resident memory of this process from `/proc`, and the container's limits from cgroup
//! v2 or v1, as the gauges the autoscaler reads (Linux; elsewhere every figure is `None`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// `/proc` reports CPU times in USER_HZ ticks, which the kernel ABI fixes at 100 per second.
const USER_HZ: f64 = 100.0;
/// cgroup v1 writes "no limit" as a huge number (`PAGE_COUNTER_MAX` in bytes); anything above is none.
const V1_UNLIMITED: u64 = 1 << 60;

/// One reading of this process's resources. A `None` is a figure that could not be read,
/// never a zero.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcessSample {
    /// CPU time used since the process started (user + system), in seconds.
    pub cpu_seconds_total: Option<f64>,
    /// Cores busy on this process since the previous sample (since start on the first): 1.0 is one full core.
    pub cpu_cores_used: Option<f64>,
    /// CPU use as a percentage (0..100) of what this process may use: the cgroup CPU limit
    /// when there is one, else the CPUs available to it. This is the autoscaler's `cpu_percent`.
    pub cpu_usage_percent: Option<f64>,
    /// Resident set size (VmRSS), in bytes.
    pub resident_memory_bytes: Option<u64>,
    /// Resident memory as a percentage of the memory limit (cgroup, else the machine's RAM).
    pub memory_usage_percent: Option<f64>,
    /// The container's CPU limit in cores (cgroup `cpu.max` or CFS quota), if one is set.
    pub cpu_limit_cores: Option<f64>,
    /// The container's memory limit in bytes (cgroup `memory.max` / `memory.limit_in_bytes`), if one is set.
    pub memory_limit_bytes: Option<u64>,
}

/// Reads [`ProcessSample`]s and publishes them as `clip_process_*` gauges.
///
/// ```
/// let process = clip_health::process::ProcessMetrics::new();
/// let sample = process.record(); // also sets the gauges of the installed recorder
/// # if cfg!(target_os = "linux") {
/// assert!(sample.resident_memory_bytes.unwrap_or(0) > 0);
/// # }
/// ```
#[derive(Debug)]
pub struct ProcessMetrics {
    proc_self: PathBuf,
    proc_root: PathBuf,
    cgroup_root: PathBuf,
    previous: Mutex<Option<(Instant, f64)>>,
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessMetrics {
    /// Reads `/proc/self` and `/sys/fs/cgroup`.
    pub fn new() -> Self {
        Self::with_roots("/proc", "/proc/self", "/sys/fs/cgroup")
    }

    /// Reads from other roots: `proc_root` (for `uptime`, `meminfo`), `proc_self` (for `stat`,
    /// `status`, `cgroup`) and the cgroup mount point. Used to test against recorded files.
    pub fn with_roots(
        proc_root: impl Into<PathBuf>,
        proc_self: impl Into<PathBuf>,
        cgroup_root: impl Into<PathBuf>,
    ) -> Self {
        Self {
            proc_root: proc_root.into(),
            proc_self: proc_self.into(),
            cgroup_root: cgroup_root.into(),
            previous: Mutex::new(None),
        }
    }

    /// Takes a reading. CPU use is averaged since the previous call (since process start on the first).
    pub fn sample(&self) -> ProcessSample {
        let now = Instant::now();
        let stat = read(&self.proc_self.join("stat"));
        let cpu_seconds_total = stat.as_deref().and_then(cpu_seconds);
        let cgroup = read(&self.proc_self.join("cgroup")).unwrap_or_default();
        let limits = Limits::read(&self.cgroup_root, &cgroup);

        let cpu_cores_used = cpu_seconds_total.and_then(|cpu| {
            let mut previous = self.previous.lock().unwrap_or_else(|e| e.into_inner());
            let used = match *previous {
                Some((at, before)) => {
                    let wall = now.duration_since(at).as_secs_f64();
                    (wall > 0.0).then(|| (cpu - before).max(0.0) / wall)
                }
                None => self
                    .seconds_since_start(stat.as_deref()?)
                    .map(|age| cpu / age),
            };
            *previous = Some((now, cpu));
            used
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
            .and_then(vm_rss);
        let memory_capacity = limits.memory_bytes.or_else(|| {
            read(&self.proc_root.join("meminfo"))
                .as_deref()
                .and_then(mem_total)
        });
        let memory_usage_percent = resident_memory_bytes
            .zip(memory_capacity)
            .filter(|(_, cap)| *cap > 0)
            .map(|(rss, cap)| rss as f64 / cap as f64 * 100.0);

        ProcessSample {
            cpu_seconds_total,
            cpu_cores_used,
            cpu_usage_percent,
            resident_memory_bytes,
            memory_usage_percent,
            cpu_limit_cores: limits.cpu_cores,
            memory_limit_bytes: limits.memory_bytes,
        }
    }

    /// Takes a reading and sets the gauges: `clip_process_cpu_usage_percent`,
    /// `clip_process_resident_memory_bytes`,
    /// `clip_process_memory_usage_percent`, and, where a limit exists,
    /// `clip_process_cpu_limit_cores` and `clip_process_memory_limit_bytes`.
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
        let start_ticks: f64 = stat_fields(stat)?.nth(19)?.parse().ok()?;
        let uptime: f64 = read(&self.proc_root.join("uptime"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        // Both clocks tick at 1/USER_HZ: a process started within the current tick reads as 0
        // (or less) seconds old. It is at least one tick old, and the first reading must exist.
        let age = uptime - start_ticks / USER_HZ;
        Some(age.max(1.0 / USER_HZ))
    }
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The fields of `/proc/<pid>/stat` after the command name, which may itself hold spaces and parens.
fn stat_fields(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat.get(stat.rfind(')')? + 1..)?.split_whitespace())
}

/// utime + stime (fields 14 and 15 of `stat`) in seconds.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let mut fields = stat_fields(stat)?.skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// A `Key:   1234 kB` line of `/proc/self/status` or `/proc/meminfo`, in bytes.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line
        .get(key.len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

fn vm_rss(status: &str) -> Option<u64> {
    kib_field(status, "VmRSS:")
}

fn mem_total(meminfo: &str) -> Option<u64> {
    kib_field(meminfo, "MemTotal:")
}

/// The tightest CPU and memory limits of this process's cgroup and its ancestors.
#[derive(Debug, Default, PartialEq)]
struct Limits {
    cpu_cores: Option<f64>,
    memory_bytes: Option<u64>,
}

impl Limits {
    /// `proc_cgroup` is `/proc/self/cgroup`: `0::/path` for v2, `N:cpu,cpuacct:/path` for v1
    /// (hybrid hosts have both; v2 files win where they exist).
    fn read(root: &Path, proc_cgroup: &str) -> Limits {
        let mut limits = Limits::default();
        for line in proc_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if controllers.is_empty() {
                for dir in dirs(root, path) {
                    limits.cpu_cores = min_f(
                        limits.cpu_cores,
                        read(&dir.join("cpu.max")).as_deref().and_then(v2_cpu),
                    );
                    limits.memory_bytes = min_u(
                        limits.memory_bytes,
                        read(&dir.join("memory.max")).as_deref().and_then(v2_memory),
                    );
                }
                continue;
            }
            let names: Vec<&str> = controllers.split(',').collect();
            if names.contains(&"cpu") {
                for dir in dirs(&root.join(controllers), path).chain(dirs(&root.join("cpu"), path))
                {
                    let quota = read(&dir.join("cpu.cfs_quota_us"));
                    let period = read(&dir.join("cpu.cfs_period_us"));
                    let cores = quota.zip(period).and_then(|(q, p)| v1_cpu(&q, &p));
                    limits.cpu_cores = min_f(limits.cpu_cores, cores);
                }
            }
            if names.contains(&"memory") {
                for dir in dirs(&root.join(controllers), path) {
                    let bytes = read(&dir.join("memory.limit_in_bytes"))
                        .and_then(|t| t.trim().parse::<u64>().ok())
                        .filter(|b| *b < V1_UNLIMITED);
                    limits.memory_bytes = min_u(limits.memory_bytes, bytes);
                }
            }
        }
        limits
    }
}

/// The cgroup's directory and its ancestors up to the mount point. Inside a cgroup namespace
/// the path may not exist under the mount; the mount point itself is then this cgroup.
fn dirs(mount: &Path, cgroup_path: &str) -> impl Iterator<Item = PathBuf> {
    let own = mount.join(cgroup_path.trim_start_matches('/'));
    let start = if own.is_dir() {
        own
    } else {
        mount.to_path_buf()
    };
    let mount = mount.to_path_buf();
    let mut next = Some(start);
    std::iter::from_fn(move || {
        let dir = next.take()?;
        if dir != mount {
            next = dir
                .parent()
                .filter(|p| p.starts_with(&mount))
                .map(Path::to_path_buf);
        }
        Some(dir)
    })
}

/// `cpu.max`: `"max 100000"` (no limit) or `"<quota> <period>"` in microseconds.
fn v2_cpu(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota: f64 = parts.next()?.parse().ok()?;
    let period: f64 = parts.next().unwrap_or("100000").parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// `memory.max`: `"max"` (no limit) or bytes.
fn v2_memory(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// `cpu.cfs_quota_us` (`-1`: no limit) over `cpu.cfs_period_us`.
fn v1_cpu(quota: &str, period: &str) -> Option<f64> {
    let quota: f64 = quota.trim().parse().ok()?;
    let period: f64 = period.trim().parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

fn min_f(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn min_u(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory holding recorded `/proc` and cgroup files.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("clip-health-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch dir");
            Scratch(dir)
        }
        fn write(&self, rel: &str, text: &str) {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let stat = "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 4 0 1000 123 456";
        assert_eq!(cpu_seconds(stat), Some(3.0));
        assert_eq!(stat_fields(stat).and_then(|mut f| f.nth(19)), Some("1000"));
    }

    #[test]
    fn reads_cgroup_v2_limits_from_the_tightest_ancestor() {
        let s = Scratch::new("v2");
        s.write("cg/cpu.max", "max 100000\n");
        s.write("cg/memory.max", "max\n");
        s.write("cg/kubepods/cpu.max", "150000 100000\n");
        s.write("cg/kubepods/memory.max", "1073741824\n");
        s.write("cg/kubepods/pod1/cpu.max", "400000 100000\n");
        s.write("cg/kubepods/pod1/memory.max", "max\n");
        let limits = Limits::read(&s.0.join("cg"), "0::/kubepods/pod1\n");
        assert_eq!(
            limits,
            Limits {
                cpu_cores: Some(1.5),
                memory_bytes: Some(1 << 30)
            }
        );
    }

    #[test]
    fn reads_cgroup_v1_limits_and_ignores_the_unlimited_marker() {
        let s = Scratch::new("v1");
        s.write("cg/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
        s.write("cg/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
        s.write("cg/memory/docker/abc/memory.limit_in_bytes", "536870912\n");
        s.write("cg/memory/memory.limit_in_bytes", "9223372036854771712\n");
        let cgroup = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n";
        let limits = Limits::read(&s.0.join("cg"), cgroup);
        assert_eq!(
            limits,
            Limits {
                cpu_cores: Some(0.5),
                memory_bytes: Some(512 << 20)
            }
        );

        s.write(
            "cg/memory/docker/abc/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        s.write("cg/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
        assert_eq!(Limits::read(&s.0.join("cg"), cgroup), Limits::default());
    }

    #[test]
    fn a_namespaced_cgroup_reads_the_mount_point() {
        let s = Scratch::new("ns");
        s.write("cg/cpu.max", "200000 100000\n");
        let limits = Limits::read(&s.0.join("cg"), "0::/../../elsewhere\n");
        assert_eq!(limits.cpu_cores, Some(2.0));
    }

    #[test]
    fn samples_recorded_files_against_the_container_limit() {
        let s = Scratch::new("sample");
        s.write("proc/uptime", "1010.00 5.00\n");
        s.write("proc/meminfo", "MemTotal:       8000000 kB\n");
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
    }

    /// Two scrapers (an HA Prometheus pair, a `curl /metrics`) must read the same CPU figure:
    /// reading it does not restart its window.
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

    #[cfg(target_os = "linux")]
    #[test]
    fn measures_this_process_burning_cpu() {
        let p = ProcessMetrics::new();
        let first = p.sample();
        assert!(first.resident_memory_bytes.unwrap_or(0) > 1 << 20);
        let started = Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let busy = p.sample();
        let cores = busy.cpu_cores_used.unwrap_or(0.0);
        // One thread spinning: about one core (ticks are 10 ms, other tests run alongside).
        assert!(cores > 0.3, "cores used while spinning: {cores}");
        assert!(busy.cpu_usage_percent.unwrap_or(0.0) > 0.0);
        assert!(busy.cpu_seconds_total >= first.cpu_seconds_total);
    }
}
