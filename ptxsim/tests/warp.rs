#![allow(
    clippy::needless_range_loop,
    clippy::approx_constant,
    clippy::excessive_precision
)]
//! Warp-level instructions: shfl (all modes, widths, predicate), vote, activemask, match,
//! redux, ldmatrix x1/x2/x4 (.trans), stmatrix, cp.async groups + zfill, atomics.
mod common;
use common::*;
use ptxsim::{Device, LaunchConfig, Param};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

#[test]
fn shfl_modes_match_the_cuda_definitions() {
    let m = module("warp.ptx");
    let mut rng = StdRng::seed_from_u64(1);
    let v: Vec<i32> = (0..32).map(|_| rng.gen()).collect();
    let mut dev = Device::new();
    let pin = upload(&mut dev, &v);
    let pout = dev.alloc(32 * 8 * 4).unwrap();
    dev.launch(
        &m,
        "shfl_modes",
        &LaunchConfig::linear(1, 32),
        &[Param::U64(pin), Param::U64(pout)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o: Vec<i32> = download(&dev, pout, 256);
    let up = |l: usize, d: usize, w: usize| if l % w >= d { l - d } else { l };
    let down = |l: usize, d: usize, w: usize| if l % w + d < w { l + d } else { l };
    let idx = |l: usize, s: usize, w: usize| (l / w) * w + s % w;
    for l in 0..32 {
        assert_eq!(o[l * 8], v[up(l, 3, 32)], "up lane {l}");
        assert_eq!(o[l * 8 + 1], v[down(l, 5, 16)], "down/16 lane {l}");
        assert_eq!(o[l * 8 + 2], v[l ^ 7], "bfly lane {l}");
        assert_eq!(o[l * 8 + 3], v[idx(l, (l * 5) % 32, 32)], "idx lane {l}");
        assert_eq!(o[l * 8 + 4], v[idx(l, l + 2, 8)], "idx/8 lane {l}");
        assert_eq!(o[l * 8 + 5], v[down(l, 2, 32)], "down+pred lane {l}");
        assert_eq!(o[l * 8 + 6], (l + 2 <= 31) as i32, "pred lane {l}");
        assert_eq!(o[l * 8 + 7], v[up(l, 1, 4)], "up/4 lane {l}");
    }
}

#[test]
fn vote_match_redux() {
    let m = module("warp.ptx");
    let mut rng = StdRng::seed_from_u64(2);
    let mut v: Vec<i32> = (0..32).map(|_| rng.gen_range(0..50)).collect();
    v[9] = 17;
    let mut dev = Device::new();
    let pin = upload(&mut dev, &v);
    let pout = dev.alloc(32 * 8 * 4).unwrap();
    dev.launch(
        &m,
        "votes",
        &LaunchConfig::linear(1, 32),
        &[Param::U64(pin), Param::U64(pout)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o: Vec<u32> = download(&dev, pout, 256);
    let ballot: u32 = (0..32).filter(|&l| v[l] % 3 == 0).map(|l| 1u32 << l).sum();
    let sum: i32 = v.iter().sum();
    let max = *v.iter().max().unwrap() as u32;
    for l in 0..32 {
        assert_eq!(o[l * 8], ballot);
        assert_eq!(o[l * 8 + 1], 1);
        assert_eq!(o[l * 8 + 2], 1);
        assert_eq!(o[l * 8 + 3], 1);
        if l & 1 == 1 {
            assert_eq!(
                o[l * 8 + 4] & 0xAAAA_AAAA,
                0xAAAA_AAAA,
                "activemask lane {l}"
            );
        }
        let same: u32 = (0..32)
            .filter(|&k| v[k] & 3 == v[l] & 3)
            .map(|k| 1u32 << k)
            .sum();
        assert_eq!(o[l * 8 + 5], same);
        assert_eq!(o[l * 8 + 6] as i32, sum);
        assert_eq!(o[l * 8 + 7], max);
    }
}

#[test]
fn ldmatrix_all_forms() {
    let m = module("warp.ptx");
    let mut rng = StdRng::seed_from_u64(3);
    let src: Vec<u16> = (0..32 * 8).map(|_| rng.gen()).collect();
    let mut rowidx: Vec<i32> = (0..32).collect();
    rowidx.shuffle(&mut rng);
    let mut dev = Device::new();
    let psrc = upload(&mut dev, &src);
    let prow = upload(&mut dev, &rowidx);
    let pout = dev.alloc(32 * 16 * 4).unwrap();
    let st = dev
        .launch(
            &m,
            "ldm",
            &LaunchConfig::linear(1, 32),
            &[Param::U64(psrc), Param::U64(prow), Param::U64(pout)],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let o: Vec<u32> = download(&dev, pout, 32 * 16);
    // element (row r, col c) of matrix mi: row r is supplied by lane 8*mi + r
    let el = |mi: usize, r: usize, c: usize| src[rowidx[8 * mi + r] as usize * 8 + c] as u32;
    // ISA: thread l holds row l/4, elements 2*(l%4), 2*(l%4)+1 (low half first); .trans: the
    // transposed matrix, i.e. (row 2*(l%4), col l/4) and (row 2*(l%4)+1, col l/4)
    let frag = |mi: usize, l: usize, tr: bool| {
        let (g, q) = (l / 4, l % 4);
        if tr {
            el(mi, 2 * q, g) | (el(mi, 2 * q + 1, g) << 16)
        } else {
            el(mi, g, 2 * q) | (el(mi, g, 2 * q + 1) << 16)
        }
    };
    for l in 0..32 {
        let r = &o[l * 16..l * 16 + 16];
        assert_eq!(r[0], frag(0, l, false), "x1 lane {l}");
        assert_eq!(
            [r[1], r[2]],
            [frag(0, l, false), frag(1, l, false)],
            "x2 lane {l}"
        );
        assert_eq!(
            [r[3], r[4], r[5], r[6]],
            [
                frag(0, l, false),
                frag(1, l, false),
                frag(2, l, false),
                frag(3, l, false)
            ]
        );
        assert_eq!(
            [r[7], r[8], r[9], r[10]],
            [
                frag(0, l, true),
                frag(1, l, true),
                frag(2, l, true),
                frag(3, l, true)
            ]
        );
        assert_eq!(r[11], frag(0, l, true), "x1.trans lane {l}");
        assert_eq!(
            [r[12], r[13]],
            [frag(0, l, true), frag(1, l, true)],
            "x2.trans lane {l}"
        );
    }
    assert!(st.shared_requests >= 6);
}

#[test]
fn stmatrix_is_the_inverse_of_ldmatrix() {
    let m = module("stmatrix.ptx");
    let mut rng = StdRng::seed_from_u64(4);
    let regs: Vec<u32> = (0..128).map(|_| rng.gen()).collect();
    let mut rowidx: Vec<i32> = (0..32).collect();
    rowidx.shuffle(&mut rng);
    for trans in [0, 1] {
        let mut dev = Device::new();
        let preg = upload(&mut dev, &regs);
        let prow = upload(&mut dev, &rowidx);
        let pout = dev.alloc(32 * 16).unwrap();
        dev.launch(
            &m,
            "stm",
            &LaunchConfig::linear(1, 32),
            &[
                Param::U64(preg),
                Param::U64(prow),
                Param::U64(pout),
                Param::I32(trans),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let o: Vec<u16> = download(&dev, pout, 32 * 8);
        for mi in 0..4 {
            for r in 0..8 {
                let row = rowidx[8 * mi + r] as usize;
                for c in 0..8 {
                    // fragment element (i, j) lives in lane 4i + j/2, half j%2
                    let (i, j) = if trans == 1 { (c, r) } else { (r, c) };
                    let v = regs[(4 * i + j / 2) * 4 + mi];
                    let want = (v >> (16 * (j % 2))) as u16;
                    assert_eq!(
                        o[row * 8 + c],
                        want,
                        "trans={trans} matrix {mi} row {r} col {c}"
                    );
                }
            }
        }
    }
}

#[test]
fn cp_async_groups_and_zfill() {
    let m = module("warp.ptx");
    let mut rng = StdRng::seed_from_u64(5);
    let src: Vec<i32> = (0..96 * 4).map(|_| rng.gen_range(-1000..1000)).collect();
    for zfill in [16, 8, 0] {
        let mut dev = Device::new();
        let psrc = upload(&mut dev, &src);
        let pout = dev.alloc(96 * 4).unwrap();
        dev.launch(
            &m,
            "cpasync",
            &LaunchConfig::linear(1, 32),
            &[Param::U64(psrc), Param::U64(pout), Param::I32(zfill)],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let o: Vec<i32> = download(&dev, pout, 96);
        let s = |i: usize, c: usize| src[i * 4 + c];
        for l in 0..32 {
            assert_eq!(o[l], s(l, 0) + s(32 + l, 1));
            let keep = |c: usize| {
                if (c as i32) * 4 < zfill {
                    s(64 + l, c)
                } else {
                    0
                }
            };
            assert_eq!(o[32 + l], keep(0) + keep(3), "zfill={zfill} lane {l}");
            assert_eq!(o[64 + l], s(l, 0) + s(l, 0) + s(l, 1));
        }
    }
}

#[test]
fn atomics_global_and_shared() {
    let m = module("warp.ptx");
    let n = 64usize;
    let mut dev = Device::new();
    let g = upload(&mut dev, &[0i32, i32::MIN, 0, -1, 0, 0, 0, -1]);
    let gf = upload(&mut dev, &[0f32]);
    let gu = upload(&mut dev, &[0u32, 3]);
    let out = dev.alloc((2 + n) * 4).unwrap();
    dev.launch(
        &m,
        "atomics",
        &LaunchConfig::linear(1, n as u32),
        &[
            Param::U64(g),
            Param::U64(gf),
            Param::U64(gu),
            Param::U64(out),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let gv: Vec<i32> = download(&dev, g, 8);
    let t = 0..n as i32;
    assert_eq!(gv[0], t.clone().sum::<i32>());
    assert_eq!(gv[1], t.clone().map(|t| t * 7 % 61).max().unwrap());
    assert_eq!(gv[2], -(n as i32 - 1));
    assert!((-1..n as i32).contains(&gv[3]));
    assert_eq!(gv[4], 42);
    assert_eq!(gv[5], t.clone().fold(0, |a, t| a | (1 << (t % 31))));
    assert_eq!(gv[6], t.clone().fold(0, |a, t| a ^ t));
    assert_eq!(gv[7], t.clone().fold(-1, |a, t| a & !(1 << (t % 31))));
    let f: Vec<f32> = download(&dev, gf, 1);
    assert_eq!(f[0], 0.5 * n as f32);
    // ISA: inc: (old >= b) ? 0 : old + 1; dec: (old == 0 || old > b) ? b : old - 1
    let (mut inc, mut dec) = (0u32, 3u32);
    for _ in 0..n {
        inc = if inc >= 9 { 0 } else { inc + 1 };
        dec = if dec == 0 || dec > 5 { 5 } else { dec - 1 };
    }
    let u: Vec<u32> = download(&dev, gu, 2);
    assert_eq!(u, vec![inc, dec]);
    let o: Vec<i32> = download(&dev, out, 2 + n);
    assert_eq!(o[0], n as i32);
    assert_eq!(o[1], n as i32 - 1);
    // the old values returned by atomicAdd are prefix sums: all below the total
    let total = (0..n as i32).sum::<i32>();
    assert!(o[2..].iter().all(|&x| (0..total).contains(&x)));
}
