//! Resolve names and decode raw instructions into [`Op`]s.

mod alu;
mod control;
mod float;
mod hopper;
mod mem;
mod mods;
mod tensor;
mod warp;
mod wgmma;

use std::collections::HashMap;

use mods::Mods;

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
    /// The PTX name of each register slot (for error messages).
    pub reg_names: Vec<String>,
}

impl Program {
    /// The PTX name of register slot `r`.
    pub fn reg_name(&self, r: u32) -> &str {
        self.reg_names.get(r as usize).map_or("?", |s| s.as_str())
    }
    fn name_slot(&mut self, r: u32, name: &str) {
        let r = r as usize;
        if self.reg_names.len() <= r {
            self.reg_names.resize(r + 1, String::new());
        }
        self.reg_names[r] = name.to_string();
    }
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
    /// `.target` is sm_90 or later: the Hopper instructions of HOPPER_DONE decode.
    hopper: bool,
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
                "%clusterid" => Special::ClusterId(d),
                "%nclusterid" => Special::NClusterId(d),
                "%cluster_ctaid" => Special::ClusterCtaId(d),
                "%cluster_nctaid" => Special::ClusterNCtaId(d),
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
            "%cluster_ctarank" => Special::ClusterCtaRank,
            "%cluster_nctarank" => Special::ClusterNCtaRank,
            "%is_explicit_cluster" => Special::IsExplicitCluster,
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
                    let cluster = matches!(
                        sp,
                        Special::ClusterId(_)
                            | Special::NClusterId(_)
                            | Special::ClusterCtaId(_)
                            | Special::ClusterNCtaId(_)
                            | Special::ClusterCtaRank
                            | Special::ClusterNCtaRank
                            | Special::IsExplicitCluster
                    );
                    if cluster && !self.hopper {
                        return Err(format!("`{n}` needs `.target sm_90` or later"));
                    }
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

/// Instructions of sm_90 and later: refused below `.target sm_90`.
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

/// The Hopper instructions ptxsim executes (for `.target sm_90` and later); the rest of
/// HOPPER_ONLY is refused on every target (not supported yet).
const HOPPER_DONE: &[&str] = &[
    "wgmma",
    "setmaxnreg",
    "mbarrier",
    "elect",
    "griddepcontrol",
    "cp.async.bulk",
    "barrier.cluster",
    "mapa",
    "getctarank",
];

/// Whether the module's `.target` is sm_90 or later (sm_90, sm_90a, sm_100a...).
fn is_hopper_target(targets: &[String]) -> bool {
    targets.iter().any(|t| {
        t.strip_prefix("sm_")
            .map(|v| v.trim_end_matches(|c: char| c.is_ascii_alphabetic()))
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|v| v >= 90)
    })
}

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
            Space::Shared | Space::SharedCluster => OpClass::LdShared,
            Space::Local => OpClass::Local,
            Space::Param | Space::Const => OpClass::ParamConst,
        },
        Op::St { space, .. } => match space {
            Space::Global | Space::Generic => OpClass::StGlobal,
            Space::Shared | Space::SharedCluster => OpClass::StShared,
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
        Op::Mma { .. } | Op::MmaSp { .. } | Op::Wgmma(_) => OpClass::Tensor,
        Op::WgFence | Op::WgCommit | Op::WgWait { .. } | Op::SetMaxNReg { .. } => OpClass::Barrier,
        Op::CpAsync { .. } | Op::CpCommit | Op::CpWait { .. } => OpClass::CpAsync,
        Op::MbarInit { .. }
        | Op::MbarInval { .. }
        | Op::MbarArrive { .. }
        | Op::MbarTx { .. }
        | Op::MbarWait { .. } => OpClass::Mbarrier,
        Op::BulkCopy { .. } | Op::BulkTensor { .. } | Op::BulkCommit | Op::BulkWait { .. } => {
            OpClass::Bulk
        }
        Op::Elect { .. } => OpClass::Warp,
        Op::ProxyFence | Op::ClusterBarrier { .. } => OpClass::Barrier,
        Op::Mapa { .. } | Op::GetCtaRank { .. } => OpClass::Move,
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
        reg_names: Vec::new(),
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
    let hopper = is_hopper_target(&raw.targets);
    for (fi, f) in defs.iter().enumerate() {
        let func = build_func(
            &mut prog,
            &globals,
            f,
            fi as u32,
            &mut nslots,
            limits,
            hopper,
        )?;
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
    hopper: bool,
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
    prog.name_slot(sink, "_");
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
        hopper,
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
                    cx.prog.name_slot(slot, n);
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
        hint: false,
        guard: None,
        line: f.line,
        class: OpClass::Control,
        text: "<end of function>".into(),
        regs: Box::new([]),
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
                    hint: false,
                    guard: None,
                    line: ri.line,
                    class: OpClass::Other,
                    text: ri.opcode.clone(),
                    regs: Box::new([]),
                }
            }
        },
        None => None,
    };
    let op = match decode_op(cx, ri) {
        Ok(op) => op,
        Err(e) => Op::Unsupported(format!("`{}`: {e}", ri.opcode)),
    };
    let hint = ri.opcode.contains(".L2::cache_hint") || ri.opcode.starts_with("createpolicy.");
    let mut regs: Vec<u32> = guard.iter().map(|g| g.0).collect();
    for o in &ri.operands {
        operand_regs(cx, o, &mut regs);
    }
    regs.sort_unstable();
    regs.dedup();
    Inst {
        hint: hint && !matches!(op, Op::Unsupported(_)),
        class: opclass(&op),
        op,
        guard,
        line: ri.line,
        text: ri.opcode.clone(),
        regs: regs.into_boxed_slice(),
    }
}

/// The registers a raw operand names (appended to `out`).
fn operand_regs(cx: &Ctx, o: &RawOperand, out: &mut Vec<u32>) {
    let name = |n: &str, out: &mut Vec<u32>| {
        if let Some(Sym::Reg(r)) = cx.lookup(n) {
            out.push(r);
        }
    };
    match o {
        RawOperand::Name(n) | RawOperand::Not(n) | RawOperand::SymOff(n, _) => name(n, out),
        RawOperand::Addr { base: Some(n), .. } => name(n, out),
        RawOperand::PredPair(a, b) => {
            name(a, out);
            name(b, out);
        }
        RawOperand::TensorAddr(n, v) => {
            name(n, out);
            for x in v {
                operand_regs(cx, x, out);
            }
        }
        RawOperand::Vec(v) | RawOperand::List(v) => {
            for x in v {
                operand_regs(cx, x, out);
            }
        }
        RawOperand::Imm(_) | RawOperand::Addr { base: None, .. } => {}
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

/// The decoder of one instruction family (see the submodules).
/// Each family's `decode` answers the op of an instruction whose base opcode is one of
/// its own, and None for the others.
type Family = fn(&mut Ctx, &mut Mods, &Raw) -> Result<Option<Op>, String>;

/// The instruction being decoded: its base opcode, the modifiers after it, the raw form.
#[derive(Clone, Copy)]
struct Raw<'r> {
    base: &'r str,
    parts: &'r [&'r str],
    ri: &'r RawInst,
}

fn decode_op(cx: &mut Ctx, ri: &RawInst) -> Result<Op, String> {
    let opcode = ri.opcode.as_str();
    if opcode.contains(".shared::cluster") && !cx.hopper {
        return Err("`.shared::cluster` needs `.target sm_90` or later".into());
    }
    let is = |h: &str| opcode == h || opcode.starts_with(&format!("{h}."));
    for h in HOPPER_ONLY {
        if is(h) {
            let done = HOPPER_DONE.iter().any(|d| is(d));
            if !done {
                return Err(format!("Hopper instruction `{h}`"));
            }
            if !cx.hopper {
                return Err(format!(
                    "Hopper instruction `{h}` needs `.target sm_90` or later"
                ));
            }
        }
    }
    let mut parts: Vec<&str> = opcode.split('.').collect();
    let base = parts.remove(0);
    let mut m = Mods::new(&parts);
    // each family decodes its own opcodes and answers None for the others
    let families: [Family; 8] = [
        hopper::decode,
        wgmma::decode,
        alu::decode,
        float::decode,
        mem::decode,
        control::decode,
        warp::decode,
        tensor::decode,
    ];
    let mut op = None;
    for f in families {
        let raw = Raw {
            base,
            parts: &parts,
            ri,
        };
        if let Some(x) = f(cx, &mut m, &raw)? {
            op = Some(x);
            break;
        }
    }
    let op = op.ok_or("unknown instruction")?;
    m.finish(opcode)?;
    Ok(op)
}
