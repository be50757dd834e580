//! Parsing of the `/proc` files this module reads: `stat` and `status` of the process,
//! `uptime`, `meminfo` and `stat` of the machine.

use std::path::Path;

/// `/proc` reports CPU times in USER_HZ ticks, which the kernel ABI fixes at 100 per second.
pub(super) const USER_HZ: f64 = 100.0;

/// A file's text, or `None` when it cannot be read (not Linux, no permission, gone).
pub(super) fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The fields of `/proc/<pid>/stat` after the command name, which may itself hold spaces and parens.
fn stat_fields(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat.get(stat.rfind(')')? + 1..)?.split_whitespace())
}

/// utime + stime (fields 14 and 15 of `stat`) in seconds.
pub(super) fn cpu_seconds(stat: &str) -> Option<f64> {
    let mut fields = stat_fields(stat)?.skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// When the process started (field 22 of `stat`), in seconds after boot.
pub(super) fn start_after_boot(stat: &str) -> Option<f64> {
    let ticks: f64 = stat_fields(stat)?.nth(19)?.parse().ok()?;
    Some(ticks / USER_HZ)
}

/// Seconds since boot (first field of `/proc/uptime`).
pub(super) fn uptime(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// The boot time in seconds since the Unix epoch (`btime` of `/proc/stat`).
pub(super) fn boot_time(proc_stat: &str) -> Option<f64> {
    let line = proc_stat.lines().find(|l| l.starts_with("btime "))?;
    line.get("btime ".len()..)?.trim().parse().ok()
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

/// Resident set size of `/proc/self/status`, in bytes.
pub(super) fn vm_rss(status: &str) -> Option<u64> {
    kib_field(status, "VmRSS:")
}

/// The machine's RAM of `/proc/meminfo`, in bytes.
pub(super) fn mem_total(meminfo: &str) -> Option<u64> {
    kib_field(meminfo, "MemTotal:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let stat = "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 4 0 1000 123 456";
        assert_eq!(cpu_seconds(stat), Some(3.0));
        assert_eq!(start_after_boot(stat), Some(10.0));
    }

    #[test]
    fn parses_boot_time_and_memory_lines() {
        let proc_stat = "cpu  1 2 3 4\nintr 5 6\nctxt 7\nbtime 1764547200\nprocesses 42\n";
        assert_eq!(boot_time(proc_stat), Some(1_764_547_200.0));
        assert_eq!(boot_time("cpu 1 2 3\n"), None);
        assert_eq!(vm_rss("Name:\tapp\nVmRSS:\t  2048 kB\n"), Some(2 << 20));
        assert_eq!(mem_total("MemTotal:  1024 kB\n"), Some(1 << 20));
        assert_eq!(uptime("1010.50 5.00\n"), Some(1010.5));
    }
}
