//! The Prometheus process collector's series (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_start_time_seconds`), written as exposition text.
//!
//! They bypass the `metrics` facade because its counters hold whole numbers, and CPU seconds
//! are fractional; the names, types and help texts are those of the official clients, so
//! stock dashboards and `rate(process_cpu_seconds_total[1m])` work unchanged.

use std::fmt::Write;

use super::ProcessSample;

impl ProcessSample {
    /// Appends the figures that could be read as Prometheus text (format 0.0.4), one metric
    /// family each; absent figures are left out, never written as zero.
    ///
    /// ```
    /// let sample = clip_health::process::ProcessSample {
    ///     cpu_seconds_total: Some(12.5),
    ///     ..Default::default()
    /// };
    /// let mut text = String::new();
    /// sample.write_prometheus(&mut text);
    /// assert!(text.contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n"));
    /// assert!(!text.contains("process_resident_memory_bytes"));
    /// ```
    pub fn write_prometheus(&self, out: &mut String) {
        let families = [
            (
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                self.cpu_seconds_total,
            ),
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                self.resident_memory_bytes.map(|b| b as f64),
            ),
            (
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                self.start_time_seconds,
            ),
        ];
        for (name, kind, help, value) in families {
            if let Some(value) = value.filter(|v| v.is_finite()) {
                // Writing to a String cannot fail.
                let _ = write!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
                );
            }
        }
    }
}
