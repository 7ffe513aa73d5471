//! The wgmma.sp roofline probe (examples/hopper-roofline) on ptxsim: each kernel is legal
//! sm_90a code under ptxsim's strict checks and issues the wgmma.sp the arithmetic says,
//! and the committed roofline.ptx is what the pinned nvcc makes of roofline.cu (so the GPU
//! times the code this test checked).

#[path = "../examples/hopper-roofline/probe.rs"]
#[allow(dead_code)] // the example times what this test checks
mod probe;

#[path = "../ptxsim/tests/common/ptx_current.rs"]
mod ptx_current;

use probe::PROBES;

#[test]
fn every_probe_is_legal_and_issues_its_wgmma() {
    for p in PROBES {
        for stream in [false, true] {
            if p.ss && stream {
                continue;
            }
            let s = probe::sim_run(&p, 4, stream).unwrap_or_else(|e| panic!("{}: {e}", p.kernel));
            assert_eq!(s.wgmma_sp[p.n / 8 - 1], p.wgmma_per_cta(4), "{}", p.kernel);
            assert_eq!(s.wgmma_instructions(), p.wgmma_per_cta(4), "{}", p.kernel);
            if stream {
                // 16 bytes per lane per m64 block per step, on 256 threads.
                assert!(s.global_bytes_read >= (256 * 16 * 4 * p.blocks()) as u64 - 512);
            }
        }
    }
}

#[test]
fn committed_ptx_is_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let kernels = format!("{}/kernels", root.display());
    ptx_current::assert_ptx_current(
        root,
        &root.join("examples/hopper-roofline/roofline.cu"),
        &["-std=c++17", "-O3", "-I", &kernels],
        probe::PTX,
        "examples/hopper-roofline/roofline.ptx",
    );
}
