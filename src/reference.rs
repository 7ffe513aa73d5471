//! CPU reference kernels for the linear-layer form
//! `Y[tokens, out] = act(alpha · X[tokens, in] · Wᵀ + beta · C[tokens, out] + bias[out])`.
//!
//! Two flavours: f64 accumulation (the yardstick every kernel is judged against) and
//! f32 accumulation, multithreaded and cache-blocked (the CPU fallback path). The
//! sparse versions read the compressed form directly, never a decompressed copy.

use crate::dtype::Element;
use crate::epilogue::Epilogue;
use crate::error::Result;
use crate::format::Sparse24;
use crate::pattern::{self, GROUP, WORD_COLS};
use crate::shape;
use crate::shape::check_len;
use rayon::prelude::*;

/// Checks X [tokens, in] and that Y [tokens, out] has a representable size, before
/// anything is allocated.
fn check_x<T: Element>(x: &[T], tokens: usize, out: usize, inn: usize) -> Result<()> {
    let x_len = shape::tokens_by("X", "in", tokens, inn)?;
    shape::tokens_by("Y", "out", tokens, out)?;
    check_len("X", x_len, x.len())
}

/// Dense reference with f64 accumulation; W is [out, in] row-major. Returns f64.
pub fn linear_dense_f64<T: Element>(
    x: &[T],
    tokens: usize,
    w: &[T],
    out: usize,
    inn: usize,
    epi: &Epilogue<T>,
) -> Result<Vec<f64>> {
    check_x(x, tokens, out, inn)?;
    check_len("W", shape::product("W", ["out", "in"], out, inn)?, w.len())?;
    epi.check(tokens, out)?;
    let mut y = vec![0f64; tokens * out];
    y.par_chunks_mut(out).enumerate().for_each(|(t, yrow)| {
        let xr = &x[t * inn..(t + 1) * inn];
        for (o, yv) in yrow.iter_mut().enumerate() {
            let wr = &w[o * inn..(o + 1) * inn];
            let acc: f64 = xr
                .iter()
                .zip(wr)
                .map(|(a, b)| a.to_f64() * b.to_f64())
                .sum();
            *yv = epi.apply(acc, t, o, out);
        }
    });
    Ok(y)
}

/// Sparse reference with f64 accumulation, reading the compressed form.
pub fn linear_sparse_f64<T: Element>(
    x: &[T],
    tokens: usize,
    w: &Sparse24<T>,
    epi: &Epilogue<T>,
) -> Result<Vec<f64>> {
    let (out, inn) = (w.rows(), w.cols());
    check_x(x, tokens, out, inn)?;
    epi.check(tokens, out)?;
    let rows: Vec<Vec<(usize, f64)>> = (0..out)
        .into_par_iter()
        .map(|o| {
            (0..inn / 2)
                .map(|i| {
                    let (col, v) = w.kept(o, i);
                    (col, v.to_f64())
                })
                .collect()
        })
        .collect();
    let mut y = vec![0f64; tokens * out];
    y.par_chunks_mut(out).enumerate().for_each(|(t, yrow)| {
        let xr = &x[t * inn..(t + 1) * inn];
        for (o, yv) in yrow.iter_mut().enumerate() {
            let acc: f64 = rows[o].iter().map(|&(c, v)| v * xr[c].to_f64()).sum();
            *yv = epi.apply(acc, t, o, out);
        }
    });
    Ok(y)
}

/// Tokens processed together by the fast kernels: X is transposed into [in][TB]
/// panels so the innermost loop is a contiguous multiply-add over tokens.
const TB: usize = 8;

fn x_panels<T: Element>(x: &[T], tokens: usize, inn: usize) -> Vec<[f32; TB]> {
    let panels = tokens.div_ceil(TB);
    let mut p = vec![[0f32; TB]; panels * inn];
    for t in 0..tokens {
        let (pb, lane) = (t / TB, t % TB);
        for (k, v) in x[t * inn..(t + 1) * inn].iter().enumerate() {
            p[pb * inn + k][lane] = v.to_f32();
        }
    }
    p
}

fn finish<T: Element, O: Element>(
    acc: Vec<f32>,
    tokens: usize,
    out: usize,
    epi: &Epilogue<T>,
) -> Vec<O> {
    // acc is [out][tokens_padded]; Y is [tokens, out].
    let tp = tokens.div_ceil(TB) * TB;
    let mut y = vec![O::default(); tokens * out];
    y.par_chunks_mut(out).enumerate().for_each(|(t, yrow)| {
        for (o, yv) in yrow.iter_mut().enumerate() {
            *yv = O::from_f64(epi.apply(acc[o * tp + t] as f64, t, o, out));
        }
    });
    y
}

/// Fast sparse linear layer on the CPU (f32 accumulation, multithreaded): the CPU
/// fallback of the GPU kernel, same semantics, output in the input dtype.
pub fn linear_sparse<T: Element>(
    x: &[T],
    tokens: usize,
    w: &Sparse24<T>,
    epi: &Epilogue<T>,
) -> Result<Vec<T>> {
    linear_sparse_as(x, tokens, w, epi)
}

/// [`linear_sparse`] with the output in `O` (f32, f16 or bf16, as the GPU kernel's
/// output dtype): f32 accumulation, the epilogue in f64, one rounding to `O`.
pub fn linear_sparse_as<T: Element, O: Element>(
    x: &[T],
    tokens: usize,
    w: &Sparse24<T>,
    epi: &Epilogue<T>,
) -> Result<Vec<O>> {
    let (out, inn) = (w.rows(), w.cols());
    check_x(x, tokens, out, inn)?;
    epi.check(tokens, out)?;
    let panels = x_panels(x, tokens, inn);
    let np = tokens.div_ceil(TB);
    let tp = np * TB;
    let mut acc = vec![0f32; out * tp];
    let groups = inn / GROUP;
    acc.par_chunks_mut(tp).enumerate().for_each(|(o, arow)| {
        // Per group: the two kept positions (masked to 0..4 so the indexing below
        // needs no bounds check) and their values.
        let words = &w.metadata()[o * inn / WORD_COLS..(o + 1) * inn / WORD_COLS];
        let vals = &w.values()[o * inn / 2..(o + 1) * inn / 2];
        let kept: Vec<([usize; 2], [f32; 2])> = (0..groups)
            .map(|g| {
                let code = pattern::word_code(words[g / 4], g % 4) as usize;
                let v = [vals[2 * g].to_f32(), vals[2 * g + 1].to_f32()];
                ([code & 3, code >> 2 & 3], v)
            })
            .collect();
        for pb in 0..np {
            let panel = &panels[pb * inn..(pb + 1) * inn];
            let mut a = [0f32; TB];
            for (quad, &([ia, ib], [va, vb])) in panel.chunks_exact(GROUP).zip(&kept) {
                let (xa, xb) = (&quad[ia], &quad[ib]);
                for l in 0..TB {
                    a[l] += va * xa[l] + vb * xb[l];
                }
            }
            arow[pb * TB..(pb + 1) * TB].copy_from_slice(&a);
        }
    });
    Ok(finish(acc, tokens, out, epi))
}

/// Fast dense linear layer on the CPU (f32 accumulation, multithreaded).
pub fn linear_dense<T: Element>(
    x: &[T],
    tokens: usize,
    w: &[T],
    out: usize,
    inn: usize,
    epi: &Epilogue<T>,
) -> Result<Vec<T>> {
    check_x(x, tokens, out, inn)?;
    check_len("W", shape::product("W", ["out", "in"], out, inn)?, w.len())?;
    epi.check(tokens, out)?;
    let panels = x_panels(x, tokens, inn);
    let np = tokens.div_ceil(TB);
    let tp = np * TB;
    let mut acc = vec![0f32; out * tp];
    acc.par_chunks_mut(tp).enumerate().for_each(|(o, arow)| {
        let wr: Vec<f32> = w[o * inn..(o + 1) * inn]
            .iter()
            .map(|v| v.to_f32())
            .collect();
        for pb in 0..np {
            let panel = &panels[pb * inn..(pb + 1) * inn];
            let mut a = [0f32; TB];
            for (xp, &v) in panel.iter().zip(&wr) {
                for l in 0..TB {
                    a[l] += v * xp[l];
                }
            }
            arow[pb * TB..(pb + 1) * TB].copy_from_slice(&a);
        }
    });
    Ok(finish(acc, tokens, out, epi))
}

/// ‖a − b‖₂ / ‖b‖₂ with b the reference; NaN anywhere gives +∞ so it never passes.
pub fn rel_error(a: &[f64], reference: &[f64]) -> f64 {
    if a.len() != reference.len() || a.iter().chain(reference).any(|v| v.is_nan()) {
        return f64::INFINITY;
    }
    let num: f64 = a
        .iter()
        .zip(reference)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let den: f64 = reference.iter().map(|y| y * y).sum();
    if den == 0.0 {
        return if num == 0.0 { 0.0 } else { f64::INFINITY };
    }
    (num / den).sqrt()
}
