//! Prune + compress and check on ptxsim (no GPU): bit for bit against the CPU on
//! random shapes, ties, zero groups and faults (tests/common/prune_cases.rs), and the
//! coalescing counters of the kernel.

#[path = "common/prune_cases.rs"]
mod prune_cases;

use sparse24::ops::prune::{prune_compress_on, HostSelection};
use sparse24::sim::SimExecutor;
use sparse24::{bf16, kernels, Element};

fn skip() -> bool {
    if !kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return true;
    }
    false
}

#[test]
fn prune_compress_matches_cpu_on_ptxsim() {
    if skip() {
        return;
    }
    prune_cases::run_all(&SimExecutor::new(), 21).unwrap_or_else(|e| panic!("{e}"));
}

fn counters<T: Element>(rows: usize, cols: usize) -> ptxsim::LaunchStats {
    let exec = SimExecutor::new();
    let mut rng = rand::SeedableRng::seed_from_u64(3);
    let w = prune_cases::weights::<T>(&mut rng, rows * cols, false);
    prune_compress_on(&exec, &w, rows, cols, HostSelection::Magnitude).expect("prune");
    exec.last_stats().expect("ptxsim counters")
}

#[test]
fn prune_compress_is_coalesced() {
    if skip() {
        return;
    }
    let (rows, cols) = (64, 256);
    for (name, s, size) in [
        ("f32", counters::<f32>(rows, cols), 4),
        ("bf16", counters::<bf16>(rows, cols), 2),
    ] {
        let n = (rows * cols) as f64;
        // Minimum: read the dense matrix, write half of it plus 2 bits per kept element.
        let min = n * size as f64 * 1.5 + n / 8.0;
        let moved = (s.global_bytes_read + s.global_bytes_written) as f64;
        println!(
            "prune_compress_{name} {rows}x{cols}: sectors/request {:.2}, useful bytes per sector \
             byte {:.3}, bank conflicts {}, bytes/element {:.3} (minimum {:.3}); {}",
            s.sectors_per_request(),
            moved / (32.0 * s.global_sectors as f64),
            s.shared_bank_conflicts,
            moved / n,
            min / n,
            s.summary()
        );
        assert_eq!(s.shared_bank_conflicts, 0);
        assert!(
            moved <= min * 1.01,
            "{name}: moved {moved} bytes, minimum {min}"
        );
    }
}
