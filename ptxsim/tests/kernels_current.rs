//! The committed PTX of the cluster and pipeline kernels is what the pinned nvcc makes of
//! their sources (tests/kernels/{cluster,pipeline}.cu), so the tests check the code a GPU
//! would run. Skipped when the pinned nvcc is not installed.

use std::path::Path;

fn check(stem: &str) {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let nvcc = Path::new(crate_dir).join("../.cuda/nvidia/cu13/bin/nvcc");
    if !nvcc.is_file() {
        println!("skipped: the pinned nvcc is not installed (scripts/toolchain/install-cuda-compiler.sh)");
        return;
    }
    let dir = format!("{crate_dir}/tests/kernels");
    let out = std::env::temp_dir().join(format!("ptxsim-{stem}-{}.ptx", std::process::id()));
    let status = std::process::Command::new(&nvcc)
        .args(["-arch=sm_90a", "--ptx"])
        .arg(format!("{dir}/{stem}.cu"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run nvcc");
    assert!(status.success(), "nvcc failed on {stem}.cu");
    let fresh = std::fs::read_to_string(&out).expect("read fresh PTX");
    let _ = std::fs::remove_file(&out);
    let committed = std::fs::read_to_string(format!("{dir}/{stem}.ptx")).expect("committed PTX");
    // the header names the compiler build and input path: compare the code
    let code = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("//"))
            .map(str::to_string)
            .collect()
    };
    assert!(
        code(&fresh) == code(&committed),
        "tests/kernels/{stem}.ptx is stale: regenerate it with the command in {stem}.cu"
    );
}

#[test]
fn cluster_ptx_is_current() {
    check("cluster");
}

#[test]
fn pipeline_ptx_is_current() {
    check("pipeline");
}
