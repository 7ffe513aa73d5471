//! The wgmma.sp roofline probe (examples/hopper-roofline) on ptxsim: each kernel is legal
//! sm_90a code under ptxsim's strict checks and issues the wgmma.sp the arithmetic says,
//! and the committed roofline.ptx is what the pinned nvcc makes of roofline.cu (so the GPU
//! times the code this test checked).

#[path = "../examples/hopper-roofline/probe.rs"]
#[allow(dead_code)] // the example times what this test checks
mod probe;

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
    let root = env!("CARGO_MANIFEST_DIR");
    let nvcc = std::path::Path::new(root).join(".cuda/nvidia/cu13/bin/nvcc");
    if !nvcc.is_file() {
        println!("skipped: the pinned nvcc is not installed (scripts/toolchain/install-cuda-compiler.sh)");
        return;
    }
    let out = std::env::temp_dir().join(format!("sparse24-roofline-{}.ptx", std::process::id()));
    let status = std::process::Command::new(&nvcc)
        .args(["-arch=sm_90a", "-std=c++17", "-O3", "-I"])
        .arg(format!("{root}/kernels"))
        .arg("--ptx")
        .arg(format!("{root}/examples/hopper-roofline/roofline.cu"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run nvcc");
    assert!(status.success());
    let fresh = std::fs::read_to_string(&out).expect("read fresh PTX");
    let _ = std::fs::remove_file(&out);
    // The header names the input file's path, which differs here: compare the code.
    let code = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("//"))
            .map(str::to_string)
            .collect()
    };
    assert!(
        code(&fresh) == code(probe::PTX),
        "examples/hopper-roofline/roofline.ptx is stale: regenerate it with the command in roofline.cu"
    );
}
