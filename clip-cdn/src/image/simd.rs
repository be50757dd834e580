//! Whether the linked libjpeg-turbo (mozjpeg-sys) has its SIMD code: without `nasm` at
//! build time on x86 it silently falls back to plain C, several times slower.

use std::os::raw::c_int;

unsafe extern "C" {
    // libjpeg-turbo's own dispatch check (jsimd.c; jsimd_none.c answers 0 when built
    // without SIMD). It takes no argument, reads only the CPU flags, and is safe to call
    // from any thread.
    fn jsimd_can_idct_islow() -> c_int;
}

/// Whether JPEG decoding runs libjpeg-turbo's SIMD code on this machine: false when the
/// library was built without it (no `nasm` on x86 at build time) or the CPU lacks it.
/// `scripts/compare/thumbnail.sh` prints it next to its figures.
pub fn jpeg_simd() -> bool {
    // SAFETY: a plain C function with no arguments and no preconditions.
    unsafe { jsimd_can_idct_islow() != 0 }
}

#[cfg(test)]
mod tests {
    /// On x86-64 with nasm installed (scripts/install-deps.sh does it) the build has SIMD;
    /// a build without it is slow enough to be worth a failing test.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn libjpeg_turbo_is_built_with_simd() {
        assert!(
            super::jpeg_simd(),
            "mozjpeg-sys was built without SIMD: install nasm, cargo clean -p mozjpeg-sys, rebuild"
        );
    }
}
