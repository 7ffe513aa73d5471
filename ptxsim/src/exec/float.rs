//! IEEE rounding helpers: results are computed exactly (as an f64 value plus an error term)
//! and rounded once to the target format with the requested rounding mode.

use crate::ir::Rnd;
use half::{bf16, f16};

/// s + e == a + b exactly.
pub fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let b = x.to_bits();
    f64::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}
fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

/// Move `r` one f64 ulp toward the exact value r + e, so that a later rounding to any
/// coarser format sees the right side of ties and representable points.
pub fn nudge(r: f64, e: f64) -> f64 {
    if e > 0.0 {
        next_up(r)
    } else if e < 0.0 {
        next_down(r)
    } else {
        r
    }
}

/// Exact a + b, nudged.
pub fn add_x(a: f64, b: f64) -> f64 {
    if !a.is_finite() || !b.is_finite() {
        return a + b;
    }
    let (s, e) = two_sum(a, b);
    if s.is_infinite() {
        return s;
    }
    nudge(s, e)
}
/// Exact a * b, nudged.
pub fn mul_x(a: f64, b: f64) -> f64 {
    let p = a * b;
    if !p.is_finite() || p == 0.0 {
        return p;
    }
    let e = a.mul_add(b, -p);
    nudge(p, e)
}
/// Exact a * b + c for inputs of at most 26 significant bits (f32, f16, bf16), nudged.
pub fn fma_x(a: f64, b: f64, c: f64) -> f64 {
    let p = a * b; // exact for <= 26-bit significands
    if !p.is_finite() || !c.is_finite() {
        return p + c;
    }
    add_x(p, c)
}

fn f32_next_toward_zero(f: f32) -> f32 {
    if f == 0.0 || f.is_nan() {
        return f;
    }
    f32::from_bits(f.to_bits() - 1)
}
fn f32_next_away(f: f32) -> f32 {
    if f.is_infinite() || f.is_nan() {
        return f;
    }
    if f == 0.0 {
        return f32::from_bits(1).copysign(f);
    }
    f32::from_bits(f.to_bits() + 1)
}

/// Round an f64 (already nudged) to f32 with a rounding mode.
pub fn to_f32(x: f64, r: Rnd) -> f32 {
    let f = x as f32;
    if r == Rnd::Rn || x.is_nan() {
        return f;
    }
    let fd = f as f64;
    if fd == x {
        return f;
    }
    let too_big = fd.abs() > x.abs(); // f is farther from zero than x
    let toward_zero = |f: f32| if too_big { f32_next_toward_zero(f) } else { f };
    let away = |f: f32| if too_big { f } else { f32_next_away(f) };
    match r {
        Rnd::Rz => toward_zero(f),
        Rnd::Rm => {
            if x > 0.0 {
                toward_zero(f)
            } else {
                away(f)
            }
        }
        Rnd::Rp => {
            if x > 0.0 {
                away(f)
            } else {
                toward_zero(f)
            }
        }
        Rnd::Rn => f,
    }
}

/// Round an f64 to f64 given an error term.
pub fn to_f64(x: f64, e: f64, r: Rnd) -> f64 {
    if r == Rnd::Rn || e == 0.0 || !x.is_finite() {
        return x;
    }
    match r {
        Rnd::Rz => {
            if (x > 0.0) != (e > 0.0) {
                if x > 0.0 {
                    next_down(x)
                } else {
                    next_up(x)
                }
            } else {
                x
            }
        }
        Rnd::Rm => {
            if e < 0.0 {
                next_down(x)
            } else {
                x
            }
        }
        Rnd::Rp => {
            if e > 0.0 {
                next_up(x)
            } else {
                x
            }
        }
        Rnd::Rn => x,
    }
}

fn half_round(x: f64, r: Rnd, rn: fn(f64) -> u16, tof: fn(u16) -> f64) -> u16 {
    let h = rn(x);
    if r == Rnd::Rn || x.is_nan() {
        return h;
    }
    let hd = tof(h);
    if hd == x {
        return h;
    }
    let too_big = hd.abs() > x.abs();
    let tz = |h: u16| {
        if too_big {
            if h & 0x7fff == 0 {
                h
            } else {
                h - 1
            }
        } else {
            h
        }
    };
    let aw = |h: u16| {
        if too_big || tof(h).is_infinite() {
            h
        } else if h & 0x7fff == 0 {
            (h & 0x8000) | 1
        } else {
            h + 1
        }
    };
    match r {
        Rnd::Rz => tz(h),
        Rnd::Rm => {
            if x > 0.0 {
                tz(h)
            } else {
                aw(h)
            }
        }
        Rnd::Rp => {
            if x > 0.0 {
                aw(h)
            } else {
                tz(h)
            }
        }
        Rnd::Rn => h,
    }
}

/// Round an f64 (nudged) to f16 bits.
pub fn to_f16(x: f64, r: Rnd) -> u16 {
    half_round(
        x,
        r,
        |x| f16::from_f64(x).to_bits(),
        |b| f16::from_bits(b).to_f64(),
    )
}
/// Round an f64 (nudged) to bf16 bits.
pub fn to_bf16(x: f64, r: Rnd) -> u16 {
    half_round(
        x,
        r,
        |x| bf16::from_f64(x).to_bits(),
        |b| bf16::from_bits(b).to_f64(),
    )
}

pub fn f16_to_f64(b: u16) -> f64 {
    f16::from_bits(b).to_f64()
}
pub fn bf16_to_f64(b: u16) -> f64 {
    bf16::from_bits(b).to_f64()
}

/// Flush an f32 subnormal to a signed zero.
#[inline]
pub fn ftz32(x: f32) -> f32 {
    if x.is_subnormal() {
        0.0f32.copysign(x)
    } else {
        x
    }
}

/// Clamp to [0, 1], NaN to 0.
pub fn sat64(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// Round to an integral value with a mode (used by cvt.rni etc.).
pub fn round_int(x: f64, r: Rnd) -> f64 {
    match r {
        Rnd::Rn => x.round_ties_even(),
        Rnd::Rz => x.trunc(),
        Rnd::Rm => x.floor(),
        Rnd::Rp => x.ceil(),
    }
}
