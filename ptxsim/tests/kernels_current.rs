//! The committed PTX of the cluster and pipeline kernels is what the pinned nvcc makes of
//! their sources (tests/kernels/{cluster,pipeline}.cu), so the tests check the code a GPU
//! would run. Skipped when the pinned nvcc is not installed.

mod common;

use std::path::Path;

fn check(stem: &str) {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = crate_dir.join("tests/kernels");
    let committed =
        std::fs::read_to_string(dir.join(format!("{stem}.ptx"))).expect("committed PTX");
    common::ptx_current::assert_ptx_current(
        &crate_dir.join(".."),
        &dir.join(format!("{stem}.cu")),
        &[],
        &committed,
        &format!("tests/kernels/{stem}.ptx"),
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
