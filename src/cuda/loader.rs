//! Whether a CUDA shared library can be loaded, asked before cudarc is: under
//! `dynamic-loading` cudarc panics at the first call into a missing library, and its
//! own probe (`is_culib_present`) exists only in that mode. A dependent such as
//! candle turns on `dynamic-linking`, which removes it; this probe works in both
//! modes (a linked library is already loaded, so opening it again succeeds).

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};

/// The names cudarc tries for `lib` (its `get_lib_name_candidates`), for the CUDA
/// major versions sparse24 builds against (13, 12) and the driver's `.so.1`.
fn candidates(lib: &str) -> Vec<String> {
    let mut names = vec![
        format!("{DLL_PREFIX}{lib}{DLL_SUFFIX}"),
        format!("{DLL_PREFIX}{lib}64{DLL_SUFFIX}"),
    ];
    for v in ["13", "12", "11", "10", "9", "1"] {
        names.push(format!("{DLL_PREFIX}{lib}{DLL_SUFFIX}.{v}"));
    }
    for v in ["13", "12", "130", "120", "130_0", "120_0", "13_0", "12_8"] {
        names.push(format!("{DLL_PREFIX}{lib}64_{v}{DLL_SUFFIX}"));
    }
    names
}

/// Whether one of `lib`'s names loads on this machine.
pub(crate) fn present(lib: &str) -> bool {
    candidates(lib).iter().any(|name| {
        // SAFETY: loading a CUDA library runs only its initialisers; nothing of it is
        // called here, and the handle is closed again on drop.
        unsafe { libloading::Library::new(name) }.is_ok()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_cover_the_linux_sonames() {
        let names = super::candidates("cublasLt");
        for want in ["libcublasLt.so", "libcublasLt.so.13", "libcublasLt.so.12"] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        assert!(super::candidates("cuda")
            .iter()
            .any(|n| n == "libcuda.so.1"));
    }
}
