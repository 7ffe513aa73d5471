//! The shared-memory-staged sparse GEMM tiles (kernels/gemm/smem_*.cuh) on ptxsim (no
//! GPU): each shipped tile against the f64 CPU reference on random inputs with row,
//! token and `in` tails, split-K 2 and 3, f16 and bf16 and every epilogue option
//! (tests/common/gemm_cases.rs, one axis per case); ptxsim's strict checks (races,
//! uninitialised shared memory, cp.async data read before its wait) fail a run; the
//! counters must show the MMAs the tile owes and no shared-memory bank conflict: the
//! W fragment reads (LDS.128), the metadata words (LDS.32), the X fragments
//! (ldmatrix.x4) and the epilogue tile.

#[path = "common/gemm_cases.rs"]
mod gemm_cases;

use gemm_cases::{run_case, CASES};

use sparse24::ops::gemm::{GemmConfig, SparseGemmPlan};
use sparse24::sim::SimExecutor;

use gemm_cases::kernels_missing as skip;

/// mma.sp the plan owes: every warp runs MT × NT per k32 step on its whole tile, in
/// range or not: CTAs × tile × steps.
fn expected_mma_sp(p: &SparseGemmPlan) -> u64 {
    let t = p.config.tile();
    let row_blocks = p.row_tiles().div_ceil(t.rows / 16);
    let token_blocks = p.tokens.div_ceil(t.tokens);
    (row_blocks * (t.rows / 16) * token_blocks * (t.tokens / 8) * p.steps) as u64
}

fn run_config(config: GemmConfig) {
    if skip() {
        return;
    }
    let cases: Vec<_> = CASES.iter().filter(|c| c.config == config).collect();
    assert!(cases.len() >= 4, "{config:?} has fewer than 4 cases");
    for (i, c) in cases.into_iter().enumerate() {
        let exec = SimExecutor::new();
        let start = std::time::Instant::now();
        let (err, tol, p) = run_case(&exec, c, 300 + i as u64).unwrap_or_else(|e| panic!("{e}"));
        let s: ptxsim::LaunchStats = exec.last_stats().expect("ptxsim counters");
        println!(
            "{} {:?}->{:?} tokens={} out={} in={} splits={}: rel err {err:.2e} (bound {tol:.0e}); \
             mma.sp={} warp-insts/mma.sp={:.2} smem requests={} bank conflicts={} ({:.1?})",
            config.name(),
            c.dtype,
            c.out_dtype,
            c.tokens,
            c.out,
            c.inn,
            p.splits,
            s.mma_sp_instructions,
            s.warp_instructions as f64 / s.mma_sp_instructions.max(1) as f64,
            s.shared_requests,
            s.shared_bank_conflicts,
            start.elapsed(),
        );
        assert_eq!(p.splits, c.splits, "{c:?}: the case's split-K");
        assert_eq!(s.mma_sp_instructions, expected_mma_sp(&p), "{c:?}");
        assert_eq!(
            s.shared_bank_conflicts, 0,
            "{c:?}: shared-memory bank conflicts"
        );
    }
}

#[test]
fn staged_128x128_matches_reference() {
    run_config(GemmConfig::PrefillS128x128);
}

#[test]
fn staged_256x128_matches_reference() {
    run_config(GemmConfig::PrefillS256x128);
}

#[test]
fn staged_128x256_matches_reference() {
    run_config(GemmConfig::PrefillS128x256);
}

/// The sweep's tiles (feature `gemm-sweep`, compiled for the GPU bundle and wherever
/// the features are all on): one case each with row, token and `in` tails and split-K
/// 2, so a sweep tile the GPU check times is a correct one.
#[cfg(feature = "gemm-sweep")]
#[test]
fn staged_sweep_tiles_match_reference() {
    use gemm_cases::Case;
    use sparse24::{Activation, DType};
    if skip() {
        return;
    }
    for (i, config) in GemmConfig::SWEEP.into_iter().enumerate() {
        let t = config.tile();
        let c = Case {
            config,
            dtype: if i % 2 == 0 { DType::BF16 } else { DType::F16 },
            tokens: t.tokens + 37,
            out: t.rows + 24,
            inn: 528,
            out_dtype: DType::F32,
            act: Activation::Silu,
            alpha: 0.75,
            beta: Some(0.5),
            bias: true,
            splits: 2,
            resident_ctas: 0,
        };
        let exec = SimExecutor::new();
        let start = std::time::Instant::now();
        let (err, tol, p) = run_case(&exec, &c, 400 + i as u64).unwrap_or_else(|e| panic!("{e}"));
        let s = exec.last_stats().expect("ptxsim counters");
        println!(
            "{} {:?} tokens={} out={} in={} splits={}: rel err {err:.2e} (bound {tol:.0e}); \
             mma.sp={} bank conflicts={} ({:.1?})",
            config.name(),
            c.dtype,
            c.tokens,
            c.out,
            c.inn,
            p.splits,
            s.mma_sp_instructions,
            s.shared_bank_conflicts,
            start.elapsed()
        );
        assert_eq!(p.splits, 2);
        assert_eq!(s.mma_sp_instructions, expected_mma_sp(&p), "{c:?}");
        assert_eq!(
            s.shared_bank_conflicts, 0,
            "{c:?}: shared-memory bank conflicts"
        );
    }
}
