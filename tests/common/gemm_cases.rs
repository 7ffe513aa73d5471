// Shared by tests/gemm_sim.rs and tests/gpu/gemm.rs: the sparse GEMM test cases and
// the comparison with the f64 CPU reference.
#![allow(dead_code)]

use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::launch::Executor;
use sparse24::ops::gemm::{sparse_linear_with_plan_on, GemmConfig, SparseGemmPlan};
use sparse24::reference::{linear_sparse_f64, rel_error};
use sparse24::{prune, Activation, DType, Element, Epilogue, Sparse24};

/// Whether the kernels are missing (a build without nvcc): the sim tests then say
/// "skipped" and return.
pub fn kernels_missing() -> bool {
    if !sparse24::kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return true;
    }
    false
}

/// mma.sp a decode plan owes: one per (16-row tile, 8-token tile, k32 step) of every
/// CTA's whole tile.
pub fn decode_mma_sp(p: &SparseGemmPlan) -> u64 {
    let t = p.config.tile();
    let row_blocks = p.out.div_ceil(t.rows);
    let token_blocks = p.tokens.div_ceil(t.tokens);
    (row_blocks * (t.rows / 16) * token_blocks * (t.tokens / 8) * p.steps) as u64
}

/// One GEMM test: configuration, shape, dtypes, epilogue.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub config: GemmConfig,
    pub dtype: DType,
    pub tokens: usize,
    pub out: usize,
    pub inn: usize,
    pub out_dtype: DType,
    pub act: Activation,
    pub alpha: f32,
    /// beta · C with this beta (None: no C).
    pub beta: Option<f32>,
    pub bias: bool,
    /// Requested split-K count.
    pub splits: usize,
    /// CTAs a persistent kernel may launch (0: one per work unit).
    pub resident_ctas: usize,
}

#[allow(clippy::too_many_arguments)]
const fn case(
    config: GemmConfig,
    dtype: DType,
    tokens: usize,
    out: usize,
    inn: usize,
    out_dtype: DType,
    act: Activation,
    beta: Option<f32>,
    bias: bool,
    splits: usize,
) -> Case {
    Case {
        config,
        dtype,
        tokens,
        out,
        inn,
        out_dtype,
        act,
        alpha: 0.75,
        beta,
        bias,
        splits,
        resident_ctas: 0,
    }
}

use Activation::{Gelu, GeluErf, None as NoAct, Relu, Silu};
use DType::{BF16, F16, F32};
use GemmConfig::{
    Decode, Prefill, PrefillT128x128 as T128, PrefillT128x128A2 as T128A2, PrefillT256x64 as T256,
    PrefillT256x64W16 as T256W16,
};

/// Every configuration × tokens {1, 7, 16, 20, 37, 64, 70, 130, 150} × dtype, out not a
/// multiple of 16 (nor of the tile), in ∈ {16, 48, 272, …}, every output dtype,
/// activation and beta/bias combination, split-K 1, 2 and 3.
pub const CASES: &[Case] = &[
    case(Decode, BF16, 1, 40, 272, BF16, NoAct, None, false, 1),
    case(Decode, F16, 7, 130, 48, F16, Relu, Some(-0.5), true, 1),
    case(Decode, BF16, 16, 24, 16, F32, Gelu, None, true, 1),
    case(Decode, F16, 1, 48, 1024, F32, Silu, Some(1.25), false, 4),
    case(Decode, BF16, 16, 100, 768, BF16, NoAct, Some(0.5), true, 3),
    case(Decode, F16, 64, 20, 64, F16, Gelu, None, false, 1),
    case(Decode, BF16, 130, 17, 32, F32, Relu, Some(1.0), true, 1),
    case(Decode, F16, 7, 33, 528, F32, NoAct, None, true, 2),
    case(Decode, BF16, 7, 40, 272, F32, GeluErf, Some(0.5), true, 2),
    case(Prefill, BF16, 1, 40, 272, F32, NoAct, None, false, 1),
    case(Prefill, F16, 7, 24, 48, BF16, Silu, Some(-1.0), false, 1),
    case(Prefill, BF16, 16, 130, 16, F16, Silu, Some(0.5), true, 1),
    case(Prefill, F16, 64, 200, 272, F32, Gelu, Some(2.0), false, 1),
    case(Prefill, BF16, 130, 72, 96, BF16, Relu, None, true, 1),
    case(Prefill, F16, 130, 17, 528, F16, NoAct, None, false, 2),
    case(Prefill, BF16, 64, 16, 48, F32, Gelu, Some(0.25), true, 1),
    // The larger prefill tiles: rows and tokens not multiples of the tile (nor tokens
    // of 8), several K (one stage, odd stage counts, 3 metadata groups), split-K 2 and
    // 3, f16 and bf16, every output dtype and epilogue option.
    case(T128, BF16, 130, 200, 272, BF16, Relu, Some(0.5), true, 1),
    case(T128, F16, 37, 72, 528, F32, Gelu, None, true, 2),
    case(T128, F16, 150, 17, 48, F16, Silu, Some(-1.0), false, 1),
    case(T128, BF16, 20, 136, 768, F32, NoAct, None, false, 3),
    case(T128A2, F16, 130, 200, 272, F16, Gelu, Some(2.0), true, 1),
    case(T128A2, BF16, 37, 72, 528, BF16, Relu, None, false, 2),
    case(T128A2, BF16, 150, 17, 16, F32, Silu, Some(0.25), true, 1),
    case(T128A2, F16, 20, 136, 768, F32, NoAct, None, true, 3),
    case(T256, BF16, 130, 300, 272, F32, Silu, Some(-0.5), true, 1),
    case(T256, F16, 37, 72, 528, F16, NoAct, None, false, 2),
    case(T256, F16, 70, 17, 48, BF16, Gelu, Some(1.0), true, 1),
    case(T256, BF16, 20, 260, 768, F32, Relu, None, false, 3),
    case(T256, F16, 37, 72, 48, F16, GeluErf, None, true, 1),
    // The 16-warp 256 × 64 tile: its lean loop runs one 8-step metadata group (4
    // stages) per iteration, so splits of 1, 2, 3 and 5 groups, `in` that ends
    // inside a stage (the X bounds it checks per stage) and row/token tails.
    case(T256W16, BF16, 130, 300, 272, F32, Silu, Some(-0.5), true, 1),
    case(T256W16, F16, 37, 72, 528, F16, NoAct, None, false, 2),
    case(T256W16, F16, 70, 17, 48, BF16, Gelu, Some(1.0), true, 1),
    case(T256W16, BF16, 20, 260, 768, F32, Relu, None, false, 3),
    case(T256W16, F16, 150, 40, 1040, BF16, Silu, Some(2.0), true, 1),
    case(T256W16, BF16, 65, 270, 64, F16, Relu, None, true, 1),
    // The shared-memory-staged tiles (one axis per case, not their product): token
    // tails (130, 37, 150, 20 of a 128/256 tile), row tails (200, 72, 17, 136, 300
    // rows: partial 16-row tiles and row blocks), `in` ending inside a stage (272, 48)
    // and spanning 3 metadata groups (528, 768: the two metadata slots alternate),
    // split-K 2 and 3, f16 and bf16, every output dtype, activation, beta and bias.
    case(S128, BF16, 130, 200, 272, BF16, Relu, Some(0.5), true, 1),
    case(S128, F16, 37, 72, 528, F32, Gelu, None, true, 2),
    case(S128, F16, 150, 17, 48, F16, Silu, Some(-1.0), false, 1),
    case(S128, BF16, 20, 136, 768, F32, NoAct, None, false, 3),
    case(S256, F16, 130, 300, 272, F32, GeluErf, Some(-0.5), true, 1),
    case(S256, BF16, 37, 72, 528, BF16, NoAct, None, false, 2),
    case(S256, BF16, 150, 17, 48, F16, Gelu, Some(1.0), true, 1),
    case(S256, F16, 20, 260, 768, F32, Relu, None, false, 3),
    case(S128W, BF16, 260, 200, 272, F32, Silu, Some(2.0), true, 1),
    case(S128W, F16, 37, 72, 528, F16, Relu, None, false, 2),
    case(S128W, F16, 150, 17, 48, BF16, NoAct, Some(0.25), true, 1),
    case(S128W, BF16, 20, 136, 768, F32, Gelu, None, true, 3),
];

use GemmConfig::{PrefillS128x128 as S128, PrefillS128x256 as S128W, PrefillS256x128 as S256};

use GemmConfig::Wgmma256x128 as WG;

/// The Hopper kernel (sm_90a, wgmma.sp), one axis at a time: tokens 1, 63, 129, 1000
/// (tails of the 128-token tile and of the TMA box), out not a multiple of 16 nor of
/// the 256-row tile (one and two row blocks, rows past the end in a block), `in`
/// ending inside a 64-wide stage and inside an 8-step metadata group, both input
/// dtypes, every output dtype, activation, beta and bias.
pub const WGMMA_CASES: &[Case] = &[
    case(WG, BF16, 1, 40, 272, BF16, NoAct, None, false, 1),
    case(WG, F16, 63, 72, 48, F32, Relu, Some(-0.5), true, 1),
    case(WG, BF16, 129, 300, 96, F16, Silu, Some(0.5), false, 1),
    case(WG, F16, 1000, 24, 528, BF16, Gelu, None, true, 1),
    case(WG, BF16, 70, 17, 16, F32, GeluErf, Some(2.0), true, 1),
    // Split-K 3 (chunks of 2, 2 and 1 metadata groups: 4, 4 and 2 stages) and 2.
    case(WG, F16, 63, 72, 1040, F32, Relu, Some(0.5), true, 3),
    case(WG, BF16, 129, 260, 528, BF16, NoAct, None, false, 2),
];

/// The persistent Hopper kernel on fewer CTAs than work units, so each CTA walks
/// several (its X ring and mbarrier phases running on across units, the epilogue
/// buffer reused): 2 row blocks × 5 token tiles on 3 CTAs (bands of 2 token tiles,
/// the last one narrower), and split-K units (2 tiles × 2 splits, the counters
/// shared across a CTA's units) on 2 CTAs.
pub const WGMMA_PERSISTENT_CASES: &[Case] = &[
    Case {
        resident_ctas: 3,
        ..case(WG, BF16, 520, 300, 64, F16, Gelu, Some(0.5), true, 1)
    },
    Case {
        resident_ctas: 2,
        ..case(WG, F16, 129, 72, 1040, F32, Relu, None, true, 2)
    },
];

/// The relative-error bound of an output dtype (DESIGN.md Tolerances).
pub fn tolerance(out_dtype: DType) -> f64 {
    match out_dtype {
        DType::BF16 => 1e-2,
        DType::F16 => 2e-3,
        DType::F32 => 1e-4,
    }
}

/// Random inputs of a case (never zeros).
pub struct Inputs<T> {
    pub x: Vec<T>,
    pub w: Sparse24<T>,
    pub c: Option<Vec<T>>,
    pub bias: Option<Vec<T>>,
}

pub fn inputs<T: Element>(c: &Case, seed: u64) -> Inputs<T> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = |n: usize, a: f32| -> Vec<T> {
        (0..n)
            .map(|_| {
                let mut u: f32 = rng.gen_range(-a..a);
                if u.abs() < 1e-3 {
                    u = 0.5;
                }
                T::from_f32(u)
            })
            .collect()
    };
    let x = v(c.tokens * c.inn, 1.0);
    let dense = v(c.out * c.inn, 1.0);
    let cm = c.beta.map(|_| v(c.tokens * c.out, 1.0));
    let bias = if c.bias { Some(v(c.out, 0.5)) } else { None };
    let w = prune::prune_magnitude(&dense, c.out, c.inn).expect("prune");
    Inputs { x, w, c: cm, bias }
}

pub fn plan(c: &Case) -> SparseGemmPlan {
    SparseGemmPlan::new(c.config, c.tokens, c.out, c.inn, c.splits)
        .expect("plan")
        .with_resident_ctas(c.resident_ctas)
}

/// Runs a case on `exec`; returns (relative error, bound, plan).
pub fn run_case<E: Executor>(
    exec: &E,
    c: &Case,
    seed: u64,
) -> Result<(f64, f64, SparseGemmPlan), String> {
    match c.dtype {
        DType::F16 => run_typed::<E, sparse24::f16>(exec, c, seed),
        DType::BF16 => run_typed::<E, sparse24::bf16>(exec, c, seed),
        DType::F32 => Err("f32 inputs are not a GEMM case".into()),
    }
}

fn run_typed<E: Executor, T: Element>(
    exec: &E,
    c: &Case,
    seed: u64,
) -> Result<(f64, f64, SparseGemmPlan), String> {
    let inp = inputs::<T>(c, seed);
    let epi = Epilogue {
        alpha: c.alpha,
        beta: c.beta.unwrap_or(0.0),
        c: inp.c.as_deref(),
        bias: inp.bias.as_deref(),
        activation: c.act,
    };
    let p = plan(c);
    let got = sparse_linear_with_plan_on(exec, &p, &inp.x, &inp.w, &epi, c.out_dtype)
        .map_err(|e| format!("{c:?}: {e}"))?;
    let want = linear_sparse_f64(&inp.x, c.tokens, &inp.w, &epi).map_err(|e| e.to_string())?;
    let got: Vec<f64> = got.iter().map(|&v| v as f64).collect();
    let err = rel_error(&got, &want);
    let tol = tolerance(c.out_dtype);
    if err.is_nan() || err > tol {
        return Err(format!(
            "{c:?} (plan {p:?}): rel error {err:.3e} > {tol:.0e}"
        ));
    }
    Ok((err, tol, p))
}

/// Runs a split-K case twice on one device weight and one reused workspace; checks
/// that the kernel left every arrival counter at zero; returns both outputs' bytes.
pub fn run_twice<E: Executor>(exec: &E, c: &Case, seed: u64) -> Result<(Vec<u8>, Vec<u8>), String> {
    use sparse24::ops::gemm::{
        sparse_linear_with_workspace, DeviceEpilogue, DeviceSlice, DeviceSparse24,
    };
    let inp = inputs::<sparse24::bf16>(c, seed);
    let p = plan(c);
    let e = |r: sparse24::Result<()>| r.map_err(|e| e.to_string());
    let dw = DeviceSparse24::upload(exec, &inp.w).map_err(|e| e.to_string())?;
    let xb = exec.upload(&inp.x).map_err(|e| e.to_string())?;
    let n = p.workspace_bytes();
    let ws = exec.alloc_zeroed(n).map_err(|e| e.to_string())?;
    let wslice = (n > 0).then(|| DeviceSlice {
        ptr: exec.ptr(&ws),
        len: n,
    });
    let epi = DeviceEpilogue {
        alpha: c.alpha,
        activation: c.act,
        ..Default::default()
    };
    let mut outs = Vec::new();
    for _ in 0..2 {
        let yb = exec
            .alloc_zeroed(c.tokens * c.out * c.out_dtype.size())
            .map_err(|e| e.to_string())?;
        e(sparse_linear_with_workspace(
            exec,
            &p,
            &dw,
            &xb,
            &yb,
            c.out_dtype,
            &epi,
            wslice,
        ))?;
        outs.push(exec.download_bytes(&yb).map_err(|e| e.to_string())?);
        let wsb = exec.download_bytes(&ws).map_err(|e| e.to_string())?;
        if wsb[..p.tiles() * 4].iter().any(|&b| b != 0) {
            return Err("split-K arrival counters were not reset to zero".into());
        }
    }
    let b = outs.pop().unwrap_or_default();
    let a = outs.pop().unwrap_or_default();
    Ok((a, b))
}

use GemmConfig::{Decode16 as D16, Decode8 as D8};

/// The latency-hiding decode tiles (kernels/gemm/decode_*.cuh), one axis at a time:
/// tokens 1..16 (one and two 8-token tiles of `decode8`, tails of both token tiles of
/// `decode16`), out not a multiple of 16 nor of the 64-row tile, `in` of one step
/// (padded to a metadata group), of one 8-step group and more; X restaged (k ranges
/// longer than the X a CTA holds: 64 steps for `decode8`, 32 for `decode16`); split-K
/// 1, 2, 3, 5 and past one reduction batch (`decode16` loads 8 partials at a time);
/// both input dtypes, every output dtype, activation, beta and bias.
pub const DECODE_CASES: &[Case] = &[
    case(D8, BF16, 1, 40, 272, BF16, NoAct, None, false, 1),
    case(D8, F16, 8, 130, 48, F16, Relu, Some(-0.5), true, 1),
    case(D8, BF16, 5, 24, 16, F32, Gelu, None, true, 1),
    case(D8, F16, 3, 48, 1024, F32, Silu, Some(1.25), false, 4),
    case(D8, BF16, 13, 100, 768, BF16, GeluErf, Some(0.5), true, 3),
    case(D8, F16, 7, 72, 2304, F32, NoAct, None, true, 1),
    case(D16, BF16, 16, 40, 272, F32, Relu, None, true, 1),
    case(D16, F16, 9, 130, 48, BF16, Silu, Some(2.0), false, 1),
    case(D16, BF16, 12, 24, 1280, F16, Gelu, None, true, 5),
    case(D16, F16, 1, 17, 1040, F32, GeluErf, Some(-1.0), true, 1),
    case(D16, BF16, 16, 64, 768, F32, NoAct, None, false, 2),
    case(D16, F16, 11, 20, 2560, F32, NoAct, None, true, 10),
];

use GemmConfig::Decode16Sm90 as D90;

/// The sm_90 bulk-copy decode tile (`decode16c`), one axis at a time: tokens 1, 8, 11,
/// 16 (token tails of the 16-token tile), out not a multiple of 16 nor of the 64-row
/// tile, `in` ending inside an 8-step metadata group (272, 48, 1040), a k range of 9
/// groups in one CTA (the 4-slot W ring wrapping twice, X restaged twice), cluster
/// split counts 1, 2, 3 and 4 (uneven chunks: 1040 in 2), both input dtypes, every output dtype, activation, beta
/// and bias.
pub const DECODE90_CASES: &[Case] = &[
    case(D90, BF16, 1, 40, 272, BF16, NoAct, None, false, 1),
    case(D90, F16, 8, 130, 48, F16, Relu, Some(-0.5), true, 1),
    case(D90, BF16, 16, 24, 2048, F32, Gelu, None, true, 4),
    case(D90, F16, 11, 17, 1040, F32, GeluErf, Some(-1.0), true, 2),
    case(D90, BF16, 5, 72, 2304, BF16, Silu, Some(0.5), false, 1),
    case(D90, F16, 16, 100, 768, F32, NoAct, None, true, 3),
];

/// The Hopper kernel's SS form (feature `hopper-ss`: W's values through the bulk copy
/// engine, A from shared memory), one axis at a time as for the RS form: token, row
/// and `in` tails (one and two row blocks, `in` ending inside a stage and inside a
/// metadata group), both input dtypes, split-K 2, and a persistent case on fewer CTAs
/// than units (2 row blocks × 3 token tiles on 2 CTAs: the ring's W slots and phases
/// run on across units).
pub const WGMMA_SS_CASES: &[Case] = &[
    case(WG_SS, BF16, 63, 40, 272, BF16, NoAct, None, false, 1),
    case(WG_SS, F16, 129, 300, 96, F32, Relu, Some(0.5), true, 1),
    case(WG_SS, BF16, 70, 72, 1040, F16, Gelu, None, true, 2),
    Case {
        resident_ctas: 2,
        ..case(WG_SS, F16, 260, 300, 48, F32, Silu, Some(-0.5), false, 1)
    },
];

use GemmConfig::Wgmma256x128Ss as WG_SS;
