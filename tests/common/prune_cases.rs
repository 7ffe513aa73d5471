// Shared by tests/prune_sim.rs and tests/gpu/mask.rs: prune + compress and check on
// any executor against the CPU (src/prune.rs + Sparse24::compress_masked), bit for bit.
#![allow(dead_code)]

use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::launch::Executor;
use sparse24::ops::prune::{check_on, prune_compress_on, HostSelection};
use sparse24::{bf16, f16, prune, Element, Error, Mask24, Pattern, Sparse24};

/// Shapes: one word, tails that are not multiples of the 256-thread block.
pub const SHAPES: [(usize, usize); 4] = [(1, 16), (3, 48), (37, 80), (65, 64)];

/// Random weights; with `ties`, drawn from a few values (ties, zeros, all-zero
/// groups) so the tie rule and the zero padding are exercised.
pub fn weights<T: Element>(rng: &mut StdRng, n: usize, ties: bool) -> Vec<T> {
    const FEW: [f32; 7] = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0];
    let mut w: Vec<T> = (0..n)
        .map(|_| {
            T::from_f32(if ties {
                FEW[rng.gen_range(0..FEW.len())]
            } else {
                rng.gen_range(0.05f32..3.0) * if rng.gen() { 1.0 } else { -1.0 }
            })
        })
        .collect();
    if ties {
        for quad in w.chunks_exact_mut(4).step_by(5) {
            quad.fill(T::from_f32(0.0));
        }
    }
    w
}

fn random_mask(rng: &mut StdRng, rows: usize, cols: usize) -> Mask24 {
    let p = (0..rows * cols / 4)
        .map(|_| Pattern::ALL[rng.gen_range(0..6)])
        .collect();
    Mask24::new(rows, cols, p).expect("shape")
}

/// Bit-exact comparison (so −0.0 and 0.0 differ).
fn same<T: Element>(what: &str, gpu: &Sparse24<T>, cpu: &Sparse24<T>) -> Result<(), String> {
    let gv: &[u8] = bytemuck::cast_slice(gpu.values());
    let cv: &[u8] = bytemuck::cast_slice(cpu.values());
    if gv != cv || gpu.metadata() != cpu.metadata() {
        let bad = gpu
            .metadata()
            .iter()
            .zip(cpu.metadata())
            .position(|(a, b)| a != b);
        return Err(format!(
            "{what}: differs from the CPU (first metadata word differing: {bad:?})"
        ));
    }
    Ok(())
}

fn expect_err(what: &str, gpu: Result<(), Error>, cpu: Error) -> Result<(), String> {
    match gpu {
        Err(e) if e == cpu => Ok(()),
        other => Err(format!("{what}: device gave {other:?}, the CPU {cpu:?}")),
    }
}

fn cases_for<T: Element, E: Executor>(exec: &E, rng: &mut StdRng) -> Result<(), String> {
    let dt = T::DTYPE.name();
    for &(rows, cols) in &SHAPES {
        for ties in [false, true] {
            let tag = format!("{dt} {rows}x{cols} ties={ties}");
            let w = weights::<T>(rng, rows * cols, ties);
            let e = |e: Error| format!("{tag}: {e}");
            // Magnitude.
            let gpu =
                prune_compress_on(exec, &w, rows, cols, HostSelection::Magnitude).map_err(e)?;
            let mask = prune::magnitude_mask(&w, rows, cols).map_err(e)?;
            same(
                &format!("{tag} magnitude"),
                &gpu,
                &Sparse24::compress_masked(&w, &mask).map_err(e)?,
            )?;
            // Scores (ties included when `ties`).
            let scores: Vec<f32> = weights::<f32>(rng, rows * cols, ties);
            let gpu = prune_compress_on(exec, &w, rows, cols, HostSelection::Scores(&scores))
                .map_err(e)?;
            let mask = prune::score_mask(&scores, rows, cols).map_err(e)?;
            same(
                &format!("{tag} scores"),
                &gpu,
                &Sparse24::compress_masked(&w, &mask).map_err(e)?,
            )?;
            // A caller's mask.
            let mask = random_mask(rng, rows, cols);
            let gpu =
                prune_compress_on(exec, &w, rows, cols, HostSelection::Mask(&mask)).map_err(e)?;
            same(
                &format!("{tag} mask"),
                &gpu,
                &Sparse24::compress_masked(&w, &mask).map_err(e)?,
            )?;
            // Detect on a 2:4 matrix with extra zeros; check accepts it.
            let mut sparse = mask.apply(&w).map_err(e)?;
            for v in sparse.iter_mut().step_by(7) {
                *v = T::from_f32(0.0);
            }
            let gpu =
                prune_compress_on(exec, &sparse, rows, cols, HostSelection::Detect).map_err(e)?;
            same(
                &format!("{tag} detect"),
                &gpu,
                &Sparse24::compress(&sparse, rows, cols).map_err(e)?,
            )?;
            check_on(exec, &sparse, rows, cols).map_err(e)?;
            // One group made dense: check and detect name it as the CPU does.
            let g = rng.gen_range(0..rows * cols / 4);
            let mut bad = sparse.clone();
            for (i, v) in bad[4 * g..4 * g + 4].iter_mut().enumerate() {
                *v = T::from_f32(1.0 + i as f32);
            }
            let cpu = prune::check_two_four(&bad, rows, cols).expect_err("dense group");
            expect_err(
                &format!("{tag} check"),
                check_on(exec, &bad, rows, cols),
                cpu.clone(),
            )?;
            let detect =
                prune_compress_on(exec, &bad, rows, cols, HostSelection::Detect).map(|_| ());
            expect_err(&format!("{tag} detect"), detect, cpu)?;
            // A non-finite weight (NaN, +Inf, -Inf): refused by magnitude; ignored by
            // a mask that drops it. A non-finite score is refused.
            for bad_value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let i = rng.gen_range(0..rows * cols);
                let tag = format!("{tag} {bad_value}");
                let mut nan = w.clone();
                nan[i] = T::from_f32(bad_value);
                let cpu = prune::magnitude_mask(&nan, rows, cols).expect_err("non-finite");
                if cpu != non_finite("weights", i, cols) {
                    return Err(format!("{tag} magnitude: CPU {cpu:?} at {i}"));
                }
                let gpu =
                    prune_compress_on(exec, &nan, rows, cols, HostSelection::Magnitude).map(|_| ());
                expect_err(&format!("{tag} magnitude"), gpu, cpu)?;
                let drop = mask.patterns()[i / 4].keeps(i % 4);
                let gpu = prune_compress_on(exec, &nan, rows, cols, HostSelection::Mask(&mask));
                match (drop, gpu, Sparse24::compress_masked(&nan, &mask)) {
                    (true, Err(g), Err(c)) if g == c => {}
                    (false, Ok(g), Ok(c)) => same(&format!("{tag} dropped"), &g, &c)?,
                    (_, g, c) => return Err(format!("{tag} mask: device {g:?}, CPU {c:?}")),
                }
                let mut nan_scores = scores.clone();
                nan_scores[i] = bad_value;
                let cpu = prune::score_mask(&nan_scores, rows, cols).expect_err("score");
                if cpu != non_finite("scores", i, cols) {
                    return Err(format!("{tag} scores: CPU {cpu:?} at {i}"));
                }
                let gpu =
                    prune_compress_on(exec, &w, rows, cols, HostSelection::Scores(&nan_scores))
                        .map(|_| ());
                expect_err(&format!("{tag} scores"), gpu, cpu)?;
            }
        }
    }
    Ok(())
}

/// The error naming flat element `i` of a row-major buffer with `cols` per row.
fn non_finite(what: &'static str, i: usize, cols: usize) -> Error {
    Error::NonFinite {
        what,
        row: i / cols,
        col: i % cols,
    }
}

/// Every selection, dtype and shape; `Err` describes the first mismatch.
pub fn run_all<E: Executor>(exec: &E, seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    cases_for::<f32, E>(exec, &mut rng)?;
    cases_for::<f16, E>(exec, &mut rng)?;
    cases_for::<bf16, E>(exec, &mut rng)
}
