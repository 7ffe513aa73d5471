//! A 20-step learner run on the GPU (src/learn/device.rs) against the CPU learner
//! with the same seed: losses within rounding and the same argmax on ≥ 99% of the
//! groups whose top-two logits differ by more than 1e-3.

#[path = "../common/learn_cases.rs"]
mod learn_cases;

use super::GpuTest;
use libtest_mimic::Failed;
use sparse24::bf16;
use sparse24::cuda::{CodeChoice, CudaExecutor};

pub fn tests() -> Vec<(&'static str, GpuTest)> {
    vec![
        ("learn_20_steps_f32_vs_cpu", || run::<f32>(64, 128)),
        ("learn_20_steps_bf16_vs_cpu", || run::<bf16>(96, 192)),
    ]
}

fn run<T: sparse24::Element>(rows: usize, cols: usize) -> Result<(), Failed> {
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    let c = learn_cases::compare::<_, T>(&exec, rows, cols, 20, 3, 1e-3)?;
    println!("{rows}x{cols} {:?}: {c:?}", T::DTYPE);
    if c.loss_rel > 1e-3 {
        return Err(format!("losses differ: {c:?}").into());
    }
    let agree = c.same_argmax as f64 / c.decided_groups.max(1) as f64;
    if agree < 0.99 {
        return Err(format!("argmax agrees on {:.4} of decided groups: {c:?}", agree).into());
    }
    Ok(())
}
