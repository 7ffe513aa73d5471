// Shared by tests/mask_sim.rs and tests/gpu/mask.rs: the fused mask-sampling kernels
// on any executor against the f64 CPU reference (src/mask.rs).
#![allow(dead_code)]

use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::launch::Executor;
use sparse24::mask::{self, SampleParams, Sampling, CANDIDATES};
use sparse24::ops::mask as dev;
use sparse24::{bf16, f16, philox, prune, DType, Element, Error, Mask24, Pattern};

/// One word; tails that are not multiples of the 256-thread block.
pub const SHAPES: [(usize, usize); 4] = [(1, 16), (3, 48), (37, 80), (65, 64)];

/// MaskLLM-like settings: κπ of order one, τ from warm to fairly cold.
pub const PARAMS: [(f32, f32); 3] = [(100.0, 4.0), (300.0, 0.5), (500.0, 0.1)];

/// Groups whose hard choice is this close are not compared (f32 vs f64 noise).
const MARGIN: f64 = 1e-3;

/// ‖out − ref‖/‖ref‖ bound per output type (shared/DESIGN.md) and the elementwise
/// relative slack of the output's rounding.
fn bounds(d: DType) -> (f64, f64) {
    match d {
        DType::BF16 => (1e-2, 2f64.powi(-8)),
        DType::F16 => (2e-3, 2f64.powi(-11)),
        DType::F32 => (1e-4, 2f64.powi(-24)),
    }
}

pub fn weights<T: Element>(rng: &mut StdRng, n: usize) -> Vec<T> {
    (0..n)
        .map(|_| T::from_f32(rng.gen_range(0.05f32..2.0) * if rng.gen() { 1.0 } else { -1.0 }))
        .collect()
}

/// Logits around MaskLLM's initialisation scale (0.01).
pub fn logits(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-0.02f32..0.02)).collect()
}

/// True when `err` exceeds `bound` or is NaN (NaN never passes).
fn fails(err: f64, bound: f64) -> bool {
    err.is_nan() || err > bound
}

fn rel_norm(got: &[f64], want: &[f64]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(g, w)| (g - w) * (g - w)).sum();
    let den: f64 = want.iter().map(|w| w * w).sum();
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// Groups whose perturbed scores κπ + g have a clear winner.
fn decided(logits: &[f32], p: &SampleParams) -> Vec<bool> {
    logits
        .chunks_exact(CANDIDATES)
        .enumerate()
        .map(|(g, l)| {
            let s = mask::perturbed(l, &philox::gumbel6(p.seed, g as u64, p.step), p.kappa);
            mask::margin6(&s) > MARGIN
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn check_forward<T: Element, E: Executor>(
    exec: &E,
    tag: &str,
    w: &[T],
    rows: usize,
    cols: usize,
    lg: &[f32],
    p: &SampleParams,
    s: Sampling,
) -> Result<(), String> {
    let e = |e: Error| format!("{tag}: {e}");
    let got = dev::forward_on(exec, w, rows, cols, lg, p, s, true).map_err(e)?;
    let (want, reg) = mask::forward_f64(w, rows, cols, lg, p, s).map_err(e)?;
    let ok = decided(lg, p);
    let (norm_bound, eps) = bounds(T::DTYPE);
    let mut g64 = Vec::new();
    let mut w64 = Vec::new();
    for (i, (&gv, &rv)) in got.w_eff.iter().zip(&want).enumerate() {
        if s == Sampling::Hard && !ok[i / 4] {
            continue;
        }
        let gv = gv.to_f64();
        // f32 arithmetic in the mask (≈1e-6 relative) plus the output's rounding.
        let tol = w[i].to_f64().abs() * 2e-5 + rv.abs() * eps;
        if fails((gv - rv).abs(), tol) {
            return Err(format!(
                "{tag} {s:?}: element {i}: device {gv}, reference {rv}"
            ));
        }
        g64.push(gv);
        w64.push(rv);
    }
    let err = rel_norm(&g64, &w64);
    if fails(err, norm_bound) {
        return Err(format!(
            "{tag} {s:?}: rel. error {err:.2e} > {norm_bound:.0e}"
        ));
    }
    let greg = got.reg.unwrap_or(f64::NAN);
    if ok.iter().all(|&d| d) && fails((greg - reg).abs(), 1e-5 * reg) {
        return Err(format!("{tag} {s:?}: regulariser {greg} vs {reg}"));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check_backward<T: Element, E: Executor>(
    exec: &E,
    tag: &str,
    w: &[T],
    rows: usize,
    cols: usize,
    lg: &[f32],
    dw: &[T],
    p: &SampleParams,
    s: Sampling,
) -> Result<(), String> {
    let e = |e: Error| format!("{tag}: {e}");
    let lambda = 0.25;
    let got = dev::backward_on(exec, w, rows, cols, lg, dw, lambda, p, s).map_err(e)?;
    let want = mask::backward_f64(w, rows, cols, lg, dw, lambda, p, s).map_err(e)?;
    let ok = decided(lg, p);
    let (mut g64, mut w64) = (Vec::new(), Vec::new());
    for (g, (gq, wq)) in got
        .chunks_exact(CANDIDATES)
        .zip(want.chunks_exact(CANDIDATES))
        .enumerate()
    {
        if s == Sampling::Hard && !ok[g] {
            continue;
        }
        g64.extend(gq.iter().map(|&v| v as f64));
        w64.extend_from_slice(wq);
    }
    // Inputs are exact in T; only the kernel's f32 arithmetic differs.
    let err = rel_norm(&g64, &w64);
    if fails(err, 1e-4) {
        return Err(format!("{tag} backward {s:?}: rel. error {err:.2e} > 1e-4"));
    }
    Ok(())
}

fn cases_for<T: Element, E: Executor>(exec: &E, rng: &mut StdRng) -> Result<(), String> {
    let dt = T::DTYPE.name();
    for &(rows, cols) in &SHAPES {
        let n = rows * cols;
        let w = weights::<T>(rng, n);
        let dw = weights::<T>(rng, n);
        let lg = logits(rng, n / 4 * CANDIDATES);
        for (k, &(kappa, tau)) in PARAMS.iter().enumerate() {
            let p = SampleParams {
                seed: rng.gen(),
                step: k as u32 * 1000 + 1,
                kappa,
                tau,
            };
            let tag = format!("{dt} {rows}x{cols} κ={kappa} τ={tau}");
            for s in [Sampling::Soft, Sampling::Hard] {
                check_forward(exec, &tag, &w, rows, cols, &lg, &p, s)?;
                check_backward(exec, &tag, &w, rows, cols, &lg, &dw, &p, s)?;
            }
        }
        // The export: bit for bit, ties included (logits from a few values).
        let tag = format!("{dt} {rows}x{cols}");
        let e = |e: Error| format!("{tag}: {e}");
        let ties: Vec<f32> = (0..n / 4 * CANDIDATES)
            .map(|_| [-1.0f32, 0.0, 0.5, 1.0][rng.gen_range(0..4)])
            .collect();
        for l in [&lg, &ties] {
            let got = dev::hard_mask_compress_on(exec, &w, rows, cols, l).map_err(e)?;
            let want = mask::hard_mask_compress(&w, rows, cols, l).map_err(e)?;
            let same = bytemuck::cast_slice::<T, u8>(got.values())
                == bytemuck::cast_slice::<T, u8>(want.values())
                && got.metadata() == want.metadata();
            if !same {
                return Err(format!("{tag}: hard_mask_compress differs from the CPU"));
            }
        }
        // Non-finite logits and kept weights: the device's status is the CPU's error.
        let per_row = cols / 4 * CANDIDATES;
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut nan = lg.clone();
            let at = rng.gen_range(0..nan.len());
            nan[at] = bad;
            let cpu = mask::hard_mask_compress(&w, rows, cols, &nan).expect_err("bad logit");
            let want = Error::NonFinite {
                what: "logits",
                row: at / per_row,
                col: at % per_row,
            };
            if cpu != want {
                return Err(format!(
                    "{tag}: {bad} logit: CPU {cpu:?}, expected {want:?}"
                ));
            }
            match dev::hard_mask_compress_on(exec, &w, rows, cols, &nan) {
                Err(g) if g == cpu => {}
                other => return Err(format!("{tag}: {bad} logit: device {other:?}, CPU {cpu:?}")),
            }
            let mut bad_w = w.clone();
            let i = rng.gen_range(0..bad_w.len());
            bad_w[i] = T::from_f32(bad);
            let cpu = mask::hard_mask_compress(&bad_w, rows, cols, &lg);
            let dev = dev::hard_mask_compress_on(exec, &bad_w, rows, cols, &lg);
            let kept = mask::hard_mask(&lg, rows, cols)
                .map_err(e)?
                .keeps(i / cols, i % cols);
            match (kept, cpu, dev) {
                (true, Err(c), Err(g)) if c == g && c == non_finite_weight(i, cols) => {}
                (false, Ok(c), Ok(g))
                    if c.metadata() == g.metadata()
                        && bytemuck::cast_slice::<T, u8>(c.values())
                            == bytemuck::cast_slice::<T, u8>(g.values()) => {}
                (k, c, g) => {
                    return Err(format!(
                        "{tag}: {bad} weight at {i} (kept: {k}): device {g:?}, CPU {c:?}"
                    ))
                }
            }
        }
    }
    Ok(())
}

fn non_finite_weight(i: usize, cols: usize) -> Error {
    Error::NonFinite {
        what: "weights",
        row: i / cols,
        col: i % cols,
    }
}

fn check_init<E: Executor>(exec: &E, rng: &mut StdRng) -> Result<(), String> {
    for &(rows, cols) in &SHAPES {
        let w: Vec<f32> = weights(rng, rows * cols);
        let prior: Mask24 = prune::magnitude_mask(&w, rows, cols).map_err(|e| e.to_string())?;
        for strength in [0.0f32, 2.0] {
            let seed = rng.gen();
            let got = dev::init_logits_from_prior_on(exec, &prior, seed, strength)
                .map_err(|e| e.to_string())?;
            let want = mask::init_logits_from_prior_f64(&prior, seed, strength)
                .map_err(|e| e.to_string())?;
            for (i, (&g, &r)) in got.iter().zip(&want).enumerate() {
                if fails((g as f64 - r).abs(), 1e-6 * (r.abs() + 0.01)) {
                    return Err(format!(
                        "init {rows}x{cols} strength {strength}: logit {i}: device {g}, reference {r}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The device's Philox words equal the CPU's, bit for bit.
pub fn check_philox<E: Executor>(exec: &E) -> Result<(), String> {
    for (seed, step) in [
        (0u64, 0u32),
        (0xDEAD_BEEF_0123_4567, 77),
        (u64::MAX, u32::MAX),
    ] {
        let groups = 300;
        let got = dev::philox_words_on(exec, groups, seed, step).map_err(|e| e.to_string())?;
        for g in 0..groups {
            let want = philox::group_words(seed, g as u64, step);
            if got[8 * g..8 * g + 8] != want {
                return Err(format!(
                    "philox seed {seed:#x} step {step} group {g} differs"
                ));
            }
        }
    }
    Ok(())
}

/// Everything: Philox words, forward/backward (soft and hard), export, init.
pub fn run_all<E: Executor>(exec: &E, seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    check_philox(exec)?;
    cases_for::<f32, E>(exec, &mut rng)?;
    cases_for::<f16, E>(exec, &mut rng)?;
    cases_for::<bf16, E>(exec, &mut rng)?;
    check_init(exec, &mut rng)?;
    // Candidate order sanity: the device's keep table is Pattern::ALL's.
    let keeps: Vec<u8> = Pattern::ALL.iter().map(|p| p.keep_bits()).collect();
    if keeps != [0x3, 0x5, 0x9, 0x6, 0xA, 0xC] {
        return Err(format!("candidate keep table changed: {keeps:x?}"));
    }
    Ok(())
}
