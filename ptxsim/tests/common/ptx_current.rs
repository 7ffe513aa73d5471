//! Whether a committed PTX file is what the pinned nvcc makes of its source, so that the
//! tests (and a GPU) run the code they say they run. Shared by ptxsim's
//! tests/kernels_current.rs and sparse24's tests/hopper_roofline_sim.rs.

use std::path::Path;

/// Compiles `cu` with the pinned nvcc (`<workspace>/.cuda`) for sm_90a with `args`
/// and panics, naming `committed_path`, unless its PTX equals `committed` outside the
/// comment lines (the header names the compiler build and the input path). Prints
/// "skipped: ..." and returns when the pinned nvcc is not installed.
pub fn assert_ptx_current(
    workspace: &Path,
    cu: &Path,
    args: &[&str],
    committed: &str,
    committed_path: &str,
) {
    let nvcc = workspace.join(".cuda/nvidia/cu13/bin/nvcc");
    if !nvcc.is_file() {
        println!("skipped: the pinned nvcc is not installed (scripts/toolchain/install-cuda-compiler.sh)");
        return;
    }
    let stem = cu.file_stem().and_then(|s| s.to_str()).unwrap_or("kernel");
    let out = std::env::temp_dir().join(format!("ptx-current-{stem}-{}.ptx", std::process::id()));
    let status = std::process::Command::new(&nvcc)
        .arg("-arch=sm_90a")
        .args(args)
        .arg("--ptx")
        .arg(cu)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run nvcc");
    assert!(status.success(), "nvcc failed on {}", cu.display());
    let fresh = std::fs::read_to_string(&out).expect("read fresh PTX");
    let _ = std::fs::remove_file(&out);
    let code = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("//"))
            .map(str::to_string)
            .collect()
    };
    assert!(
        code(&fresh) == code(committed),
        "{committed_path} is stale: regenerate it with the command in {}",
        cu.display()
    );
}
