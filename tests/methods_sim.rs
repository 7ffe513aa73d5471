//! SparseGPT's row sweep on the device (kernels/sparsegpt.cu, `methods::sparsegpt_on`)
//! on ptxsim, against the CPU version (`methods::sparsegpt`) on random layers with
//! correlated activations: the same mask and the same weights to rounding (the kernel
//! runs the unblocked form of the CPU's lazy block updates), rows and columns that are
//! not multiples of anything but 4 (16 for the format), and a column that never fires.

#[path = "common/learn_cases.rs"]
mod learn_cases;

use learn_cases::synthetic;
use sparse24::learn::Calibration;
use sparse24::methods::{sparsegpt, sparsegpt_on, SparseGptConfig};
use sparse24::sim::SimExecutor;

#[test]
fn device_sweep_matches_the_cpu_version() {
    if !sparse24::kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return;
    }
    for (seed, rows, cols, tokens, dead) in [(1u64, 7, 64, 96, None), (2, 24, 48, 40, Some(5usize))]
    {
        let (w, mut x) = synthetic(rows, cols, tokens, seed);
        if let Some(c) = dead {
            // A channel that never fires: its weights are zeroed, H_cc set to 1.
            x.iter_mut().skip(c).step_by(cols).for_each(|v| *v = 0.0);
        }
        let calib = Calibration::from_activations(&x, tokens, cols).unwrap();
        let cfg = SparseGptConfig::default();
        let cpu = sparsegpt(&w, rows, cols, &calib, &cfg, |_| {}).unwrap();
        let exec = SimExecutor::new();
        let mut calls = 0;
        let dev = sparsegpt_on(&exec, &w, rows, cols, &calib, &cfg, |p| {
            calls += 1;
            assert_eq!((p.done, p.total), (cols, cols));
        })
        .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(dev.mask, cpu.mask, "seed {seed}: masks differ");
        let wide = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        let rel = sparse24::reference::rel_error(&wide(&dev.weights), &wide(&cpu.weights));
        println!("seed {seed} ({rows}x{cols}): masks equal, weights rel diff {rel:.2e}");
        assert!(rel <= 1e-6, "seed {seed}: weights differ by {rel}");
        if let Some(c) = dead {
            assert!((0..rows).all(|r| dev.weights[r * cols + c] == 0.0));
        }
    }
}

#[test]
fn device_sweep_refuses_rows_too_long_for_shared_memory() {
    let err = sparse24::ops::sparsegpt::sparsegpt_rows_launch(4, 32768, 0, 0, 0, 227 * 1024);
    assert!(
        matches!(err, Err(sparse24::Error::Shape { what: "in", .. })),
        "{err:?}"
    );
}
