//! The sparse GEMM on ptxsim (no GPU): every tile configuration against the f64 CPU
//! reference on random inputs (tests/common/gemm_cases.rs), split-K determinism, and
//! ptxsim's counters (mma.sp count, instructions per mma.sp, sectors per request,
//! shared-memory bank conflicts, which must be zero).

#[path = "common/gemm_cases.rs"]
mod gemm_cases;

use gemm_cases::{plan, run_case, run_twice, Case, CASES};
use sparse24::ops::gemm::{GemmConfig, SparseGemmPlan};
use sparse24::sim::SimExecutor;
use sparse24::{Activation, DType};

use gemm_cases::kernels_missing as skip;

/// Fraction of the bytes moved in the 32-byte sectors touched (1.0 = every sector full).
fn sector_efficiency(s: &ptxsim::LaunchStats) -> f64 {
    (s.global_bytes_read + s.global_bytes_written) as f64 / (32 * s.global_sectors.max(1)) as f64
}

/// tensor-core ops the plan must issue: one mma.sp per (row tile, n8 token tile, step).
/// Every warp runs MT × NT mma.sp per k32 step on its whole tile, in range or not
/// (out-of-range tiles are computed on padding and not stored): CTAs × tile × steps.
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
    for (i, c) in CASES.iter().enumerate().filter(|(_, c)| c.config == config) {
        let exec = SimExecutor::new();
        let (err, tol, p) = run_case(&exec, c, 100 + i as u64).unwrap_or_else(|e| panic!("{e}"));
        let s = exec.last_stats().expect("ptxsim counters");
        println!(
            "{} {:?}->{:?} tokens={} out={} in={} splits={} act={:?} beta={:?} bias={}: rel err {err:.2e} (bound {tol:.0e}); \
             mma.sp={} warp-insts/mma.sp={:.1} sectors/req={:.2} sector efficiency={:.2} bank conflicts={}",
            config.name(),
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
            s.warp_instructions as f64 / s.mma_sp_instructions.max(1) as f64,
            s.sectors_per_request(),
            sector_efficiency(&s),
            s.shared_bank_conflicts,
        );
        assert_eq!(s.mma_sp_instructions, expected_mma_sp(&p), "{c:?}");
        assert_eq!(
            s.shared_bank_conflicts, 0,
            "{c:?}: shared-memory bank conflicts"
        );
    }
}

#[test]
fn decode_matches_reference() {
    run_config(GemmConfig::Decode);
}

#[test]
fn prefill_matches_reference() {
    run_config(GemmConfig::Prefill);
}

#[test]
fn prefill_t128x128_matches_reference() {
    run_config(GemmConfig::PrefillT128x128);
}

#[test]
fn prefill_t128x128a2_matches_reference() {
    run_config(GemmConfig::PrefillT128x128A2);
}

#[test]
fn prefill_t256x64_matches_reference() {
    run_config(GemmConfig::PrefillT256x64);
}

#[test]
fn prefill_t256x64w16_matches_reference() {
    run_config(GemmConfig::PrefillT256x64W16);
}

#[test]
fn every_config_has_cases() {
    for c in GemmConfig::ALL {
        assert!(
            CASES.iter().filter(|k| k.config == c).count() >= 4,
            "{c:?} has fewer than 4 test cases"
        );
    }
}

#[test]
fn split_k_is_deterministic_and_resets_its_counters() {
    if skip() {
        return;
    }
    let c = Case {
        config: GemmConfig::Decode,
        dtype: DType::BF16,
        tokens: 3,
        out: 40,
        inn: 1024,
        out_dtype: DType::F32,
        act: Activation::Gelu,
        alpha: 1.0,
        beta: None,
        bias: false,
        splits: 4,
        resident_ctas: 0,
    };
    assert_eq!(plan(&c).splits, 4);
    let exec = SimExecutor::new();
    let (a, b) = run_twice(&exec, &c, 5).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a, b, "split-K output differs between two runs");
    // A second executor (fresh memory, fresh workspace) gives the same bits.
    let (a2, _) = run_twice(&SimExecutor::new(), &c, 5).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a, a2);
}

#[test]
fn big_decode_shape_on_a_subset_of_ctas() {
    if skip() {
        return;
    }
    // 4096 × 4096 at 1 token with the heuristic's tile and split-K; only the CTAs of
    // the first output tile run (all of its splits), so the last-arriver reduction runs.
    let p = SparseGemmPlan::choose(1, 512, 4096, 132).expect("plan");
    assert!(p.splits > 1);
    let ctas: Vec<[u32; 3]> = (0..p.splits as u32).map(|z| [0, 0, z]).collect();
    let exec = SimExecutor::new().with_only_ctas(ctas);
    let c = Case {
        config: p.config,
        dtype: DType::F16,
        tokens: 1,
        out: 512,
        inn: 4096,
        out_dtype: DType::F32,
        act: Activation::None,
        alpha: 1.0,
        beta: None,
        bias: true,
        splits: p.splits,
        resident_ctas: 0,
    };
    let inp = gemm_cases::inputs::<sparse24::f16>(&c, 9);
    let epi = sparse24::Epilogue {
        bias: inp.bias.as_deref(),
        ..Default::default()
    };
    let got = sparse24::ops::gemm::sparse_linear_with_plan_on(
        &exec,
        &p,
        &inp.x,
        &inp.w,
        &epi,
        DType::F32,
    )
    .expect("run");
    let want = sparse24::reference::linear_sparse_f64(&inp.x, 1, &inp.w, &epi).expect("reference");
    // Only the rows of the first tile were computed.
    let rows = p.config.tile().rows;
    let g: Vec<f64> = got[..rows].iter().map(|&v| v as f64).collect();
    let err = sparse24::reference::rel_error(&g, &want[..rows]);
    let s = exec.last_stats().expect("counters");
    println!(
        "{} f16 1x512x4096 splits={} (first tile only): rel err {err:.2e}; mma.sp={} warp-insts/mma.sp={:.1} sectors/req={:.2} sector efficiency={:.2} bank conflicts={}",
        p.config.name(),
        p.splits,
        s.mma_sp_instructions,
        s.warp_instructions as f64 / s.mma_sp_instructions.max(1) as f64,
        s.sectors_per_request(),
        sector_efficiency(&s),
        s.shared_bank_conflicts
    );
    assert!(err <= 1e-4, "rel err {err}");
    assert_eq!(s.shared_bank_conflicts, 0);
}

#[test]
fn large_prefill_tiles_on_a_long_k_subset_of_ctas() {
    if skip() {
        return;
    }
    // 300 × 2048 at 200 tokens (64 k32 steps: 32 stages, many rounds of each
    // register-buffer rotation); only the first CTA and the last (row and token tails)
    // run, and the outputs they own are compared with the f64 reference.
    let (tokens, out, inn) = (200usize, 300usize, 2048usize);
    for (k, config) in GemmConfig::PREFILL.into_iter().skip(1).enumerate() {
        let p = SparseGemmPlan::new(config, tokens, out, inn, 1).expect("plan");
        let t = config.tile();
        let g = p.grid();
        let ctas = vec![[0, 0, 0], [g[0] - 1, g[1] - 1, 0]];
        let exec = SimExecutor::new().with_only_ctas(ctas.clone());
        let dtype = if k % 2 == 0 { DType::BF16 } else { DType::F16 };
        let c = Case {
            config,
            dtype,
            tokens,
            out,
            inn,
            out_dtype: DType::F32,
            act: Activation::None,
            alpha: 1.0,
            beta: None,
            bias: true,
            splits: 1,
            resident_ctas: 0,
        };
        let (got, want) = match dtype {
            DType::F16 => run_subset::<sparse24::f16>(&exec, &p, &c),
            _ => run_subset::<sparse24::bf16>(&exec, &p, &c),
        };
        // The (row, token) ranges of the two CTAs.
        let mut gv = Vec::new();
        let mut wv = Vec::new();
        for cta in &ctas {
            let (rb, tb) = if t.tokens_fast {
                (cta[1] as usize, cta[0] as usize)
            } else {
                (cta[0] as usize, cta[1] as usize)
            };
            for n in tb * t.tokens..((tb + 1) * t.tokens).min(tokens) {
                for m in rb * t.rows..((rb + 1) * t.rows).min(out) {
                    gv.push(got[n * out + m] as f64);
                    wv.push(want[n * out + m]);
                }
            }
        }
        let err = sparse24::reference::rel_error(&gv, &wv);
        let s = exec.last_stats().expect("counters");
        println!(
            "{} {dtype:?} {tokens}x{out}x{inn}, CTAs {ctas:?} of {g:?}: {} outputs, rel err {err:.2e}; mma.sp={} warp-insts/mma.sp={:.1} bank conflicts={}",
            config.name(),
            gv.len(),
            s.mma_sp_instructions,
            s.warp_instructions as f64 / s.mma_sp_instructions.max(1) as f64,
            s.shared_bank_conflicts
        );
        assert!(
            gv.len() > 2 * t.tokens,
            "{config:?}: too few outputs compared"
        );
        assert!(err <= 1e-4, "{config:?}: rel err {err}");
        assert_eq!(s.shared_bank_conflicts, 0);
    }
}

fn run_subset<T: sparse24::Element>(
    exec: &SimExecutor,
    p: &SparseGemmPlan,
    c: &Case,
) -> (Vec<f32>, Vec<f64>) {
    let inp = gemm_cases::inputs::<T>(c, 21);
    let epi = sparse24::Epilogue {
        bias: inp.bias.as_deref(),
        ..Default::default()
    };
    let got =
        sparse24::ops::gemm::sparse_linear_with_plan_on(exec, p, &inp.x, &inp.w, &epi, c.out_dtype)
            .expect("run");
    let want =
        sparse24::reference::linear_sparse_f64(&inp.x, c.tokens, &inp.w, &epi).expect("reference");
    (got, want)
}
