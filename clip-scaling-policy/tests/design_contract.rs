//! DESIGN.md's contract for this crate, verbatim: if this stops compiling or passing, users'
//! code written against the design breaks too.

use std::time::SystemTime;

#[test]
#[rustfmt::skip] // the snippet stays character for character as DESIGN.md has it
fn the_design_snippet_compiles_and_scales_up() -> Result<(), clip_scaling_policy::ScalingError> {
    let now = SystemTime::now();
    // --- DESIGN.md, "clip-scaling-policy", unchanged from here ---
    use clip_scaling_policy::{ScalingPolicy, ScalingConfig, ScalingState, Metrics, Action};
    let policy = ScalingPolicy::new(ScalingConfig::default())?;   // guide defaults
    let mut state = ScalingState::new(3);                          // current instances
    let m = Metrics { cpu_percent: Some(85.0), ..Metrics::default() };
    let d = policy.decide(&m, &state, now);                        // now: std::time::SystemTime
    assert_eq!(d.action, Action::ScaleUp); // d.target: u32, d.reasons: why, in words and data
    state.record(&d, now);
    // --- end of the snippet ---

    // What the snippet's comments promise: a u32 target, reasons in data and in words.
    let target: u32 = d.target;
    assert_eq!(target, 4, "ceil(3 * 85 / 70): {d}");
    assert_eq!(
        d.reasons.rule,
        clip_scaling_policy::Rule::ScaleUp {
            metric: clip_scaling_policy::MetricKind::CpuPercent
        }
    );
    assert_eq!(d.to_string().lines().count(), 1);
    assert!(
        d.to_string()
            .starts_with("scale up 3 -> 4: cpu 85.0% > 70.0%"),
        "{d}"
    );
    // record applied it: the fleet is 4 and the up cooldown runs from `now`.
    assert_eq!(state.current(), 4);
    assert_eq!(state.last_scale_up(), Some(now));
    assert_eq!(policy.decide(&m, &state, now).action, Action::Hold);
    Ok(())
}
