//! GPU tests: each compares a kernel on real hardware with the CPU reference. They
//! run under libtest-mimic so that, without a CUDA device, they are reported as
//! ignored ("skipped: no CUDA device"), never as passed. One module per kernel family.

mod decompress;
mod engine;
mod gemm;
// The mask learner is behind the `learn` feature (scripts/test.sh turns it on).
#[cfg(feature = "learn")]
mod learn;
mod linear;
mod mask;

use libtest_mimic::{Arguments, Failed, Trial};

/// A GPU test body: returns Err with a message on failure.
pub type GpuTest = fn() -> Result<(), Failed>;

fn main() {
    let args = Arguments::from_args();
    let device = sparse24::cuda::context();
    let mut tests: Vec<(&'static str, GpuTest)> = Vec::new();
    tests.extend(decompress::tests());
    tests.extend(engine::tests());
    tests.extend(gemm::tests());
    #[cfg(feature = "learn")]
    tests.extend(learn::tests());
    tests.extend(linear::tests());
    tests.extend(mask::tests());
    // sm_90a code runs on compute capability 9.0 alone: elsewhere the Hopper tests are
    // reported as ignored too.
    let hopper = device
        .as_ref()
        .ok()
        .and_then(|c| c.compute_capability().ok())
        == Some((9, 0));
    let mut trials: Vec<Trial> = tests
        .into_iter()
        .map(|(name, body)| Trial::test(name, body).with_ignored_flag(device.is_err()))
        .collect();
    trials.extend(
        gemm::hopper_tests().into_iter().map(|(name, body)| {
            Trial::test(name, body).with_ignored_flag(device.is_err() || !hopper)
        }),
    );
    if let Err(e) = &device {
        println!("skipped: no CUDA device ({e})");
    } else if !hopper {
        println!("skipped: hopper_* tests (sm_90a code needs compute capability 9.0)");
    }
    libtest_mimic::run(&args, trials).exit();
}
