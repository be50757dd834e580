//! What the autoscaler remembers of its decisions, as shown on `/status` and kept in its state
//! file: the last decision with its reasons, and recent scaling events.

use std::time::SystemTime;

use clip_scaling_policy::{Action, Decision};
use serde::{Deserialize, Serialize};

/// A decision as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// When it was made.
    #[serde(with = "crate::time::text")]
    pub at: SystemTime,
    /// `scale_up`, `scale_down` or `hold`.
    pub action: String,
    /// Instances before (ready and starting).
    pub current: u32,
    /// Instances it asks for.
    pub target: u32,
    /// The decision in one line, with its reasons.
    pub summary: String,
    /// The rule that fired, in snake case (`scale_up`, `within_band`, `missing_metric`, ...).
    pub rule: String,
    /// The policy's reasons in full (clip-scaling-policy's `Reasons`, serialized).
    pub reasons: serde_json::Value,
    /// Whether the actuator accepted it (a hold is always applied).
    pub applied: bool,
    /// Why the autoscaler changed or did not apply the policy's decision, if it did.
    pub note: Option<String>,
}

impl DecisionRecord {
    /// Records `d`, made at `at`.
    pub fn new(d: &Decision, at: SystemTime) -> Self {
        Self {
            at,
            action: action_name(d.action).to_owned(),
            current: d.current,
            target: d.target,
            summary: d.to_string(),
            rule: rule_name(&d.reasons.rule),
            reasons: serde_json::to_value(&d.reasons).unwrap_or(serde_json::Value::Null),
            applied: true,
            note: None,
        }
    }
}

/// A change of the fleet's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// When it was decided.
    #[serde(with = "crate::time::text")]
    pub at: SystemTime,
    /// `scale_up` or `scale_down`.
    pub action: String,
    /// Instances before.
    pub from: u32,
    /// Instances after.
    pub to: u32,
    /// The rule that caused it.
    pub rule: String,
    /// The decision in one line.
    pub summary: String,
}

impl EventRecord {
    /// The event of an applied decision that changed the count.
    pub fn new(d: &Decision, at: SystemTime) -> Self {
        Self {
            at,
            action: action_name(d.action).to_owned(),
            from: d.current,
            to: d.target,
            rule: rule_name(&d.reasons.rule),
            summary: d.to_string(),
        }
    }
}

/// `scale_up`, `scale_down` or `hold`.
pub fn action_name(a: Action) -> &'static str {
    match a {
        Action::ScaleUp => "scale_up",
        Action::ScaleDown => "scale_down",
        Action::Hold => "hold",
    }
}

/// The rule's variant name in snake case, whatever data it carries.
fn rule_name(rule: &impl Serialize) -> String {
    let name = match serde_json::to_value(rule) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(m)) => m.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use clip_scaling_policy::{Metrics, ScalingConfig, ScalingPolicy, ScalingState};

    use super::*;

    #[test]
    fn a_decision_reads_as_its_summary_rule_and_action() {
        let policy = ScalingPolicy::new(ScalingConfig::default()).unwrap();
        let m = Metrics {
            cpu_percent: Some(85.0),
            ..Metrics::default()
        };
        let d = policy.decide(&m, &ScalingState::new(3), SystemTime::now());
        let r = DecisionRecord::new(&d, SystemTime::now());
        assert_eq!(r.action, "scale_up");
        assert_eq!(r.rule, "scale_up");
        assert!(r.summary.starts_with("scale up 3 -> 4"), "{}", r.summary);
        let back: DecisionRecord =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back.summary, r.summary);
    }
}
