//! Per-lane execution of arithmetic, logic, compare, convert and move instructions
//! (memory instructions: mem.rs; collectives: warp.rs, tensor.rs).

use super::float::*;
use super::{unsupported, Cta};
use crate::error::FResult;
use crate::ir::*;

#[inline]
fn sext(v: u64, bits: u32) -> i64 {
    if bits >= 64 {
        v as i64
    } else {
        ((v << (64 - bits)) as i64) >> (64 - bits)
    }
}

#[inline]
fn mask_bits(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

#[inline]
pub(crate) fn ibin(op: IBin, ty: Ty, sat: bool, a: u64, b: u64) -> u64 {
    let bits = ty.bits();
    let m = mask_bits(bits);
    let s = ty.signed();
    let (ua, ub) = (a & m, b & m);
    let (sa, sb) = (sext(a, bits), sext(b, bits));
    match op {
        IBin::Add => {
            if sat && ty == Ty::S32 {
                (sa + sb).clamp(i32::MIN as i64, i32::MAX as i64) as u64 & m
            } else {
                ua.wrapping_add(ub) & m
            }
        }
        IBin::Sub => {
            if sat && ty == Ty::S32 {
                (sa - sb).clamp(i32::MIN as i64, i32::MAX as i64) as u64 & m
            } else {
                ua.wrapping_sub(ub) & m
            }
        }
        IBin::MulLo => ua.wrapping_mul(ub) & m,
        IBin::MulHi => {
            if s {
                ((sa as i128 * sb as i128) >> bits) as u64 & m
            } else {
                ((ua as u128 * ub as u128) >> bits) as u64 & m
            }
        }
        IBin::MulWide => {
            let wm = mask_bits(bits * 2);
            if s {
                (sa as i128 * sb as i128) as u64 & wm
            } else {
                (ua as u128 * ub as u128) as u64 & wm
            }
        }
        IBin::Mul24Lo => {
            if s {
                (sext(a, 24).wrapping_mul(sext(b, 24))) as u64 & m
            } else {
                ((a & 0xff_ffff) * (b & 0xff_ffff)) & m
            }
        }
        IBin::Div => {
            if s {
                if sb == 0 {
                    m
                } else {
                    sa.wrapping_div(sb) as u64 & m
                }
            } else {
                ua.checked_div(ub).unwrap_or(m)
            }
        }
        IBin::Rem => {
            if s {
                if sb == 0 {
                    ua
                } else {
                    sa.wrapping_rem(sb) as u64 & m
                }
            } else if ub == 0 {
                ua
            } else {
                ua % ub
            }
        }
        IBin::Min => {
            if s {
                sa.min(sb) as u64 & m
            } else {
                ua.min(ub)
            }
        }
        IBin::Max => {
            if s {
                sa.max(sb) as u64 & m
            } else {
                ua.max(ub)
            }
        }
        IBin::And => ua & ub,
        IBin::Or => ua | ub,
        IBin::Xor => ua ^ ub,
        IBin::Shl => {
            let n = b & 0xffff_ffff;
            if n >= bits as u64 {
                0
            } else {
                (ua << n) & m
            }
        }
        IBin::Shr => {
            let n = b & 0xffff_ffff;
            if s {
                (sa >> n.min(bits as u64 - 1).min(63)) as u64 & m
            } else if n >= bits as u64 {
                0
            } else {
                ua >> n
            }
        }
    }
}

#[inline]
pub(crate) fn iun(op: IUn, ty: Ty, a: u64) -> u64 {
    let bits = ty.bits();
    let m = mask_bits(bits);
    let ua = a & m;
    match op {
        IUn::Neg => ua.wrapping_neg() & m,
        IUn::Abs => sext(a, bits).wrapping_abs() as u64 & m,
        IUn::Not => !ua & m,
        IUn::Cnot => (ua == 0) as u64,
        IUn::Brev => ua.reverse_bits() >> (64 - bits),
        IUn::Clz => (ua.leading_zeros() - (64 - bits)) as u64,
        IUn::Popc => ua.count_ones() as u64,
        IUn::Bfind | IUn::BfindShift => {
            let v = if ty.signed() && (ua >> (bits - 1)) & 1 == 1 {
                !ua & m
            } else {
                ua
            };
            if v == 0 {
                0xffff_ffff
            } else {
                let idx = 63 - v.leading_zeros() as u64;
                if op == IUn::BfindShift {
                    bits as u64 - 1 - idx
                } else {
                    idx
                }
            }
        }
    }
}

/// Read a float operand as f64 (exact).
#[inline]
pub(crate) fn fget(ty: Ty, v: u64) -> f64 {
    match ty {
        Ty::F32 => f32::from_bits(v as u32) as f64,
        Ty::F64 => f64::from_bits(v),
        Ty::F16 => f16_to_f64(v as u16),
        Ty::BF16 => bf16_to_f64(v as u16),
        _ => f64::NAN,
    }
}

fn canon_nan(ty: Ty) -> u64 {
    match ty {
        Ty::F32 => 0x7fff_ffff,
        Ty::F64 => 0x7fff_ffff_ffff_ffff,
        _ => 0x7fff,
    }
}

/// Round an exact (nudged) f64 result into the format `ty`.
fn fput(ty: Ty, x: f64, r: Rnd) -> u64 {
    if x.is_nan() {
        return canon_nan(ty);
    }
    match ty {
        Ty::F32 => to_f32(x, r).to_bits() as u64,
        Ty::F64 => x.to_bits(),
        Ty::F16 => to_f16(x, r) as u64,
        Ty::BF16 => to_bf16(x, r) as u64,
        _ => 0,
    }
}

fn fmin(a: f64, b: f64, max: bool) -> f64 {
    if a.is_nan() {
        return b;
    }
    if b.is_nan() {
        return a;
    }
    if a == b {
        // -0 < +0
        return if (a.is_sign_negative() && !max) || (a.is_sign_positive() && max) {
            a
        } else {
            b
        };
    }
    if (a < b) != max {
        a
    } else {
        b
    }
}

/// Scalar float binary op for f32/f64/f16/bf16 (one element).
fn fbin1(op: FBin, ty: Ty, m: FMods, a: u64, b: u64) -> u64 {
    if ty == Ty::F64 {
        let (x, y) = (f64::from_bits(a), f64::from_bits(b));
        let r = match op {
            FBin::Add | FBin::Sub => {
                let y = if op == FBin::Sub { -y } else { y };
                let (s, e) = two_sum(x, y);
                if s.is_finite() {
                    to_f64(s, e, m.rnd)
                } else {
                    x + y
                }
            }
            FBin::Mul => {
                let p = x * y;
                if p.is_finite() {
                    to_f64(p, x.mul_add(y, -p), m.rnd)
                } else {
                    p
                }
            }
            FBin::Div => {
                let q = x / y;
                if q.is_finite() && q != 0.0 {
                    let rem = (-q).mul_add(y, x);
                    to_f64(q, rem * y.signum(), m.rnd)
                } else {
                    q
                }
            }
            FBin::Min | FBin::Max if m.nan && (x.is_nan() || y.is_nan()) => f64::NAN,
            FBin::Min => fmin(x, y, false),
            FBin::Max => fmin(x, y, true),
            FBin::Copysign => return (b & !(1 << 63)) | (a & (1 << 63)),
        };
        return if r.is_nan() {
            canon_nan(ty)
        } else {
            r.to_bits()
        };
    }
    if ty == Ty::F32 {
        let mut x = f32::from_bits(a as u32);
        let mut y = f32::from_bits(b as u32);
        if m.ftz {
            x = ftz32(x);
            y = ftz32(y);
        }
        let mut r = match op {
            FBin::Add | FBin::Sub => {
                let y = if op == FBin::Sub { -y } else { y };
                if m.rnd == Rnd::Rn {
                    x + y
                } else {
                    to_f32(add_x(x as f64, y as f64), m.rnd)
                }
            }
            FBin::Mul => {
                if m.rnd == Rnd::Rn {
                    x * y
                } else {
                    to_f32(mul_x(x as f64, y as f64), m.rnd)
                }
            }
            FBin::Div => {
                if m.rnd == Rnd::Rn || m.approx {
                    x / y
                } else {
                    let (xd, yd) = (x as f64, y as f64);
                    let q = xd / yd;
                    if q.is_finite() && q != 0.0 {
                        let rem = (-q).mul_add(yd, xd);
                        to_f32(nudge(q, rem * yd.signum()), m.rnd)
                    } else {
                        q as f32
                    }
                }
            }
            FBin::Min | FBin::Max if m.nan && (x.is_nan() || y.is_nan()) => f32::NAN,
            FBin::Min => fmin(x as f64, y as f64, false) as f32,
            FBin::Max => fmin(x as f64, y as f64, true) as f32,
            FBin::Copysign => return ((b as u32 & 0x7fff_ffff) | (a as u32 & 0x8000_0000)) as u64,
        };
        if m.ftz {
            r = ftz32(r);
        }
        if m.sat {
            r = sat64(r as f64) as f32;
        }
        return if r.is_nan() {
            canon_nan(ty)
        } else {
            r.to_bits() as u64
        };
    }
    // f16 / bf16
    let (x, y) = (fget(ty, a), fget(ty, b));
    let r = match op {
        FBin::Add => add_x(x, y),
        FBin::Sub => add_x(x, -y),
        FBin::Mul => mul_x(x, y),
        FBin::Div => x / y,
        FBin::Min | FBin::Max if m.nan && (x.is_nan() || y.is_nan()) => f64::NAN,
        FBin::Min => fmin(x, y, false),
        FBin::Max => fmin(x, y, true),
        FBin::Copysign => return (b & 0x7fff) | (a & 0x8000),
    };
    let r = if m.sat { sat64(r) } else { r };
    fput(ty, r, m.rnd)
}

fn packed(ty: Ty) -> Option<Ty> {
    match ty {
        Ty::F16x2 => Some(Ty::F16),
        Ty::BF16x2 => Some(Ty::BF16),
        _ => None,
    }
}

fn fma1(ty: Ty, m: FMods, a: u64, b: u64, c: u64) -> u64 {
    match ty {
        Ty::F32 => {
            let (mut x, mut y, mut z) = (
                f32::from_bits(a as u32),
                f32::from_bits(b as u32),
                f32::from_bits(c as u32),
            );
            if m.ftz {
                x = ftz32(x);
                y = ftz32(y);
                z = ftz32(z);
            }
            let mut r = if m.rnd == Rnd::Rn {
                x.mul_add(y, z)
            } else {
                to_f32(fma_x(x as f64, y as f64, z as f64), m.rnd)
            };
            if m.ftz {
                r = ftz32(r);
            }
            if m.sat {
                r = sat64(r as f64) as f32;
            }
            if r.is_nan() {
                canon_nan(ty)
            } else {
                r.to_bits() as u64
            }
        }
        Ty::F64 => {
            let (x, y, z) = (f64::from_bits(a), f64::from_bits(b), f64::from_bits(c));
            let r = x.mul_add(y, z);
            let r = if m.rnd != Rnd::Rn && r.is_finite() {
                // error estimate: exact product error plus the sum's error
                let p = x * y;
                let pe = x.mul_add(y, -p);
                let (s, e) = two_sum(p, z);
                let _ = s;
                to_f64(r, (e + pe) - (r - s), m.rnd)
            } else {
                r
            };
            if r.is_nan() {
                canon_nan(ty)
            } else {
                r.to_bits()
            }
        }
        _ => {
            let r = fma_x(fget(ty, a), fget(ty, b), fget(ty, c));
            let r = if m.sat { sat64(r) } else { r };
            fput(ty, r, m.rnd)
        }
    }
}

fn fun1(op: FUn, ty: Ty, m: FMods, a: u64) -> u64 {
    if let FUn::Neg | FUn::Abs = op {
        let sign = 1u64 << (ty.bits() - 1);
        let a = if ty == Ty::F32 && m.ftz {
            ftz32(f32::from_bits(a as u32)).to_bits() as u64
        } else {
            a
        };
        return if op == FUn::Neg { a ^ sign } else { a & !sign };
    }
    let x = if ty == Ty::F32 && m.ftz {
        ftz32(f32::from_bits(a as u32)) as f64
    } else {
        fget(ty, a)
    };
    if ty == Ty::F32 && !m.approx && m.rnd != Rnd::Rn {
        // directed rounding for sqrt / rcp
        let r = match op {
            FUn::Sqrt => {
                let s = x.sqrt();
                nudge(s, -(s.mul_add(s, -x)))
            }
            FUn::Rcp => {
                let q = 1.0 / x;
                nudge(q, (-q).mul_add(x, 1.0) * x.signum())
            }
            _ => x,
        };
        let mut r = to_f32(r, m.rnd);
        if m.ftz {
            r = ftz32(r);
        }
        return if r.is_nan() {
            canon_nan(ty)
        } else {
            r.to_bits() as u64
        };
    }
    let r = match ty {
        Ty::F32 => {
            let xf = x as f32;
            let r: f32 = match op {
                FUn::Sqrt => xf.sqrt(),
                FUn::Rcp => 1.0 / xf,
                FUn::Rsqrt => 1.0 / xf.sqrt(),
                FUn::Ex2 => xf.exp2(),
                FUn::Lg2 => xf.log2(),
                FUn::Sin => xf.sin(),
                FUn::Cos => xf.cos(),
                FUn::Tanh => xf.tanh(),
                FUn::Neg | FUn::Abs => xf,
            };
            let r = if m.ftz { ftz32(r) } else { r };
            return if r.is_nan() {
                canon_nan(ty)
            } else {
                r.to_bits() as u64
            };
        }
        _ => match op {
            FUn::Sqrt => x.sqrt(),
            FUn::Rcp => 1.0 / x,
            FUn::Rsqrt => 1.0 / x.sqrt(),
            FUn::Ex2 => x.exp2(),
            FUn::Lg2 => x.ln() / std::f64::consts::LN_2,
            FUn::Sin => x.sin(),
            FUn::Cos => x.cos(),
            FUn::Tanh => x.tanh(),
            FUn::Neg | FUn::Abs => x,
        },
    };
    if ty == Ty::F64 {
        if r.is_nan() {
            canon_nan(ty)
        } else {
            r.to_bits()
        }
    } else {
        fput(ty, r, Rnd::Rn)
    }
}

#[inline]
fn compare(cmp: Cmp, ty: Ty, a: u64, b: u64) -> bool {
    if ty.is_float() {
        let (x, y) = (fget(ty, a), fget(ty, b));
        let un = x.is_nan() || y.is_nan();
        return match cmp {
            Cmp::Eq => !un && x == y,
            Cmp::Ne => !un && x != y,
            Cmp::Lt => !un && x < y,
            Cmp::Le => !un && x <= y,
            Cmp::Gt => !un && x > y,
            Cmp::Ge => !un && x >= y,
            Cmp::Equ => un || x == y,
            Cmp::Neu => un || x != y,
            Cmp::Ltu => un || x < y,
            Cmp::Leu => un || x <= y,
            Cmp::Gtu => un || x > y,
            Cmp::Geu => un || x >= y,
            Cmp::Num => !un,
            Cmp::Nan => un,
            Cmp::Lo | Cmp::Ls | Cmp::Hi | Cmp::Hs => false,
        };
    }
    let bits = ty.bits();
    let m = mask_bits(bits);
    let (ua, ub) = (a & m, b & m);
    let (sa, sb) = (sext(a, bits), sext(b, bits));
    let s = ty.signed();
    match cmp {
        Cmp::Eq => ua == ub,
        Cmp::Ne => ua != ub,
        Cmp::Lt => {
            if s {
                sa < sb
            } else {
                ua < ub
            }
        }
        Cmp::Le => {
            if s {
                sa <= sb
            } else {
                ua <= ub
            }
        }
        Cmp::Gt => {
            if s {
                sa > sb
            } else {
                ua > ub
            }
        }
        Cmp::Ge => {
            if s {
                sa >= sb
            } else {
                ua >= ub
            }
        }
        Cmp::Lo => ua < ub,
        Cmp::Ls => ua <= ub,
        Cmp::Hi => ua > ub,
        Cmp::Hs => ua >= ub,
        _ => false,
    }
}

fn combine(op: BoolOp, a: bool, b: bool) -> bool {
    match op {
        BoolOp::And => a && b,
        BoolOp::Or => a || b,
        BoolOp::Xor => a ^ b,
    }
}

fn bfe(ty: Ty, a: u64, pos: u64, len: u64) -> u64 {
    let bits = ty.bits() as u64;
    let pos = pos & 0xff;
    let len = len & 0xff;
    let msb = if ty.signed() {
        if len == 0 {
            false
        } else {
            (a >> (pos + len - 1).min(bits - 1)) & 1 == 1
        }
    } else {
        false
    };
    let mut d = 0u64;
    for i in 0..bits {
        let bit = if i < len && pos + i < bits {
            (a >> (pos + i)) & 1 == 1
        } else {
            msb
        };
        if bit {
            d |= 1 << i;
        }
    }
    d
}

fn bfi(ty: Ty, a: u64, b: u64, pos: u64, len: u64) -> u64 {
    let bits = ty.bits() as u64;
    let pos = pos & 0xff;
    let len = len & 0xff;
    let mut d = b & mask_bits(bits as u32);
    for i in 0..len {
        if pos + i >= bits {
            break;
        }
        let bit = (a >> i) & 1;
        d = (d & !(1 << (pos + i))) | (bit << (pos + i));
    }
    d
}

pub(crate) fn prmt(mode: PrmtMode, a: u32, b: u32, c: u32) -> u32 {
    let tmp = ((b as u64) << 32) | a as u64;
    let byte = |i: u32| ((tmp >> (8 * (i & 7))) & 0xff) as u32;
    let s = c & 3;
    let mut d = 0u32;
    for i in 0..4u32 {
        let v = match mode {
            PrmtMode::Default => {
                let sel = (c >> (4 * i)) & 0xf;
                let v = byte(sel & 7);
                if sel & 8 != 0 {
                    if v & 0x80 != 0 {
                        0xff
                    } else {
                        0
                    }
                } else {
                    v
                }
            }
            PrmtMode::F4e => byte(s + i),
            PrmtMode::B4e => byte((s + 8 - i) & 7),
            PrmtMode::Rc8 => byte(s),
            PrmtMode::Ecl => byte(i.max(s)),
            PrmtMode::Ecr => byte(i.min(s)),
            PrmtMode::Rc16 => byte((s & 1) * 2 + (i & 1)),
        };
        d |= v << (8 * i);
    }
    d
}

fn float_to_int(x: f64, rnd: Rnd, dty: Ty) -> u64 {
    if x.is_nan() {
        return 0;
    }
    let r = round_int(x, rnd);
    let bits = dty.bits();
    if dty.signed() {
        let lo = -(2f64.powi(bits as i32 - 1));
        let hi = 2f64.powi(bits as i32 - 1) - 1.0;
        (r.clamp(lo, hi) as i64) as u64 & mask_bits(bits)
    } else {
        let hi = 2f64.powi(bits as i32) - 1.0;
        let v = r.clamp(0.0, hi);
        if bits == 64 {
            v as u64
        } else {
            (v as u64) & mask_bits(bits)
        }
    }
}

fn int_to_float(v: i128, dty: Ty, rnd: Rnd) -> u64 {
    match dty {
        Ty::F64 => {
            let f = v as f64;
            let e = v - f as i128;
            let e = if f.is_finite() { e as f64 } else { 0.0 };
            to_f64(f, e, rnd).to_bits()
        }
        Ty::F32 => {
            let f = v as f32;
            if rnd == Rnd::Rn {
                return f.to_bits() as u64;
            }
            let diff = v - f as i128; // exact value minus rounded
            let x = nudge(f as f64, diff as f64);
            to_f32(x, rnd).to_bits() as u64
        }
        Ty::F16 | Ty::BF16 => {
            let f = v as f64;
            let diff = v - f as i128;
            let x = nudge(f, diff as f64);
            if dty == Ty::F16 {
                to_f16(x, rnd) as u64
            } else {
                to_bf16(x, rnd) as u64
            }
        }
        _ => 0,
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn cvt(
    dty: Ty,
    sty: Ty,
    rnd: Option<Rnd>,
    int_rnd: bool,
    sat: bool,
    ftz: bool,
    relu: bool,
    a: u64,
) -> u64 {
    let sbits = sty.bits();
    if sty.is_int() && dty.is_int() {
        let v: i128 = if sty.signed() {
            sext(a, sbits) as i128
        } else {
            (a & mask_bits(sbits)) as i128
        };
        let dbits = dty.bits();
        if sat {
            let (lo, hi): (i128, i128) = if dty.signed() {
                (-(1i128 << (dbits - 1)), (1i128 << (dbits - 1)) - 1)
            } else {
                (0, (1i128 << dbits) - 1)
            };
            return (v.clamp(lo, hi) as u64) & mask_bits(dbits);
        }
        // integer conversions sign-/zero-extend to the destination width
        return (v as u64) & mask_bits(dbits);
    }
    if sty.is_int() {
        let v: i128 = if sty.signed() {
            sext(a, sbits) as i128
        } else {
            (a & mask_bits(sbits)) as i128
        };
        let r = int_to_float(v, dty, rnd.unwrap_or(Rnd::Rn));
        if sat {
            let x = fget(dty, r);
            return fput(dty, sat64(x), Rnd::Rn);
        }
        return r;
    }
    // float source
    let mut x = if sty == Ty::F32 && ftz {
        ftz32(f32::from_bits(a as u32)) as f64
    } else {
        fget(sty, a)
    };
    if dty.is_int() {
        return float_to_int(x, rnd.unwrap_or(Rnd::Rz), dty);
    }
    if int_rnd {
        x = round_int(x, rnd.unwrap_or(Rnd::Rn));
    }
    if relu && !x.is_nan() && x < 0.0 {
        x = 0.0;
    }
    if sat {
        x = sat64(x);
    }
    if x.is_nan() {
        return canon_nan(dty);
    }
    let r = rnd.filter(|_| !int_rnd).unwrap_or(Rnd::Rn);
    match dty {
        Ty::F32 => {
            let mut f = to_f32(x, r);
            if ftz {
                f = ftz32(f);
            }
            f.to_bits() as u64
        }
        Ty::F64 => x.to_bits(),
        Ty::F16 => to_f16(x, r) as u64,
        Ty::BF16 => to_bf16(x, r) as u64,
        _ => 0,
    }
}

/// Iterate the set bits of a lane mask.
#[inline]
fn lanes(mut m: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if m == 0 {
            None
        } else {
            let l = m.trailing_zeros() as usize;
            m &= m - 1;
            Some(l)
        }
    })
}

impl Cta<'_> {
    /// Fast path: the most frequent scalar instructions, with the lane loop inside the match.
    /// Returns false when the instruction is not one of them (then `exec_lane` runs per lane).
    #[inline]
    pub(crate) fn exec_group_fast(&mut self, inst: &Inst, base: usize, act: u32) -> bool {
        match &inst.op {
            Op::Mov { d, a, mask } => {
                for l in lanes(act) {
                    let t = base + l;
                    let v = self.rd(t, *a) & mask;
                    self.wr(t, *d, v);
                }
            }
            Op::IBin {
                op,
                ty,
                sat,
                d,
                a,
                b,
            } => {
                for l in lanes(act) {
                    let t = base + l;
                    let v = ibin(*op, *ty, *sat, self.rd(t, *a), self.rd(t, *b));
                    self.wr(t, *d, v);
                }
            }
            Op::Mad {
                mode: IBin::MulLo,
                ty,
                sat: false,
                d,
                a,
                b,
                c,
            } => {
                let m = ty.mask();
                for l in lanes(act) {
                    let t = base + l;
                    let v = self
                        .rd(t, *a)
                        .wrapping_mul(self.rd(t, *b))
                        .wrapping_add(self.rd(t, *c))
                        & m;
                    self.wr(t, *d, v);
                }
            }
            Op::Setp {
                cmp,
                ty,
                p,
                q: None,
                a,
                b,
                comb: None,
            } if !matches!(ty, Ty::F16x2 | Ty::BF16x2) => {
                for l in lanes(act) {
                    let t = base + l;
                    let v = compare(*cmp, *ty, self.rd(t, *a), self.rd(t, *b));
                    self.wr(t, *p, v as u64);
                }
            }
            Op::Selp { d, a, b, p, .. } => {
                for l in lanes(act) {
                    let t = base + l;
                    let v = if self.rd(t, *p) & 1 == 1 {
                        self.rd(t, *a)
                    } else {
                        self.rd(t, *b)
                    };
                    self.wr(t, *d, v);
                }
            }
            Op::Fma {
                ty: Ty::F32,
                m:
                    FMods {
                        rnd: Rnd::Rn,
                        ftz: false,
                        sat: false,
                        ..
                    },
                d,
                a,
                b,
                c,
            } => {
                for l in lanes(act) {
                    let t = base + l;
                    let x = f32::from_bits(self.rd(t, *a) as u32);
                    let y = f32::from_bits(self.rd(t, *b) as u32);
                    let z = f32::from_bits(self.rd(t, *c) as u32);
                    let r = x.mul_add(y, z);
                    let v = if r.is_nan() {
                        0x7fff_ffff
                    } else {
                        r.to_bits() as u64
                    };
                    self.wr(t, *d, v);
                }
            }
            Op::FBin {
                op: op @ (FBin::Add | FBin::Sub | FBin::Mul),
                ty: Ty::F32,
                m:
                    FMods {
                        rnd: Rnd::Rn,
                        ftz: false,
                        sat: false,
                        ..
                    },
                d,
                a,
                b,
            } => {
                for l in lanes(act) {
                    let t = base + l;
                    let x = f32::from_bits(self.rd(t, *a) as u32);
                    let y = f32::from_bits(self.rd(t, *b) as u32);
                    let r = match op {
                        FBin::Add => x + y,
                        FBin::Sub => x - y,
                        _ => x * y,
                    };
                    let v = if r.is_nan() {
                        0x7fff_ffff
                    } else {
                        r.to_bits() as u64
                    };
                    self.wr(t, *d, v);
                }
            }
            _ => return false,
        }
        true
    }

    /// Arithmetic, logic, compare, convert and move instructions of one lane.
    pub(crate) fn exec_alu(&mut self, inst: &Inst, t: usize) -> FResult<()> {
        match &inst.op {
            Op::Mov { d, a, mask } => {
                let v = self.rd(t, *a) & mask;
                self.wr(t, *d, v);
            }
            Op::Pack { d, parts, bits } => {
                let m = mask_bits(*bits);
                let mut v = 0u64;
                for (i, p) in parts.iter().enumerate() {
                    v |= (self.rd(t, *p) & m) << (bits * i as u32);
                }
                self.wr(t, *d, v);
            }
            Op::Unpack { ds, a, bits } => {
                let m = mask_bits(*bits);
                let v = self.rd(t, *a);
                for (i, d) in ds.iter().enumerate() {
                    self.wr(t, *d, (v >> (bits * i as u32)) & m);
                }
            }
            Op::IBin {
                op,
                ty,
                sat,
                d,
                a,
                b,
            } => {
                let v = ibin(*op, *ty, *sat, self.rd(t, *a), self.rd(t, *b));
                self.wr(t, *d, v);
            }
            Op::IUn { op, ty, d, a } => {
                let v = iun(*op, *ty, self.rd(t, *a));
                self.wr(t, *d, v);
            }
            Op::Mad {
                mode,
                ty,
                sat,
                d,
                a,
                b,
                c,
            } => {
                let (x, y, z) = (self.rd(t, *a), self.rd(t, *b), self.rd(t, *c));
                let p = ibin(*mode, *ty, false, x, y);
                let v = match mode {
                    IBin::MulWide => {
                        let wty = match ty {
                            Ty::S16 => Ty::S32,
                            Ty::U16 => Ty::U32,
                            Ty::S32 => Ty::S64,
                            _ => Ty::U64,
                        };
                        ibin(IBin::Add, wty, false, p, z)
                    }
                    IBin::MulHi if *sat && *ty == Ty::S32 => ibin(IBin::Add, Ty::S32, true, p, z),
                    _ => ibin(IBin::Add, *ty, false, p, z),
                };
                self.wr(t, *d, v);
            }
            Op::Carry {
                sub,
                cin,
                cout,
                ty,
                d,
                a,
                b,
            } => {
                let m = ty.mask();
                let (x, y) = (self.rd(t, *a) & m, self.rd(t, *b) & m);
                let ci = if *cin { self.carry[t] as u128 } else { 0 };
                let (r, c) = if *sub {
                    let r = (x as u128).wrapping_sub(y as u128).wrapping_sub(ci);
                    (r as u64 & m, ((x as u128) < y as u128 + ci) as u8)
                } else {
                    let r = x as u128 + y as u128 + ci;
                    (r as u64 & m, (r >> ty.bits()) as u8 & 1)
                };
                if *cout {
                    self.carry[t] = c;
                }
                self.wr(t, *d, r);
            }
            Op::MadCarry {
                hi,
                cin,
                cout,
                ty,
                d,
                a,
                b,
                c,
            } => {
                let bits = ty.bits();
                let m = ty.mask();
                let (x, y, z) = (self.rd(t, *a) & m, self.rd(t, *b) & m, self.rd(t, *c) & m);
                let p = if ty.signed() {
                    (sext(x, bits) as i128 * sext(y, bits) as i128) as u128
                } else {
                    x as u128 * y as u128
                };
                let part = if *hi {
                    (p >> bits) as u64 & m
                } else {
                    p as u64 & m
                };
                let ci = if *cin { self.carry[t] as u128 } else { 0 };
                let r = part as u128 + z as u128 + ci;
                if *cout {
                    self.carry[t] = (r >> bits) as u8 & 1;
                }
                self.wr(t, *d, r as u64 & m);
            }
            Op::Bfe { ty, d, a, b, c } => {
                let v = bfe(*ty, self.rd(t, *a), self.rd(t, *b), self.rd(t, *c));
                self.wr(t, *d, v);
            }
            Op::Bfi { ty, d, a, b, c, e } => {
                let v = bfi(
                    *ty,
                    self.rd(t, *a),
                    self.rd(t, *b),
                    self.rd(t, *c),
                    self.rd(t, *e),
                );
                self.wr(t, *d, v);
            }
            Op::Prmt { mode, d, a, b, c } => {
                let v = prmt(
                    *mode,
                    self.rd(t, *a) as u32,
                    self.rd(t, *b) as u32,
                    self.rd(t, *c) as u32,
                );
                self.wr(t, *d, v as u64);
            }
            Op::Lop3 { d, a, b, c, lut } => {
                let (x, y, z) = (
                    self.rd(t, *a) as u32,
                    self.rd(t, *b) as u32,
                    self.rd(t, *c) as u32,
                );
                let mut r = 0u32;
                for i in 0..8u32 {
                    if (lut >> i) & 1 == 1 {
                        let xa = if i & 4 != 0 { x } else { !x };
                        let yb = if i & 2 != 0 { y } else { !y };
                        let zc = if i & 1 != 0 { z } else { !z };
                        r |= xa & yb & zc;
                    }
                }
                self.wr(t, *d, r as u64);
            }
            Op::Shf {
                left,
                clamp,
                d,
                a,
                b,
                c,
            } => {
                let lo = self.rd(t, *a) & 0xffff_ffff;
                let hi = self.rd(t, *b) & 0xffff_ffff;
                let n = self.rd(t, *c) as u32;
                let n = if *clamp { n.min(32) } else { n & 31 };
                let v = (hi << 32) | lo;
                let r = if *left {
                    ((v << n) >> 32) & 0xffff_ffff
                } else {
                    (v >> n) & 0xffff_ffff
                };
                self.wr(t, *d, r);
            }
            Op::FBin { op, ty, m, d, a, b } => {
                let (x, y) = (self.rd(t, *a), self.rd(t, *b));
                let v = match packed(*ty) {
                    Some(e) => {
                        fbin1(*op, e, *m, x & 0xffff, y & 0xffff)
                            | (fbin1(*op, e, *m, (x >> 16) & 0xffff, (y >> 16) & 0xffff) << 16)
                    }
                    None => fbin1(*op, *ty, *m, x, y),
                };
                self.wr(t, *d, v);
            }
            Op::Fma { ty, m, d, a, b, c } => {
                let (x, y, z) = (self.rd(t, *a), self.rd(t, *b), self.rd(t, *c));
                let v = match packed(*ty) {
                    Some(e) => {
                        fma1(e, *m, x & 0xffff, y & 0xffff, z & 0xffff)
                            | (fma1(
                                e,
                                *m,
                                (x >> 16) & 0xffff,
                                (y >> 16) & 0xffff,
                                (z >> 16) & 0xffff,
                            ) << 16)
                    }
                    None => fma1(*ty, *m, x, y, z),
                };
                self.wr(t, *d, v);
            }
            Op::FUn { op, ty, m, d, a } => {
                let x = self.rd(t, *a);
                let v = match packed(*ty) {
                    Some(e) => {
                        fun1(*op, e, *m, x & 0xffff) | (fun1(*op, e, *m, (x >> 16) & 0xffff) << 16)
                    }
                    None => fun1(*op, *ty, *m, x),
                };
                self.wr(t, *d, v);
            }
            Op::Testp { op, ty, d, a } => {
                let x = fget(*ty, self.rd(t, *a));
                let r = match op {
                    TestpOp::Finite => x.is_finite(),
                    TestpOp::Infinite => x.is_infinite(),
                    TestpOp::Number => !x.is_nan(),
                    TestpOp::NotANumber => x.is_nan(),
                    TestpOp::Normal => {
                        if *ty == Ty::F32 {
                            (x as f32).is_normal()
                        } else {
                            x.is_normal()
                        }
                    }
                    TestpOp::Subnormal => {
                        if *ty == Ty::F32 {
                            (x as f32).is_subnormal()
                        } else {
                            x.is_subnormal()
                        }
                    }
                };
                self.wr(t, *d, r as u64);
            }
            Op::Setp {
                cmp,
                ty,
                p,
                q,
                a,
                b,
                comb,
            } => {
                let (x, y) = (self.rd(t, *a), self.rd(t, *b));
                let c = comb.map(|(op, s, neg)| (op, (self.rd(t, s) & 1 == 1) != neg));
                let (r0, r1) = match packed(*ty) {
                    Some(e) => (
                        compare(*cmp, e, x & 0xffff, y & 0xffff),
                        compare(*cmp, e, (x >> 16) & 0xffff, (y >> 16) & 0xffff),
                    ),
                    None => {
                        let r = compare(*cmp, *ty, x, y);
                        (r, !r)
                    }
                };
                let (r0, r1) = match c {
                    Some((op, cv)) => (combine(op, r0, cv), combine(op, r1, cv)),
                    None => (r0, r1),
                };
                self.wr(t, *p, r0 as u64);
                if let Some(q) = q {
                    self.wr(t, *q, r1 as u64);
                }
            }
            Op::Set {
                cmp,
                dty,
                sty,
                d,
                a,
                b,
                comb,
            } => {
                let r = compare(*cmp, *sty, self.rd(t, *a), self.rd(t, *b));
                let r = match comb {
                    Some((op, s, neg)) => combine(*op, r, (self.rd(t, *s) & 1 == 1) != *neg),
                    None => r,
                };
                let v = if *dty == Ty::F32 {
                    if r {
                        1.0f32.to_bits() as u64
                    } else {
                        0
                    }
                } else if r {
                    dty.mask()
                } else {
                    0
                };
                self.wr(t, *d, v);
            }
            Op::Selp { d, a, b, p, .. } => {
                let v = if self.rd(t, *p) & 1 == 1 {
                    self.rd(t, *a)
                } else {
                    self.rd(t, *b)
                };
                self.wr(t, *d, v);
            }
            Op::Slct {
                d, a, b, c, cty, ..
            } => {
                let cv = self.rd(t, *c);
                let ge = if *cty == Ty::F32 {
                    f32::from_bits(cv as u32) >= 0.0
                } else {
                    (cv as u32 as i32) >= 0
                };
                let v = if ge { self.rd(t, *a) } else { self.rd(t, *b) };
                self.wr(t, *d, v);
            }
            Op::PredLogic { op, d, a, b } => {
                let v = combine(*op, self.rd(t, *a) & 1 == 1, self.rd(t, *b) & 1 == 1);
                self.wr(t, *d, v as u64);
            }
            Op::PredNot { d, a } => {
                let v = self.rd(t, *a) & 1 == 0;
                self.wr(t, *d, v as u64);
            }
            Op::Cvt {
                dty,
                sty,
                rnd,
                int_rnd,
                sat,
                ftz,
                relu,
                d,
                a,
            } => {
                let v = cvt(
                    *dty,
                    *sty,
                    *rnd,
                    *int_rnd,
                    *sat,
                    *ftz,
                    *relu,
                    self.rd(t, *a),
                );
                // sign-extend signed integer results into the register
                let v = if dty.signed() {
                    sext(v, dty.bits()) as u64
                } else {
                    v
                };
                self.wr(t, *d, v);
            }
            Op::CvtPack {
                dty,
                rnd,
                relu,
                sat,
                d,
                a,
                b,
            } => {
                let e = if *dty == Ty::F16x2 { Ty::F16 } else { Ty::BF16 };
                let hi = cvt(
                    e,
                    Ty::F32,
                    Some(*rnd),
                    false,
                    *sat,
                    false,
                    *relu,
                    self.rd(t, *a),
                );
                let lo = cvt(
                    e,
                    Ty::F32,
                    Some(*rnd),
                    false,
                    *sat,
                    false,
                    *relu,
                    self.rd(t, *b),
                );
                self.wr(t, *d, (hi << 16) | lo);
            }
            Op::Nop => {}
            Op::Unsupported(s) => return unsupported(s),
            _ => return unsupported(&format!("`{}` in scalar context", inst.text)),
        }
        Ok(())
    }
}
