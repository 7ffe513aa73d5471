//! The sm_90 decode tile (`decode16c`: kernels/sparse_decode_sm90.cu, W by 1-D bulk
//! copies into a shared-memory ring on mbarriers, split-K across a thread-block
//! cluster through distributed shared memory, griddepcontrol) on ptxsim, which runs its
//! compute_90 PTX with every strict check (reads before a copy's mbarrier phase
//! completed, mbarrier misuse, cluster barrier misuse): every case of `DECODE90_CASES`
//! against the f64 reference, the counters against the arithmetic (one mma.sp per row
//! tile × token tile × step, bulk bytes = the fragment-ordered W bytes of every CTA,
//! every W copy evict-first, no shared-memory bank conflicts), the result bit-identical from run to run, and within
//! tolerance across cluster split counts.

#[path = "common/gemm_cases.rs"]
mod gemm_cases;

use gemm_cases::{inputs, run_case, tolerance, Case, DECODE90_CASES};
use sparse24::ops::gemm::{sparse_linear_with_plan_on, GemmConfig, SparseGemmPlan};
use sparse24::reference::{linear_sparse_f64, rel_error};
use sparse24::sim::SimExecutor;
use sparse24::{bf16, Activation, DType, Epilogue};

use gemm_cases::kernels_missing as skip;

use gemm_cases::decode_mma_sp as expected_mma_sp;

/// Bytes the bulk copy engine moves: every CTA copies its 4 row tiles' fragment-ordered
/// values (512 bytes per k32 step) and metadata (512 bytes per 8 steps) of its k range
/// once; the splits together cover the steps once.
fn expected_bulk_bytes(p: &SparseGemmPlan) -> u64 {
    let t = p.config.tile();
    let ctas = p.out.div_ceil(t.rows) * p.tokens.div_ceil(t.tokens);
    (ctas * (t.rows / 16) * (p.steps * 512 + p.steps / 8 * 512)) as u64
}

#[test]
fn decode16c_matches_reference() {
    if skip() {
        return;
    }
    assert!(DECODE90_CASES.len() >= 5, "too few cases");
    for (i, c) in DECODE90_CASES.iter().enumerate() {
        let exec = SimExecutor::new().with_compute_capability((9, 0));
        let t0 = std::time::Instant::now();
        let (err, tol, p) = run_case(&exec, c, 900 + i as u64).unwrap_or_else(|e| panic!("{e}"));
        let s = exec.last_stats().expect("ptxsim counters");
        println!(
            "{} {:?}->{:?} tokens={} out={} in={} splits={} act={:?} beta={:?} bias={}: rel err \
             {err:.2e} (bound {tol:.0e}); mma.sp={} bulk bytes={} mbarrier waits={} bank \
             conflicts={} warp-insts/mma.sp={:.1} in {:.1?}",
            c.config.name(),
            c.dtype,
            c.out_dtype,
            c.tokens,
            c.out,
            c.inn,
            p.splits,
            c.act,
            c.beta,
            c.bias,
            s.mma_sp_instructions,
            s.bulk_bytes,
            s.mbarrier_waits,
            s.shared_bank_conflicts,
            s.warp_instructions as f64 / s.mma_sp_instructions.max(1) as f64,
            t0.elapsed()
        );
        assert_eq!(p.splits, c.splits.min(p.steps / 8), "{c:?}: split count");
        assert_eq!(
            p.workspace_bytes(),
            0,
            "{c:?}: cluster split-K needs no workspace"
        );
        assert_eq!(s.mma_sp_instructions, expected_mma_sp(&p), "{c:?}");
        assert_eq!(s.bulk_bytes, expected_bulk_bytes(&p), "{c:?}: bulk bytes");
        // Every W copy carries the evict-first policy: 2 bulk copies (values,
        // metadata) per row tile per 8-step stage of every CTA, plus one createpolicy
        // per thread of every CTA; nothing else (X's cp.async takes no hint).
        let t = p.config.tile();
        let ctas = p.grid().iter().map(|&d| d as u64).product::<u64>();
        assert_eq!(
            s.cache_hints,
            p.tiles() as u64 * (p.steps as u64 / 8) * 2 * (t.rows as u64 / 16)
                + ctas * t.threads as u64,
            "{c:?}: hinted thread-instructions"
        );
        assert_eq!(s.shared_bank_conflicts, 0, "{c:?}: bank conflicts");
    }
}

/// The outputs of one plan on a fresh executor.
fn output(p: &SparseGemmPlan, c: &Case, seed: u64) -> Vec<f32> {
    let inp = inputs::<bf16>(c, seed);
    let epi = Epilogue {
        bias: inp.bias.as_deref(),
        ..Default::default()
    };
    let exec = SimExecutor::new().with_compute_capability((9, 0));
    sparse_linear_with_plan_on(&exec, p, &inp.x, &inp.w, &epi, c.out_dtype).expect("run")
}

#[test]
fn cluster_split_k_is_bit_identical_across_runs_and_agrees_across_split_counts() {
    if skip() {
        return;
    }
    // 2048 of `in` = 8 metadata groups: 1 split (the ring wraps, X restaged), then
    // clusters of 2, 3 (chunks of 3, 3 and 2 groups), 4 and 8 (the portable maximum).
    let base = Case {
        config: GemmConfig::Decode16Sm90,
        dtype: DType::BF16,
        tokens: 10,
        out: 40,
        inn: 2048,
        out_dtype: DType::F32,
        act: Activation::None,
        alpha: 1.0,
        beta: None,
        bias: true,
        splits: 1,
        resident_ctas: 0,
    };
    let inp = inputs::<bf16>(&base, 11);
    let epi = Epilogue {
        bias: inp.bias.as_deref(),
        ..Default::default()
    };
    let want = linear_sparse_f64(&inp.x, base.tokens, &inp.w, &epi).expect("reference");
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let mut outs = Vec::new();
    for splits in [1, 2, 3, 4, 8] {
        let p = SparseGemmPlan::new(base.config, base.tokens, base.out, base.inn, splits)
            .expect("plan");
        assert_eq!(p.splits, splits);
        let a = output(&p, &base, 11);
        let b = output(&p, &base, 11);
        assert_eq!(
            bits(&a),
            bits(&b),
            "splits={splits}: differs between two runs"
        );
        let g: Vec<f64> = a.iter().map(|&v| v as f64).collect();
        let err = rel_error(&g, &want);
        println!("decode16c splits={splits}: rel err {err:.2e}");
        assert!(err <= tolerance(DType::F32), "splits={splits}: {err}");
        outs.push(g);
    }
    for o in &outs[1..] {
        let err = rel_error(o, &outs[0]);
        assert!(err <= tolerance(DType::F32), "split counts disagree: {err}");
    }
    // More splits than a portable cluster holds are clamped to it (16 groups here).
    let p = SparseGemmPlan::new(base.config, base.tokens, base.out, 4096, 16).expect("plan");
    assert_eq!(p.splits, 8);
}
