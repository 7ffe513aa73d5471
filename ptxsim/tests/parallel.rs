//! CTAs on several host threads: results must not depend on the schedule.
mod common;
use common::*;
use ptxsim::{Device, LaunchConfig, Param, SimError};

/// Run `last_cta_reduce` over `ctas` chunks with `threads` host threads, twice (the counter
/// is reset by the kernel); returns (out, partials, the stats summaries).
fn reduce(threads: usize, ctas: u32) -> (Vec<f32>, Vec<f32>, Vec<String>) {
    let m = module("multicta.ptx");
    let mut dev = Device::new();
    dev.set_threads(Some(threads));
    let chunk = 1000usize;
    let x: Vec<f32> = (0..chunk * ctas as usize)
        .map(|i| ((i * 7919 % 1013) as f32 - 506.0) / 97.0)
        .collect();
    let xd = upload(&mut dev, &x);
    let partial = dev.alloc(ctas as usize * 4).unwrap();
    let counter = dev.alloc(4).unwrap();
    let out = dev.alloc(8).unwrap();
    let mut summaries = Vec::new();
    for _ in 0..2 {
        let st = dev
            .launch(
                &m,
                "last_cta_reduce",
                &LaunchConfig::linear(ctas, 128),
                &[
                    Param::U64(xd),
                    Param::U64(partial),
                    Param::U64(counter),
                    Param::U64(out),
                    Param::I32(chunk as i32),
                ],
            )
            .unwrap();
        summaries.push(st.summary());
    }
    assert_eq!(download::<u32>(&dev, counter, 1), vec![0]);
    (
        download(&dev, out, 2),
        download(&dev, partial, ctas as usize),
        summaries,
    )
}

#[test]
fn last_cta_reduces_same_with_any_thread_count() {
    let ctas = 24;
    let (out1, part1, sum1) = reduce(1, ctas);
    assert_eq!(out1[1], ctas as f32);
    // the partials summed in CTA order, as the kernel does
    let mut total = 0f32;
    for p in &part1 {
        total += p;
    }
    assert_eq!(out1[0].to_bits(), total.to_bits());
    assert!(total > 0.0);
    for threads in [2, 3, 8] {
        let (out, part, sum) = reduce(threads, ctas);
        assert_eq!(
            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            out1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{threads} threads"
        );
        assert_eq!(
            part.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            part1.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(sum, sum1, "{threads} threads: counters");
    }
}

/// CTA b spins until CTA b+1 published: needs CTAs to be time-sliced, even on one host thread.
#[test]
fn spin_waiting_ctas_progress_with_fewer_threads_than_ctas() {
    let m = module("multicta.ptx");
    for threads in [1, 2] {
        let mut dev = Device::new();
        dev.set_threads(Some(threads));
        let n = 5u32;
        let flags = dev.alloc(n as usize * 4).unwrap();
        let vals = dev.alloc(n as usize * 4).unwrap();
        dev.launch(
            &m,
            "reverse_chain",
            &LaunchConfig::linear(n, 32),
            &[Param::U64(flags), Param::U64(vals)],
        )
        .unwrap();
        let v: Vec<u32> = download(&dev, vals, n as usize);
        let want: Vec<u32> = (0..n).map(|b| (b..n).sum()).collect();
        assert_eq!(v, want, "{threads} threads");
    }
}

/// A fault in several CTAs reports the lowest-numbered one, whatever the thread count.
#[test]
fn lowest_failing_cta_is_reported() {
    let m = module("multicta.ptx");
    for threads in [1, 4] {
        let mut dev = Device::new();
        dev.set_threads(Some(threads));
        let ctas = 16u32;
        let chunk = 100usize;
        // x covers only the first 5 chunks: CTAs 5.. read out of bounds
        let xd = upload(&mut dev, &vec![1f32; chunk * 5]);
        let partial = dev.alloc(ctas as usize * 4).unwrap();
        let counter = dev.alloc(4).unwrap();
        let out = dev.alloc(8).unwrap();
        let err = dev
            .launch(
                &m,
                "last_cta_reduce",
                &LaunchConfig::linear(ctas, 128),
                &[
                    Param::U64(xd),
                    Param::U64(partial),
                    Param::U64(counter),
                    Param::U64(out),
                    Param::I32(chunk as i32),
                ],
            )
            .unwrap_err();
        match err {
            SimError::Exec(e) => assert_eq!(e.cta, [5, 0, 0], "{threads} threads: {e}"),
            e => panic!("{e}"),
        }
    }
}
