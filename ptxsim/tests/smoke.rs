#![allow(
    clippy::needless_range_loop,
    clippy::approx_constant,
    clippy::excessive_precision
)]
mod common;
use common::*;
use ptxsim::{Device, LaunchConfig, Param};

#[test]
fn smoke_kernel_runs() {
    let m = module("smoke.ptx");
    assert_eq!(m.kernel_names(), vec!["k1".to_string()]);
    let mut dev = Device::new();
    let n = 64usize;
    let input: Vec<f32> = (0..n).map(|i| (i as f32) * 0.25 + 1.0).collect();
    let pin = upload(&mut dev, &input);
    let pout = dev.alloc(n * 4).unwrap();
    let ph = dev.alloc(n * 2).unwrap();
    let cfg = LaunchConfig {
        grid: [2, 1, 1],
        block: [32, 1, 1],
        dynamic_shared_bytes: 128,
        only_ctas: None,
        cluster: None,
    };
    let st = dev
        .launch(
            &m,
            "k1",
            &cfg,
            &[
                Param::U64(pout),
                Param::U64(pin),
                Param::I32(n as i32),
                Param::U64(ph),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{}", st.summary());
    let out: Vec<f32> = download(&dev, pout, n);
    // CPU model of smoke.cu
    let cvar = [1.5f32, 2.5];
    let gvar = [1i32, 2, 3, 4];
    let bs = 32usize;
    for b in 0..2 {
        let mut s = vec![0f32; bs];
        for t in 0..bs {
            let i = b * bs + t;
            let loc: Vec<f32> = (0..8).map(|j| input[(i + j) % n]).collect();
            s[t] = loc[i & 7] + cvar[i & 1] + gvar[i & 3] as f32;
        }
        let mut v = vec![0f32; bs];
        for t in 0..bs {
            v[t] = s[(t + 1) % bs] + 2.0;
        }
        for t in 0..bs {
            let i = b * bs + t;
            let mut x = v[t] + if t + 1 < bs { v[t + 1] } else { v[t] };
            x = (i as f32).mul_add(x, 1.0);
            let hh0 = half::f16::from_f32(x).to_f32();
            let hh1 = half::f16::from_f32(x * 2.0).to_f32();
            let e = (x * 1.442_695_f32).exp2();
            let want = (hh0 + hh1 + (i / 3) as f32) + e + x.sqrt();
            let got = out[i];
            assert!(
                got == want || (got - want).abs() <= want.abs() * 1e-6,
                "i={i} got {got} want {want}"
            );
        }
    }
}
