//! Warns at build time when `nasm` is missing on x86: mozjpeg-sys then builds libjpeg-turbo
//! without its SIMD code (JPEG decode and encode several times slower), and says so only
//! in its own build log, which cargo hides for dependencies.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PATH");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch != "x86_64" && arch != "x86" {
        return; // ARM builds its SIMD with the C compiler; no assembler needed.
    }
    let found = Command::new("nasm")
        .arg("-v")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        println!(
            "cargo:warning=nasm not found: mozjpeg (libjpeg-turbo) builds without SIMD and JPEG work \
             is several times slower. Install it (Debian: apt-get install nasm, or \
             scripts/install-deps.sh), then `cargo clean -p mozjpeg-sys` and rebuild. \
             clip_cdn::image::jpeg_simd() tells at run time."
        );
    }
}
