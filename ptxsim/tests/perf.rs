#![allow(
    clippy::needless_range_loop,
    clippy::approx_constant,
    clippy::excessive_precision
)]
//! Instruction-rate measurement (run with --nocapture to see the numbers).
mod common;
use common::*;
use ptxsim::{Device, LaunchConfig, Param};
use std::time::Instant;

/// CPU time of this process in seconds, all host threads (Linux /proc; the machine may be
/// shared, so wall time under-reports the per-core rate). CTAs run on several threads, so
/// this is CPU time summed over them; other tests of this binary run concurrently only when
/// the harness runs tests in parallel (this file has one test).
fn thread_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / 100.0)
}

fn report(name: &str, insts: u64, wall: f64, cpu: Option<f64>) {
    let cpu_rate = cpu
        .map(|c| format!("{:.1}", insts as f64 / c.max(0.01) / 1e6))
        .unwrap_or("?".into());
    println!(
        "{name}: {insts} thread-instructions, wall {wall:.3} s = {:.1} M/s; CPU {:.2} s = {cpu_rate} M thread-inst/s per core",
        insts as f64 / wall / 1e6,
        cpu.unwrap_or(0.0)
    );
}

#[test]
fn instruction_rate() {
    let m = module("alu_loop.ptx");
    let mut dev = Device::new();
    let out = dev.alloc(256 * 4 * 8).unwrap();
    let (t0, c0) = (Instant::now(), thread_cpu());
    let st = dev
        .launch(
            &m,
            "alu_loop",
            &LaunchConfig::linear(8, 256),
            &[Param::U64(out), Param::U32(2000)],
        )
        .unwrap();
    let cpu = c0.and_then(|c0| thread_cpu().map(|c1| c1 - c0));
    report(
        "alu_loop",
        st.thread_instructions,
        t0.elapsed().as_secs_f64(),
        cpu,
    );

    let g = module("gemm.ptx");
    let (mm, n, k) = (512usize, 256usize, 512usize);
    let a = upload(&mut dev, &vec![0x3f80u16; mm * k]);
    let b = upload(&mut dev, &vec![0x3f80u16; k * n]);
    let c = dev.alloc(mm * n * 4).unwrap();
    let cfg = LaunchConfig {
        grid: [(n / 64) as u32, (mm / 64) as u32, 1],
        block: [128, 1, 1],
        dynamic_shared_bytes: 0,
        only_ctas: None,
        cluster: None,
    };
    let (t0, c0) = (Instant::now(), thread_cpu());
    let st = dev
        .launch(
            &g,
            "gemm_bf16",
            &cfg,
            &[
                Param::U64(a),
                Param::U64(b),
                Param::U64(c),
                Param::I32(mm as i32),
                Param::I32(n as i32),
                Param::I32(k as i32),
            ],
        )
        .unwrap();
    let cpu = c0.and_then(|c0| thread_cpu().map(|c1| c1 - c0));
    report(
        "gemm 512x256x512 (cp.async+ldmatrix+mma)",
        st.thread_instructions,
        t0.elapsed().as_secs_f64(),
        cpu,
    );
    let cv: Vec<f32> = download(&dev, c, 4);
    assert_eq!(cv[0], k as f32);

    // wgmma: the m64n256k16 probe (A and B through unswizzled descriptors) on 32 CTAs
    let w = module("wgmma.ptx");
    let img = upload(&mut dev, &vec![0x3f80u16; 10240 / 2]);
    let zero = upload(&mut dev, &vec![0u32; 128 * 4]);
    let out = dev.alloc(128 * 128 * 4).unwrap();
    // A at 0: LBO 128 (K neighbours), SBO 256 (8-row groups); B at 2048 the same
    let desc = |start: u64| (start >> 4) | (8 << 16) | (16 << 32);
    let (t0, c0) = (Instant::now(), thread_cpu());
    let st = dev
        .launch(
            &w,
            "probe_dense_ss_n256",
            &LaunchConfig::linear(32, 128),
            &[
                Param::U64(img),
                Param::I32(10240 / 16),
                Param::U64(desc(0)),
                Param::U64(desc(2048)),
                Param::U64(zero),
                Param::U64(zero),
                Param::U64(out),
                Param::I32(0),
            ],
        )
        .unwrap();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = c0.and_then(|c0| thread_cpu().map(|c1| c1 - c0));
    report(
        "wgmma m64n256k16 probe x32 CTAs",
        st.thread_instructions,
        wall,
        cpu,
    );
    println!(
        "wgmma: {} issued, {:.0} wgmma/s wall ({} shared bytes through descriptors)",
        st.wgmma_instructions(),
        st.wgmma_instructions() as f64 / wall,
        st.wgmma_desc_bytes
    );
    let d: Vec<f32> = download(&dev, out, 4);
    assert_eq!(d[0], 16.0);
}
