//! Inputs the fuzz target `ptx_module` found or was seeded with
//! (ptxsim/tests/regressions/), each now a typed error.

use ptxsim::{Device, ErrorKind, LaunchConfig, Module, Param, SimError};
use std::time::{Duration, Instant};

const MMA_SP: &str = include_str!("regressions/mma-sp-one-thread.ptx");
const HUGE_REGS: &str = include_str!("regressions/huge-reg-count.ptx");

#[test]
fn mma_in_a_warp_of_fewer_than_32_threads_is_an_error() {
    // It panicked reading lane 1's registers past the end of a one-thread register file.
    let m = Module::parse(MMA_SP).unwrap();
    for threads in [1, 21, 33] {
        let mut dev = Device::new();
        let out = dev.alloc(64 * 64).unwrap();
        let r = dev.launch(
            &m,
            "mma_sp",
            &LaunchConfig::linear(1, threads),
            &[Param::U64(out)],
        );
        match r {
            Err(SimError::Exec(e)) => {
                assert!(
                    matches!(e.kind, ErrorKind::PartialCollective(ref s) if s.contains("32 lanes")),
                    "{threads} threads: {e}"
                )
            }
            other => panic!("{threads} threads: expected a partial-warp error, got {other:?}"),
        }
    }
    // A whole warp runs it.
    let mut dev = Device::new();
    let out = dev.alloc(64 * 64).unwrap();
    dev.launch(
        &m,
        "mma_sp",
        &LaunchConfig::linear(1, 32),
        &[Param::U64(out)],
    )
    .unwrap();
}

#[test]
fn a_huge_register_count_is_refused_at_once() {
    let t = Instant::now();
    assert!(matches!(
        Module::parse(HUGE_REGS),
        Err(SimError::Limit { .. })
    ));
    // A hang guard (it took over 10 s), not a timing test.
    assert!(t.elapsed() < Duration::from_secs(5));
}
