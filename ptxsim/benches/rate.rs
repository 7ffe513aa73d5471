//! Instruction rate (criterion): thread-instructions per second of a scalar integer/float loop
//! (`alu_loop.ptx`) and of the cp.async + ldmatrix + mma.sync GEMM (`gemm.ptx`), each with one
//! host thread (per-core rate) and with all of them (`available_parallelism`).
//! `cargo bench -p ptxsim --bench rate` (add `-- --quick` for a short run).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ptxsim::{Device, LaunchConfig, Module, Param};

fn module(name: &str) -> Module {
    let p = format!("{}/tests/kernels/{name}", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    Module::parse(&src).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Host thread counts to measure: 1 and all cores (once when that is 1).
fn thread_counts() -> Vec<usize> {
    let all = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if all > 1 {
        vec![1, all]
    } else {
        vec![1]
    }
}

/// Benchmark one launch at each thread count; throughput = its thread-instructions.
fn bench_launch(
    c: &mut Criterion,
    group: &str,
    dev: &mut Device,
    m: &Module,
    kernel: &str,
    cfg: &LaunchConfig,
    params: &[Param],
) {
    let insts = dev
        .launch(m, kernel, cfg, params)
        .unwrap()
        .thread_instructions;
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(insts));
    for threads in thread_counts() {
        dev.set_threads(Some(threads));
        g.bench_function(BenchmarkId::new("threads", threads), |b| {
            b.iter(|| dev.launch(m, kernel, cfg, params).unwrap())
        });
    }
    g.finish();
}

fn alu(c: &mut Criterion) {
    let m = module("alu_loop.ptx");
    let mut dev = Device::new();
    let ctas = 16u32;
    let out = dev.alloc(256 * 4 * ctas as usize).unwrap();
    bench_launch(
        c,
        "alu_loop",
        &mut dev,
        &m,
        "alu_loop",
        &LaunchConfig::linear(ctas, 256),
        &[Param::U64(out), Param::U32(300)],
    );
}

fn gemm(c: &mut Criterion) {
    let m = module("gemm.ptx");
    let mut dev = Device::new();
    let (mm, n, k) = (256usize, 256usize, 256usize);
    let ones = |len: usize| -> Vec<u8> {
        // bf16 1.0 = 0x3f80, little-endian
        (0..len).flat_map(|_| [0x80u8, 0x3f]).collect()
    };
    let a = dev.alloc(mm * k * 2).unwrap();
    dev.write(a, &ones(mm * k)).unwrap();
    let b = dev.alloc(k * n * 2).unwrap();
    dev.write(b, &ones(k * n)).unwrap();
    let cbuf = dev.alloc(mm * n * 4).unwrap();
    let cfg = LaunchConfig {
        grid: [(n / 64) as u32, (mm / 64) as u32, 1],
        block: [128, 1, 1],
        dynamic_shared_bytes: 0,
        only_ctas: None,
        cluster: None,
    };
    bench_launch(
        c,
        "gemm_cp_async_ldmatrix_mma",
        &mut dev,
        &m,
        "gemm_bf16",
        &cfg,
        &[
            Param::U64(a),
            Param::U64(b),
            Param::U64(cbuf),
            Param::I32(mm as i32),
            Param::I32(n as i32),
            Param::I32(k as i32),
        ],
    );
    let c0 = dev.read(cbuf, 4).unwrap();
    assert_eq!(f32::from_le_bytes([c0[0], c0[1], c0[2], c0[3]]), k as f32);
}

criterion_group!(benches, alu, gemm);
criterion_main!(benches);
