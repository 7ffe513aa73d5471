//! The fused mask-sampling kernels on ptxsim (no GPU) against the f64 CPU reference
//! (tests/common/mask_cases.rs), and their memory counters.

#[path = "common/mask_cases.rs"]
mod mask_cases;

use rand::{rngs::StdRng, SeedableRng};
use sparse24::launch::Executor;
use sparse24::mask::{SampleParams, Sampling, CANDIDATES};
use sparse24::ops::mask as dev;
use sparse24::sim::SimExecutor;
use sparse24::{bf16, kernels, prune, Element};

fn skip() -> bool {
    if !kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return true;
    }
    false
}

#[test]
fn mask_kernels_match_cpu_on_ptxsim() {
    if skip() {
        return;
    }
    mask_cases::run_all(&SimExecutor::new(), 31).unwrap_or_else(|e| panic!("{e}"));
}

fn report(name: &str, s: &ptxsim::LaunchStats, elements: usize, min_bytes: f64) {
    let moved = (s.global_bytes_read + s.global_bytes_written) as f64;
    let n = elements as f64;
    println!(
        "{name}: sectors/request {:.2}, useful bytes per sector byte {:.3}, bank conflicts {}, \
         bytes/weight {:.3} (minimum {:.3}); {}",
        s.sectors_per_request(),
        moved / (32.0 * s.global_sectors as f64),
        s.shared_bank_conflicts,
        moved / n,
        min_bytes / n,
        s.summary()
    );
    assert_eq!(s.shared_bank_conflicts, 0, "{name}");
    assert!(
        moved <= min_bytes * 1.01,
        "{name}: {moved} bytes, minimum {min_bytes}"
    );
}

fn counters<T: Element>() {
    let (rows, cols) = (64, 256);
    let n = rows * cols;
    let size = T::DTYPE.size() as f64;
    let logit_bytes = (n / 4 * CANDIDATES * 4) as f64;
    let mut rng = StdRng::seed_from_u64(1);
    let w = mask_cases::weights::<T>(&mut rng, n);
    let lg = mask_cases::logits(&mut rng, n / 4 * CANDIDATES);
    let p = SampleParams {
        seed: 5,
        step: 1,
        kappa: 100.0,
        tau: 1.0,
    };
    let exec = SimExecutor::new();
    let dt = T::DTYPE.name();
    // The forward's last launch is the reduction: run it without to see the main kernel.
    dev::forward_on(&exec, &w, rows, cols, &lg, &p, Sampling::Soft, false).expect("forward");
    let s = exec.last_stats().expect("stats");
    report(
        &format!("mask_forward_{dt}"),
        &s,
        n,
        2.0 * size * n as f64 + logit_bytes,
    );
    dev::backward_on(&exec, &w, rows, cols, &lg, &w, 0.1, &p, Sampling::Soft).expect("backward");
    let s = exec.last_stats().expect("stats");
    report(
        &format!("mask_backward_{dt}"),
        &s,
        n,
        2.0 * size * n as f64 + 2.0 * logit_bytes,
    );
    dev::hard_mask_compress_on(&exec, &w, rows, cols, &lg).expect("export");
    let s = exec.last_stats().expect("stats");
    let min = 1.5 * size * n as f64 + logit_bytes + n as f64 / 8.0;
    report(&format!("hard_mask_compress_{dt}"), &s, n, min);
}

#[test]
fn mask_kernels_are_coalesced_and_conflict_free() {
    if skip() {
        return;
    }
    counters::<f32>();
    counters::<bf16>();
    // The initialiser's passes (the last is mask_init_prior).
    let (rows, cols) = (64, 256);
    let w: Vec<f32> = (0..rows * cols).map(|i| (i % 13) as f32 - 6.5).collect();
    let prior = prune::magnitude_mask(&w, rows, cols).expect("prior");
    let exec = SimExecutor::new();
    dev::init_logits_from_prior_on(&exec, &prior, 9, 1.0).expect("init");
    let s = exec.last_stats().expect("stats");
    let logit_bytes = (rows * cols / 4 * CANDIDATES * 4) as f64;
    println!("mask_init_prior: {}", s.summary());
    assert_eq!(s.shared_bank_conflicts, 0);
    // Read and write the logits once, plus the prior words (cached re-reads excluded).
    assert!((s.global_bytes_written as f64) <= logit_bytes);
    let _ = exec.name();
}
