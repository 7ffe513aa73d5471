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
    let trials = tests
        .into_iter()
        .map(|(name, body)| Trial::test(name, body).with_ignored_flag(device.is_err()))
        .collect();
    if let Err(e) = &device {
        println!("skipped: no CUDA device ({e})");
    }
    libtest_mimic::run(&args, trials).exit();
}
