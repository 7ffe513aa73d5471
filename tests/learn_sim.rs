//! The device learner step (src/learn/device.rs, kernels/learn.cu) on ptxsim
//! against the CPU `MaskLearner` step, and the Gram-product kernel on tail shapes.

#[path = "common/learn_cases.rs"]
mod learn_cases;

use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::launch::Executor;
use sparse24::learn::device;
use sparse24::sim::SimExecutor;
use sparse24::{bf16, kernels, DType, Element};

fn skip() -> bool {
    if !kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return true;
    }
    false
}

fn check<T: Element>(rows: usize, cols: usize, steps: usize, seed: u64) {
    let c = learn_cases::compare::<_, T>(&SimExecutor::new(), rows, cols, steps, seed, 1e-3)
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{rows}x{cols} {:?} steps={steps}: {c:?}", T::DTYPE);
    assert!(c.loss_rel < 1e-4, "loss: {c:?}");
    assert!(c.grad_rel < 1e-4, "first-step gradient: {c:?}");
    // Adam divides by sqrt(v̂) + eps: where |dπ| is near eps (1e-8) the f32 device
    // gradient's rounding (relative to that tiny value, not to max |dπ|) moves the
    // update by up to lr·(its relative error). Bound: 1% of lr per step.
    let lr = sparse24::learn::AdamConfig::default().lr as f64;
    assert!(c.logits_abs <= 0.01 * lr * steps as f64, "logits: {c:?}");
    assert_eq!(c.same_argmax, c.decided_groups, "{c:?}");
}

#[test]
fn one_step_matches_cpu_f32() {
    if skip() {
        return;
    }
    check::<f32>(16, 32, 1, 7);
}

#[test]
fn several_steps_match_cpu_f32_tails() {
    if skip() {
        return;
    }
    // Neither dimension a multiple of the 64-wide tile.
    check::<f32>(24, 48, 4, 11);
}

#[test]
fn several_steps_match_cpu_bf16() {
    if skip() {
        return;
    }
    check::<bf16>(32, 64, 4, 13);
}

/// A whole run on ptxsim (`MaskLearner::run_on`) against the CPU run: the same
/// curve to rounding, the same hard-mask evaluations, never worse than the prior.
fn check_run<T: Element>(rows: usize, cols: usize, steps: usize, eval_every: usize, seed: u64) {
    let c = learn_cases::compare_runs::<_, T>(
        &SimExecutor::new(),
        rows,
        cols,
        steps,
        eval_every,
        seed,
        1e-3,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    println!("run {rows}x{cols} {:?}: {c:?}", T::DTYPE);
    assert_eq!(c.progress_calls, steps, "{c:?}");
    assert!(c.progress_in_order, "{c:?}");
    // The prior's loss and the hard losses are functions of a mask alone: f32
    // products against the CPU's, rounding only. The soft losses follow the logits,
    // whose trajectories drift apart as Adam magnifies f32 rounding where |dπ| is
    // near its eps (see `check`): the same 1e-3 bound as the GPU test.
    assert!(c.prior_rel < 1e-5, "prior loss: {c:?}");
    assert!(c.hard_rel < 1e-5, "hard losses: {c:?}");
    assert!(c.soft_rel < 1e-3, "soft losses: {c:?}");
    assert!(c.objective_rel < 1e-3, "objectives: {c:?}");
    assert!(c.dev_best <= c.dev_prior, "worse than the prior: {c:?}");
    assert_eq!(c.same_argmax, c.decided_groups, "{c:?}");
}

#[test]
fn whole_run_matches_cpu_run_f32() {
    if skip() {
        return;
    }
    // 10 steps, evaluated after 4, 8 and the last: bursts of progress and a tail.
    check_run::<f32>(32, 64, 10, 4, 21);
}

#[test]
fn whole_run_matches_cpu_run_bf16_tails() {
    if skip() {
        return;
    }
    check_run::<bf16>(24, 80, 6, 3, 23);
}

/// learn_gram_product, diff and loss/grad of every dtype against f64 sums.
#[test]
fn gram_product_and_loss_kernels_on_tails() {
    if skip() {
        return;
    }
    let exec = SimExecutor::new();
    let mut rng = StdRng::seed_from_u64(5);
    for (rows, cols) in [(1, 16), (3, 80), (70, 16), (65, 144)] {
        let w: Vec<f32> = (0..rows * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let w_eff: Vec<f32> = w.iter().map(|v| v * rng.gen_range(0.0..1.0f32)).collect();
        let mut g = vec![0f32; cols * cols];
        for i in 0..cols {
            for j in 0..=i {
                let v = rng.gen_range(-1.0..1.0f32);
                g[i * cols + j] = v;
                g[j * cols + i] = v;
            }
        }
        for dtype in [DType::F32, DType::F16, DType::BF16] {
            let (wb, eb) = match dtype {
                DType::F32 => (
                    bytemuck::cast_slice(&w).to_vec(),
                    bytemuck::cast_slice(&w_eff).to_vec(),
                ),
                DType::F16 => (
                    to_bytes::<sparse24::f16>(&w),
                    to_bytes::<sparse24::f16>(&w_eff),
                ),
                DType::BF16 => (to_bytes::<bf16>(&w), to_bytes::<bf16>(&w_eff)),
            };
            let wr = widen(dtype, &wb);
            let er = widen(dtype, &eb);
            let d_ref: Vec<f64> = wr.iter().zip(&er).map(|(a, b)| (a - b) as f64).collect();
            let (dw, de, dg) = (
                exec.upload_bytes(&wb).unwrap(),
                exec.upload_bytes(&eb).unwrap(),
                exec.upload(&g).unwrap(),
            );
            let n = rows * cols;
            let (dd, dp) = (
                exec.alloc_zeroed(4 * n).unwrap(),
                exec.alloc_zeroed(4 * n).unwrap(),
            );
            let dgrad = exec.alloc_zeroed(n * dtype.size()).unwrap();
            let parts = exec
                .alloc_zeroed(4 * device::partials_len(rows, cols).unwrap())
                .unwrap();
            let loss = exec.alloc_zeroed(8).unwrap();
            let norm = 3.5;
            let mut ls = vec![
                device::diff_launch(
                    dtype,
                    exec.ptr(&dw),
                    exec.ptr(&de),
                    exec.ptr(&dd),
                    rows,
                    cols,
                )
                .unwrap(),
                device::gram_product_launch(
                    exec.ptr(&dd),
                    exec.ptr(&dg),
                    exec.ptr(&dp),
                    rows,
                    cols,
                )
                .unwrap(),
            ];
            ls.extend(
                device::loss_grad_launches(
                    dtype,
                    exec.ptr(&dd),
                    exec.ptr(&dp),
                    exec.ptr(&dgrad),
                    exec.ptr(&parts),
                    exec.ptr(&loss),
                    rows,
                    cols,
                    norm,
                )
                .unwrap(),
            );
            for l in &ls {
                exec.launch(l).unwrap();
            }
            let d: Vec<f32> = exec.download(&dd).unwrap();
            for (a, b) in d.iter().zip(&d_ref) {
                assert_eq!(*a as f64, *b, "{dtype:?} diff");
            }
            let p: Vec<f32> = exec.download(&dp).unwrap();
            let (mut q, mut qabs) = (0f64, 0f64);
            let pscale = g.iter().fold(0f32, |m, v| m.max(v.abs())) as f64 * cols as f64;
            for r in 0..rows {
                for c in 0..cols {
                    let want: f64 = (0..cols)
                        .map(|k| d_ref[r * cols + k] * g[k * cols + c] as f64)
                        .sum();
                    let got = p[r * cols + c] as f64;
                    assert!(
                        (got - want).abs() <= 1e-6 * pscale,
                        "{rows}x{cols} P[{r},{c}] = {got}, want {want}"
                    );
                    q += want * d_ref[r * cols + c];
                    qabs += (want * d_ref[r * cols + c]).abs();
                }
            }
            let got_loss = exec.download::<f64>(&loss).unwrap()[0];
            let want = q / norm;
            assert!(
                (got_loss - want).abs() <= 1e-5 * qabs / norm,
                "{rows}x{cols} {dtype:?} loss {got_loss} want {want}"
            );
            let grad = widen(dtype, &exec.download_bytes(&dgrad).unwrap());
            for (a, b) in grad.iter().zip(&p) {
                let want = widen(dtype, &narrow(dtype, (-2.0 / norm) as f32 * b))[0];
                assert_eq!(*a, want, "{dtype:?} grad");
            }
        }
    }
}

fn to_bytes<T: Element>(v: &[f32]) -> Vec<u8> {
    let t: Vec<T> = v.iter().map(|&x| T::from_f32(x)).collect();
    bytemuck::cast_slice(&t).to_vec()
}

fn narrow(dtype: DType, v: f32) -> Vec<u8> {
    match dtype {
        DType::F32 => v.to_le_bytes().to_vec(),
        DType::F16 => to_bytes::<sparse24::f16>(&[v]),
        DType::BF16 => to_bytes::<bf16>(&[v]),
    }
}

fn widen(dtype: DType, b: &[u8]) -> Vec<f32> {
    match dtype {
        DType::F32 => bytemuck::cast_slice::<u8, f32>(b).to_vec(),
        DType::F16 => b
            .chunks_exact(2)
            .map(|c| sparse24::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        DType::BF16 => b
            .chunks_exact(2)
            .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    }
}
