//! Resolve names and decode raw instructions into [`Op`]s.

use std::collections::HashMap;

use crate::error::SimError;
use crate::ir::*;
use crate::limits::{Limit, Limits};
use crate::parse::{
    int_fits, Imm, RawFunc, RawInst, RawModule, RawOperand, Stmt, VarDecl, VarSpace,
};

#[derive(Debug, Clone)]
pub(crate) struct SharedVar {
    #[allow(dead_code)]
    pub name: String,
    pub size: u64,
    pub align: u32,
    pub is_extern: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct GlobalVar {
    #[allow(dead_code)]
    pub name: String,
    pub size: u64,
    pub init: Vec<u8>,
}

/// A fully decoded module.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    pub code: Vec<Inst>,
    pub funcs: Vec<Func>,
    pub nslots: u32,
    pub shared_vars: Vec<SharedVar>,
    pub global_vars: Vec<GlobalVar>,
    pub const_bank: Vec<u8>,
    /// Per function: shared variables it references (directly).
    pub func_shared: Vec<Vec<u32>>,
    /// Per function: functions it calls.
    pub func_calls: Vec<Vec<u32>>,
    /// Bytes of module `.global` and `.const` variables (checked again at launch against
    /// the device's own limits).
    pub module_bytes: u64,
    /// The most registers one function declares.
    pub max_func_regs: u64,
}

#[derive(Debug, Clone, Copy)]
enum Sym {
    Reg(u32),
    Frame(u32, u32),
    KParam(u32, #[allow(dead_code)] u32),
    Shared(u32),
    Global(u32),
    Const(u32),
    Func(u32),
}

/// `x` rounded up to a multiple of `a`; None on overflow.
pub(crate) fn align_up(x: u64, a: u64) -> Option<u64> {
    let a = a.max(1);
    x.div_ceil(a).checked_mul(a)
}

fn perr(line: u32, msg: impl Into<String>) -> SimError {
    SimError::Parse {
        line,
        msg: msg.into(),
    }
}

/// `v` as a u32 field of the IR, for sizes already checked against a limit that a caller
/// may have set beyond 4 GiB.
fn fit_u32(v: u64, which: Limit, line: u32) -> Result<u32, SimError> {
    u32::try_from(v).map_err(|_| SimError::Limit {
        limit: which,
        requested: v,
        cap: u32::MAX as u64,
        line: Some(line),
    })
}

/// The initial bytes of a variable whose `size` was checked against a limit (and a host
/// that cannot supply them is an error, not an abort).
fn init_bytes(v: &VarDecl, size: u64) -> Result<Vec<u8>, SimError> {
    let mut out = Vec::new();
    let host = usize::try_from(size)
        .ok()
        .filter(|&n| out.try_reserve_exact(n).is_ok());
    let Some(size) = host else {
        return Err(perr(
            v.line,
            format!(
                "the host could not allocate the {size} bytes of `{}`",
                v.name
            ),
        ));
    };
    out.resize(size, 0);
    let eb = v.elem_bytes as usize;
    for (i, x) in v.init.iter().enumerate() {
        let bits: u64 = match *x {
            Imm::Int(i) => i as u64,
            Imm::F32(b) => b as u64,
            Imm::F64(b) => b,
            Imm::FDec(f) => {
                if eb == 4 {
                    (f as f32).to_bits() as u64
                } else {
                    f.to_bits()
                }
            }
        };
        let bytes = bits.to_le_bytes();
        let start = i * eb;
        if start + eb <= size && eb <= 8 {
            out[start..start + eb].copy_from_slice(&bytes[..eb]);
        }
    }
    Ok(out)
}

struct Ctx<'a> {
    scopes: Vec<HashMap<String, Sym>>,
    /// Labels by (block, name): PTX scopes a label to its `{ }` block, and nvcc's inlined
    /// blocks repeat the same labels in sibling blocks.
    labels: HashMap<(u32, String), u32>,
    /// The blocks enclosing the current statement, innermost last (0: the function body).
    blocks: Vec<u32>,
    next_block: u32,
    /// An immediate that does not fit its operand: a hard error, not an unsupported op.
    bad_imm: Option<String>,
    prog: &'a mut Program,
    nslots: u32,
    frame: u64,
    func_idx: u32,
    is_entry: bool,
    sink: u32,
}

impl Ctx<'_> {
    fn lookup(&self, n: &str) -> Option<Sym> {
        self.scopes.iter().rev().find_map(|s| s.get(n).copied())
    }
    /// The label `n` visible here: the one of the innermost enclosing block that has it.
    fn label(&self, n: &str) -> Option<u32> {
        self.blocks
            .iter()
            .rev()
            .find_map(|b| self.labels.get(&(*b, n.to_string())).copied())
    }
    fn reg(&mut self, o: &RawOperand) -> Result<u32, String> {
        match o {
            RawOperand::Name(n) if n == "_" => Ok(self.sink),
            RawOperand::Name(n) => match self.lookup(n) {
                Some(Sym::Reg(r)) => Ok(r),
                _ => Err(format!("`{n}` is not a register")),
            },
            _ => Err(format!("expected a register, found {o:?}")),
        }
    }
    fn sym(&mut self, s: Sym, off: i64) -> Result<SymRef, String> {
        Ok(match s {
            Sym::Frame(o, _) => SymRef::Frame(offset(o, off)?),
            Sym::KParam(o, _) => SymRef::KParam(offset(o, off)?),
            Sym::Shared(i) => {
                self.note_shared(i);
                SymRef::Shared(i)
            }
            Sym::Global(i) => SymRef::Global(i),
            Sym::Const(o) => SymRef::Const(offset(o, off)?),
            Sym::Reg(_) | Sym::Func(_) => return Err("not an addressable symbol".into()),
        })
    }
    fn note_shared(&mut self, i: u32) {
        let v = &mut self.prog.func_shared[self.func_idx as usize];
        if !v.contains(&i) {
            v.push(i);
        }
    }
    fn special(n: &str) -> Option<Special> {
        let dim = |s: &str| match s {
            "x" => Some(0u8),
            "y" => Some(1),
            "z" => Some(2),
            _ => None,
        };
        if let Some((base, d)) = n.rsplit_once('.') {
            let d = dim(d)?;
            return Some(match base {
                "%tid" => Special::Tid(d),
                "%ntid" => Special::Ntid(d),
                "%ctaid" => Special::Ctaid(d),
                "%nctaid" => Special::Nctaid(d),
                _ => return None,
            });
        }
        Some(match n {
            "%laneid" => Special::LaneId,
            "%warpid" => Special::WarpId,
            "%nwarpid" => Special::NWarpId,
            "%smid" => Special::SmId,
            "%nsmid" => Special::NSmId,
            "%gridid" => Special::GridId,
            "%clock" => Special::Clock,
            "%clock64" => Special::Clock64,
            "%globaltimer" => Special::GlobalTimer,
            "%lanemask_eq" => Special::LaneMaskEq,
            "%lanemask_lt" => Special::LaneMaskLt,
            "%lanemask_le" => Special::LaneMaskLe,
            "%lanemask_gt" => Special::LaneMaskGt,
            "%lanemask_ge" => Special::LaneMaskGe,
            "%dynamic_smem_size" => Special::DynSmem,
            "%total_smem_size" => Special::TotalSmem,
            _ => return None,
        })
    }
    /// A source operand; `ty` decides how float immediates are encoded.
    fn src(&mut self, o: &RawOperand, ty: Ty) -> Result<Src, String> {
        match o {
            RawOperand::Name(n) => {
                if let Some(s) = self.lookup(n) {
                    return match s {
                        Sym::Reg(r) => Ok(Src::R(r)),
                        Sym::Func(_) => Err(format!("function `{n}` used as a value")),
                        s => Ok(Src::Sym(self.sym(s, 0)?, 0)),
                    };
                }
                if let Some(sp) = Self::special(n) {
                    return Ok(Src::Sp(sp));
                }
                if n.starts_with('%') && !n.contains('.') {
                    return Err(format!("unknown register or special register `{n}`"));
                }
                Err(format!("unknown name `{n}`"))
            }
            RawOperand::SymOff(n, off) => {
                let s = self
                    .lookup(n)
                    .ok_or_else(|| format!("unknown symbol `{n}`"))?;
                Ok(Src::Sym(self.sym(s, 0)?, *off))
            }
            RawOperand::Imm(i) => {
                if let Imm::Int(v) = *i {
                    if ty.is_int() && !int_fits(v, ty.bits()) && self.bad_imm.is_none() {
                        self.bad_imm = Some(format!(
                            "immediate {v} does not fit the {}-bit operand type",
                            ty.bits()
                        ));
                    }
                }
                Ok(Src::I(imm_bits(*i, ty)))
            }
            _ => Err(format!("unexpected operand {o:?}")),
        }
    }
    fn pred_src(&mut self, o: &RawOperand) -> Result<(Src, bool), String> {
        match o {
            RawOperand::Not(n) => Ok((self.src(&RawOperand::Name(n.clone()), Ty::Pred)?, true)),
            o => Ok((self.src(o, Ty::Pred)?, false)),
        }
    }
    fn addr(&mut self, o: &RawOperand) -> Result<Addr, String> {
        match o {
            RawOperand::Addr { base: None, off } => Ok(Addr::Abs(*off as u64)),
            RawOperand::Addr { base: Some(n), off } => match self.lookup(n) {
                Some(Sym::Reg(r)) => Ok(Addr::Reg(r, *off)),
                Some(s) => {
                    let sr = self.sym(s, 0)?;
                    Ok(match sr {
                        SymRef::Frame(o) => Addr::Sym(SymRef::Frame(offset(o, *off)?), 0),
                        SymRef::KParam(o) => Addr::Sym(SymRef::KParam(offset(o, *off)?), 0),
                        SymRef::Const(o) => Addr::Sym(SymRef::Const(offset(o, *off)?), 0),
                        s => Addr::Sym(s, *off),
                    })
                }
                None => Err(format!("unknown address base `{n}`")),
            },
            _ => Err(format!("expected an address, found {o:?}")),
        }
    }
    fn regs(&mut self, o: &RawOperand) -> Result<Vec<u32>, String> {
        match o {
            RawOperand::Vec(v) => v.iter().map(|x| self.reg(x)).collect(),
            o => Ok(vec![self.reg(o)?]),
        }
    }
    fn srcs(&mut self, o: &RawOperand, ty: Ty) -> Result<Vec<Src>, String> {
        match o {
            RawOperand::Vec(v) => v.iter().map(|x| self.src(x, ty)).collect(),
            o => Ok(vec![self.src(o, ty)?]),
        }
    }
}

/// A symbol's offset plus a constant from the PTX text, which must stay in the 32-bit space.
fn offset(o: u32, off: i64) -> Result<u32, String> {
    (o as i64)
        .checked_add(off)
        .and_then(|x| u32::try_from(x).ok())
        .ok_or_else(|| format!("offset {off} from a symbol at {o} is out of range"))
}

fn imm_bits(i: Imm, ty: Ty) -> u64 {
    match (i, ty) {
        (Imm::Int(v), _) => v as u64,
        (Imm::F32(b), Ty::F64) => (f32::from_bits(b) as f64).to_bits(),
        (Imm::F32(b), _) => b as u64,
        (Imm::F64(b), Ty::F64) => b,
        (Imm::F64(b), _) => (f64::from_bits(b) as f32).to_bits() as u64,
        (Imm::FDec(f), Ty::F64) => f.to_bits(),
        (Imm::FDec(f), _) => (f as f32).to_bits() as u64,
    }
}

/// Modifier bookkeeping: every modifier must be consumed, or the instruction is unsupported.
struct Mods {
    v: Vec<String>,
    used: Vec<bool>,
}

impl Mods {
    fn new(parts: &[&str]) -> Mods {
        Mods {
            v: parts.iter().map(|s| s.to_string()).collect(),
            used: vec![false; parts.len()],
        }
    }
    fn has(&mut self, m: &str) -> bool {
        for (i, x) in self.v.iter().enumerate() {
            if !self.used[i] && x == m {
                self.used[i] = true;
                return true;
            }
        }
        false
    }
    fn one<'b>(&mut self, opts: &[&'b str]) -> Option<&'b str> {
        for (i, x) in self.v.iter().enumerate() {
            if !self.used[i] {
                if let Some(o) = opts.iter().find(|o| **o == x.as_str()) {
                    self.used[i] = true;
                    return Some(o);
                }
            }
        }
        None
    }
    fn prefixed(&mut self, p: &str) -> Option<String> {
        for (i, x) in self.v.iter().enumerate() {
            if !self.used[i] && x.starts_with(p) {
                self.used[i] = true;
                return Some(x.clone());
            }
        }
        None
    }
    fn types(&mut self) -> Vec<Ty> {
        let mut out = Vec::new();
        for (i, x) in self.v.iter().enumerate() {
            if !self.used[i] {
                if let Some(t) = Ty::parse(x) {
                    self.used[i] = true;
                    out.push(t);
                }
            }
        }
        out
    }
    fn ty(&mut self) -> Result<Ty, String> {
        let t = self.types();
        if t.len() == 1 {
            Ok(t[0])
        } else {
            Err(format!("expected one type, found {t:?}"))
        }
    }
    fn rnd(&mut self) -> Option<Rnd> {
        self.one(&["rn", "rz", "rm", "rp"]).map(|r| match r {
            "rn" => Rnd::Rn,
            "rz" => Rnd::Rz,
            "rm" => Rnd::Rm,
            _ => Rnd::Rp,
        })
    }
    fn finish(&self, opcode: &str) -> Result<(), String> {
        for (i, x) in self.v.iter().enumerate() {
            if !self.used[i] {
                return Err(format!("unknown modifier `.{x}` in `{opcode}`"));
            }
        }
        Ok(())
    }
    /// Memory-ordering and cache modifiers that do not change single-threaded semantics.
    fn eat_mem_hints(&mut self) -> Result<(), String> {
        for (i, x) in self.v.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            let ok = matches!(
                x.as_str(),
                "weak"
                    | "volatile"
                    | "relaxed"
                    | "acquire"
                    | "release"
                    | "acq_rel"
                    | "sc"
                    | "mmio"
                    | "cta"
                    | "gpu"
                    | "sys"
                    | "cluster"
                    | "ca"
                    | "cg"
                    | "cs"
                    | "lu"
                    | "cv"
                    | "wb"
                    | "wt"
                    | "nc"
                    | "L1::evict_normal"
                    | "L1::evict_unchanged"
                    | "L1::evict_first"
                    | "L1::evict_last"
                    | "L1::no_allocate"
                    | "L2::evict_normal"
                    | "L2::evict_first"
                    | "L2::evict_last"
                    | "L2::64B"
                    | "L2::128B"
                    | "L2::256B"
            );
            if x == "L2::cache_hint" {
                return Err("`.L2::cache_hint` (cache-policy operand)".into());
            }
            if ok {
                self.used[i] = true;
            }
        }
        Ok(())
    }
    fn space(&mut self) -> Space {
        match self.one(&[
            "global",
            "shared",
            "shared::cta",
            "local",
            "param",
            "param::entry",
            "param::func",
            "const",
        ]) {
            Some("global") => Space::Global,
            Some("shared") | Some("shared::cta") => Space::Shared,
            Some("local") => Space::Local,
            Some("param") | Some("param::entry") | Some("param::func") => Space::Param,
            Some("const") => Space::Const,
            _ => Space::Generic,
        }
    }
}

fn parse_cmp(s: &str) -> Option<Cmp> {
    Some(match s {
        "eq" => Cmp::Eq,
        "ne" => Cmp::Ne,
        "lt" => Cmp::Lt,
        "le" => Cmp::Le,
        "gt" => Cmp::Gt,
        "ge" => Cmp::Ge,
        "lo" => Cmp::Lo,
        "ls" => Cmp::Ls,
        "hi" => Cmp::Hi,
        "hs" => Cmp::Hs,
        "equ" => Cmp::Equ,
        "neu" => Cmp::Neu,
        "ltu" => Cmp::Ltu,
        "leu" => Cmp::Leu,
        "gtu" => Cmp::Gtu,
        "geu" => Cmp::Geu,
        "num" => Cmp::Num,
        "nan" => Cmp::Nan,
        _ => return None,
    })
}

const HOPPER_ONLY: &[&str] = &[
    "wgmma",
    "setmaxnreg",
    "mbarrier",
    "elect",
    "griddepcontrol",
    "tensormap",
    "cp.async.bulk",
    "cp.reduce.async.bulk",
    "getctarank",
    "mapa",
    "barrier.cluster",
    "multimem",
    "tcgen05",
    "clusterlaunchcontrol",
];

fn opclass(op: &Op) -> OpClass {
    match op {
        Op::Mov { .. } | Op::Pack { .. } | Op::Unpack { .. } | Op::Cvta { .. } => OpClass::Move,
        Op::IBin { .. }
        | Op::IUn { .. }
        | Op::Mad { .. }
        | Op::Carry { .. }
        | Op::MadCarry { .. }
        | Op::Bfe { .. }
        | Op::Bfi { .. }
        | Op::Prmt { .. }
        | Op::Lop3 { .. }
        | Op::Shf { .. }
        | Op::PredLogic { .. }
        | Op::PredNot { .. } => OpClass::Int,
        Op::FBin { ty, .. } | Op::Fma { ty, .. } | Op::FUn { ty, .. } => match ty {
            Ty::F32 | Ty::F64 => OpClass::Float,
            _ => OpClass::Half,
        },
        Op::Testp { .. } | Op::Setp { .. } | Op::Set { .. } | Op::Selp { .. } | Op::Slct { .. } => {
            OpClass::Compare
        }
        Op::Cvt { .. } | Op::CvtPack { .. } => OpClass::Convert,
        Op::Ld { space, .. } => match space {
            Space::Global | Space::Generic => OpClass::LdGlobal,
            Space::Shared => OpClass::LdShared,
            Space::Local => OpClass::Local,
            Space::Param | Space::Const => OpClass::ParamConst,
        },
        Op::St { space, .. } => match space {
            Space::Global | Space::Generic => OpClass::StGlobal,
            Space::Shared => OpClass::StShared,
            Space::Local => OpClass::Local,
            Space::Param | Space::Const => OpClass::ParamConst,
        },
        Op::Atom { .. } => OpClass::Atomic,
        Op::Bra { .. } | Op::Call { .. } | Op::Ret | Op::Exit | Op::Trap => OpClass::Control,
        Op::Bar { .. } | Op::WarpSync { .. } => OpClass::Barrier,
        Op::Shfl { .. }
        | Op::Vote { .. }
        | Op::Activemask { .. }
        | Op::Redux { .. }
        | Op::MatchAny { .. }
        | Op::MatchAll { .. } => OpClass::Warp,
        Op::Ldmatrix { .. } => OpClass::LdShared,
        Op::Stmatrix { .. } => OpClass::StShared,
        Op::Mma { .. } | Op::MmaSp { .. } => OpClass::Tensor,
        Op::CpAsync { .. } | Op::CpCommit | Op::CpWait { .. } => OpClass::CpAsync,
        Op::Nop | Op::Unsupported(_) => OpClass::Other,
    }
}

pub(crate) fn build(raw: RawModule, limits: &Limits) -> Result<Program, SimError> {
    let mut prog = Program {
        code: Vec::new(),
        funcs: Vec::new(),
        nslots: 0,
        shared_vars: Vec::new(),
        global_vars: Vec::new(),
        const_bank: Vec::new(),
        func_shared: Vec::new(),
        func_calls: Vec::new(),
        module_bytes: 0,
        max_func_regs: 0,
    };
    let mut globals: HashMap<String, Sym> = HashMap::new();
    for v in &raw.vars {
        let line = Some(v.line);
        let sym = match v.space {
            VarSpace::Shared => {
                let size = limits.check(Limit::SharedBytesPerCta, v.size(), line)?;
                prog.shared_vars.push(SharedVar {
                    name: v.name.clone(),
                    size,
                    align: v.align,
                    is_extern: v.is_extern || v.count == Some(None),
                });
                Sym::Shared(prog.shared_vars.len() as u32 - 1)
            }
            VarSpace::Global => {
                let size = v.size();
                prog.module_bytes = limits.check(
                    Limit::ModuleBytes,
                    size.and_then(|s| prog.module_bytes.checked_add(s)),
                    line,
                )?;
                let size = size.unwrap_or(0);
                prog.global_vars.push(GlobalVar {
                    name: v.name.clone(),
                    size,
                    init: init_bytes(v, size)?,
                });
                Sym::Global(prog.global_vars.len() as u32 - 1)
            }
            VarSpace::Const => {
                let size = v.size();
                let off = align_up(prog.const_bank.len() as u64, v.align as u64);
                let end = off.zip(size).and_then(|(o, s)| o.checked_add(s));
                let grown = end.map(|e| e - prog.const_bank.len() as u64);
                prog.module_bytes = limits.check(
                    Limit::ModuleBytes,
                    grown.and_then(|g| prog.module_bytes.checked_add(g)),
                    line,
                )?;
                let (off, size) = (off.unwrap_or(0), size.unwrap_or(0));
                let off32 = fit_u32(off, Limit::ModuleBytes, v.line)?;
                let init = init_bytes(v, size)?;
                prog.const_bank.resize(off as usize, 0);
                prog.const_bank.extend(init);
                Sym::Const(off32)
            }
            _ => {
                return Err(perr(
                    v.line,
                    format!("unsupported module-level variable `{}`", v.name),
                ))
            }
        };
        globals.insert(v.name.clone(), sym);
    }
    // Function table: a function may be declared before it is defined.
    let mut fidx: HashMap<String, u32> = HashMap::new();
    let mut defs: Vec<&RawFunc> = Vec::new();
    for f in &raw.funcs {
        if let Some(&i) = fidx.get(&f.name) {
            if f.body.is_some() {
                defs[i as usize] = f;
            }
        } else {
            fidx.insert(f.name.clone(), defs.len() as u32);
            defs.push(f);
        }
    }
    for (n, i) in &fidx {
        globals.insert(n.clone(), Sym::Func(*i));
    }
    prog.func_shared = vec![Vec::new(); defs.len()];
    prog.func_calls = vec![Vec::new(); defs.len()];
    let mut nslots = 0u32;
    for (fi, f) in defs.iter().enumerate() {
        let func = build_func(&mut prog, &globals, f, fi as u32, &mut nslots, limits)?;
        let regs = (func.reg_range.1 - func.reg_range.0) as u64;
        prog.max_func_regs = prog.max_func_regs.max(regs);
        prog.funcs.push(func);
    }
    prog.nslots = nslots;
    Ok(prog)
}

/// Where a parameter or variable of `size` bytes goes in a frame that ends at `end`, and the
/// new end; both checked against `which`.
fn place(
    end: u64,
    align: u32,
    size: Option<u64>,
    which: Limit,
    limits: &Limits,
    line: u32,
) -> Result<(u32, u32, u64), SimError> {
    let off = align_up(end, align.max(1) as u64);
    let new_end = off.zip(size).and_then(|(o, s)| o.checked_add(s));
    let new_end = limits.check(which, new_end, Some(line))?;
    let (off, size) = (off.unwrap_or(0), size.unwrap_or(0));
    Ok((
        fit_u32(off, which, line)?,
        fit_u32(size, which, line)?,
        new_end,
    ))
}

/// Labels of a body by (block, name), blocks numbered in order of their `{`. A label
/// declared twice in one block is an error, as in ptxas.
fn collect_labels(body: &[Stmt], entry_pc: u32) -> Result<HashMap<(u32, String), u32>, SimError> {
    let mut labels = HashMap::new();
    let mut blocks = vec![0u32];
    let mut next = 1u32;
    let mut pc = entry_pc;
    for s in body {
        match s {
            Stmt::Open => {
                blocks.push(next);
                next += 1;
            }
            Stmt::Close if blocks.len() > 1 => {
                blocks.pop();
            }
            Stmt::Label(n, line) => {
                let b = blocks.last().copied().unwrap_or(0);
                if labels.insert((b, n.clone()), pc).is_some() {
                    return Err(perr(
                        *line,
                        format!("label `{n}` is declared twice in one block"),
                    ));
                }
            }
            Stmt::Inst(_) => pc += 1,
            _ => {}
        }
    }
    Ok(labels)
}

fn build_func(
    prog: &mut Program,
    globals: &HashMap<String, Sym>,
    f: &RawFunc,
    fi: u32,
    nslots: &mut u32,
    limits: &Limits,
) -> Result<Func, SimError> {
    let mut top: HashMap<String, Sym> = HashMap::new();
    let mut params = Vec::new();
    let mut rets = Vec::new();
    let mut frame = 0u64;
    let mut kp = 0u64;
    let declare = |top: &mut HashMap<String, Sym>, p: &VarDecl, sym: Sym| {
        if top.insert(p.name.clone(), sym).is_some() {
            return Err(perr(
                p.line,
                format!("parameter `{}` is declared twice", p.name),
            ));
        }
        Ok(())
    };
    // A device function's parameters and return values live in its local frame.
    let in_frame = |frame: &mut u64, p: &VarDecl| -> Result<(u32, u32), SimError> {
        let (off, size, end) = place(
            *frame,
            p.align,
            p.size(),
            Limit::LocalBytesPerThread,
            limits,
            p.line,
        )?;
        *frame = end;
        Ok((off, size))
    };
    for p in &f.params {
        let (off, size) = if f.is_entry {
            let (off, size, end) = place(kp, p.align, p.size(), Limit::ParamBytes, limits, p.line)?;
            kp = end;
            declare(&mut top, p, Sym::KParam(off, size))?;
            (off, size)
        } else {
            let (off, size) = in_frame(&mut frame, p)?;
            declare(&mut top, p, Sym::Frame(off, size))?;
            (off, size)
        };
        params.push((off, size));
    }
    for p in &f.rets {
        let (off, size) = in_frame(&mut frame, p)?;
        declare(&mut top, p, Sym::Frame(off, size))?;
        rets.push((off, size));
    }
    let reg_start = *nslots;
    let entry_pc = prog.code.len() as u32;
    let Some(body) = &f.body else {
        return Ok(Func {
            name: f.name.clone(),
            is_entry: f.is_entry,
            entry_pc: u32::MAX,
            params,
            rets,
            frame_size: fit_u32(frame, Limit::LocalBytesPerThread, f.line)?,
            reg_range: (reg_start, reg_start),
            line: f.line,
        });
    };
    let labels = collect_labels(body, entry_pc)?;
    let sink = *nslots;
    *nslots = nslots
        .checked_add(1)
        .ok_or_else(|| perr(f.line, "too many registers"))?;
    let mut cx = Ctx {
        scopes: vec![globals.clone(), top],
        labels,
        blocks: vec![0],
        next_block: 1,
        bad_imm: None,
        prog,
        nslots: *nslots,
        frame,
        func_idx: fi,
        is_entry: f.is_entry,
        sink,
    };
    for s in body {
        match s {
            Stmt::Open => {
                cx.scopes.push(HashMap::new());
                cx.blocks.push(cx.next_block);
                cx.next_block += 1;
            }
            Stmt::Close => {
                if cx.scopes.len() > 2 {
                    cx.scopes.pop();
                    cx.blocks.pop();
                }
            }
            Stmt::Label(..) => {}
            Stmt::Reg { names, line, .. } => {
                for n in names {
                    let slot = cx.nslots;
                    cx.nslots = slot
                        .checked_add(1)
                        .ok_or_else(|| perr(*line, "too many registers"))?;
                    if let Some(sc) = cx.scopes.last_mut() {
                        if sc.insert(n.clone(), Sym::Reg(slot)).is_some() {
                            return Err(perr(
                                *line,
                                format!("`{n}` is declared twice in one block"),
                            ));
                        }
                    }
                }
            }
            Stmt::Var(v) => {
                let sym = match v.space {
                    VarSpace::Local | VarSpace::Param => {
                        let (off, size, end) = place(
                            cx.frame,
                            v.align,
                            v.size(),
                            Limit::LocalBytesPerThread,
                            limits,
                            v.line,
                        )?;
                        cx.frame = end;
                        Sym::Frame(off, size)
                    }
                    VarSpace::Shared => {
                        let size =
                            limits.check(Limit::SharedBytesPerCta, v.size(), Some(v.line))?;
                        cx.prog.shared_vars.push(SharedVar {
                            name: v.name.clone(),
                            size,
                            align: v.align,
                            is_extern: v.is_extern || v.count == Some(None),
                        });
                        Sym::Shared(cx.prog.shared_vars.len() as u32 - 1)
                    }
                    _ => {
                        return Err(perr(
                            v.line,
                            format!("unsupported variable `{}` in a function body", v.name),
                        ))
                    }
                };
                if let Some(sc) = cx.scopes.last_mut() {
                    if sc.insert(v.name.clone(), sym).is_some() {
                        return Err(perr(
                            v.line,
                            format!("`{}` is declared twice in one block", v.name),
                        ));
                    }
                }
            }
            Stmt::Inst(ri) => {
                let inst = decode_inst(&mut cx, ri);
                if let Some(msg) = cx.bad_imm.take() {
                    return Err(perr(ri.line, format!("`{}`: {msg}", ri.opcode)));
                }
                cx.prog.code.push(inst);
            }
        }
    }
    // implicit return at the end of a body
    cx.prog.code.push(Inst {
        op: if f.is_entry { Op::Exit } else { Op::Ret },
        guard: None,
        line: f.line,
        class: OpClass::Control,
        text: "<end of function>".into(),
    });
    *nslots = cx.nslots;
    let _ = cx.is_entry;
    let frame_size = limits.check(
        Limit::LocalBytesPerThread,
        align_up(cx.frame, 16),
        Some(f.line),
    )?;
    Ok(Func {
        name: f.name.clone(),
        is_entry: f.is_entry,
        entry_pc,
        params,
        rets,
        frame_size: fit_u32(frame_size, Limit::LocalBytesPerThread, f.line)?,
        reg_range: (reg_start, *nslots),
        line: f.line,
    })
}

fn decode_inst(cx: &mut Ctx, ri: &RawInst) -> Inst {
    let guard = match &ri.guard {
        Some((g, neg)) => match cx.lookup(g) {
            Some(Sym::Reg(r)) => Some((r, *neg)),
            _ => {
                return Inst {
                    op: Op::Unsupported(format!("unknown guard predicate `{g}`")),
                    guard: None,
                    line: ri.line,
                    class: OpClass::Other,
                    text: ri.opcode.clone(),
                }
            }
        },
        None => None,
    };
    let op = match decode_op(cx, ri) {
        Ok(op) => op,
        Err(e) => Op::Unsupported(format!("`{}`: {e}", ri.opcode)),
    };
    Inst {
        class: opclass(&op),
        op,
        guard,
        line: ri.line,
        text: ri.opcode.clone(),
    }
}

/// Bits of each of `n` parts of a packed `ty` value (`mov` to or from a `{..}` vector).
fn vec_part_bits(ty: Ty, n: usize) -> Result<u32, String> {
    match u32::try_from(n) {
        Ok(n) if n > 0 && n <= ty.bits() => Ok(ty.bits() / n),
        _ => Err(format!(
            "a {}-bit value cannot be split into {n} parts",
            ty.bits()
        )),
    }
}

fn nops(ri: &RawInst, n: usize) -> Result<(), String> {
    if ri.operands.len() != n {
        Err(format!(
            "expected {n} operands, found {}",
            ri.operands.len()
        ))
    } else {
        Ok(())
    }
}

fn decode_op(cx: &mut Ctx, ri: &RawInst) -> Result<Op, String> {
    let opcode = ri.opcode.as_str();
    for h in HOPPER_ONLY {
        if opcode == *h || opcode.starts_with(&format!("{h}.")) {
            return Err(format!("Hopper instruction `{h}`"));
        }
    }
    let mut parts: Vec<&str> = opcode.split('.').collect();
    let base = parts.remove(0);
    let mut m = Mods::new(&parts);
    let o = &ri.operands;
    let op = match base {
        "mov" => {
            let ty = m.ty()?;
            nops(ri, 2)?;
            match (&o[0], &o[1]) {
                (RawOperand::Vec(ds), a) => {
                    let ds = ds
                        .iter()
                        .map(|x| cx.reg(x))
                        .collect::<Result<Vec<_>, _>>()?;
                    let bits = vec_part_bits(ty, ds.len())?;
                    Op::Unpack {
                        ds,
                        a: cx.src(a, ty)?,
                        bits,
                    }
                }
                (d, RawOperand::Vec(ps)) => {
                    let parts = ps
                        .iter()
                        .map(|x| cx.src(x, Ty::B32))
                        .collect::<Result<Vec<_>, _>>()?;
                    let bits = vec_part_bits(ty, parts.len())?;
                    Op::Pack {
                        d: cx.reg(d)?,
                        parts,
                        bits,
                    }
                }
                (d, a) => Op::Mov {
                    d: cx.reg(d)?,
                    a: cx.src(a, ty)?,
                    mask: ty.mask(),
                },
            }
        }
        "add" | "sub" | "mul" | "mad" | "fma" | "div" | "rem" | "min" | "max" | "mul24"
        | "mad24" | "addc" | "subc" | "madc" => decode_arith(cx, base, &mut m, ri)?,
        "and" | "or" | "xor" | "shl" | "shr" => {
            let ty = m.ty()?;
            nops(ri, 3)?;
            let d = cx.reg(&o[0])?;
            let a = cx.src(&o[1], ty)?;
            let b = cx.src(&o[2], ty)?;
            if ty == Ty::Pred && base != "shl" && base != "shr" {
                Op::PredLogic {
                    op: match base {
                        "and" => BoolOp::And,
                        "or" => BoolOp::Or,
                        _ => BoolOp::Xor,
                    },
                    d,
                    a,
                    b,
                }
            } else {
                let op = match base {
                    "and" => IBin::And,
                    "or" => IBin::Or,
                    "xor" => IBin::Xor,
                    "shl" => IBin::Shl,
                    _ => IBin::Shr,
                };
                Op::IBin {
                    op,
                    ty,
                    sat: false,
                    d,
                    a,
                    b,
                }
            }
        }
        "not" | "cnot" | "brev" | "clz" | "popc" | "bfind" => {
            let shift = m.has("shiftamt");
            let ty = m.ty()?;
            nops(ri, 2)?;
            let d = cx.reg(&o[0])?;
            let a = cx.src(&o[1], ty)?;
            if ty == Ty::Pred && base == "not" {
                Op::PredNot { d, a }
            } else {
                Op::IUn {
                    op: match base {
                        "not" => IUn::Not,
                        "cnot" => IUn::Cnot,
                        "brev" => IUn::Brev,
                        "clz" => IUn::Clz,
                        "popc" => IUn::Popc,
                        _ if shift => IUn::BfindShift,
                        _ => IUn::Bfind,
                    },
                    ty,
                    d,
                    a,
                }
            }
        }
        "neg" | "abs" => {
            let ftz = m.has("ftz");
            let ty = m.ty()?;
            nops(ri, 2)?;
            let d = cx.reg(&o[0])?;
            let a = cx.src(&o[1], ty)?;
            if ty.is_float() {
                Op::FUn {
                    op: if base == "neg" { FUn::Neg } else { FUn::Abs },
                    ty,
                    m: FMods {
                        nan: false,
                        rnd: Rnd::Rn,
                        ftz,
                        sat: false,
                        approx: false,
                    },
                    d,
                    a,
                }
            } else {
                Op::IUn {
                    op: if base == "neg" { IUn::Neg } else { IUn::Abs },
                    ty,
                    d,
                    a,
                }
            }
        }
        "sqrt" | "rcp" | "rsqrt" | "ex2" | "lg2" | "sin" | "cos" | "tanh" => {
            let approx = m.has("approx");
            let full = m.has("full");
            let rnd = m.rnd();
            let ftz = m.has("ftz");
            let ty = m.ty()?;
            if !approx && rnd.is_none() && !full {
                return Err("needs .approx or a rounding modifier".into());
            }
            if approx
                && !matches!(
                    ty,
                    Ty::F32 | Ty::F64 | Ty::F16 | Ty::F16x2 | Ty::BF16 | Ty::BF16x2
                )
            {
                return Err("bad type".into());
            }
            nops(ri, 2)?;
            Op::FUn {
                op: match base {
                    "sqrt" => FUn::Sqrt,
                    "rcp" => FUn::Rcp,
                    "rsqrt" => FUn::Rsqrt,
                    "ex2" => FUn::Ex2,
                    "lg2" => FUn::Lg2,
                    "sin" => FUn::Sin,
                    "cos" => FUn::Cos,
                    _ => FUn::Tanh,
                },
                ty,
                m: FMods {
                    nan: false,
                    rnd: rnd.unwrap_or(Rnd::Rn),
                    ftz,
                    sat: false,
                    approx,
                },
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
            }
        }
        "copysign" => {
            let ty = m.ty()?;
            nops(ri, 3)?;
            Op::FBin {
                op: FBin::Copysign,
                ty,
                m: FMods {
                    nan: false,
                    rnd: Rnd::Rn,
                    ftz: false,
                    sat: false,
                    approx: false,
                },
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
                b: cx.src(&o[2], ty)?,
            }
        }
        "testp" => {
            let t = m
                .one(&[
                    "finite",
                    "infinite",
                    "number",
                    "notanumber",
                    "normal",
                    "subnormal",
                ])
                .ok_or("testp needs an operation")?;
            let ty = m.ty()?;
            nops(ri, 2)?;
            Op::Testp {
                op: match t {
                    "finite" => TestpOp::Finite,
                    "infinite" => TestpOp::Infinite,
                    "number" => TestpOp::Number,
                    "notanumber" => TestpOp::NotANumber,
                    "normal" => TestpOp::Normal,
                    _ => TestpOp::Subnormal,
                },
                ty,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
            }
        }
        "bfe" => {
            let ty = m.ty()?;
            nops(ri, 4)?;
            Op::Bfe {
                ty,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
                b: cx.src(&o[2], Ty::U32)?,
                c: cx.src(&o[3], Ty::U32)?,
            }
        }
        "bfi" => {
            let ty = m.ty()?;
            nops(ri, 5)?;
            Op::Bfi {
                ty,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
                b: cx.src(&o[2], ty)?,
                c: cx.src(&o[3], Ty::U32)?,
                e: cx.src(&o[4], Ty::U32)?,
            }
        }
        "prmt" => {
            let mode = match m.one(&["f4e", "b4e", "rc8", "ecl", "ecr", "rc16"]) {
                None => PrmtMode::Default,
                Some("f4e") => PrmtMode::F4e,
                Some("b4e") => PrmtMode::B4e,
                Some("rc8") => PrmtMode::Rc8,
                Some("ecl") => PrmtMode::Ecl,
                Some("ecr") => PrmtMode::Ecr,
                _ => PrmtMode::Rc16,
            };
            if m.ty()? != Ty::B32 {
                return Err("prmt needs .b32".into());
            }
            nops(ri, 4)?;
            Op::Prmt {
                mode,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], Ty::B32)?,
                b: cx.src(&o[2], Ty::B32)?,
                c: cx.src(&o[3], Ty::B32)?,
            }
        }
        "lop3" => {
            if m.ty()? != Ty::B32 {
                return Err("lop3 needs .b32".into());
            }
            nops(ri, 5)?;
            let lut = match cx.src(&o[4], Ty::B32)? {
                Src::I(v) => v as u8,
                _ => return Err("lop3 LUT must be an immediate".into()),
            };
            Op::Lop3 {
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], Ty::B32)?,
                b: cx.src(&o[2], Ty::B32)?,
                c: cx.src(&o[3], Ty::B32)?,
                lut,
            }
        }
        "shf" => {
            let left = match m.one(&["l", "r"]) {
                Some("l") => true,
                Some(_) => false,
                None => return Err("shf needs .l or .r".into()),
            };
            let clamp = match m.one(&["wrap", "clamp"]) {
                Some("clamp") => true,
                Some(_) => false,
                None => return Err("shf needs .wrap or .clamp".into()),
            };
            if m.ty()? != Ty::B32 {
                return Err("shf needs .b32".into());
            }
            nops(ri, 4)?;
            Op::Shf {
                left,
                clamp,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], Ty::B32)?,
                b: cx.src(&o[2], Ty::B32)?,
                c: cx.src(&o[3], Ty::U32)?,
            }
        }
        "setp" | "set" => {
            let cmp = parts
                .first()
                .and_then(|c| parse_cmp(c))
                .ok_or("missing comparison")?;
            m.used[0] = true;
            let bop = match m.one(&["and", "or", "xor"]) {
                Some("and") => Some(BoolOp::And),
                Some("or") => Some(BoolOp::Or),
                Some("xor") => Some(BoolOp::Xor),
                _ => None,
            };
            let _ftz = m.has("ftz");
            let tys = m.types();
            let n = o.len();
            if n != 3 && n != 4 {
                return Err("bad operand count".into());
            }
            let sty = *tys.last().ok_or("missing type")?;
            let a = cx.src(&o[1], sty)?;
            let b = cx.src(&o[2], sty)?;
            let comb = if n == 4 {
                let (c, neg) = cx.pred_src(&o[3])?;
                Some((bop.ok_or("4th operand needs .and/.or/.xor")?, c, neg))
            } else {
                None
            };
            if base == "setp" {
                if tys.len() != 1 {
                    return Err("setp takes one type".into());
                }
                let (p, q) = match &o[0] {
                    RawOperand::PredPair(p, q) => (
                        cx.reg(&RawOperand::Name(p.clone()))?,
                        Some(cx.reg(&RawOperand::Name(q.clone()))?),
                    ),
                    x => (cx.reg(x)?, None),
                };
                Op::Setp {
                    cmp,
                    ty: sty,
                    p,
                    q,
                    a,
                    b,
                    comb,
                }
            } else {
                if tys.len() != 2 {
                    return Err("set takes two types".into());
                }
                Op::Set {
                    cmp,
                    dty: tys[0],
                    sty,
                    d: cx.reg(&o[0])?,
                    a,
                    b,
                    comb,
                }
            }
        }
        "selp" => {
            let ty = m.ty()?;
            nops(ri, 4)?;
            Op::Selp {
                ty,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
                b: cx.src(&o[2], ty)?,
                p: cx.src(&o[3], Ty::Pred)?,
            }
        }
        "slct" => {
            let _ftz = m.has("ftz");
            let tys = m.types();
            if tys.len() != 2 {
                return Err("slct takes two types".into());
            }
            nops(ri, 4)?;
            Op::Slct {
                ty: tys[0],
                cty: tys[1],
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], tys[0])?,
                b: cx.src(&o[2], tys[0])?,
                c: cx.src(&o[3], tys[1])?,
            }
        }
        "cvt" => {
            let irnd = m.one(&["rni", "rzi", "rmi", "rpi"]);
            let frnd = m.rnd();
            let ftz = m.has("ftz");
            let sat = m.has("sat");
            let relu = m.has("relu");
            let tys = m.types();
            if tys.len() != 2 {
                return Err("cvt takes two types".into());
            }
            let (dty, sty) = (tys[0], tys[1]);
            if matches!(dty, Ty::F16x2 | Ty::BF16x2) {
                nops(ri, 3)?;
                if sty != Ty::F32 {
                    return Err("packed cvt needs .f32 sources".into());
                }
                Op::CvtPack {
                    dty,
                    rnd: frnd.ok_or("packed cvt needs a rounding modifier")?,
                    relu,
                    sat,
                    d: cx.reg(&o[0])?,
                    a: cx.src(&o[1], Ty::F32)?,
                    b: cx.src(&o[2], Ty::F32)?,
                }
            } else {
                nops(ri, 2)?;
                let (rnd, int_rnd) = match (irnd, frnd) {
                    (Some(i), None) => (
                        Some(match i {
                            "rni" => Rnd::Rn,
                            "rzi" => Rnd::Rz,
                            "rmi" => Rnd::Rm,
                            _ => Rnd::Rp,
                        }),
                        true,
                    ),
                    (None, r) => (r, false),
                    _ => return Err("two rounding modifiers".into()),
                };
                Op::Cvt {
                    dty,
                    sty,
                    rnd,
                    int_rnd,
                    sat,
                    ftz,
                    relu,
                    d: cx.reg(&o[0])?,
                    a: cx.src(&o[1], sty)?,
                }
            }
        }
        "cvta" => {
            let to = m.has("to");
            let space = m.space();
            let ty = m.ty()?;
            nops(ri, 2)?;
            if space == Space::Generic {
                return Err("cvta needs a state space".into());
            }
            Op::Cvta {
                to,
                space,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
                wide: ty.bits() == 64,
            }
        }
        "ld" | "ldu" | "st" => {
            m.eat_mem_hints()?;
            let space = m.space();
            let vec = match m.one(&["v2", "v4", "v8"]) {
                Some("v2") => 2,
                Some("v4") => 4,
                Some("v8") => 8,
                _ => 1,
            };
            let ty = m.ty()?;
            nops(ri, 2)?;
            if base == "st" {
                let addr = cx.addr(&o[0])?;
                let s = cx.srcs(&o[1], ty)?;
                if s.len() != vec {
                    return Err("vector size mismatch".into());
                }
                Op::St { space, ty, s, addr }
            } else {
                let d = cx.regs(&o[0])?;
                if d.len() != vec {
                    return Err("vector size mismatch".into());
                }
                let addr = cx.addr(&o[1])?;
                Op::Ld { space, ty, d, addr }
            }
        }
        "atom" | "red" => {
            m.eat_mem_hints()?;
            let space = m.space();
            let aop = match m.one(&[
                "add", "min", "max", "inc", "dec", "and", "or", "xor", "exch", "cas",
            ]) {
                Some("add") => AtomOp::Add,
                Some("min") => AtomOp::Min,
                Some("max") => AtomOp::Max,
                Some("inc") => AtomOp::Inc,
                Some("dec") => AtomOp::Dec,
                Some("and") => AtomOp::And,
                Some("or") => AtomOp::Or,
                Some("xor") => AtomOp::Xor,
                Some("exch") => AtomOp::Exch,
                Some("cas") => AtomOp::Cas,
                _ => return Err("missing atomic operation".into()),
            };
            let ty = m.ty()?;
            let (d, rest) = if base == "atom" {
                (Some(cx.reg(o.first().ok_or("missing operands")?)?), &o[1..])
            } else {
                (None, &o[..])
            };
            let need = if aop == AtomOp::Cas { 3 } else { 2 };
            if rest.len() != need {
                return Err("bad operand count".into());
            }
            Op::Atom {
                space,
                op: aop,
                ty,
                d,
                addr: cx.addr(&rest[0])?,
                a: cx.src(&rest[1], ty)?,
                b: if need == 3 {
                    cx.src(&rest[2], ty)?
                } else {
                    Src::I(0)
                },
            }
        }
        "bra" => {
            m.has("uni");
            nops(ri, 1)?;
            let t = match &o[0] {
                RawOperand::Name(n) => cx.label(n).ok_or(format!("unknown label `{n}`"))?,
                _ => return Err("bad branch target".into()),
            };
            Op::Bra { target: t }
        }
        "call" => {
            m.has("uni");
            let mut rets = Vec::new();
            let mut args = Vec::new();
            let mut func = None;
            for x in o {
                match x {
                    RawOperand::List(l) => {
                        let mut v = Vec::new();
                        for y in l {
                            match y {
                                RawOperand::Name(n) => match cx.lookup(n) {
                                    Some(Sym::Frame(off, size)) => v.push((off, size)),
                                    _ => {
                                        return Err(format!("call argument `{n}` is not a .param"))
                                    }
                                },
                                _ => return Err("unsupported call argument".into()),
                            }
                        }
                        if func.is_none() {
                            rets = v;
                        } else {
                            args = v;
                        }
                    }
                    RawOperand::Name(n) => match cx.lookup(n) {
                        Some(Sym::Func(f)) => func = Some(f),
                        _ => return Err(format!("indirect call through `{n}`")),
                    },
                    _ => return Err("bad call operand".into()),
                }
            }
            let func = func.ok_or("call without a target")?;
            let calls = &mut cx.prog.func_calls[cx.func_idx as usize];
            if !calls.contains(&func) {
                calls.push(func);
            }
            Op::Call { func, args, rets }
        }
        "ret" => {
            m.has("uni");
            Op::Ret
        }
        "exit" => Op::Exit,
        "trap" => Op::Trap,
        "bar" | "barrier" => {
            m.has("cta");
            if m.has("warp") {
                m.has("sync");
                nops(ri, 1)?;
                Op::WarpSync {
                    mask: cx.src(&o[0], Ty::B32)?,
                }
            } else {
                let arrive = match m.one(&["sync", "arrive"]) {
                    Some("sync") => false,
                    Some(_) => true,
                    None if base == "bar" && parts.is_empty() => false,
                    None => return Err("unsupported barrier form".into()),
                };
                m.has("aligned");
                if o.is_empty() || o.len() > 2 {
                    return Err("bad operand count".into());
                }
                Op::Bar {
                    arrive,
                    id: cx.src(&o[0], Ty::U32)?,
                    count: if o.len() == 2 {
                        Some(cx.src(&o[1], Ty::U32)?)
                    } else {
                        None
                    },
                }
            }
        }
        "membar" => {
            m.one(&["cta", "gl", "sys"]);
            Op::Nop
        }
        "fence" => {
            m.one(&["sc", "acq_rel"]);
            m.one(&["cta", "gpu", "sys", "cluster"]);
            if let Some(p) = m.prefixed("proxy") {
                let _ = p;
                m.prefixed("async");
                m.one(&["shared::cta", "shared::cluster", "global"]);
            }
            Op::Nop
        }
        "nanosleep" | "pmevent" | "prefetch" | "prefetchu" => {
            m.eat_mem_hints()?;
            m.space();
            m.one(&["L1", "L2", "u32"]);
            m.prefixed("L2::");
            Op::Nop
        }
        "shfl" => {
            if !m.has("sync") {
                return Err("shfl without .sync".into());
            }
            let mode = match m.one(&["up", "down", "bfly", "idx"]) {
                Some("up") => ShflMode::Up,
                Some("down") => ShflMode::Down,
                Some("bfly") => ShflMode::Bfly,
                Some(_) => ShflMode::Idx,
                None => return Err("missing shfl mode".into()),
            };
            if m.ty()? != Ty::B32 {
                return Err("shfl needs .b32".into());
            }
            nops(ri, 5)?;
            let (d, p) = match &o[0] {
                RawOperand::PredPair(a, b) => (
                    cx.reg(&RawOperand::Name(a.clone()))?,
                    Some(cx.reg(&RawOperand::Name(b.clone()))?),
                ),
                x => (cx.reg(x)?, None),
            };
            Op::Shfl {
                mode,
                d,
                p,
                a: cx.src(&o[1], Ty::B32)?,
                b: cx.src(&o[2], Ty::B32)?,
                c: cx.src(&o[3], Ty::B32)?,
                mask: cx.src(&o[4], Ty::B32)?,
            }
        }
        "vote" => {
            if !m.has("sync") {
                return Err("vote without .sync".into());
            }
            let mode = match m.one(&["all", "any", "uni", "ballot"]) {
                Some("all") => VoteMode::All,
                Some("any") => VoteMode::Any,
                Some("uni") => VoteMode::Uni,
                Some(_) => VoteMode::Ballot,
                None => return Err("missing vote mode".into()),
            };
            m.ty()?;
            nops(ri, 3)?;
            let (a, neg) = cx.pred_src(&o[1])?;
            Op::Vote {
                mode,
                d: cx.reg(&o[0])?,
                a,
                neg,
                mask: cx.src(&o[2], Ty::B32)?,
            }
        }
        "activemask" => {
            m.ty()?;
            nops(ri, 1)?;
            Op::Activemask { d: cx.reg(&o[0])? }
        }
        "redux" => {
            if !m.has("sync") {
                return Err("redux without .sync".into());
            }
            let rop = match m.one(&["add", "min", "max", "and", "or", "xor"]) {
                Some("add") => ReduxOp::Add,
                Some("min") => ReduxOp::Min,
                Some("max") => ReduxOp::Max,
                Some("and") => ReduxOp::And,
                Some("or") => ReduxOp::Or,
                Some(_) => ReduxOp::Xor,
                None => return Err("missing redux operation".into()),
            };
            let ty = m.ty()?;
            nops(ri, 3)?;
            Op::Redux {
                op: rop,
                ty,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
                mask: cx.src(&o[2], Ty::B32)?,
            }
        }
        "match" => {
            let all = match m.one(&["any", "all"]) {
                Some("all") => true,
                Some(_) => false,
                None => return Err("missing match mode".into()),
            };
            if !m.has("sync") {
                return Err("match without .sync".into());
            }
            let ty = m.ty()?;
            nops(ri, 3)?;
            let a = cx.src(&o[1], ty)?;
            let mask = cx.src(&o[2], Ty::B32)?;
            if all {
                let (d, p) = match &o[0] {
                    RawOperand::PredPair(a, b) => (
                        cx.reg(&RawOperand::Name(a.clone()))?,
                        Some(cx.reg(&RawOperand::Name(b.clone()))?),
                    ),
                    x => (cx.reg(x)?, None),
                };
                Op::MatchAll { ty, d, p, a, mask }
            } else {
                Op::MatchAny {
                    ty,
                    d: cx.reg(&o[0])?,
                    a,
                    mask,
                }
            }
        }
        "ldmatrix" | "stmatrix" => {
            if !(m.has("sync") && m.has("aligned") && m.has("m8n8")) {
                return Err("needs .sync.aligned.m8n8".into());
            }
            let num = match m.one(&["x1", "x2", "x4"]) {
                Some("x1") => 1,
                Some("x2") => 2,
                Some("x4") => 4,
                _ => return Err("needs .x1/.x2/.x4".into()),
            };
            let trans = m.has("trans");
            let space = m.space();
            if space != Space::Shared && space != Space::Generic {
                return Err("ldmatrix/stmatrix need shared memory".into());
            }
            if m.ty()? != Ty::B16 {
                return Err("only .b16".into());
            }
            nops(ri, 2)?;
            if base == "ldmatrix" {
                let d = cx.regs(&o[0])?;
                if d.len() != num as usize {
                    return Err("register count mismatch".into());
                }
                Op::Ldmatrix {
                    num,
                    trans,
                    d,
                    addr: cx.addr(&o[1])?,
                    space,
                }
            } else {
                let s = cx.srcs(&o[1], Ty::B32)?;
                if s.len() != num as usize {
                    return Err("register count mismatch".into());
                }
                Op::Stmatrix {
                    num,
                    trans,
                    s,
                    addr: cx.addr(&o[0])?,
                    space,
                }
            }
        }
        "mma" => decode_mma(cx, &mut m, ri, &parts)?,
        "cp" => {
            if !m.has("async") {
                return Err("unsupported cp form".into());
            }
            if m.has("commit_group") {
                Op::CpCommit
            } else if m.has("wait_group") {
                nops(ri, 1)?;
                match cx.src(&o[0], Ty::U32)? {
                    Src::I(n) => Op::CpWait { n: n as u32 },
                    _ => return Err("wait_group needs an immediate".into()),
                }
            } else if m.has("wait_all") {
                Op::CpWait { n: 0 }
            } else {
                let cg = match m.one(&["ca", "cg"]) {
                    Some("cg") => true,
                    Some(_) => false,
                    None => return Err("cp.async needs .ca or .cg".into()),
                };
                let dspace = m.space();
                if dspace != Space::Shared {
                    return Err("cp.async destination must be .shared".into());
                }
                if m.space() != Space::Global {
                    return Err("cp.async source must be .global".into());
                }
                m.eat_mem_hints()?;
                if o.len() < 3 || o.len() > 4 {
                    return Err("bad operand count".into());
                }
                let size = match cx.src(&o[2], Ty::U32)? {
                    Src::I(n) if n == 4 || n == 8 || n == 16 => n as u32,
                    _ => return Err("cp-size must be 4, 8 or 16".into()),
                };
                if cg && size != 16 {
                    return Err("cp.async.cg needs cp-size 16".into());
                }
                Op::CpAsync {
                    dst: cx.addr(&o[0])?,
                    src: cx.addr(&o[1])?,
                    size,
                    src_size: if o.len() == 4 {
                        Some(cx.src(&o[3], Ty::U32)?)
                    } else {
                        None
                    },
                    dspace,
                }
            }
        }
        _ => return Err("unknown instruction".into()),
    };
    m.finish(opcode)?;
    Ok(op)
}

fn decode_arith(cx: &mut Ctx, base: &str, m: &mut Mods, ri: &RawInst) -> Result<Op, String> {
    let o = &ri.operands;
    let tys = m.types();
    let ty = *tys.first().ok_or("missing type")?;
    if tys.len() != 1 {
        return Err("expected one type".into());
    }
    let three = matches!(base, "mad" | "fma" | "mad24" | "madc");
    nops(ri, if three { 4 } else { 3 })?;
    let d = cx.reg(&o[0])?;
    let a = cx.src(&o[1], ty)?;
    let b = cx.src(&o[2], ty)?;
    let c = if three { cx.src(&o[3], ty)? } else { Src::I(0) };
    if ty.is_float() {
        let rnd = m.rnd();
        let approx = m.has("approx");
        let full = m.has("full");
        let ftz = m.has("ftz");
        let sat = m.has("sat");
        let nan = m.has("NaN");
        if nan && base != "min" && base != "max" {
            return Err(".NaN is only for min/max".into());
        }
        let fm = FMods {
            nan,
            rnd: rnd.unwrap_or(Rnd::Rn),
            ftz,
            sat,
            approx: approx || full,
        };
        if base == "div" && ty == Ty::F32 && rnd.is_none() && !approx && !full {
            return Err("div.f32 needs .rn/.approx/.full".into());
        }
        if base == "fma" && rnd.is_none() {
            return Err("fma needs a rounding modifier".into());
        }
        if base == "mad" && ty != Ty::F32 && ty != Ty::F64 {
            return Err("bad mad type".into());
        }
        return Ok(match base {
            "add" | "sub" | "mul" | "div" | "min" | "max" => Op::FBin {
                op: match base {
                    "add" => FBin::Add,
                    "sub" => FBin::Sub,
                    "mul" => FBin::Mul,
                    "div" => FBin::Div,
                    "min" => FBin::Min,
                    _ => FBin::Max,
                },
                ty,
                m: fm,
                d,
                a,
                b,
            },
            "fma" | "mad" => Op::Fma {
                ty,
                m: fm,
                d,
                a,
                b,
                c,
            },
            _ => return Err("bad float op".into()),
        });
    }
    let cc = m.has("cc");
    let mode = match m.one(&["lo", "hi", "wide"]) {
        Some("lo") => Some(IBin::MulLo),
        Some("hi") => Some(IBin::MulHi),
        Some(_) => Some(IBin::MulWide),
        None => None,
    };
    let sat = m.has("sat");
    if base == "madc" || (base == "mad" && cc) {
        let hi = match mode {
            Some(IBin::MulLo) => false,
            Some(IBin::MulHi) => true,
            _ => return Err("mad with carry needs .lo or .hi".into()),
        };
        if !matches!(
            ty,
            Ty::U32 | Ty::S32 | Ty::U64 | Ty::S64 | Ty::B32 | Ty::B64
        ) {
            return Err("mad with carry needs a 32- or 64-bit integer type".into());
        }
        return Ok(Op::MadCarry {
            hi,
            cin: base == "madc",
            cout: cc,
            ty,
            d,
            a,
            b,
            c,
        });
    }
    if base == "addc" || base == "subc" {
        return Ok(Op::Carry {
            sub: base == "subc",
            cin: true,
            cout: cc,
            ty,
            d,
            a,
            b,
        });
    }
    if cc {
        return match base {
            "add" | "sub" => Ok(Op::Carry {
                sub: base == "sub",
                cin: false,
                cout: true,
                ty,
                d,
                a,
                b,
            }),
            _ => Err("unsupported .cc form".into()),
        };
    }
    Ok(match base {
        "add" | "sub" | "div" | "rem" | "min" | "max" => Op::IBin {
            op: match base {
                "add" => IBin::Add,
                "sub" => IBin::Sub,
                "div" => IBin::Div,
                "rem" => IBin::Rem,
                "min" => IBin::Min,
                _ => IBin::Max,
            },
            ty,
            sat,
            d,
            a,
            b,
        },
        "mul" => Op::IBin {
            op: mode.ok_or("mul needs .lo/.hi/.wide")?,
            ty,
            sat,
            d,
            a,
            b,
        },
        "mul24" => {
            if mode != Some(IBin::MulLo) {
                return Err("only mul24.lo".into());
            }
            Op::IBin {
                op: IBin::Mul24Lo,
                ty,
                sat,
                d,
                a,
                b,
            }
        }
        "mad" => Op::Mad {
            mode: mode.ok_or("mad needs .lo/.hi/.wide")?,
            ty,
            sat,
            d,
            a,
            b,
            c,
        },
        _ => return Err("unsupported integer form".into()),
    })
}

fn decode_mma(cx: &mut Ctx, m: &mut Mods, ri: &RawInst, parts: &[&str]) -> Result<Op, String> {
    let o = &ri.operands;
    let sparse = match parts.first() {
        Some(&"sp") => Some(false),
        Some(&"sp::ordered_metadata") => Some(true),
        _ => None,
    };
    if sparse.is_some() {
        m.used[0] = true;
    }
    if !(m.has("sync") && m.has("aligned")) {
        return Err("mma needs .sync.aligned".into());
    }
    let shape = match m.one(&["m16n8k8", "m16n8k16", "m16n8k32"]) {
        Some("m16n8k8") => MmaShape::M16N8K8,
        Some("m16n8k16") => MmaShape::M16N8K16,
        Some("m16n8k32") => MmaShape::M16N8K32,
        _ => return Err("unsupported mma shape".into()),
    };
    if !(m.has("row") && m.has("col")) {
        return Err("mma needs .row.col".into());
    }
    let tys = m.types();
    if tys.len() != 4 {
        return Err("mma needs four types".into());
    }
    let (dty, aty, bty, cty) = (tys[0], tys[1], tys[2], tys[3]);
    if aty != bty || !matches!(aty, Ty::F16 | Ty::BF16) {
        return Err(format!("mma input types {aty:?}/{bty:?}"));
    }
    if !matches!(dty, Ty::F32 | Ty::F16) || !matches!(cty, Ty::F32 | Ty::F16) {
        return Err("mma accumulator types".into());
    }
    if aty == Ty::BF16 && (dty != Ty::F32 || cty != Ty::F32) {
        return Err("bf16 mma needs f32 accumulators".into());
    }
    let d = cx.regs(&o[0])?;
    let a = cx.srcs(o.get(1).ok_or("missing A")?, Ty::B32)?;
    let b = cx.srcs(o.get(2).ok_or("missing B")?, Ty::B32)?;
    let c = cx.srcs(o.get(3).ok_or("missing C")?, cty)?;
    let nacc = if dty == Ty::F32 { 4 } else { 2 };
    let ncc = if cty == Ty::F32 { 4 } else { 2 };
    if d.len() != nacc || c.len() != ncc {
        return Err("accumulator register count".into());
    }
    match sparse {
        None => {
            nops(ri, 4)?;
            let (na, nb) = match shape {
                MmaShape::M16N8K8 => (2, 1),
                MmaShape::M16N8K16 => (4, 2),
                MmaShape::M16N8K32 => return Err("dense m16n8k32 is for 8-bit types".into()),
            };
            if a.len() != na || b.len() != nb {
                return Err("A/B register count".into());
            }
            Ok(Op::Mma {
                shape,
                aty,
                cty,
                dty,
                d,
                a,
                b,
                c,
            })
        }
        Some(ordered) => {
            nops(ri, 6)?;
            if dty != Ty::F32 || cty != Ty::F32 {
                return Err("mma.sp: only f32 accumulators are supported".into());
            }
            let (na, nb) = match shape {
                MmaShape::M16N8K16 => (2, 2),
                MmaShape::M16N8K32 => (4, 4),
                MmaShape::M16N8K8 => return Err("mma.sp has no m16n8k8 for f16/bf16".into()),
            };
            if a.len() != na || b.len() != nb {
                return Err("A/B register count".into());
            }
            let e = cx.src(&o[4], Ty::B32)?;
            let sel = match cx.src(&o[5], Ty::U32)? {
                Src::I(s) => s as u32,
                _ => return Err("sparsity selector must be an immediate".into()),
            };
            let max_sel = if shape == MmaShape::M16N8K32 { 1 } else { 3 };
            if sel > max_sel {
                return Err(format!(
                    "sparsity selector {sel} out of range 0..={max_sel}"
                ));
            }
            Ok(Op::MmaSp {
                shape,
                ordered,
                aty,
                d,
                a,
                b,
                c,
                e,
                sel,
            })
        }
    }
}
