//! The latency-hiding decode tiles (`decode8`, `decode16`: kernels/gemm/decode_*.cuh) on
//! ptxsim: every case of `DECODE_CASES` against the f64 reference, the split-K result
//! bit-identical from run to run and whatever order the CTAs run in, within tolerance
//! across split counts, and the counters (one mma.sp per row tile × token tile × step,
//! no shared-memory bank conflicts, W loads carrying the evict-first cache policy).
#![cfg(feature = "sim")]

#[path = "common/gemm_cases.rs"]
mod gemm_cases;

use gemm_cases::{inputs, plan, run_case, run_twice, tolerance, Case, DECODE_CASES};
use sparse24::ops::gemm::{sparse_linear_with_plan_on, GemmConfig, SparseGemmPlan};
use sparse24::reference::{linear_sparse_f64, rel_error};
use sparse24::sim::SimExecutor;
use sparse24::{bf16, Activation, DType, Epilogue};

use gemm_cases::kernels_missing as skip;

use gemm_cases::decode_mma_sp as expected_mma_sp;

fn run_config(config: GemmConfig) {
    if skip() {
        return;
    }
    let cases: Vec<&Case> = DECODE_CASES.iter().filter(|c| c.config == config).collect();
    assert!(cases.len() >= 5, "{config:?}: too few cases");
    for (i, c) in cases.into_iter().enumerate() {
        let exec = SimExecutor::new();
        let (err, tol, p) = run_case(&exec, c, 300 + i as u64).unwrap_or_else(|e| panic!("{e}"));
        let s = exec.last_stats().expect("ptxsim counters");
        println!(
            "{} {:?}->{:?} tokens={} out={} in={} splits={} chunk={} act={:?}: rel err {err:.2e} \
             (bound {tol:.0e}); mma.sp={} warp-insts/mma.sp={:.1} bank conflicts={} cache hints={}",
            config.name(),
            c.dtype,
            c.out_dtype,
            c.tokens,
            c.out,
            c.inn,
            p.splits,
            p.chunk_steps,
            c.act,
            s.mma_sp_instructions,
            s.warp_instructions as f64 / s.mma_sp_instructions.max(1) as f64,
            s.shared_bank_conflicts,
            s.cache_hints,
        );
        assert_eq!(p.splits, c.splits.min(p.steps / 8), "{c:?}: split count");
        assert_eq!(s.mma_sp_instructions, expected_mma_sp(&p), "{c:?}");
        assert_eq!(s.shared_bank_conflicts, 0, "{c:?}: bank conflicts");
        // Every W load carries the evict-first policy: per lane of every warp of each
        // output tile, 8 value loads and 1 metadata load per 8 steps of K (over all
        // splits), plus one createpolicy per thread of every CTA; nothing else.
        let t = p.config.tile();
        let lanes = (p.tiles() * t.threads) as u64;
        let ctas = p.grid().iter().map(|&d| d as u64).product::<u64>();
        assert_eq!(
            s.cache_hints,
            lanes * (p.steps as u64 / 8) * 9 + ctas * t.threads as u64,
            "{c:?}: hinted thread-instructions"
        );
    }
}

#[test]
fn decode8_matches_reference() {
    run_config(GemmConfig::Decode8);
}

#[test]
fn decode16_matches_reference() {
    run_config(GemmConfig::Decode16);
}

/// The outputs (bytes) of one plan on `exec`.
fn output(exec: &SimExecutor, p: &SparseGemmPlan, c: &Case, seed: u64) -> Vec<f32> {
    let inp = inputs::<bf16>(c, seed);
    let epi = Epilogue {
        bias: inp.bias.as_deref(),
        ..Default::default()
    };
    sparse_linear_with_plan_on(exec, p, &inp.x, &inp.w, &epi, c.out_dtype).expect("run")
}

#[test]
fn split_k_is_bit_identical_across_runs_and_cta_orders() {
    if skip() {
        return;
    }
    for (config, tokens, splits) in [(GemmConfig::Decode8, 5, 3), (GemmConfig::Decode16, 14, 10)] {
        let c = Case {
            config,
            dtype: DType::BF16,
            tokens,
            out: 72,
            inn: 2560,
            out_dtype: DType::F32,
            act: Activation::Silu,
            alpha: 1.0,
            beta: None,
            bias: true,
            splits,
            resident_ctas: 0,
        };
        let p = plan(&c);
        assert_eq!(p.splits, splits);
        // Twice on one reused workspace (the counters must be back at zero), then on a
        // fresh executor: the same bits.
        let (a, b) = run_twice(&SimExecutor::new(), &c, 7).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b, "{config:?}: split-K output differs between two runs");
        let (a2, _) = run_twice(&SimExecutor::new(), &c, 7).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, a2, "{config:?}: differs on a fresh executor");
        // Every CTA, in reverse order: another CTA of each tile arrives last.
        let g = p.grid();
        let mut all = Vec::new();
        for z in 0..g[2] {
            for y in 0..g[1] {
                for x in 0..g[0] {
                    all.push([x, y, z]);
                }
            }
        }
        let fwd = output(&SimExecutor::new().with_only_ctas(all.clone()), &p, &c, 8);
        all.reverse();
        let rev = output(&SimExecutor::new().with_only_ctas(all), &p, &c, 8);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&fwd),
            bits(&rev),
            "{config:?}: depends on the CTA order"
        );
    }
}

#[test]
fn split_counts_agree_within_tolerance() {
    if skip() {
        return;
    }
    // 2304 of `in` = 9 metadata groups: split 1 restages X, 9 splits of one group each.
    let base = Case {
        config: GemmConfig::Decode16,
        dtype: DType::BF16,
        tokens: 10,
        out: 40,
        inn: 2304,
        out_dtype: DType::F32,
        act: Activation::None,
        alpha: 1.0,
        beta: None,
        bias: false,
        splits: 1,
        resident_ctas: 0,
    };
    let inp = inputs::<bf16>(&base, 11);
    let epi = Epilogue::default();
    let want = linear_sparse_f64(&inp.x, base.tokens, &inp.w, &epi).expect("reference");
    let mut outs = Vec::new();
    for (config, splits) in [
        (GemmConfig::Decode16, 1),
        (GemmConfig::Decode16, 3),
        (GemmConfig::Decode16, 9),
        (GemmConfig::Decode8, 2),
    ] {
        let p = SparseGemmPlan::new(config, base.tokens, base.out, base.inn, splits).expect("plan");
        assert_eq!(p.splits, splits);
        let got =
            sparse_linear_with_plan_on(&SimExecutor::new(), &p, &inp.x, &inp.w, &epi, DType::F32)
                .expect("run");
        let g: Vec<f64> = got.iter().map(|&v| v as f64).collect();
        let err = rel_error(&g, &want);
        println!("{} splits={splits}: rel err {err:.2e}", config.name());
        assert!(
            err <= tolerance(DType::F32),
            "{config:?} splits={splits}: {err}"
        );
        outs.push(g);
    }
    // Against each other as well: different sums, the same product.
    for o in &outs[1..] {
        let err = rel_error(o, &outs[0]);
        assert!(err <= tolerance(DType::F32), "split counts disagree: {err}");
    }
}
