//! Warpgroup instructions (sm_90a): `wgmma.fence`, `wgmma.commit_group`,
//! `wgmma.wait_group`, `wgmma.mma_async{.sp}` and `setmaxnreg`.
//!
//! A warpgroup is four consecutive warps starting at a warp index divisible by 4; each of
//! these instructions is a collective of its 128 threads (all four warps must reach it).
//! A `wgmma.mma_async` reads its operands at issue (A from registers or through a
//! shared-memory matrix descriptor, B through a descriptor, C from the accumulators or from
//! a pending wgmma that writes them) and computes D in f64, rounded once to f32; D is
//! written to the registers only when `wgmma.wait_group` retires its group, never earlier.
//! Between issue and retirement the accumulator, A-fragment and metadata registers are
//! locked: any other instruction that names one is an error (a later wgmma of the same
//! shape may chain on the accumulators, as the ISA allows).
//!
//! Layouts (the PTX ISA, "Asynchronous Warpgroup Level Matrix Multiply-Accumulate"):
//! - D: warp w of the group holds rows 16w..16w+15; register i of lane (g, t) (g = lane/4,
//!   t = lane%4) holds row 16w + g + 8·((i/2)%2), column 8·(i/4) + 2t + i%2.
//! - A from registers: warp w holds rows 16w..16w+15 as an m16n8k16 A fragment (dense), or
//!   the compressed 16×16 tile as mma.sp m16n8k32 does (sparse; confirmed on an H200,
//!   HARDWARE.md).
//! - Metadata (sparse): warp w gives rows 16w..16w+15 in the per-lane layout of mma.sp
//!   m16n8k32, lanes with t = 2·sel, 2·sel+1 (confirmed on an H200 for sel 0 and 1).
//! - Descriptors: bits 0–13 start address >> 4, 16–29 leading byte offset (LBO) >> 4,
//!   32–45 stride byte offset (SBO) >> 4, 49–51 base offset, 62–63 swizzle (0 none,
//!   1 128B, 2 64B, 3 32B). Canonical layouts as CUTLASS writes them (cute
//!   `make_gmma_desc`), with the swizzle applied to absolute shared addresses
//!   (Swizzle<B,4,3>, as a TMA box write does):
//!   - K-major, no swizzle: (mn, k) at (mn/8)·SBO + (mn%8)·16 + (k/8)·LBO + (k%8)·2
//!     (confirmed on an H200 for B: LBO is the K-direction core-matrix stride).
//!   - K-major, swizzle of W bytes: (mn/8)·SBO + (mn%8)·W + 2k (k·2 < W; LBO unused).
//!   - MN-major, no swizzle: (k/8)·LBO + (k%8)·16 + (mn/8)·SBO + (mn%8)·2.
//!   - MN-major, swizzle of W bytes (E = W/2 elements): (mn/E)·LBO + (mn%E)·2 + (k/8)·SBO
//!     + (k%8)·W.
//!
//!   Only the unswizzled K-major B form is confirmed on hardware; the swizzled forms, the
//!   MN-major (transposed) forms and A from shared memory are from the ISA (its LBO / SBO
//!   tables agree) and CUTLASS, and wait for the GPU probes (tests/kernels/wgmma.cu).
//! - The start address of a swizzled matrix may sit only within the first W-byte row of
//!   its swizzle pattern (the K steps inside an atom); the base-offset field must be 0
//!   (ptxsim refuses other values rather than guess their meaning).

use std::collections::VecDeque;

use super::float::{bf16_to_f64, f16_to_f64, to_f32};
use super::mem::Loc;
use super::tensor::meta_ok;
use super::{Cta, LS};
use crate::error::{ErrorKind, FResult, Fault, SimError};
use crate::ir::*;
use crate::tensormap::Swizzle;

/// One issued wgmma.mma_async, pending until its group retires.
#[derive(Debug, Clone)]
pub(crate) struct WgOp {
    /// pc of the instruction in each warp of the group
    pc: [u32; 4],
    n: u32,
    sp: bool,
    /// accumulator slots of each warp
    d: [Vec<u32>; 4],
    /// locked slots of each warp (accumulators, A registers, metadata)
    locks: [Vec<u32>; 4],
    /// D values (f32 bits): thread-in-group × register
    vals: Vec<u32>,
    /// shared addresses of the 2-byte elements read through its descriptors
    foot: Vec<u32>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct WgGroups {
    open: Vec<WgOp>,
    groups: VecDeque<Vec<WgOp>>,
}

impl WgGroups {
    fn pending(&self) -> usize {
        self.open.len() + self.groups.iter().map(|g| g.len()).sum::<usize>()
    }
    fn ops(&self) -> impl DoubleEndedIterator<Item = &WgOp> {
        self.groups.iter().flatten().chain(self.open.iter())
    }
}

/// The warpgroup state of a CTA (allocated at its first warpgroup instruction).
#[derive(Debug, Clone, Default)]
pub(crate) struct WgTrack {
    pub on: bool,
    groups: Vec<WgGroups>,
    /// pending wgmma ops locking (slot, thread): slot · nthreads + thread
    lock: Vec<u16>,
    /// wgmma ops pending in the CTA
    pub pending: u32,
    /// wgmma.fence executed by each thread (0: never)
    fences: Vec<u32>,
    /// (slot, thread): the fence count of the thread when an instruction last named the
    /// register, and that instruction's pc
    touch: Vec<(u32, u32)>,
    /// per shared byte: pending wgmma ops that read it through a descriptor
    foot: Vec<u16>,
}

/// A decoded matrix descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Desc {
    start: u64,
    lbo: u64,
    sbo: u64,
    base: u32,
    swz: Swizzle,
}

impl Desc {
    fn decode(v: u64) -> Desc {
        Desc {
            start: (v & 0x3fff) << 4,
            lbo: ((v >> 16) & 0x3fff) << 4,
            sbo: ((v >> 32) & 0x3fff) << 4,
            base: ((v >> 49) & 7) as u32,
            swz: match v >> 62 {
                0 => Swizzle::None,
                1 => Swizzle::B128,
                2 => Swizzle::B64,
                _ => Swizzle::B32,
            },
        }
    }
    /// The shared address of element (mn, k) of 2-byte elements, swizzle applied.
    fn addr(&self, mn: u64, k: u64, mn_major: bool) -> u64 {
        let a = match (self.swz.span(), mn_major) {
            (None, false) => {
                self.start + (mn / 8) * self.sbo + (mn % 8) * 16 + (k / 8) * self.lbo + (k % 8) * 2
            }
            (Some(w), false) => self.start + (mn / 8) * self.sbo + (mn % 8) * w as u64 + 2 * k,
            (None, true) => {
                self.start + (k / 8) * self.lbo + (k % 8) * 16 + (mn / 8) * self.sbo + (mn % 8) * 2
            }
            (Some(w), true) => {
                let e = w as u64 / 2;
                self.start
                    + (mn / e) * self.lbo
                    + (mn % e) * 2
                    + (k / 8) * self.sbo
                    + (k % 8) * w as u64
            }
        };
        self.swz.apply(a)
    }
}

pub(crate) fn is_wg(op: &Op) -> bool {
    matches!(
        op,
        Op::WgFence | Op::WgCommit | Op::WgWait { .. } | Op::Wgmma(_) | Op::SetMaxNReg { .. }
    )
}

fn wg_err(s: String) -> Box<Fault> {
    Fault::new(ErrorKind::Wgmma(s))
}

fn half(bf16: bool, h: u16) -> f64 {
    if bf16 {
        bf16_to_f64(h)
    } else {
        f16_to_f64(h)
    }
}

impl Cta<'_> {
    fn wg_init(&mut self) {
        if self.wg.on {
            return;
        }
        let ns = self.p.prog.nslots as usize;
        let wg = &mut self.wg;
        wg.on = true;
        wg.groups = vec![WgGroups::default(); self.nwarps.div_ceil(4)];
        wg.lock = vec![0; ns * self.nthreads];
        wg.fences = vec![0; self.nthreads];
        wg.touch = vec![(0, 0); ns * self.nthreads];
        wg.foot = vec![0; self.shared.len()];
    }

    /// A write of shared byte `b`: no unretired wgmma may be reading it.
    pub(crate) fn wg_foot_check(&self, b: u64, gaddr: u64) -> FResult<()> {
        if self.wg.foot.get(b as usize).is_none_or(|&c| c == 0) {
            return Ok(());
        }
        let (mut line, mut owner) = (0, 0);
        for (gi, g) in self.wg.groups.iter().enumerate() {
            if let Some(o) = g
                .ops()
                .find(|o| o.foot.iter().any(|&a| a as u64 == b || a as u64 + 1 == b))
            {
                line = self.line_of(o.pc[0]);
                owner = gi;
            }
        }
        Err(Fault::at(
            ErrorKind::Wgmma(format!(
                "write of shared byte {b:#x}, which the wgmma.mma_async of warpgroup {owner} at PTX line {line} reads through a descriptor and no wgmma.wait_group has retired yet"
            )),
            gaddr,
        ))
    }

    fn reg_name(&self, r: u32) -> &str {
        self.p.prog.reg_name(r)
    }

    /// Before an ordinary instruction runs for the lanes of `mask` of the warp at `base`:
    /// a register it names may not belong to an unretired wgmma; the registers it names are
    /// recorded as touched since the thread's last wgmma.fence.
    pub(crate) fn wg_step_check(
        &mut self,
        base: usize,
        pc: u32,
        inst: &Inst,
        mask: u32,
    ) -> Result<(), SimError> {
        if is_wg(&inst.op) {
            return Ok(());
        }
        let n = self.nthreads;
        let mut m = mask;
        while m != 0 {
            let l = m.trailing_zeros();
            m &= m - 1;
            let t = base + l as usize;
            if self.wg.pending > 0 {
                for &r in inst.regs.iter() {
                    if self.wg.lock[r as usize * n + t] > 0 {
                        let g = &self.wg.groups[t / 128];
                        let w = (t / 32) % 4;
                        let line = g
                            .ops()
                            .rev()
                            .find(|o| o.locks[w].contains(&r))
                            .map_or(0, |o| self.line_of(o.pc[w]));
                        return Err(self.error_at(
                            t,
                            pc,
                            wg_err(format!(
                                "`{}` names register {} of the wgmma.mma_async at PTX line {line}, which no wgmma.wait_group has retired yet (accumulator, A-fragment and metadata registers may not be read or written while the wgmma is in flight)",
                                inst.text,
                                self.reg_name(r)
                            )),
                        ));
                    }
                }
            }
            let f = self.wg.fences[t];
            for &r in inst.regs.iter() {
                self.wg.touch[r as usize * n + t] = (f, pc);
            }
        }
        Ok(())
    }

    /// A thread of this warpgroup exits: no wgmma may be pending.
    pub(crate) fn wg_exit_check(&self, t: usize, pc: u32) -> Result<(), SimError> {
        if !self.wg.on {
            return Ok(());
        }
        let g = &self.wg.groups[t / 128];
        let n = g.pending();
        if n == 0 {
            return Ok(());
        }
        let w = (t / 32) % 4;
        let first = g.ops().next().map_or(0, |o| self.line_of(o.pc[w]));
        Err(self.error_at(
            t,
            pc,
            wg_err(format!(
                "the thread exits with {n} wgmma.mma_async not retired by wgmma.wait_group ({} committed group(s), {} uncommitted op(s); the first at PTX line {first})",
                g.groups.len(),
                g.open.len()
            )),
        ))
    }

    /// The warp `w` has all its lanes at the warpgroup instruction at `pc`: execute it when
    /// the other three warps of the warpgroup are at one too (true), else wait (false).
    pub(crate) fn try_warpgroup(&mut self, w: usize, pc: u32) -> Result<bool, SimError> {
        let w0 = w / 4 * 4;
        let t = w * 32;
        if w0 + 4 > self.nwarps || (w0 * 32) % self.stride + 128 > self.cta_threads {
            return Err(self.error_at(
                t,
                pc,
                Fault::new(ErrorKind::PartialCollective(format!(
                    "`{}` is a warpgroup instruction (4 warps of 32 threads, starting at a warp index divisible by 4), but warpgroup {} of this {}-thread block is incomplete",
                    self.code[pc as usize].text,
                    if self.ncta == 1 { w / 4 } else { w * 32 % self.stride / 128 },
                    self.cta_threads
                ))),
            ));
        }
        let mut pcs = [0u32; 4];
        for (i, wi) in (w0..w0 + 4).enumerate() {
            let b = wi * 32;
            let p = self.pc[b];
            for tk in b..b + 32 {
                match self.st[tk] {
                    LS::Coll if self.pc[tk] == p && is_wg(&self.code[p as usize].op) => {}
                    LS::Exit => {
                        return Err(self.error_at(
                            t,
                            pc,
                            Fault::new(ErrorKind::PartialCollective(format!(
                                "`{}`: thread {:?} of the warpgroup has exited",
                                self.code[pc as usize].text,
                                self.tid_of(tk)
                            ))),
                        ))
                    }
                    _ => return Ok(false),
                }
            }
            pcs[i] = p;
        }
        // the four warps must be at the same kind of instruction, with the same immediates
        let op0 = &self.code[pcs[0] as usize].op;
        for (i, &p) in pcs.iter().enumerate().skip(1) {
            let op = &self.code[p as usize].op;
            let same = match (op0, op) {
                (Op::Wgmma(a), Op::Wgmma(b)) => {
                    (
                        a.n,
                        a.bf16,
                        a.sp.map(|s| s.1),
                        a.neg_a,
                        a.neg_b,
                        a.trans_a,
                        a.trans_b,
                    ) == (
                        b.n,
                        b.bf16,
                        b.sp.map(|s| s.1),
                        b.neg_a,
                        b.neg_b,
                        b.trans_a,
                        b.trans_b,
                    ) && matches!(a.a, WgA::Regs(_)) == matches!(b.a, WgA::Regs(_))
                }
                (Op::WgWait { n: a }, Op::WgWait { n: b }) => a == b,
                (Op::SetMaxNReg { inc: a, n: x }, Op::SetMaxNReg { inc: b, n: y }) => {
                    (a, x) == (b, y)
                }
                (Op::WgFence, Op::WgFence) | (Op::WgCommit, Op::WgCommit) => true,
                _ => false,
            };
            if !same {
                return Err(self.error_at(
                    (w0 + i) * 32,
                    p,
                    wg_err(format!(
                        "the warps of warpgroup {} disagree: warp {} is at `{}` (PTX line {}), warp {} at `{}` (PTX line {}) (shape, types, selector, scales, transposes and counts must match)",
                        w0 / 4,
                        w0,
                        self.code[pcs[0] as usize].text,
                        self.line_of(pcs[0]),
                        w0 + i,
                        self.code[p as usize].text,
                        self.line_of(p)
                    )),
                ));
            }
        }
        self.wg_init();
        let op = self.code[pcs[0] as usize].op.clone();
        match op {
            Op::WgFence => {
                for tk in w0 * 32..(w0 + 4) * 32 {
                    self.wg.fences[tk] += 1;
                }
            }
            Op::WgCommit => {
                let g = &mut self.wg.groups[w0 / 4];
                let open = std::mem::take(&mut g.open);
                g.groups.push_back(open);
            }
            Op::WgWait { n } => self.wg_retire(w0 / 4, n as usize),
            Op::SetMaxNReg { .. } => {}
            Op::Wgmma(_) => self.wg_mma(w0, &pcs)?,
            _ => {}
        }
        self.gstamp += 1;
        for (i, wi) in (w0..w0 + 4).enumerate() {
            for tk in wi * 32..wi * 32 + 32 {
                self.st[tk] = LS::Run;
                self.pc[tk] = pcs[i] + 1;
                self.wstamp[tk] = self.gstamp;
            }
        }
        Ok(true)
    }

    /// Retire the oldest committed groups of warpgroup `g` until at most `keep` remain:
    /// their D values land in the registers.
    fn wg_retire(&mut self, g: usize, keep: usize) {
        let n = self.nthreads;
        while self.wg.groups[g].groups.len() > keep {
            let Some(ops) = self.wg.groups[g].groups.pop_front() else {
                break;
            };
            for op in ops {
                let nd = op.d[0].len();
                for gl in 0..128 {
                    let t = g * 128 + gl;
                    let w = gl / 32;
                    for (i, &r) in op.d[w].iter().enumerate() {
                        self.regs[r as usize * n + t] = op.vals[gl * nd + i] as u64;
                    }
                    for &r in &op.locks[w] {
                        self.wg.lock[r as usize * n + t] -= 1;
                    }
                }
                for &a in &op.foot {
                    self.wg.foot[a as usize] -= 1;
                    self.wg.foot[a as usize + 1] -= 1;
                    self.shadow_forget_read(g * 128, a as u64);
                    self.shadow_forget_read(g * 128, a as u64 + 1);
                }
                self.wg.pending -= 1;
            }
        }
    }

    /// The value of accumulator slot `r` of thread `t` as a new wgmma sees it: the newest
    /// pending wgmma of its warpgroup that writes it, else the register.
    fn wg_acc(&self, t: usize, r: u32) -> u64 {
        let g = &self.wg.groups[t / 128];
        let (gl, w) = (t % 128, (t / 32) % 4);
        for op in g.ops().rev() {
            if let Some(i) = op.d[w].iter().position(|&x| x == r) {
                return op.vals[gl * op.d[w].len() + i] as u64;
            }
        }
        self.rd(t, Src::R(r))
    }

    /// A value every thread of the warpgroup must give alike (descriptors, scale-d).
    fn wg_uniform(
        &self,
        w0: usize,
        pcs: &[u32; 4],
        what: &str,
        f: impl Fn(&Wgmma) -> Src,
    ) -> Result<u64, SimError> {
        let get = |tk: usize| match &self.code[pcs[(tk / 32) % 4] as usize].op {
            Op::Wgmma(m) => self.rd(tk, f(m)),
            _ => 0,
        };
        let t0 = w0 * 32;
        let v = get(t0);
        for tk in t0..t0 + 128 {
            let x = get(tk);
            if x != v {
                return Err(self.error_at(
                    tk,
                    pcs[(tk / 32) % 4],
                    wg_err(format!(
                        "the threads of warpgroup {} disagree on the {what}: thread {:?} gives {v:#x}, thread {:?} gives {x:#x}",
                        w0 / 4,
                        self.tid_of(t0),
                        self.tid_of(tk)
                    )),
                ));
            }
        }
        Ok(v)
    }

    /// Read a 2-byte-element matrix of `rows` (mn) × `cols` (k) through a descriptor.
    #[allow(clippy::too_many_arguments)]
    fn wg_read_desc(
        &mut self,
        t: usize,
        pc: u32,
        which: &str,
        v: u64,
        rows: u64,
        cols: u64,
        mn_major: bool,
        bf16: bool,
        foot: &mut Vec<u32>,
    ) -> Result<Vec<f64>, SimError> {
        let d = Desc::decode(v);
        let fail = |c: &Self, s: String| c.error_at(t, pc, Fault::at(ErrorKind::Wgmma(s), d.start));
        if let Some(w) = d.swz.span() {
            if d.base != 0 {
                return Err(self.error_at(
                    t,
                    pc,
                    Fault::unsupported(format!(
                        "{which} descriptor {v:#018x} with base offset {} (ptxsim supports base offset 0 only)",
                        d.base
                    )),
                ));
            }
            let rep = d.swz.repeat();
            if d.start % rep >= w as u64 {
                return Err(fail(
                    self,
                    format!(
                        "{which} descriptor {v:#018x}: the {w}B-swizzled matrix starts at shared address {:#x}, {} bytes into a {rep}-byte swizzle pattern; it must be aligned to {rep} bytes (an offset within the first {w}-byte row, a step along K, is allowed)",
                        d.start,
                        d.start % rep
                    ),
                ));
            }
            if !mn_major && 2 * cols > w as u64 {
                return Err(self.error_at(
                    t,
                    pc,
                    Fault::unsupported(format!(
                        "{which} descriptor {v:#018x}: a K-major {w}B swizzle holds {} elements along K, the instruction needs {cols}",
                        w / 2
                    )),
                ));
            }
        }
        // descriptors hold shared::cta addresses: the warpgroup's own CTA's window
        let (size, cta_base) = (self.win, self.cur as u64 * self.win);
        let mut out = vec![0f64; (rows * cols) as usize];
        let mut buf = [0u8; 2];
        for mn in 0..rows {
            for k in 0..cols {
                let a = d.addr(mn, k, mn_major);
                if a + 2 > size {
                    return Err(fail(
                        self,
                        format!(
                            "{which} descriptor {v:#018x} (start {:#x}, LBO {}, SBO {}, swizzle {:?}): element ({mn}, {k}) is at shared address {a:#x}, outside the CTA's {size} bytes of shared memory",
                            d.start, d.lbo, d.sbo, d.swz
                        ),
                    ));
                }
                self.async_reader = Some("a wgmma descriptor");
                let r = self.read_bytes(t, Loc::Shared(cta_base + a), a, &mut buf);
                self.async_reader = None;
                if let Err(f) = r {
                    return Err(self.error_at(t, pc, f));
                }
                self.stats.wgmma_desc_bytes += 2;
                foot.push((cta_base + a) as u32);
                out[(mn * cols + k) as usize] = half(bf16, u16::from_le_bytes(buf));
            }
        }
        Ok(out)
    }

    /// Issue the wgmma.mma_async the warps `w0..w0+4` are at (pcs: each warp's pc).
    fn wg_mma(&mut self, w0: usize, pcs: &[u32; 4]) -> Result<(), SimError> {
        let ops: Vec<Wgmma> = pcs
            .iter()
            .map(|&p| match &self.code[p as usize].op {
                Op::Wgmma(m) => (**m).clone(),
                _ => unreachable!("checked by try_warpgroup"),
            })
            .collect();
        let m0 = &ops[0];
        let (nn, sp, bf16) = (m0.n as usize, m0.sp.is_some(), m0.bf16);
        let k = if sp { 32 } else { 16 };
        let t0 = w0 * 32;
        let pc0 = pcs[0];
        let nt = self.nthreads;
        // register rules: a fence before, no register touched since it, locks
        for (wi, m) in ops.iter().enumerate() {
            let mut mine: Vec<u32> = m.d.clone();
            if let WgA::Regs(v) = &m.a {
                mine.extend(
                    v.iter()
                        .filter_map(|s| if let Src::R(r) = s { Some(*r) } else { None }),
                );
            }
            for tk in (w0 + wi) * 32..(w0 + wi) * 32 + 32 {
                let f = self.wg.fences[tk];
                if f == 0 {
                    return Err(self.error_at(
                        tk,
                        pcs[wi],
                        wg_err("wgmma.mma_async with no wgmma.fence before it in this thread (the ISA requires one before the first wgmma of a warpgroup)".into()),
                    ));
                }
                for &r in &mine {
                    let (tf, tpc) = self.wg.touch[r as usize * nt + tk];
                    if tf == f {
                        let (acc, ln) = (m.d.contains(&r), self.line_of(tpc));
                        return Err(self.error_at(
                            tk,
                            pcs[wi],
                            wg_err(format!(
                                "{} register {} was accessed at PTX line {ln} after the last wgmma.fence; a wgmma.fence must separate a register access from the wgmma that uses the register",
                                if acc { "accumulator" } else { "A-fragment" },
                                self.reg_name(r)
                            )),
                        ));
                    }
                }
                // registers of pending wgmmas: a same-shape chain on the accumulators, and
                // A / metadata registers read again, are allowed
                let mut named = mine.clone();
                if let Some((Src::R(e), _)) = m.sp {
                    named.push(e);
                }
                for &r in &named {
                    if self.wg.lock[r as usize * nt + tk] == 0 {
                        continue;
                    }
                    let g = &self.wg.groups[w0 / 4];
                    let as_d = m.d.contains(&r);
                    let bad = g.ops().find(|o| {
                        let (od, ol) = (o.d[wi].contains(&r), o.locks[wi].contains(&r));
                        if as_d {
                            ol && !(od && o.n as usize == nn && o.sp == sp)
                        } else {
                            od
                        }
                    });
                    if let Some(o) = bad {
                        let line = self.line_of(o.pc[wi]);
                        return Err(self.error_at(
                            tk,
                            pcs[wi],
                            wg_err(format!(
                                "register {} belongs to the wgmma.mma_async at PTX line {line}, not yet retired by wgmma.wait_group (only the accumulators of a wgmma of the same shape may be chained; A and metadata registers may be read again)",
                                self.reg_name(r)
                            )),
                        ));
                    }
                }
            }
        }
        let scale_d = self.wg_uniform(w0, pcs, "scale-d predicate", |m| m.scale_d)? & 1 != 0;
        let bdesc = self.wg_uniform(w0, pcs, "B matrix descriptor", |m| m.b)?;
        // A: 64 × ka stored elements (row-major in `am`)
        let ka = 16usize;
        let mut am = vec![0f64; 64 * ka];
        let mut foot = Vec::new();
        match &m0.a {
            WgA::Desc(_) => {
                let adesc = self.wg_uniform(w0, pcs, "A matrix descriptor", |m| match m.a {
                    WgA::Desc(s) => s,
                    WgA::Regs(_) => Src::I(0),
                })?;
                am = self.wg_read_desc(
                    t0, pc0, "A", adesc, 64, ka as u64, m0.trans_a, bf16, &mut foot,
                )?;
            }
            WgA::Regs(_) => {
                for (wi, m) in ops.iter().enumerate() {
                    let WgA::Regs(a) = &m.a else { continue };
                    for l in 0..32 {
                        let tk = (w0 + wi) * 32 + l;
                        let (g, q) = (l / 4, l % 4);
                        for (i, s) in a.iter().enumerate() {
                            let v = self.rd(tk, *s);
                            let row = 16 * wi + g + 8 * (i & 1);
                            let col = 2 * q + 8 * (i >> 1);
                            am[row * ka + col] = half(bf16, v as u16);
                            am[row * ka + col + 1] = half(bf16, (v >> 16) as u16);
                        }
                    }
                }
            }
        }
        // B: nn × k (n-major rows of K in `bm`)
        let bm = self.wg_read_desc(
            t0, pc0, "B", bdesc, nn as u64, k as u64, m0.trans_b, bf16, &mut foot,
        )?;
        // the logical K column of each stored A element
        let mut col = vec![0usize; 64 * ka];
        for (r, c) in col.iter_mut().enumerate() {
            *c = r % ka;
        }
        if let Some((_, sel)) = m0.sp {
            for (wi, m) in ops.iter().enumerate() {
                let Some((e, _)) = m.sp else { continue };
                for rr in 0..16usize {
                    let row = 16 * wi + rr;
                    let (g, hi) = (rr % 8, rr >= 8);
                    for word in 0..2usize {
                        let lane = 4 * g + 2 * sel as usize + word;
                        let tk = (w0 + wi) * 32 + lane;
                        let ev = self.rd(tk, e) as u32;
                        let w16 = if hi { ev >> 16 } else { ev & 0xffff };
                        for grp in 0..4usize {
                            let code = (w16 >> (4 * grp)) & 0xf;
                            if !meta_ok(code, true) {
                                return Err(self.error_at(
                                    tk,
                                    pcs[wi],
                                    Fault::new(ErrorKind::IllegalMetadata(format!(
                                        "wgmma.sp: lane {lane} of warp {} (sparsity selector {sel}) gives code {code:#x} for row {row}, columns {}..{}; legal codes are 0x4, 0x8, 0xc, 0x9, 0xd, 0xe (indices strictly increasing)",
                                        w0 + wi,
                                        16 * word + 4 * grp,
                                        16 * word + 4 * grp + 3
                                    ))),
                                ));
                            }
                            let lg = 4 * word + grp;
                            col[row * ka + 2 * lg] = 4 * lg + (code & 3) as usize;
                            col[row * ka + 2 * lg + 1] = 4 * lg + ((code >> 2) & 3) as usize;
                        }
                    }
                }
            }
        }
        let sa = if m0.neg_a { -1.0 } else { 1.0 };
        let sb = if m0.neg_b { -1.0 } else { 1.0 };
        let nd = nn / 2;
        let mut vals = vec![0u32; 128 * nd];
        for gl in 0..128usize {
            let tk = t0 + gl;
            let (wi, l) = (gl / 32, gl % 32);
            let (g, q) = (l / 4, l % 4);
            for (i, &r) in ops[wi].d.iter().enumerate() {
                let row = 16 * wi + g + 8 * ((i >> 1) & 1);
                let cn = 8 * (i >> 2) + 2 * q + (i & 1);
                let mut acc = if scale_d {
                    f32::from_bits(self.wg_acc(tk, r) as u32) as f64
                } else {
                    0.0
                };
                let mut dot = 0.0;
                for j in 0..ka {
                    dot += am[row * ka + j] * bm[cn * k + col[row * ka + j]];
                }
                acc += sa * sb * dot;
                vals[gl * nd + i] = to_f32(acc, Rnd::Rn).to_bits();
            }
        }
        // lock the registers until the group retires
        let mut op = WgOp {
            pc: *pcs,
            n: nn as u32,
            sp,
            d: Default::default(),
            locks: Default::default(),
            vals,
            foot,
        };
        for &a in &op.foot {
            self.wg.foot[a as usize] += 1;
            self.wg.foot[a as usize + 1] += 1;
        }
        for (wi, m) in ops.iter().enumerate() {
            let mut locks = m.d.clone();
            if let WgA::Regs(v) = &m.a {
                locks.extend(
                    v.iter()
                        .filter_map(|s| if let Src::R(r) = s { Some(*r) } else { None }),
                );
            }
            if let Some((Src::R(e), _)) = m.sp {
                locks.push(e);
            }
            locks.sort_unstable();
            locks.dedup();
            for tk in (w0 + wi) * 32..(w0 + wi) * 32 + 32 {
                for &r in &locks {
                    self.wg.lock[r as usize * nt + tk] += 1;
                }
            }
            op.d[wi] = m.d.clone();
            op.locks[wi] = locks;
        }
        self.wg.groups[w0 / 4].open.push(op);
        self.wg.pending += 1;
        let idx = nn / 8 - 1;
        if sp {
            self.stats.wgmma_sp[idx] += 1;
        } else {
            self.stats.wgmma[idx] += 1;
        }
        Ok(())
    }
}
