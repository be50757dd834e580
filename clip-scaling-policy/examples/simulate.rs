//! Replays load traces through our policy and an HPA-style baseline, prints the comparison and
//! writes one SVG chart per trace.
//!
//! ```text
//! cargo run -p clip-scaling-policy --example simulate                   # the five built-in traces, a week each
//! cargo run -p clip-scaling-policy --example simulate -- trace.csv      # your trace (seconds,request_rate,queue_arrivals)
//! cargo run -p clip-scaling-policy --example simulate -- --out charts/  # where the SVGs go (default: the workspace's target/simulate/)
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clip_scaling_policy::sim::{
    self, CapacityModel, HpaBaseline, PolicyAutoscaler, Report, Shape, Trace,
};
use clip_scaling_policy::{ScalingConfig, ScalingPolicy};

const WEEK_SECS: f64 = 7.0 * 86_400.0;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simulate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut csv: Option<PathBuf> = None;
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = Some(args.next().ok_or("--out needs a directory")?.into()),
            "-h" | "--help" => {
                println!("usage: simulate [TRACE.csv] [--out DIR]");
                return Ok(());
            }
            _ => csv = Some(arg.into()),
        }
    }
    // The workspace's target/ wherever the example is started from, not a stray ./target.
    let out = out.unwrap_or_else(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let workspace = manifest.parent().unwrap_or(manifest);
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| workspace.join("target"), PathBuf::from);
        target.join("simulate")
    });
    std::fs::create_dir_all(&out)
        .map_err(|e| format!("cannot create output directory {}: {e}", out.display()))?;

    let traces = match &csv {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read trace {}: {e}", path.display()))?;
            let name = path
                .file_stem()
                .map_or("trace".into(), |s| s.to_string_lossy().into_owned());
            vec![Trace::from_csv(name, &text)?]
        }
        None => Shape::ALL
            .iter()
            .map(|&shape| Trace::builtin(shape, WEEK_SECS, 15.0))
            .collect(),
    };

    let config = ScalingConfig::from_env()?;
    let model = CapacityModel::default();
    println!("{}", Report::HEADER);
    for trace in &traces {
        let mut ours =
            PolicyAutoscaler::new(ScalingPolicy::new(config.clone())?, model.initial_instances);
        let mut hpa = HpaBaseline::new(&config);
        let a = sim::simulate(trace, &model, &mut ours);
        let b = sim::simulate(trace, &model, &mut hpa);
        println!("{}", a.report);
        println!("{}", b.report);
        let svg = sim::render_svg(
            &format!(
                "{}: demand vs instances, policy vs HPA baseline",
                trace.name
            ),
            &[&a, &b],
            &model,
        );
        let path = out.join(format!("{}.svg", trace.name));
        std::fs::write(&path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("chart: {}", path.display());
    }
    Ok(())
}
