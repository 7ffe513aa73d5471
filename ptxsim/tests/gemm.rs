#![allow(
    clippy::needless_range_loop,
    clippy::approx_constant,
    clippy::excessive_precision
)]
//! A multi-stage cp.async + ldmatrix + mma.sync GEMM (tests/kernels/gemm.cu) runs to the
//! right answer.
mod common;
use common::*;
use half::bf16;
use ptxsim::{Device, LaunchConfig, Param};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn run_gemm(
    ptx: &str,
    m: usize,
    n: usize,
    k: usize,
) -> Result<(Vec<f32>, Vec<f64>, ptxsim::LaunchStats), ptxsim::SimError> {
    let module = module(ptx);
    let mut rng = StdRng::seed_from_u64(42);
    let a: Vec<bf16> = (0..m * k)
        .map(|_| bf16::from_f32(rng.gen_range(-1.0..1.0)))
        .collect();
    let b: Vec<bf16> = (0..k * n)
        .map(|_| bf16::from_f32(rng.gen_range(-1.0..1.0)))
        .collect();
    let mut want = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0f64;
            for kk in 0..k {
                s += a[i * k + kk].to_f64() * b[kk * n + j].to_f64();
            }
            want[i * n + j] = s;
        }
    }
    let mut dev = Device::new();
    let pa = upload(&mut dev, &a);
    let pb = upload(&mut dev, &b);
    let pc = dev.alloc(m * n * 4)?;
    let cfg = LaunchConfig {
        grid: [(n / 64) as u32, (m / 64) as u32, 1],
        block: [128, 1, 1],
        dynamic_shared_bytes: 0,
        only_ctas: None,
        cluster: None,
    };
    let stats = dev.launch(
        &module,
        "gemm_bf16",
        &cfg,
        &[
            Param::U64(pa),
            Param::U64(pb),
            Param::U64(pc),
            Param::I32(m as i32),
            Param::I32(n as i32),
            Param::I32(k as i32),
        ],
    )?;
    let c: Vec<f32> = download(&dev, pc, m * n);
    Ok((c, want, stats))
}

#[test]
fn gemm_cp_async_ldmatrix_mma_is_right() {
    let (m, n, k) = (128, 128, 160);
    let (c, want, stats) = run_gemm("gemm.ptx", m, n, k).unwrap_or_else(|e| panic!("{e}"));
    println!("{}", stats.summary());
    let mut num = 0f64;
    let mut den = 0f64;
    for i in 0..m * n {
        let d = c[i] as f64 - want[i];
        num += d * d;
        den += want[i] * want[i];
        assert!(
            d.abs() <= 1e-4 * (1.0 + want[i].abs()),
            "C[{i}] = {} want {}",
            c[i],
            want[i]
        );
    }
    assert!((num / den).sqrt() < 1e-6);
    assert_eq!(stats.mma_instructions, (m / 16 * n / 8 * k / 16) as u64);
}

#[test]
fn gemm_without_its_barrier_is_caught() {
    let err = run_gemm("gemm_nosync.ptx", 64, 64, 96)
        .map(|_| ())
        .expect_err("a missing barrier must be reported");
    let e = err.exec().expect("an execution error");
    println!("{err}");
    assert!(
        matches!(
            e.kind,
            ptxsim::ErrorKind::UninitShared { .. } | ptxsim::ErrorKind::SharedRace(_)
        ),
        "{err}"
    );
    assert!(kernel_src("gemm_nosync.ptx")
        .lines()
        .nth(e.line as usize - 1)
        .unwrap()
        .contains("ldmatrix"));
}

#[test]
fn gemm_overwriting_a_stage_in_use_is_caught_as_a_race() {
    let err = run_gemm("gemm_war.ptx", 64, 64, 128)
        .map(|_| ())
        .expect_err("the WAR race must be reported");
    println!("{err}");
    let e = err.exec().expect("an execution error");
    assert!(matches!(e.kind, ptxsim::ErrorKind::SharedRace(_)), "{err}");
}
