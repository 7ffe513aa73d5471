#![allow(
    clippy::needless_range_loop,
    clippy::approx_constant,
    clippy::excessive_precision
)]
//! Instruction families, with answers taken from the PTX ISA's definitions. Each case runs one
//! instruction in a harness kernel: inputs a, b, c (64-bit, also visible as 32-bit %a %b %c,
//! 16-bit %ha %hb %hc and predicates %pa %pb %pc = value != 0); outputs %d64, %d, %hd, %pd, %pq.
mod common;
use common::*;
use half::{bf16, f16};
use ptxsim::{Device, LaunchConfig, Module, Param};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Out {
    d64: u64,
    d: u32,
    hd: u16,
    p: bool,
    q: bool,
}

fn harness(body: &str) -> String {
    format!(
        r#".version 9.0
.target sm_80
.address_size 64
.visible .entry t(.param .u64 pin, .param .u64 pout)
{{
	.reg .pred %p<4>;
	.reg .b32 %r<8>;
	.reg .b64 %rd<8>;
	.reg .b16 %h<8>;
	.reg .b64 %a64, %b64, %c64, %d64;
	.reg .b32 %a, %b, %c, %d, %e;
	.reg .b16 %ha, %hb, %hc, %hd;
	.reg .pred %pa, %pb, %pc, %pd, %pq;
	ld.param.u64 %rd1, [pin];
	ld.param.u64 %rd2, [pout];
	mov.u32 %r0, %tid.x;
	mul.wide.u32 %rd3, %r0, 32;
	add.s64 %rd1, %rd1, %rd3;
	add.s64 %rd2, %rd2, %rd3;
	ld.global.u64 %a64, [%rd1];
	ld.global.u64 %b64, [%rd1+8];
	ld.global.u64 %c64, [%rd1+16];
	cvt.u32.u64 %a, %a64;
	cvt.u32.u64 %b, %b64;
	cvt.u32.u64 %c, %c64;
	cvt.u16.u64 %ha, %a64;
	cvt.u16.u64 %hb, %b64;
	cvt.u16.u64 %hc, %c64;
	setp.ne.u64 %pa, %a64, 0;
	setp.ne.u64 %pb, %b64, 0;
	setp.ne.u64 %pc, %c64, 0;
	mov.u64 %d64, 0;
	mov.u32 %d, 0;
	mov.u16 %hd, 0;
	setp.ne.u32 %pd, %d, %d;
	setp.ne.u32 %pq, %d, %d;
	{body}
	selp.u32 %e, 1, 0, %pd;
	selp.u32 %r1, 2, 0, %pq;
	or.b32 %e, %e, %r1;
	st.global.u64 [%rd2], %d64;
	st.global.u32 [%rd2+8], %d;
	st.global.u16 [%rd2+12], %hd;
	st.global.u32 [%rd2+16], %e;
	ret;
}}
"#
    )
}

fn run(body: &str, inputs: &[[u64; 3]]) -> Vec<Out> {
    let src = harness(body);
    let m = Module::parse(&src).unwrap_or_else(|e| panic!("{body}: {e}"));
    let mut dev = Device::new();
    let mut flat = Vec::new();
    for i in inputs {
        flat.extend_from_slice(&[i[0], i[1], i[2], 0]);
    }
    let pin = upload(&mut dev, &flat);
    let pout = dev.alloc(inputs.len() * 32).unwrap();
    dev.launch(
        &m,
        "t",
        &LaunchConfig::linear(1, inputs.len() as u32),
        &[Param::U64(pin), Param::U64(pout)],
    )
    .unwrap_or_else(|e| panic!("{body}: {e}"));
    let raw: Vec<u64> = download(&dev, pout, inputs.len() * 4);
    (0..inputs.len())
        .map(|i| {
            let w1 = raw[i * 4 + 1];
            let e = raw[i * 4 + 2] as u32;
            Out {
                d64: raw[i * 4],
                d: w1 as u32,
                hd: (w1 >> 32) as u16,
                p: e & 1 != 0,
                q: e & 2 != 0,
            }
        })
        .collect()
}

/// Run a 32-bit op on (a, b, c) triples and compare %d to `f`.
fn check32(body: &str, f: impl Fn(u32, u32, u32) -> u32, inputs: &[(u32, u32, u32)]) {
    let ins: Vec<[u64; 3]> = inputs
        .iter()
        .map(|&(a, b, c)| [a as u64, b as u64, c as u64])
        .collect();
    let out = run(body, &ins);
    for (i, &(a, b, c)) in inputs.iter().enumerate() {
        assert_eq!(
            out[i].d,
            f(a, b, c),
            "{body} with a={a:#x} b={b:#x} c={c:#x}"
        );
    }
}

fn rand_inputs(n: usize, seed: u64) -> Vec<(u32, u32, u32)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v: Vec<(u32, u32, u32)> = (0..n).map(|_| (rng.gen(), rng.gen(), rng.gen())).collect();
    v.extend_from_slice(&[
        (0, 0, 0),
        (u32::MAX, 1, 31),
        (0x8000_0000, u32::MAX, 32),
        (7, 0, 5),
        (5, 33, 40),
    ]);
    v
}

#[test]
fn integer_arithmetic() {
    let ins = rand_inputs(64, 1);
    check32("add.s32 %d, %a, %b;", |a, b, _| a.wrapping_add(b), &ins);
    check32("sub.u32 %d, %a, %b;", |a, b, _| a.wrapping_sub(b), &ins);
    check32("mul.lo.s32 %d, %a, %b;", |a, b, _| a.wrapping_mul(b), &ins);
    check32(
        "mul.hi.u32 %d, %a, %b;",
        |a, b, _| ((a as u64 * b as u64) >> 32) as u32,
        &ins,
    );
    check32(
        "mul.hi.s32 %d, %a, %b;",
        |a, b, _| ((a as i32 as i64 * b as i32 as i64) >> 32) as u32,
        &ins,
    );
    check32(
        "mad.lo.s32 %d, %a, %b, %c;",
        |a, b, c| a.wrapping_mul(b).wrapping_add(c),
        &ins,
    );
    check32(
        "mad.hi.u32 %d, %a, %b, %c;",
        |a, b, c| (((a as u64 * b as u64) >> 32) as u32).wrapping_add(c),
        &ins,
    );
    check32(
        "min.s32 %d, %a, %b;",
        |a, b, _| (a as i32).min(b as i32) as u32,
        &ins,
    );
    check32("max.u32 %d, %a, %b;", |a, b, _| a.max(b), &ins);
    check32(
        "add.sat.s32 %d, %a, %b;",
        |a, b, _| (a as i32).saturating_add(b as i32) as u32,
        &ins,
    );
    check32(
        "sub.sat.s32 %d, %a, %b;",
        |a, b, _| (a as i32).saturating_sub(b as i32) as u32,
        &ins,
    );
    check32(
        "neg.s32 %d, %a;",
        |a, _, _| (a as i32).wrapping_neg() as u32,
        &ins,
    );
    check32(
        "abs.s32 %d, %a;",
        |a, _, _| (a as i32).wrapping_abs() as u32,
        &ins,
    );
    check32(
        "div.s32 %d, %a, %b;",
        |a, b, _| {
            if b == 0 {
                u32::MAX
            } else {
                (a as i32).wrapping_div(b as i32) as u32
            }
        },
        &ins,
    );
    check32(
        "rem.u32 %d, %a, %b;",
        |a, b, _| if b == 0 { a } else { a % b },
        &ins,
    );
    check32(
        "rem.s32 %d, %a, %b;",
        |a, b, _| {
            if b == 0 {
                a
            } else {
                (a as i32).wrapping_rem(b as i32) as u32
            }
        },
        &ins,
    );
    // wide
    let ins64: Vec<[u64; 3]> = ins
        .iter()
        .map(|&(a, b, c)| [a as u64, b as u64, c as u64])
        .collect();
    let out = run("mul.wide.s32 %d64, %a, %b;", &ins64);
    for (i, &(a, b, _)) in ins.iter().enumerate() {
        assert_eq!(out[i].d64, (a as i32 as i64 * b as i32 as i64) as u64);
    }
    let out = run("mul.wide.u32 %d64, %a, %b;", &ins64);
    for (i, &(a, b, _)) in ins.iter().enumerate() {
        assert_eq!(out[i].d64, a as u64 * b as u64);
    }
    let out = run("mad.wide.u32 %d64, %a, %b, %c64;", &ins64);
    for (i, &(a, b, c)) in ins.iter().enumerate() {
        assert_eq!(out[i].d64, (a as u64 * b as u64).wrapping_add(c as u64));
    }
    // 64-bit
    let out = run("mul.hi.u64 %d64, %a64, %b64;", &ins64);
    for (i, &(a, b, _)) in ins.iter().enumerate() {
        assert_eq!(out[i].d64, ((a as u128 * b as u128) >> 64) as u64);
    }
    // carry chain: 64-bit add from 32-bit halves
    let out = run(
        "add.cc.u32 %r2, %a, %b;\n\taddc.u32 %r3, %c, 0;\n\tmov.b64 %d64, {%r2, %r3};",
        &ins64,
    );
    for (i, &(a, b, c)) in ins.iter().enumerate() {
        let (lo, carry) = a.overflowing_add(b);
        assert_eq!(
            out[i].d64,
            lo as u64 | ((c.wrapping_add(carry as u32) as u64) << 32)
        );
    }
    // mad with carry: 64-bit product low word + c, carry into the high word
    let out = run(
        "mad.lo.cc.u32 %r2, %a, %b, %c;\n\tmadc.hi.u32 %r3, %a, %b, 0;\n\tmov.b64 %d64, {%r2, %r3};",
        &ins64,
    );
    for (i, &(a, b, c)) in ins.iter().enumerate() {
        assert_eq!(
            out[i].d64,
            (a as u64 * b as u64).wrapping_add(c as u64),
            "{a} * {b} + {c}"
        );
    }
    // 16-bit
    let out = run("add.u16 %hd, %ha, %hb;", &ins64);
    for (i, &(a, b, _)) in ins.iter().enumerate() {
        assert_eq!(out[i].hd, (a as u16).wrapping_add(b as u16));
    }
}

#[test]
fn bit_operations() {
    let ins = rand_inputs(64, 2);
    check32("and.b32 %d, %a, %b;", |a, b, _| a & b, &ins);
    check32("or.b32 %d, %a, %b;", |a, b, _| a | b, &ins);
    check32("xor.b32 %d, %a, %b;", |a, b, _| a ^ b, &ins);
    check32("not.b32 %d, %a;", |a, _, _| !a, &ins);
    check32("cnot.b32 %d, %a;", |a, _, _| (a == 0) as u32, &ins);
    // shift amounts >= width clamp (shl -> 0, shr.s -> sign fill)
    check32(
        "shl.b32 %d, %a, %b;",
        |a, b, _| if b >= 32 { 0 } else { a << b },
        &ins,
    );
    check32(
        "shr.u32 %d, %a, %b;",
        |a, b, _| if b >= 32 { 0 } else { a >> b },
        &ins,
    );
    check32(
        "shr.s32 %d, %a, %b;",
        |a, b, _| ((a as i32) >> b.min(31)) as u32,
        &ins,
    );
    check32("brev.b32 %d, %a;", |a, _, _| a.reverse_bits(), &ins);
    check32("clz.b32 %d, %a;", |a, _, _| a.leading_zeros(), &ins);
    check32("popc.b32 %d, %a;", |a, _, _| a.count_ones(), &ins);
    check32(
        "bfind.u32 %d, %a;",
        |a, _, _| {
            if a == 0 {
                u32::MAX
            } else {
                31 - a.leading_zeros()
            }
        },
        &ins,
    );
    check32(
        "bfind.s32 %d, %a;",
        |a, _, _| {
            let v = if (a as i32) < 0 { !a } else { a };
            if v == 0 {
                u32::MAX
            } else {
                31 - v.leading_zeros()
            }
        },
        &ins,
    );
    // bfe: pos = b & 0xff, len = c & 0xff (ISA pseudocode)
    let bfe = |a: u32, b: u32, c: u32, signed: bool| -> u32 {
        let (pos, len) = (b & 0xff, c & 0xff);
        let sbit = if signed && len > 0 {
            (a >> (pos + len - 1).min(31)) & 1
        } else {
            0
        };
        let mut d = 0;
        for i in 0..32 {
            let bit = if i < len && pos + i <= 31 {
                (a >> (pos + i)) & 1
            } else {
                sbit
            };
            d |= bit << i;
        }
        d
    };
    let small: Vec<(u32, u32, u32)> = ins
        .iter()
        .map(|&(a, b, c)| (a, b % 40, c % 40))
        .chain(ins.iter().copied())
        .collect();
    check32(
        "bfe.u32 %d, %a, %b, %c;",
        |a, b, c| bfe(a, b, c, false),
        &small,
    );
    check32(
        "bfe.s32 %d, %a, %b, %c;",
        |a, b, c| bfe(a, b, c, true),
        &small,
    );
    // bfi: insert the low len bits of a into b at pos
    let bfi = |a: u32, b: u32, pos: u32, len: u32| -> u32 {
        let mut d = b;
        for i in 0..len {
            if pos + i > 31 {
                break;
            }
            d = (d & !(1 << (pos + i))) | (((a >> i) & 1) << (pos + i));
        }
        d
    };
    check32(
        "bfi.b32 %d, %a, %b, 8, 12;",
        |a, b, _| bfi(a, b, 8, 12),
        &ins,
    );
    check32(
        "bfi.b32 %d, %a, %b, %c, 5;",
        |a, b, c| bfi(a, b, c & 0xff, 5),
        &small,
    );
    // lop3 with the ISA's ta/tb/tc constants: lut 0xF0 = a, 0xCC = b, 0xAA = c, (a & b) | c = 0xEA
    check32("lop3.b32 %d, %a, %b, %c, 0xF0;", |a, _, _| a, &ins);
    check32(
        "lop3.b32 %d, %a, %b, %c, 0xEA;",
        |a, b, c| (a & b) | c,
        &ins,
    );
    check32("lop3.b32 %d, %a, %b, %c, 0x96;", |a, b, c| a ^ b ^ c, &ins);
    // funnel shifts
    check32(
        "shf.l.wrap.b32 %d, %a, %b, %c;",
        |a, b, c| ((((b as u64) << 32 | a as u64) << (c & 31)) >> 32) as u32,
        &ins,
    );
    check32(
        "shf.r.clamp.b32 %d, %a, %b, %c;",
        |a, b, c| (((b as u64) << 32 | a as u64) >> c.min(32)) as u32,
        &ins,
    );
}

#[test]
fn prmt_all_modes() {
    let ins = rand_inputs(64, 3);
    let byte =
        |a: u32, b: u32, i: u32| ((((b as u64) << 32) | a as u64) >> (8 * (i & 7))) as u32 & 0xff;
    // default mode: selector nibble per byte, bit 3 = replicate sign
    check32(
        "prmt.b32 %d, %a, %b, %c;",
        |a, b, c| {
            (0..4)
                .map(|i| {
                    let s = (c >> (4 * i)) & 0xf;
                    let v = byte(a, b, s & 7);
                    let v = if s & 8 != 0 {
                        if v & 0x80 != 0 {
                            0xff
                        } else {
                            0
                        }
                    } else {
                        v
                    };
                    v << (8 * i)
                })
                .sum()
        },
        &ins,
    );
    // table of the ISA for the special modes, indexed by c[1:0], listing d.b3 d.b2 d.b1 d.b0
    let tables: [(&str, [[u32; 4]; 4]); 6] = [
        (
            "f4e",
            [[3, 2, 1, 0], [4, 3, 2, 1], [5, 4, 3, 2], [6, 5, 4, 3]],
        ),
        (
            "b4e",
            [[5, 6, 7, 0], [6, 7, 0, 1], [7, 0, 1, 2], [0, 1, 2, 3]],
        ),
        (
            "rc8",
            [[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]],
        ),
        (
            "ecl",
            [[3, 2, 1, 0], [3, 2, 1, 1], [3, 2, 2, 2], [3, 3, 3, 3]],
        ),
        (
            "ecr",
            [[0, 0, 0, 0], [1, 1, 1, 0], [2, 2, 1, 0], [3, 2, 1, 0]],
        ),
        (
            "rc16",
            [[1, 0, 1, 0], [3, 2, 3, 2], [1, 0, 1, 0], [3, 2, 3, 2]],
        ),
    ];
    for (mode, t) in tables {
        check32(
            &format!("prmt.b32.{mode} %d, %a, %b, %c;"),
            |a, b, c| {
                let row = t[(c & 3) as usize];
                (0..4).map(|i| byte(a, b, row[3 - i]) << (8 * i)).sum()
            },
            &ins,
        );
    }
}

#[test]
fn compare_select() {
    let ins = rand_inputs(64, 4);
    let ins64: Vec<[u64; 3]> = ins
        .iter()
        .map(|&(a, b, c)| [a as u64, b as u64, c as u64])
        .collect();
    type F = fn(u32, u32) -> bool;
    let cases: [(&str, F); 10] = [
        ("eq.u32", |a, b| a == b),
        ("ne.s32", |a, b| a != b),
        ("lt.s32", |a, b| (a as i32) < b as i32),
        ("le.s32", |a, b| (a as i32) <= b as i32),
        ("gt.u32", |a, b| a > b),
        ("ge.u32", |a, b| a >= b),
        ("lo.u32", |a, b| a < b),
        ("ls.u32", |a, b| a <= b),
        ("hi.u32", |a, b| a > b),
        ("hs.u32", |a, b| a >= b),
    ];
    for (cmp, f) in cases {
        let out = run(&format!("setp.{cmp} %pd|%pq, %a, %b;"), &ins64);
        for (i, &(a, b, _)) in ins.iter().enumerate() {
            assert_eq!(out[i].p, f(a, b), "setp.{cmp} {a} {b}");
            assert_eq!(out[i].q, !f(a, b), "setp.{cmp} q");
        }
    }
    // combine with a predicate: p = (a < b) & pc, q = !(a < b) & pc
    let out = run("setp.lt.and.u32 %pd|%pq, %a, %b, %pc;", &ins64);
    for (i, &(a, b, c)) in ins.iter().enumerate() {
        assert_eq!(out[i].p, a < b && c != 0);
        assert_eq!(out[i].q, a >= b && c != 0);
    }
    let out = run("setp.lt.or.u32 %pd, %a, %b, !%pc;", &ins64);
    for (i, &(a, b, c)) in ins.iter().enumerate() {
        assert_eq!(out[i].p, a < b || c == 0);
    }
    check32(
        "selp.b32 %d, %a, %b, %pc;",
        |a, b, c| if c != 0 { a } else { b },
        &ins,
    );
    check32(
        "slct.u32.s32 %d, %a, %b, %c;",
        |a, b, c| if (c as i32) >= 0 { a } else { b },
        &ins,
    );
    check32(
        "set.lt.u32.s32 %d, %a, %b;",
        |a, b, _| if (a as i32) < b as i32 { u32::MAX } else { 0 },
        &ins,
    );
    // float comparisons: ordered vs unordered with NaN
    let nan = f32::NAN.to_bits() as u64;
    let one = 1f32.to_bits() as u64;
    let two = 2f32.to_bits() as u64;
    let fin = [[one, two, 0], [nan, one, 0], [two, two, 0], [one, nan, 0]];
    let fcases: [(&str, [bool; 4]); 8] = [
        ("lt", [true, false, false, false]),
        ("ltu", [true, true, false, true]),
        ("eq", [false, false, true, false]),
        ("equ", [false, true, true, true]),
        ("ne", [true, false, false, false]),
        ("neu", [true, true, false, true]),
        ("num", [true, false, true, false]),
        ("nan", [false, true, false, true]),
    ];
    for (c, want) in fcases {
        let out = run(&format!("setp.{c}.f32 %pd, %a, %b;"), &fin);
        for i in 0..4 {
            assert_eq!(out[i].p, want[i], "setp.{c}.f32 case {i}");
        }
    }
}

fn f(x: f32) -> u64 {
    x.to_bits() as u64
}

#[test]
fn float32_rounding_modes() {
    // 1 + 2^-30 is between 1 and 1 + 2^-23
    let tiny = 2f32.powi(-30);
    let ins = [
        [f(1.0), f(tiny), 0],
        [f(-1.0), f(-tiny), 0],
        [f(1.0), f(-tiny), 0],
    ];
    let ulp = f32::EPSILON;
    let want: [(&str, [f32; 3]); 4] = [
        ("rn", [1.0, -1.0, 1.0]),
        ("rz", [1.0, -1.0, 1.0 - ulp / 2.0]),
        ("rm", [1.0, -(1.0 + ulp), 1.0 - ulp / 2.0]),
        ("rp", [1.0 + ulp, -1.0, 1.0]),
    ];
    for (r, w) in want {
        let out = run(&format!("add.{r}.f32 %d, %a, %b;"), &ins);
        for i in 0..3 {
            assert_eq!(f32::from_bits(out[i].d), w[i], "add.{r}.f32 case {i}");
        }
    }
    // mul.rz: 3 * (1/3 rounded) is just below 1
    let third = 1f32 / 3.0;
    let out = run(
        "mul.rz.f32 %d, %a, %b;\n\tmul.rp.f32 %e, %a, %b;\n\tmov.b64 %d64, {%d, %e};",
        &[[f(3.0), f(third), 0]],
    );
    let exact = 3.0f64 * third as f64;
    let (rz, rp) = (
        f32::from_bits(out[0].d64 as u32),
        f32::from_bits((out[0].d64 >> 32) as u32),
    );
    assert!(
        rz as f64 <= exact && rp as f64 >= exact && rz != rp || (rz as f64 == exact && rz == rp)
    );
    // fma.rn matches a fused multiply-add, bit for bit, on random inputs
    let mut rng = StdRng::seed_from_u64(9);
    let rins: Vec<[u64; 3]> = (0..128)
        .map(|_| {
            [
                f(rng.gen_range(-1e3..1e3)),
                f(rng.gen_range(-1e3..1e3)),
                f(rng.gen_range(-1e6..1e6)),
            ]
        })
        .collect();
    let out = run("fma.rn.f32 %d, %a, %b, %c;", &rins);
    for (i, x) in rins.iter().enumerate() {
        let w = f32::from_bits(x[0] as u32)
            .mul_add(f32::from_bits(x[1] as u32), f32::from_bits(x[2] as u32));
        assert_eq!(out[i].d, w.to_bits());
    }
    let out = run("div.rn.f32 %d, %a, %b;", &rins);
    for (i, x) in rins.iter().enumerate() {
        assert_eq!(
            out[i].d,
            (f32::from_bits(x[0] as u32) / f32::from_bits(x[1] as u32)).to_bits()
        );
    }
    let out = run("sqrt.rn.f32 %d, %c;", &rins);
    for (i, x) in rins.iter().enumerate() {
        let w = f32::from_bits(x[2] as u32).sqrt();
        assert!(out[i].d == w.to_bits() || (w.is_nan() && f32::from_bits(out[i].d).is_nan()));
    }
    // .ftz flushes subnormal inputs and results; .sat clamps to [0, 1]
    let sub = f32::from_bits(1);
    let out = run("add.ftz.f32 %d, %a, %b;", &[[f(sub), f(0.0), 0]]);
    assert_eq!(out[0].d, 0);
    let out = run("add.f32 %d, %a, %b;", &[[f(sub), f(0.0), 0]]);
    assert_eq!(out[0].d, 1);
    let out = run(
        "add.sat.f32 %d, %a, %b;",
        &[[f(0.75), f(0.5), 0], [f(-0.75), f(0.5), 0]],
    );
    assert_eq!(f32::from_bits(out[0].d), 1.0);
    assert_eq!(f32::from_bits(out[1].d), 0.0);
    // min/max with NaN return the other operand
    let out = run(
        "min.f32 %d, %a, %b;",
        &[[f(f32::NAN), f(2.0), 0], [f(-0.0), f(0.0), 0]],
    );
    assert_eq!(f32::from_bits(out[0].d), 2.0);
    assert_eq!(out[1].d, (-0.0f32).to_bits());
    let out = run("min.NaN.f32 %d, %a, %b;", &[[f(f32::NAN), f(2.0), 0]]);
    assert!(f32::from_bits(out[0].d).is_nan());
    // approximate functions within their stated error
    let xs = [0.5f32, 1.5, -3.25, 10.0];
    for x in xs {
        let o = run("ex2.approx.ftz.f32 %d, %a;", &[[f(x), 0, 0]]);
        let g = f32::from_bits(o[0].d);
        assert!((g - x.exp2()).abs() <= x.exp2() * 2f32.powi(-21));
        let o = run("rcp.approx.f32 %d, %a;", &[[f(x), 0, 0]]);
        assert!((f32::from_bits(o[0].d) - 1.0 / x).abs() <= (1.0 / x).abs() * 2f32.powi(-22));
        let o = run(
            "sin.approx.f32 %d, %a;\n\tcos.approx.f32 %e, %a;\n\tmov.b64 %d64, {%d, %e};",
            &[[f(x), 0, 0]],
        );
        assert!((f32::from_bits(o[0].d64 as u32) - x.sin()).abs() < 1e-6);
        assert!((f32::from_bits((o[0].d64 >> 32) as u32) - x.cos()).abs() < 1e-6);
    }
    let o = run(
        "lg2.approx.f32 %d, %a;\n\trsqrt.approx.f32 %e, %a;\n\tmov.b64 %d64, {%d, %e};",
        &[[f(8.0), 0, 0]],
    );
    assert_eq!(f32::from_bits(o[0].d64 as u32), 3.0);
    assert!((f32::from_bits((o[0].d64 >> 32) as u32) - 8f32.sqrt().recip()).abs() < 1e-6);
    let o = run("tanh.approx.f32 %d, %a;", &[[f(0.5), 0, 0]]);
    assert!((f32::from_bits(o[0].d) - 0.5f32.tanh()).abs() < 1e-3);
    // copysign d = |b| with the sign of a; testp
    let o = run("copysign.f32 %d, %a, %b;", &[[f(-1.0), f(3.0), 0]]);
    assert_eq!(f32::from_bits(o[0].d), -3.0);
    let o = run(
        "testp.notanumber.f32 %pd, %a;\n\ttestp.subnormal.f32 %pq, %b;",
        &[[f(f32::NAN), f(sub), 0], [f(1.0), f(1.0), 0]],
    );
    assert!(o[0].p && o[0].q && !o[1].p && !o[1].q);
}

#[test]
fn float64_ops() {
    let g = |x: f64| x.to_bits();
    let mut rng = StdRng::seed_from_u64(11);
    let ins: Vec<[u64; 3]> = (0..64)
        .map(|_| {
            [
                g(rng.gen_range(-1e3..1e3)),
                g(rng.gen_range(-1e3..1e3)),
                g(rng.gen_range(-1e3..1e3)),
            ]
        })
        .collect();
    let out = run("fma.rn.f64 %d64, %a64, %b64, %c64;", &ins);
    for (i, x) in ins.iter().enumerate() {
        assert_eq!(
            out[i].d64,
            f64::from_bits(x[0])
                .mul_add(f64::from_bits(x[1]), f64::from_bits(x[2]))
                .to_bits()
        );
    }
    let out = run("div.rn.f64 %d64, %a64, %b64;", &ins);
    for (i, x) in ins.iter().enumerate() {
        assert_eq!(
            out[i].d64,
            (f64::from_bits(x[0]) / f64::from_bits(x[1])).to_bits()
        );
    }
    let out = run(
        "add.rz.f64 %d64, %a64, %b64;",
        &[
            [g(1.0), g(2f64.powi(-60)), 0],
            [g(-1.0), g(-(2f64.powi(-60))), 0],
        ],
    );
    assert_eq!(f64::from_bits(out[0].d64), 1.0);
    assert_eq!(f64::from_bits(out[1].d64), -1.0);
    let out = run(
        "add.rp.f64 %d64, %a64, %b64;",
        &[[g(1.0), g(2f64.powi(-60)), 0]],
    );
    assert_eq!(f64::from_bits(out[0].d64), 1.0 + f64::EPSILON);
}

#[test]
fn conversions() {
    // float -> int with each integer rounding mode; NaN -> 0; saturation to the range
    let vals = [2.5f32, 3.5, -2.5, -0.7, 1e10, -1e10, f32::NAN, 7.0];
    let ins: Vec<[u64; 3]> = vals.iter().map(|&x| [f(x), 0, 0]).collect();
    let want = |m: &str, x: f32| -> i32 {
        if x.is_nan() {
            return 0;
        }
        let r = match m {
            "rni" => x.round_ties_even(),
            "rzi" => x.trunc(),
            "rmi" => x.floor(),
            _ => x.ceil(),
        };
        r.clamp(i32::MIN as f32, i32::MAX as f32) as i32
    };
    for m in ["rni", "rzi", "rmi", "rpi"] {
        let out = run(&format!("cvt.{m}.s32.f32 %d, %a;"), &ins);
        for (i, &x) in vals.iter().enumerate() {
            assert_eq!(out[i].d as i32, want(m, x), "cvt.{m}.s32.f32 {x}");
        }
    }
    let out = run("cvt.rzi.u32.f32 %d, %a;", &ins);
    assert_eq!(out[3].d, 0); // -0.7 -> 0
    assert_eq!(out[5].d, 0); // saturates at 0
    assert_eq!(out[4].d, u32::MAX);
    // float -> float integral rounding
    let out = run("cvt.rni.f32.f32 %d, %a;", &ins);
    assert_eq!(f32::from_bits(out[0].d), 2.0);
    assert_eq!(f32::from_bits(out[1].d), 4.0);
    // int -> float rounding: 2^24 + 1 is not representable
    let big = (1u64 << 24) + 1;
    let out = run(
        "cvt.rn.f32.u32 %d, %a;\n\tcvt.rp.f32.u32 %e, %a;\n\tmov.b64 %d64, {%d, %e};",
        &[[big, 0, 0]],
    );
    assert_eq!(f32::from_bits(out[0].d64 as u32), 16777216.0);
    assert_eq!(f32::from_bits((out[0].d64 >> 32) as u32), 16777218.0);
    let out = run("cvt.rz.f32.s32 %d, %a;", &[[(-(big as i64)) as u64, 0, 0]]);
    assert_eq!(f32::from_bits(out[0].d), -16777216.0);
    // integer widening / narrowing with saturation
    let out = run("cvt.s64.s32 %d64, %a;", &[[0xffff_fffe, 0, 0]]);
    assert_eq!(out[0].d64 as i64, -2);
    let out = run(
        "cvt.sat.u8.s32 %d, %a;",
        &[[300, 0, 0], [(-5i32) as u32 as u64, 0, 0]],
    );
    assert_eq!(out[0].d, 255);
    assert_eq!(out[1].d, 0);
    let out = run("cvt.u16.u32 %hd, %a;", &[[0x12345, 0, 0]]);
    assert_eq!(out[0].hd, 0x2345);
    // f32 -> f16 / bf16 in every rounding mode, against the half crate (rn) and bounds (others)
    let mut rng = StdRng::seed_from_u64(5);
    let xs: Vec<f32> = (0..256)
        .map(|_| rng.gen_range(-70000.0f32..70000.0) * rng.gen_range(0.0f32..1.0).powi(8))
        .collect();
    let ins: Vec<[u64; 3]> = xs.iter().map(|&x| [f(x), 0, 0]).collect();
    let out = run("cvt.rn.f16.f32 %hd, %a;", &ins);
    for (i, &x) in xs.iter().enumerate() {
        assert_eq!(out[i].hd, f16::from_f32(x).to_bits(), "cvt.rn.f16.f32 {x}");
    }
    let out = run("cvt.rn.bf16.f32 %hd, %a;", &ins);
    for (i, &x) in xs.iter().enumerate() {
        assert_eq!(
            out[i].hd,
            bf16::from_f32(x).to_bits(),
            "cvt.rn.bf16.f32 {x}"
        );
    }
    for (m, dir) in [("rz", 0), ("rm", -1), ("rp", 1)] {
        let out = run(&format!("cvt.{m}.f16.f32 %hd, %a;"), &ins);
        for (i, &x) in xs.iter().enumerate() {
            let h = f16::from_bits(out[i].hd).to_f32();
            let rn = f16::from_f32(x).to_f32();
            match dir {
                0 => assert!(
                    h.abs() <= x.abs() || (!h.is_infinite() && h == rn && h.abs() <= x.abs()),
                    "rz {x} -> {h}"
                ),
                -1 => assert!(h <= x, "rm {x} -> {h}"),
                _ => assert!(h >= x, "rp {x} -> {h}"),
            }
            // and it is one of the two neighbours
            let lo = f16::from_f32(x);
            let near = [
                lo.to_f32(),
                f16::from_bits(lo.to_bits().wrapping_add(1)).to_f32(),
                f16::from_bits(lo.to_bits().wrapping_sub(1)).to_f32(),
            ];
            assert!(near.contains(&h) || x.abs() > 65504.0, "{m} {x} -> {h}");
        }
    }
    // f16 -> f32 exact
    let out = run("cvt.f32.f16 %d, %ha;", &[[0x3c00, 0, 0], [0xc500, 0, 0]]);
    assert_eq!(f32::from_bits(out[0].d), 1.0);
    assert_eq!(f32::from_bits(out[1].d), -5.0);
    // packing: first source goes to the upper half
    let out = run("cvt.rn.f16x2.f32 %d, %a, %b;", &[[f(1.0), f(2.0), 0]]);
    assert_eq!(out[0].d, (0x3c00 << 16) | 0x4000);
    let out = run("cvt.rn.bf16x2.f32 %d, %a, %b;", &[[f(1.0), f(-2.0), 0]]);
    assert_eq!(out[0].d, (0x3f80 << 16) | 0xc000);
    let out = run(
        "cvt.rn.relu.bf16x2.f32 %d, %a, %b;",
        &[[f(-1.0), f(3.0), 0]],
    );
    assert_eq!(out[0].d, bf16::from_f32(3.0).to_bits() as u32);
    // mov packing / unpacking
    let out = run("mov.b32 %d, {%ha, %hb};", &[[0x1111, 0x2222, 0]]);
    assert_eq!(out[0].d, 0x2222_1111);
    let out = run(
        "mov.b32 {%h1, %h2}, %a;\n\tmov.b32 %d, {%h2, %h1};",
        &[[0xaaaa_bbbb, 0, 0]],
    );
    assert_eq!(out[0].d, 0xbbbb_aaaa);
    let out = run(
        "mov.b64 {%r2, %r3}, %a64;\n\tmov.b64 %d64, {%r3, %r2};",
        &[[0x1111_2222_3333_4444, 0, 0]],
    );
    assert_eq!(out[0].d64, 0x3333_4444_1111_2222);
}

#[test]
fn half_precision_arithmetic() {
    let mut rng = StdRng::seed_from_u64(13);
    let hs: Vec<(f16, f16, f16, f16)> = (0..128)
        .map(|_| {
            (
                f16::from_f32(rng.gen_range(-8.0..8.0)),
                f16::from_f32(rng.gen_range(-8.0..8.0)),
                f16::from_f32(rng.gen_range(-8.0..8.0)),
                f16::from_f32(rng.gen_range(-8.0..8.0)),
            )
        })
        .collect();
    let pk = |lo: f16, hi: f16| lo.to_bits() as u64 | ((hi.to_bits() as u64) << 16);
    let ins: Vec<[u64; 3]> = hs
        .iter()
        .map(|&(a, b, c, d)| [pk(a, b), pk(c, d), pk(b, a)])
        .collect();
    let r16 = |x: f64| f16::from_f64(x);
    let out = run("add.rn.f16x2 %d, %a, %b;", &ins);
    for (i, &(a, b, c, d)) in hs.iter().enumerate() {
        assert_eq!(
            out[i].d as u64,
            pk(r16(a.to_f64() + c.to_f64()), r16(b.to_f64() + d.to_f64()))
        );
    }
    let out = run("mul.rn.f16x2 %d, %a, %b;", &ins);
    for (i, &(a, b, c, d)) in hs.iter().enumerate() {
        assert_eq!(
            out[i].d as u64,
            pk(r16(a.to_f64() * c.to_f64()), r16(b.to_f64() * d.to_f64()))
        );
    }
    // fma: a*b exact in f64, plus c: single rounding
    let out = run("fma.rn.f16x2 %d, %a, %b, %c;", &ins);
    for (i, &(a, b, c, d)) in hs.iter().enumerate() {
        let lo = r16(a.to_f64().mul_add(c.to_f64(), b.to_f64()));
        let hi = r16(b.to_f64().mul_add(d.to_f64(), a.to_f64()));
        assert_eq!(out[i].d as u64, pk(lo, hi));
    }
    let out = run("fma.rn.f16 %hd, %ha, %hb, %hc;", &ins);
    for (i, &(a, _, c, _)) in hs.iter().enumerate() {
        // %hc is the low half of pk(b, a) = b
        let b = hs[i].1;
        assert_eq!(
            out[i].hd,
            r16(a.to_f64().mul_add(c.to_f64(), b.to_f64())).to_bits()
        );
    }
    // bf16x2
    let bs: Vec<[u64; 3]> = (0..64)
        .map(|_| {
            let v: Vec<u64> = (0..6)
                .map(|_| bf16::from_f32(rng.gen_range(-8.0..8.0)).to_bits() as u64)
                .collect();
            [v[0] | v[1] << 16, v[2] | v[3] << 16, v[4] | v[5] << 16]
        })
        .collect();
    let out = run("fma.rn.bf16x2 %d, %a, %b, %c;", &bs);
    for (i, x) in bs.iter().enumerate() {
        for h in 0..2 {
            let e = |v: u64| bf16::from_bits((v >> (16 * h)) as u16).to_f64();
            let w = bf16::from_f64(e(x[0]).mul_add(e(x[1]), e(x[2]))).to_bits();
            assert_eq!((out[i].d >> (16 * h)) as u16, w);
        }
    }
    let out = run("max.bf16x2 %d, %a, %b;", &bs);
    for (i, x) in bs.iter().enumerate() {
        for h in 0..2 {
            let e = |v: u64| bf16::from_bits((v >> (16 * h)) as u16);
            let w = if e(x[0]).to_f32() >= e(x[1]).to_f32() {
                e(x[0])
            } else {
                e(x[1])
            };
            assert_eq!((out[i].d >> (16 * h)) as u16, w.to_bits());
        }
    }
    let out = run("neg.f16x2 %d, %a;", &[[0x3c00_bc00, 0, 0]]);
    assert_eq!(out[0].d, 0xbc00_3c00);
}

#[test]
fn special_registers_and_predicated_exec() {
    let ins = vec![[0u64, 0, 0]; 40];
    let out = run(
        "mov.u32 %d, %laneid;\n\tmov.u32 %e, %lanemask_lt;\n\tmov.b64 %d64, {%d, %e};",
        &ins,
    );
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.d64 as u32, (i % 32) as u32);
        assert_eq!((o.d64 >> 32) as u32, (1u32 << (i % 32)) - 1);
    }
    let out = run(
        "mov.u32 %d, %warpid;\n\tmov.u32 %e, %ntid.x;\n\tmov.b64 %d64, {%d, %e};",
        &ins,
    );
    assert_eq!(out[35].d64, 1 | (40 << 32));
    let ins: Vec<[u64; 3]> = (0..8).map(|i| [i, 0, i % 2]).collect();
    let out = run("@%pc mov.u32 %d, 7;\n\t@!%pc mov.u32 %d, 9;", &ins);
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.d, if i % 2 == 1 { 7 } else { 9 });
    }
}

#[test]
fn local_memory_and_calls() {
    // a non-inlined function with params and a return value, plus a local array
    let src = r#".version 9.0
.target sm_80
.address_size 64
.func (.param .b32 r) addmul(.param .b32 x, .param .b32 y)
{
	.reg .b32 %r<4>;
	ld.param.b32 %r1, [x];
	ld.param.b32 %r2, [y];
	mad.lo.s32 %r3, %r1, %r2, 5;
	st.param.b32 [r], %r3;
	ret;
}
.func (.param .b32 r) fact(.param .b32 n)
{
	.reg .pred %p1;
	.reg .b32 %r<6>;
	ld.param.b32 %r1, [n];
	setp.le.s32 %p1, %r1, 1;
	mov.u32 %r5, 1;
	@%p1 bra $L_done;
	sub.s32 %r2, %r1, 1;
	{
	.param .b32 a0;
	st.param.b32 [a0], %r2;
	.param .b32 rv;
	call.uni (rv), fact, (a0);
	ld.param.b32 %r3, [rv];
	}
	mul.lo.s32 %r5, %r3, %r1;
$L_done:
	st.param.b32 [r], %r5;
	ret;
}
.visible .entry k(.param .u64 out)
{
	.local .align 4 .b8 __local_depot0[64];
	.reg .b64 %SP, %SPL, %rd<6>;
	.reg .b32 %r<10>;
	mov.u64 %SPL, __local_depot0;
	cvta.local.u64 %SP, %SPL;
	ld.param.u64 %rd1, [out];
	mov.u32 %r1, %tid.x;
	shl.b32 %r2, %r1, 2;
	cvt.u64.u32 %rd2, %r2;
	add.s64 %rd3, %SPL, %rd2;
	st.local.u32 [%rd3], %r1;
	add.s64 %rd4, %SP, %rd2;
	ld.u32 %r3, [%rd4];
	{
	.param .b32 p0;
	st.param.b32 [p0], %r3;
	.param .b32 p1;
	st.param.b32 [p1], 3;
	.param .b32 ret0;
	call.uni (ret0), addmul, (p0, p1);
	ld.param.b32 %r4, [ret0];
	}
	and.b32 %r6, %r1, 7;
	{
	.param .b32 p0;
	st.param.b32 [p0], %r6;
	.param .b32 ret0;
	call.uni (ret0), fact, (p0);
	ld.param.b32 %r7, [ret0];
	}
	add.s32 %r8, %r4, %r7;
	mul.wide.u32 %rd5, %r1, 4;
	add.s64 %rd5, %rd1, %rd5;
	st.global.u32 [%rd5], %r8;
	ret;
}
"#;
    let m = Module::parse(src).unwrap_or_else(|e| panic!("{e}"));
    let mut dev = Device::new();
    let out = dev.alloc(16 * 4).unwrap();
    dev.launch(&m, "k", &LaunchConfig::linear(1, 16), &[Param::U64(out)])
        .unwrap_or_else(|e| panic!("{e}"));
    let v: Vec<u32> = download(&dev, out, 16);
    let fact = |n: u32| (1..=n.max(1)).product::<u32>();
    for (i, x) in v.iter().enumerate() {
        let i = i as u32;
        assert_eq!(*x, i * 3 + 5 + fact(i & 7), "thread {i}");
    }
}
