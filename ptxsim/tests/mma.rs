#![allow(
    clippy::needless_range_loop,
    clippy::approx_constant,
    clippy::excessive_precision
)]
//! mma / mma.sp against CPU matmuls built from the PTX ISA fragment tables (section 9.7.14)
//! and, for mma.sp m16n8k32, from HARDWARE.md. Fragments are built here, element by element,
//! from those tables; the emulator never sees the logical matrices.
mod common;
use common::*;
use half::{bf16, f16};
use ptxsim::{Device, ErrorKind, LaunchConfig, Module, Param, SimError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Clone, Copy, PartialEq)]
enum T {
    Bf16,
    F16,
}

fn rnd_half(rng: &mut StdRng, t: T) -> (u16, f64) {
    let x: f32 = rng.gen_range(-2.0..2.0);
    match t {
        T::Bf16 => {
            let h = bf16::from_f32(x);
            (h.to_bits(), h.to_f64())
        }
        T::F16 => {
            let h = f16::from_f32(x);
            (h.to_bits(), h.to_f64())
        }
    }
}

fn pack(lo: u16, hi: u16) -> u32 {
    lo as u32 | ((hi as u32) << 16)
}

struct Run {
    dev: Device,
}

impl Run {
    fn launch(&mut self, m: &Module, k: &str, bufs: &[u64]) -> Result<(), SimError> {
        let params: Vec<Param> = bufs.iter().map(|b| Param::U64(*b)).collect();
        self.dev
            .launch(m, k, &LaunchConfig::linear(1, 32), &params)
            .map(|_| ())
    }
}

/// c_i of lane (g, t): row = g + 8*(i>=2), col = 2t + (i&1)  (ISA: accumulators C/D, .f32)
fn c_pos(lane: usize, i: usize) -> (usize, usize) {
    let (g, t) = (lane / 4, lane % 4);
    (g + if i >= 2 { 8 } else { 0 }, 2 * t + (i & 1))
}

fn check_d(d: &[f32], want: &[[f64; 8]; 16]) {
    for lane in 0..32 {
        for i in 0..4 {
            let (r, c) = c_pos(lane, i);
            let w = want[r][c] as f32;
            let got = d[lane * 4 + i];
            let tol = w.abs() * 2e-7 + 1e-6;
            assert!(
                (got - w).abs() <= tol,
                "lane {lane} d{i} (row {r}, col {c}): got {got}, want {w}"
            );
        }
    }
}

fn rand_c(rng: &mut StdRng) -> (Vec<f32>, [[f64; 8]; 16]) {
    let mut cm = [[0f64; 8]; 16];
    let mut regs = vec![0f32; 128];
    for row in cm.iter_mut() {
        for v in row.iter_mut() {
            *v = rng.gen_range(-4.0f32..4.0) as f64;
        }
    }
    for lane in 0..32 {
        for i in 0..4 {
            let (r, c) = c_pos(lane, i);
            regs[lane * 4 + i] = cm[r][c] as f32;
        }
    }
    (regs, cm)
}

fn dense_case(kernel: &str, t: T, k: usize, seed: u64) {
    let m = module("mma.ptx");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut am = vec![vec![(0u16, 0f64); k]; 16];
    let mut bm = vec![vec![(0u16, 0f64); 8]; k];
    for r in am.iter_mut() {
        for v in r.iter_mut() {
            *v = rnd_half(&mut rng, t);
        }
    }
    for r in bm.iter_mut() {
        for v in r.iter_mut() {
            *v = rnd_half(&mut rng, t);
        }
    }
    let (cregs, cm) = rand_c(&mut rng);
    let na = k / 4; // A registers per lane
    let nb = k / 8;
    let mut aregs = vec![0u32; 32 * na];
    let mut bregs = vec![0u32; 32 * nb];
    for lane in 0..32 {
        let (g, tq) = (lane / 4, lane % 4);
        // A element a_i: k16: row = g for i in {0,1,4,5} else g+8; col = 2t+(i&1) (+8 for i>=4)
        //                k8 : row = g for i < 2 else g+8;            col = 2t+(i&1)
        let mut a_el = vec![0u16; 2 * na];
        for (i, e) in a_el.iter_mut().enumerate() {
            let (row, col) = if k == 16 {
                let row = if matches!(i, 0 | 1 | 4 | 5) { g } else { g + 8 };
                (row, 2 * tq + (i & 1) + if i >= 4 { 8 } else { 0 })
            } else {
                (if i < 2 { g } else { g + 8 }, 2 * tq + (i & 1))
            };
            *e = am[row][col].0;
        }
        for j in 0..na {
            aregs[lane * na + j] = pack(a_el[2 * j], a_el[2 * j + 1]);
        }
        // B element b_i: k16: row = 2t+(i&1) (+8 for i>=2), col = g; k8: row = 2t+i, col = g
        let mut b_el = vec![0u16; 2 * nb];
        for (i, e) in b_el.iter_mut().enumerate() {
            let row = 2 * tq + (i & 1) + if i >= 2 { 8 } else { 0 };
            *e = bm[row][g].0;
        }
        for j in 0..nb {
            bregs[lane * nb + j] = pack(b_el[2 * j], b_el[2 * j + 1]);
        }
    }
    let mut want = cm;
    for (r, wr) in want.iter_mut().enumerate() {
        for (n, w) in wr.iter_mut().enumerate() {
            for kk in 0..k {
                *w += am[r][kk].1 * bm[kk][n].1;
            }
        }
    }
    let mut run = Run { dev: Device::new() };
    let pa = upload(&mut run.dev, &aregs);
    let pb = upload(&mut run.dev, &bregs);
    let pc = upload(&mut run.dev, &cregs);
    let pd = run.dev.alloc(512).unwrap();
    run.launch(&m, kernel, &[pa, pb, pc, pd])
        .unwrap_or_else(|e| panic!("{e}"));
    let d: Vec<f32> = download(&run.dev, pd, 128);
    check_d(&d, &want);
}

#[test]
fn mma_m16n8k16_bf16_f32() {
    for s in 0..5 {
        dense_case("mma_m16n8k16_bf16", T::Bf16, 16, s);
    }
}
#[test]
fn mma_m16n8k16_f16_f32() {
    for s in 0..5 {
        dense_case("mma_m16n8k16_f16", T::F16, 16, 100 + s);
    }
}
#[test]
fn mma_m16n8k8_bf16_f32() {
    for s in 0..3 {
        dense_case("mma_m16n8k8_bf16", T::Bf16, 8, 200 + s);
    }
}
#[test]
fn mma_m16n8k8_f16_f32() {
    for s in 0..3 {
        dense_case("mma_m16n8k8_f16", T::F16, 8, 300 + s);
    }
}

#[test]
fn mma_m16n8k16_f16_f16_accumulators() {
    let m = module("mma.ptx");
    let mut rng = StdRng::seed_from_u64(7);
    let am: Vec<Vec<(u16, f64)>> = (0..16)
        .map(|_| (0..16).map(|_| rnd_half(&mut rng, T::F16)).collect())
        .collect();
    let bm: Vec<Vec<(u16, f64)>> = (0..16)
        .map(|_| (0..8).map(|_| rnd_half(&mut rng, T::F16)).collect())
        .collect();
    let cm: Vec<Vec<(u16, f64)>> = (0..16)
        .map(|_| (0..8).map(|_| rnd_half(&mut rng, T::F16)).collect())
        .collect();
    let mut aregs = vec![0u32; 128];
    let mut bregs = vec![0u32; 64];
    let mut cregs = vec![0u32; 64];
    for lane in 0..32 {
        let (g, tq) = (lane / 4, lane % 4);
        for j in 0..4 {
            let row = g + if j & 1 == 1 { 8 } else { 0 };
            let col = 2 * tq + if j >= 2 { 8 } else { 0 };
            aregs[lane * 4 + j] = pack(am[row][col].0, am[row][col + 1].0);
        }
        for j in 0..2 {
            let row = 2 * tq + 8 * j;
            bregs[lane * 2 + j] = pack(bm[row][g].0, bm[row + 1][g].0);
        }
        // f16 accumulators: c0,c1 at row g; c2,c3 at row g+8; col 2t + (i&1)
        for j in 0..2 {
            cregs[lane * 2 + j] = pack(cm[g + 8 * j][2 * tq].0, cm[g + 8 * j][2 * tq + 1].0);
        }
    }
    let mut dev = Device::new();
    let pa = upload(&mut dev, &aregs);
    let pb = upload(&mut dev, &bregs);
    let pc = upload(&mut dev, &cregs);
    let pd = dev.alloc(256).unwrap();
    dev.launch(
        &m,
        "mma_m16n8k16_f16_f16acc",
        &LaunchConfig::linear(1, 32),
        &[
            Param::U64(pa),
            Param::U64(pb),
            Param::U64(pc),
            Param::U64(pd),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let d: Vec<u32> = download(&dev, pd, 64);
    for lane in 0..32 {
        let (g, tq) = (lane / 4, lane % 4);
        for j in 0..2 {
            for h in 0..2 {
                let (r, c) = (g + 8 * j, 2 * tq + h);
                let mut w = cm[r][c].1;
                for kk in 0..16 {
                    w += am[r][kk].1 * bm[kk][c].1;
                }
                let got = f16::from_bits((d[lane * 2 + j] >> (16 * h)) as u16).to_f64();
                assert!(
                    (got - w).abs() <= w.abs() * 1e-3 + 1e-3,
                    "lane {lane} row {r} col {c}: {got} vs {w}"
                );
            }
        }
    }
}

const LEGAL: [u32; 6] = [0x4, 0x8, 0xC, 0x9, 0xD, 0xE];

/// Sparse case. k = 32 (HARDWARE.md tables) or 16 (ISA tables, selector 0..3).
fn sparse_case(kernel: &str, t: T, k: usize, sel: usize, seed: u64) {
    let m = module("mma.ptx");
    let mut rng = StdRng::seed_from_u64(seed);
    let kc = k / 2;
    // logical A (16 x k) with a legal code per group, compressed (16 x k/2), codes[r][group]
    let mut logical = vec![vec![0f64; k]; 16];
    let mut comp = vec![vec![0u16; kc]; 16];
    let mut codes = vec![vec![0u32; k / 4]; 16];
    for r in 0..16 {
        for grp in 0..k / 4 {
            let code = LEGAL[(r * 7 + grp + seed as usize) % 6];
            codes[r][grp] = code;
            let (i0, i1) = ((code & 3) as usize, ((code >> 2) & 3) as usize);
            let (h0, v0) = rnd_half(&mut rng, t);
            let (h1, v1) = rnd_half(&mut rng, t);
            comp[r][2 * grp] = h0;
            comp[r][2 * grp + 1] = h1;
            logical[r][4 * grp + i0] = v0;
            logical[r][4 * grp + i1] = v1;
        }
    }
    let bm: Vec<Vec<(u16, f64)>> = (0..k)
        .map(|_| (0..8).map(|_| rnd_half(&mut rng, t)).collect())
        .collect();
    let (cregs, cm) = rand_c(&mut rng);
    let word = |r: usize, w: usize| -> u32 { (0..4).map(|j| codes[r][4 * w + j] << (4 * j)).sum() };
    let na = k / 8;
    let mut aregs = vec![0u32; 32 * na];
    let mut bregs = vec![0u32; 32 * na];
    let mut eregs = vec![0u32; 32];
    for lane in 0..32 {
        let (g, tq) = (lane / 4, lane % 4);
        for j in 0..na {
            // k32: reg0 (g, 2t), reg1 (g+8, 2t), reg2 (g, 8+2t), reg3 (g+8, 8+2t)
            // k16: reg0 (g, 2t), reg1 (g+8, 2t)
            let row = g + if j & 1 == 1 { 8 } else { 0 };
            let col = 2 * tq + if j >= 2 { 8 } else { 0 };
            aregs[lane * na + j] = pack(comp[row][col], comp[row][col + 1]);
        }
        for j in 0..na {
            // element i at k = 2t + (i&1) + 8*(i>>1); register j holds elements 2j, 2j+1
            let kk = 2 * tq + 8 * j;
            bregs[lane * na + j] = pack(bm[kk][g].0, bm[kk + 1][g].0);
        }
        let named = if k == 32 { tq / 2 == sel } else { tq == sel };
        eregs[lane] = if named {
            let w = if k == 32 { tq & 1 } else { 0 };
            word(g, w) | (word(g + 8, w) << 16)
        } else {
            // lanes the selector does not name: a different legal pattern, to be ignored
            0x4848_9E9E
        };
    }
    let mut want = cm;
    for (r, wr) in want.iter_mut().enumerate() {
        for (n, w) in wr.iter_mut().enumerate() {
            for kk in 0..k {
                *w += logical[r][kk] * bm[kk][n].1;
            }
        }
    }
    let mut run = Run { dev: Device::new() };
    let pa = upload(&mut run.dev, &aregs);
    let pb = upload(&mut run.dev, &bregs);
    let pc = upload(&mut run.dev, &cregs);
    let pe = upload(&mut run.dev, &eregs);
    let pd = run.dev.alloc(512).unwrap();
    run.launch(&m, kernel, &[pa, pb, pc, pe, pd])
        .unwrap_or_else(|e| panic!("{kernel}: {e}"));
    let d: Vec<f32> = download(&run.dev, pd, 128);
    check_d(&d, &want);
}

#[test]
fn mma_sp_m16n8k32_every_code_both_selectors() {
    for s in 0..6 {
        sparse_case("sp_k32_bf16_ord_s0", T::Bf16, 32, 0, s);
        sparse_case("sp_k32_bf16_ord_s1", T::Bf16, 32, 1, 10 + s);
        sparse_case("sp_k32_f16_ord_s0", T::F16, 32, 0, 20 + s);
        sparse_case("sp_k32_f16_ord_s1", T::F16, 32, 1, 30 + s);
    }
    sparse_case("sp_k32_bf16_plain_s0", T::Bf16, 32, 0, 40);
    sparse_case("sp_k32_f16_plain_s1", T::F16, 32, 1, 41);
}

#[test]
fn mma_sp_m16n8k16_selectors() {
    for s in 0..3 {
        sparse_case("sp_k16_bf16_ord_s0", T::Bf16, 16, 0, 50 + s);
        sparse_case("sp_k16_bf16_ord_s1", T::Bf16, 16, 1, 60 + s);
        sparse_case("sp_k16_f16_ord_s2", T::F16, 16, 2, 70 + s);
        sparse_case("sp_k16_f16_ord_s3", T::F16, 16, 3, 80 + s);
    }
}

#[test]
fn mma_sp_illegal_metadata_is_reported() {
    let m = module("mma.ptx");
    let mut dev = Device::new();
    let aregs = vec![0x3c00_3c00u32; 128];
    let bregs = vec![0x3c00_3c00u32; 128];
    let cregs = vec![0f32; 128];
    // legal everywhere except lane 5 (g=1, t=1, named by SEL=0), bits [19:16] = 0x5 (equal)
    let mut eregs = vec![0x8888_8888u32; 32];
    eregs[5] = 0x8885_8888;
    // lanes not named by the selector may hold anything: lane 2 (t=2) holds garbage
    eregs[2] = 0;
    let pa = upload(&mut dev, &aregs);
    let pb = upload(&mut dev, &bregs);
    let pc = upload(&mut dev, &cregs);
    let pe = upload(&mut dev, &eregs);
    let pd = dev.alloc(512).unwrap();
    let args = [
        Param::U64(pa),
        Param::U64(pb),
        Param::U64(pc),
        Param::U64(pe),
        Param::U64(pd),
    ];
    let err = dev
        .launch(
            &m,
            "sp_k32_bf16_ord_s0",
            &LaunchConfig::linear(1, 32),
            &args,
        )
        .expect_err("illegal metadata must be reported");
    let e = err.exec().expect("an execution error");
    assert!(matches!(e.kind, ErrorKind::IllegalMetadata(_)), "{err}");
    assert_eq!(e.tid, [5, 0, 0]);
    assert_eq!(e.kernel, "sp_k32_bf16_ord_s0");
    let src = kernel_src("mma.ptx");
    let line = src.lines().nth(e.line as usize - 1).unwrap();
    assert!(
        line.contains("mma.sp::ordered_metadata"),
        "line {}: {line}",
        e.line
    );
    println!("{err}");
    // descending-but-distinct indices (0x1 = {1,0}) are illegal for ordered metadata
    eregs[5] = 0x8888_8881;
    let pe = upload(&mut dev, &eregs);
    let args = [
        Param::U64(pa),
        Param::U64(pb),
        Param::U64(pc),
        Param::U64(pe),
        Param::U64(pd),
    ];
    let err = dev
        .launch(
            &m,
            "sp_k32_bf16_ord_s0",
            &LaunchConfig::linear(1, 32),
            &args,
        )
        .unwrap_err();
    assert!(matches!(
        err.exec().unwrap().kind,
        ErrorKind::IllegalMetadata(_)
    ));
    // the same register under SEL=1 is not read from lane 5: lanes t=2,3 must be legal
    let mut eregs = vec![0x8888_8888u32; 32];
    eregs[5] = 0x5555_5555;
    let pe = upload(&mut dev, &eregs);
    let args = [
        Param::U64(pa),
        Param::U64(pb),
        Param::U64(pc),
        Param::U64(pe),
        Param::U64(pd),
    ];
    dev.launch(
        &m,
        "sp_k32_bf16_ord_s1",
        &LaunchConfig::linear(1, 32),
        &args,
    )
    .unwrap_or_else(|e| panic!("{e}"));
}
