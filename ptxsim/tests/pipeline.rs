//! A whole Hopper pipeline on several CTAs (tests/kernels/pipeline.cu, nvcc's PTX): TMA tile
//! loads of B into a 128B-swizzled 3-stage ring on full/empty mbarriers, an elected producer
//! lane, a consumer warpgroup running wgmma m64n64k16 with A from registers, stmatrix of the
//! bf16 result, fence.proxy.async and one TMA store per CTA. Checked against an exact integer
//! reference rounded once to bf16, with the counters against the arithmetic.

mod common;

use common::pipeline_case;
use common::*;
use half::bf16;
use ptxsim::Device;
use rand::{Rng, SeedableRng};

fn bits(v: i32) -> u16 {
    bf16::from_f32(v as f32).to_bits()
}

#[test]
fn tma_ring_wgmma_stmatrix_bulk_store_on_four_ctas() {
    let m = module("pipeline.ptx");
    assert!(m.unsupported().is_empty(), "{:?}", m.unsupported());
    let (ctas, ktiles) = (4usize, 7usize);
    let k = 64 * ktiles;
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    // A: 64·ctas rows × K; B stored K-major: bt[n][k]
    let a: Vec<Vec<i32>> = (0..64 * ctas)
        .map(|_| (0..k).map(|_| rng.gen_range(-3..=3)).collect())
        .collect();
    let bt: Vec<Vec<i32>> = (0..64)
        .map(|_| (0..k).map(|_| rng.gen_range(-3..=3)).collect())
        .collect();
    // A fragments per (CTA, K tile, thread): four k16 steps of four registers, the ISA's
    // register-A layout of wgmma m64nNk16 (as for mma m16n8k16, warp w owning rows 16w..)
    let mut areg = vec![0u32; ctas * ktiles * 128 * 16];
    for c in 0..ctas {
        for kt in 0..ktiles {
            for t in 0..128usize {
                let (w, l) = (t / 32, t % 32);
                let (g, q) = (l / 4, l % 4);
                for s in 0..4 {
                    for i in 0..4 {
                        let row = 64 * c + 16 * w + g + 8 * (i & 1);
                        let col = 64 * kt + 16 * s + 2 * q + 8 * (i >> 1);
                        areg[((c * ktiles + kt) * 128 + t) * 16 + 4 * s + i] =
                            bits(a[row][col]) as u32 | (bits(a[row][col + 1]) as u32) << 16;
                    }
                }
            }
        }
    }
    let bt_bits: Vec<u16> = bt.iter().flatten().map(|&v| bits(v)).collect();
    let mut dev = Device::new();
    let gb = upload(&mut dev, &bt_bits);
    let ga = upload(&mut dev, &areg);
    let gd = upload(&mut dev, &vec![0xffffu16; 64 * 64 * ctas]);
    let (cfg, params) = pipeline_case::launch(gb, ga, gd, ctas, ktiles).unwrap();
    let st = dev
        .launch(&m, "pipeline", &cfg, &params)
        .unwrap_or_else(|e| panic!("{e}"));
    let got = download::<u16>(&dev, gd, 64 * 64 * ctas);
    for row in 0..64 * ctas {
        for n in 0..64 {
            let exact: i64 = (0..k).map(|kk| (a[row][kk] * bt[n][kk]) as i64).sum();
            // the f32 accumulation of small integers is exact; cvt.rn.bf16x2 rounds once
            let want = bf16::from_f64(exact as f64).to_bits();
            assert_eq!(got[row * 64 + n], want, "D[{row}][{n}] (exact {exact})");
        }
    }
    // counters: 4 m64n64k16 per K tile per CTA; the ring's bytes and one 8 KiB store per
    // CTA; every descriptor reads 64 × 16 bf16 of B
    let wgmmas = (ctas * ktiles * 4) as u64;
    assert_eq!(st.wgmma[7], wgmmas);
    assert_eq!(st.wgmma_instructions(), wgmmas);
    assert_eq!(st.bulk_bytes, (ctas * (ktiles + 1) * 8192) as u64);
    assert_eq!(st.wgmma_desc_bytes, wgmmas * 64 * 16 * 2);
    assert_eq!(st.ctas, ctas as u64);
    // mbarrier waits that found their phase incomplete: at most one per waiting thread and
    // K tile (128 consumers on `full`, the producer lane on `empty`), and some (how many
    // depends on the schedule)
    let most = (ctas * ktiles * (128 + 1)) as u64;
    assert!(
        st.mbarrier_waits > 0 && st.mbarrier_waits <= most,
        "{} mbarrier waits (at most {most})",
        st.mbarrier_waits
    );
    println!("{}", st.summary());
}
