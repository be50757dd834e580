//! The workspace's binaries, built the way `deploy/Dockerfile` builds them: its `cargo build`
//! commands are read from the Dockerfile and run as they are, without `--release` (tests run
//! debug builds), so a renamed package, binary or feature breaks the tests, not the next image.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// Every `cargo build ...` command of the Dockerfile's RUN instructions, as the arguments after
/// `cargo build` (continuation lines joined, each command ending at `&&`).
pub fn dockerfile_cargo_builds() -> Vec<Vec<String>> {
    let dockerfile = std::fs::read_to_string(workspace().join("deploy/Dockerfile"))
        .expect("deploy/Dockerfile exists");
    let joined = dockerfile.replace("\\\n", " ");
    joined
        .lines()
        .filter(|l| l.trim_start().starts_with("RUN"))
        .flat_map(|l| l.split("&&").map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|segment| {
            let start = segment.find("cargo build")?;
            Some(
                segment[start..]
                    .split_whitespace()
                    .skip(2)
                    .map(str::to_owned)
                    .collect(),
            )
        })
        .collect()
}

/// The value after `flag` in `args`.
pub fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// Runs the Dockerfile's build of `bin` (debug) and returns the binary's path.
pub fn build_like_dockerfile(bin: &str) -> PathBuf {
    let args = dockerfile_cargo_builds()
        .into_iter()
        .find(|a| flag_value(a, "--bin") == Some(bin))
        .unwrap_or_else(|| panic!("deploy/Dockerfile does not build {bin}"));
    let debug: Vec<&String> = args.iter().filter(|a| *a != "--release").collect();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .arg("build")
        .args(&debug)
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "cargo build {debug:?} (deploy/Dockerfile's, without --release) failed"
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let binary = target.join("debug").join(bin);
    assert!(binary.exists(), "{} was not built", binary.display());
    binary
}
