//! The container's CPU and memory limits from cgroup v2 or v1: the tightest of this process's
//! cgroup and its ancestors.

use std::path::{Path, PathBuf};

use super::procfs::read;

/// cgroup v1 writes "no limit" as a huge number (`PAGE_COUNTER_MAX` in bytes); anything above is none.
const V1_UNLIMITED: u64 = 1 << 60;

/// The tightest CPU and memory limits of this process's cgroup and its ancestors.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Limits {
    pub(super) cpu_cores: Option<f64>,
    pub(super) memory_bytes: Option<u64>,
}

impl Limits {
    /// `proc_cgroup` is `/proc/self/cgroup`: `0::/path` for v2, `N:cpu,cpuacct:/path` for v1
    /// (hybrid hosts have both; v2 files win where they exist).
    pub(super) fn read(root: &Path, proc_cgroup: &str) -> Limits {
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
    use crate::process::scratch::Scratch;

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
}
