//! Decoded instruction representation: register slots resolved, operands typed.

/// Scalar/packed PTX data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ty {
    B8,
    B16,
    B32,
    B64,
    B128,
    U8,
    U16,
    U32,
    U64,
    S8,
    S16,
    S32,
    S64,
    F16,
    F16x2,
    BF16,
    BF16x2,
    TF32,
    F32,
    F64,
    Pred,
}

impl Ty {
    pub fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "b8" => Ty::B8,
            "b16" => Ty::B16,
            "b32" => Ty::B32,
            "b64" => Ty::B64,
            "b128" => Ty::B128,
            "u8" => Ty::U8,
            "u16" => Ty::U16,
            "u32" => Ty::U32,
            "u64" => Ty::U64,
            "s8" => Ty::S8,
            "s16" => Ty::S16,
            "s32" => Ty::S32,
            "s64" => Ty::S64,
            "f16" => Ty::F16,
            "f16x2" => Ty::F16x2,
            "bf16" => Ty::BF16,
            "bf16x2" => Ty::BF16x2,
            "tf32" => Ty::TF32,
            "f32" => Ty::F32,
            "f64" => Ty::F64,
            "pred" => Ty::Pred,
            _ => return None,
        })
    }
    pub fn bits(self) -> u32 {
        match self {
            Ty::B8 | Ty::U8 | Ty::S8 | Ty::Pred => 8,
            Ty::B16 | Ty::U16 | Ty::S16 | Ty::F16 | Ty::BF16 => 16,
            Ty::B32 | Ty::U32 | Ty::S32 | Ty::F32 | Ty::F16x2 | Ty::BF16x2 | Ty::TF32 => 32,
            Ty::B64 | Ty::U64 | Ty::S64 | Ty::F64 => 64,
            Ty::B128 => 128,
        }
    }
    pub fn bytes(self) -> u32 {
        self.bits() / 8
    }
    pub fn signed(self) -> bool {
        matches!(self, Ty::S8 | Ty::S16 | Ty::S32 | Ty::S64)
    }
    pub fn is_float(self) -> bool {
        matches!(
            self,
            Ty::F16 | Ty::F16x2 | Ty::BF16 | Ty::BF16x2 | Ty::F32 | Ty::F64 | Ty::TF32
        )
    }
    pub fn is_int(self) -> bool {
        !self.is_float() && self != Ty::Pred
    }
    pub fn mask(self) -> u64 {
        let b = self.bits();
        if b >= 64 {
            u64::MAX
        } else {
            (1u64 << b) - 1
        }
    }
}

/// Special registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Tid(u8),
    Ntid(u8),
    Ctaid(u8),
    Nctaid(u8),
    LaneId,
    WarpId,
    NWarpId,
    SmId,
    NSmId,
    GridId,
    Clock,
    Clock64,
    GlobalTimer,
    LaneMaskEq,
    LaneMaskLt,
    LaneMaskLe,
    LaneMaskGt,
    LaneMaskGe,
    DynSmem,
    TotalSmem,
    /// Thread-block cluster registers (sm_90), from the launch's cluster dimensions (a
    /// launch without them: clusters of one CTA, %clusterid = %ctaid, rank 0 of 1,
    /// %is_explicit_cluster = 0).
    ClusterId(u8),
    NClusterId(u8),
    ClusterCtaId(u8),
    ClusterNCtaId(u8),
    ClusterCtaRank,
    ClusterNCtaRank,
    IsExplicitCluster,
}

/// Symbols whose address is resolved per launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymRef {
    /// Module shared variable (index into Program::shared_vars).
    Shared(u32),
    /// Module global variable (index into Program::global_vars).
    Global(u32),
    /// Module const variable: byte offset in the const bank.
    Const(u32),
    /// Offset in the current function's local frame (params, depots, call params).
    Frame(u32),
    /// Offset in the kernel parameter buffer.
    KParam(u32),
}

/// A source operand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Src {
    R(u32),
    I(u64),
    Sp(Special),
    /// Address of a symbol (+ offset).
    Sym(SymRef, i64),
}

/// A memory address operand `[base+off]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Addr {
    Reg(u32, i64),
    Sym(SymRef, i64),
    Abs(u64),
}

/// Memory state spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Generic,
    Global,
    /// `.shared` / `.shared::cta`: an offset in the CTA's own shared window.
    Shared,
    /// `.shared::cluster`: an address in the cluster's shared window (the CTA's own
    /// offsets, or another CTA's memory as `mapa` returns it).
    SharedCluster,
    Local,
    Param,
    Const,
}

impl Space {
    pub fn name(self) -> &'static str {
        match self {
            Space::Generic => "generic",
            Space::Global => "global",
            Space::Shared => "shared",
            Space::SharedCluster => "shared::cluster",
            Space::Local => "local",
            Space::Param => "param",
            Space::Const => "const",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IBin {
    Add,
    Sub,
    MulLo,
    MulHi,
    MulWide,
    Mul24Lo,
    Div,
    Rem,
    Min,
    Max,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IUn {
    Neg,
    Abs,
    Not,
    Cnot,
    Brev,
    Clz,
    Popc,
    Bfind,
    BfindShift,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rnd {
    Rn,
    Rz,
    Rm,
    Rp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FBin {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    Copysign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FUn {
    Neg,
    Abs,
    Sqrt,
    Rcp,
    Rsqrt,
    Ex2,
    Lg2,
    Sin,
    Cos,
    Tanh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Lo,
    Ls,
    Hi,
    Hs,
    Equ,
    Neu,
    Ltu,
    Leu,
    Gtu,
    Geu,
    Num,
    Nan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolOp {
    And,
    Or,
    Xor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomOp {
    Add,
    Min,
    Max,
    Inc,
    Dec,
    And,
    Or,
    Xor,
    Exch,
    Cas,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShflMode {
    Up,
    Down,
    Bfly,
    Idx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteMode {
    All,
    Any,
    Uni,
    Ballot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduxOp {
    Add,
    Min,
    Max,
    And,
    Or,
    Xor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrmtMode {
    Default,
    F4e,
    B4e,
    Rc8,
    Ecl,
    Ecr,
    Rc16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestpOp {
    Finite,
    Infinite,
    Number,
    NotANumber,
    Normal,
    Subnormal,
}

/// Float modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FMods {
    /// min/max .NaN: a NaN input gives NaN
    pub nan: bool,
    pub rnd: Rnd,
    pub ftz: bool,
    pub sat: bool,
    pub approx: bool,
}

/// MMA shapes supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmaShape {
    M16N8K8,
    M16N8K16,
    M16N8K32,
}

/// The decoded operation.
#[derive(Debug, Clone)]
pub enum Op {
    Mov {
        d: u32,
        a: Src,
        mask: u64,
    },
    Pack {
        d: u32,
        parts: Vec<Src>,
        bits: u32,
    },
    Unpack {
        ds: Vec<u32>,
        a: Src,
        bits: u32,
    },
    IBin {
        op: IBin,
        ty: Ty,
        sat: bool,
        d: u32,
        a: Src,
        b: Src,
    },
    IUn {
        op: IUn,
        ty: Ty,
        d: u32,
        a: Src,
    },
    Mad {
        mode: IBin,
        ty: Ty,
        sat: bool,
        d: u32,
        a: Src,
        b: Src,
        c: Src,
    },
    /// mad.lo.cc / mad.hi.cc / madc.lo / madc.hi (with carry in/out)
    MadCarry {
        hi: bool,
        cin: bool,
        cout: bool,
        ty: Ty,
        d: u32,
        a: Src,
        b: Src,
        c: Src,
    },
    /// add.cc / addc / sub.cc / subc
    Carry {
        sub: bool,
        cin: bool,
        cout: bool,
        ty: Ty,
        d: u32,
        a: Src,
        b: Src,
    },
    Bfe {
        ty: Ty,
        d: u32,
        a: Src,
        b: Src,
        c: Src,
    },
    Bfi {
        ty: Ty,
        d: u32,
        a: Src,
        b: Src,
        c: Src,
        e: Src,
    },
    Prmt {
        mode: PrmtMode,
        d: u32,
        a: Src,
        b: Src,
        c: Src,
    },
    Lop3 {
        d: u32,
        a: Src,
        b: Src,
        c: Src,
        lut: u8,
    },
    Shf {
        left: bool,
        clamp: bool,
        d: u32,
        a: Src,
        b: Src,
        c: Src,
    },
    FBin {
        op: FBin,
        ty: Ty,
        m: FMods,
        d: u32,
        a: Src,
        b: Src,
    },
    Fma {
        ty: Ty,
        m: FMods,
        d: u32,
        a: Src,
        b: Src,
        c: Src,
    },
    FUn {
        op: FUn,
        ty: Ty,
        m: FMods,
        d: u32,
        a: Src,
    },
    Testp {
        op: TestpOp,
        ty: Ty,
        d: u32,
        a: Src,
    },
    Setp {
        cmp: Cmp,
        ty: Ty,
        p: u32,
        q: Option<u32>,
        a: Src,
        b: Src,
        comb: Option<(BoolOp, Src, bool)>,
    },
    Set {
        cmp: Cmp,
        dty: Ty,
        sty: Ty,
        d: u32,
        a: Src,
        b: Src,
        comb: Option<(BoolOp, Src, bool)>,
    },
    Selp {
        #[allow(dead_code)]
        ty: Ty,
        d: u32,
        a: Src,
        b: Src,
        p: Src,
    },
    Slct {
        #[allow(dead_code)]
        ty: Ty,
        cty: Ty,
        d: u32,
        a: Src,
        b: Src,
        c: Src,
    },
    PredLogic {
        op: BoolOp,
        d: u32,
        a: Src,
        b: Src,
    },
    PredNot {
        d: u32,
        a: Src,
    },
    Cvt {
        dty: Ty,
        sty: Ty,
        rnd: Option<Rnd>,
        int_rnd: bool,
        sat: bool,
        ftz: bool,
        relu: bool,
        d: u32,
        a: Src,
    },
    CvtPack {
        dty: Ty,
        rnd: Rnd,
        relu: bool,
        sat: bool,
        d: u32,
        a: Src,
        b: Src,
    },
    Cvta {
        to: bool,
        space: Space,
        d: u32,
        a: Src,
        wide: bool,
    },
    Ld {
        space: Space,
        ty: Ty,
        d: Vec<u32>,
        addr: Addr,
    },
    St {
        space: Space,
        ty: Ty,
        s: Vec<Src>,
        addr: Addr,
    },
    Atom {
        space: Space,
        op: AtomOp,
        ty: Ty,
        d: Option<u32>,
        addr: Addr,
        a: Src,
        b: Src,
    },
    Bra {
        target: u32,
    },
    Call {
        func: u32,
        args: Vec<(u32, u32)>,
        rets: Vec<(u32, u32)>,
    },
    Ret,
    Exit,
    Trap,
    Bar {
        arrive: bool,
        id: Src,
        count: Option<Src>,
    },
    WarpSync {
        mask: Src,
    },
    Shfl {
        mode: ShflMode,
        d: u32,
        p: Option<u32>,
        a: Src,
        b: Src,
        c: Src,
        mask: Src,
    },
    Vote {
        mode: VoteMode,
        d: u32,
        a: Src,
        neg: bool,
        mask: Src,
    },
    Activemask {
        d: u32,
    },
    Redux {
        op: ReduxOp,
        ty: Ty,
        d: u32,
        a: Src,
        mask: Src,
    },
    MatchAny {
        ty: Ty,
        d: u32,
        a: Src,
        mask: Src,
    },
    MatchAll {
        ty: Ty,
        d: u32,
        p: Option<u32>,
        a: Src,
        mask: Src,
    },
    Ldmatrix {
        num: u32,
        trans: bool,
        d: Vec<u32>,
        addr: Addr,
        space: Space,
    },
    Stmatrix {
        num: u32,
        trans: bool,
        s: Vec<Src>,
        addr: Addr,
        space: Space,
    },
    Mma {
        shape: MmaShape,
        aty: Ty,
        cty: Ty,
        dty: Ty,
        d: Vec<u32>,
        a: Vec<Src>,
        b: Vec<Src>,
        c: Vec<Src>,
    },
    MmaSp {
        shape: MmaShape,
        ordered: bool,
        aty: Ty,
        d: Vec<u32>,
        a: Vec<Src>,
        b: Vec<Src>,
        c: Vec<Src>,
        e: Src,
        sel: u32,
    },
    CpAsync {
        dst: Addr,
        src: Addr,
        size: u32,
        src_size: Option<Src>,
        #[allow(dead_code)]
        dspace: Space,
    },
    CpCommit,
    CpWait {
        n: u32,
    },
    /// `mbarrier.init`: a barrier of `count` expected arrivals at a shared address.
    MbarInit {
        space: Space,
        addr: Addr,
        count: Src,
    },
    /// `mbarrier.inval`.
    MbarInval {
        space: Space,
        addr: Addr,
    },
    /// `mbarrier.arrive{.expect_tx}` / `mbarrier.arrive_drop{.expect_tx}`: `d` gets the state
    /// token (the phase arrived on).
    MbarArrive {
        space: Space,
        d: u32,
        addr: Addr,
        count: Option<Src>,
        tx: Option<Src>,
        drop: bool,
    },
    /// `mbarrier.expect_tx` (complete = false) / `mbarrier.complete_tx` (true).
    MbarTx {
        space: Space,
        addr: Addr,
        tx: Src,
        complete: bool,
    },
    /// `mbarrier.test_wait` / `mbarrier.try_wait` (blocking: the thread sleeps until the phase
    /// flips), `{.parity}`: `a` is the state token or the phase parity.
    MbarWait {
        space: Space,
        d: u32,
        addr: Addr,
        a: Src,
        parity: bool,
        try_wait: bool,
    },
    /// `cp.async.bulk` 1-D: global to shared completing on the mbarrier `mbar`
    /// (`.mbarrier::complete_tx::bytes`), or shared to global in a bulk group (`mbar` None).
    BulkCopy {
        dst: Addr,
        src: Addr,
        size: Src,
        mbar: Option<Addr>,
        /// `.multicast::cluster`: the 16-bit mask of the CTAs (by rank) a load writes to
        multicast: Option<Src>,
    },
    /// `cp.async.bulk.tensor.Nd` tile mode: global to shared on the mbarrier `mbar` (a
    /// load), or shared to global in a bulk group (`mbar` None, a store). `tmap` is the
    /// address of the tensor map.
    BulkTensor {
        smem: Addr,
        tmap: Addr,
        coords: Vec<Src>,
        mbar: Option<Addr>,
        /// `.multicast::cluster`: the 16-bit mask of the CTAs (by rank) a load writes to
        multicast: Option<Src>,
    },
    /// `cp.async.bulk.commit_group`.
    BulkCommit,
    /// `cp.async.bulk.wait_group{.read} n`.
    BulkWait {
        n: u32,
        /// `.read`: only the source reads must be done; ptxsim's bulk stores write their
        /// destination at issue, so both forms retire the same groups
        #[allow(dead_code)]
        read: bool,
    },
    /// `barrier.cluster.arrive` (wait = false) / `barrier.cluster.wait` (true).
    ClusterBarrier {
        wait: bool,
    },
    /// `mapa.shared::cluster`: the address `a` in the shared memory of the cluster's CTA of
    /// rank `rank` (exec/cluster.rs has the encoding).
    Mapa {
        d: u32,
        a: Src,
        rank: Src,
    },
    /// `getctarank.shared::cluster`: the rank of the CTA whose shared memory holds `a`.
    GetCtaRank {
        d: u32,
        a: Src,
    },
    /// `fence.proxy.async`: orders this thread's earlier generic-proxy accesses before later
    /// async-proxy ones (bulk copies).
    ProxyFence,
    /// `elect.sync d|p, membermask`: the lowest lane of the mask is the leader.
    Elect {
        d: u32,
        p: u32,
        mask: Src,
    },
    /// `wgmma.fence.sync.aligned` (warpgroup collective).
    WgFence,
    /// `wgmma.commit_group.sync.aligned` (warpgroup collective).
    WgCommit,
    /// `wgmma.wait_group.sync.aligned n` (warpgroup collective).
    WgWait {
        n: u32,
    },
    /// `wgmma.mma_async{.sp}.sync.aligned.m64nNkK.f32.{f16,bf16}` (warpgroup collective).
    Wgmma(Box<Wgmma>),
    /// `setmaxnreg.{inc,dec}.sync.aligned.u32 n` (warpgroup collective; checked, no effect).
    SetMaxNReg {
        inc: bool,
        n: u32,
    },
    Nop,
    Unsupported(String),
}

/// The A operand of a wgmma: four `.b32` registers per thread, or a shared-memory
/// matrix descriptor.
#[derive(Debug, Clone, PartialEq)]
pub enum WgA {
    Regs(Vec<Src>),
    Desc(Src),
}

/// One `wgmma.mma_async` (dense m64nNk16 or sparse m64nNk32), f32 accumulators.
#[derive(Debug, Clone, PartialEq)]
pub struct Wgmma {
    pub n: u32,
    /// `.bf16` inputs (else `.f16`)
    pub bf16: bool,
    /// the accumulators d (N/2 f32 registers per thread)
    pub d: Vec<u32>,
    pub a: WgA,
    pub b: Src,
    /// `.sp`: the metadata register and the sparsity selector (0 or 1)
    pub sp: Option<(Src, u32)>,
    /// scale-d: D = A·B + D when true, A·B when false (a predicate or an immediate)
    pub scale_d: Src,
    /// imm-scale-a / imm-scale-b: -1 negates the operand
    pub neg_a: bool,
    pub neg_b: bool,
    /// imm-trans-a / imm-trans-b: the descriptor's matrix is MN-major (transposed)
    pub trans_a: bool,
    pub trans_b: bool,
}

/// Opcode classes for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpClass {
    /// Integer arithmetic, bit operations and predicate logic.
    Int,
    /// f32 / f64 arithmetic.
    Float,
    /// f16 / bf16 arithmetic.
    Half,
    /// Conversions (`cvt`).
    Convert,
    /// Moves, packing and address conversions (`mov`, `cvta`, `mapa`).
    Move,
    /// Comparisons and selects (`setp`, `set`, `selp`, `slct`, `testp`).
    Compare,
    /// Branches, calls, returns, `exit`, `trap`.
    Control,
    /// Global (and generic) loads.
    LdGlobal,
    /// Global (and generic) stores.
    StGlobal,
    /// Shared-memory loads, `ldmatrix` included.
    LdShared,
    /// Shared-memory stores, `stmatrix` included.
    StShared,
    /// Local-memory loads and stores.
    Local,
    /// Parameter- and constant-space accesses.
    ParamConst,
    /// Atomics.
    Atomic,
    /// Barriers and fences (`bar`, `bar.warp.sync`, the wgmma fences, cluster barriers).
    Barrier,
    /// Warp collectives (`shfl`, `vote`, `redux`, `match`, `elect`, `activemask`).
    Warp,
    /// Tensor-core instructions (`mma`, `mma.sp`, `wgmma`).
    Tensor,
    /// `cp.async` copies and their groups.
    CpAsync,
    /// mbarrier operations.
    Mbarrier,
    /// cp.async.bulk copies and their groups.
    Bulk,
    /// `nop` and anything unsupported.
    Other,
}

pub const NCLASS: usize = 21;

impl OpClass {
    /// Every class, in counter order.
    pub const ALL: [OpClass; NCLASS] = [
        OpClass::Int,
        OpClass::Float,
        OpClass::Half,
        OpClass::Convert,
        OpClass::Move,
        OpClass::Compare,
        OpClass::Control,
        OpClass::LdGlobal,
        OpClass::StGlobal,
        OpClass::LdShared,
        OpClass::StShared,
        OpClass::Local,
        OpClass::ParamConst,
        OpClass::Atomic,
        OpClass::Barrier,
        OpClass::Warp,
        OpClass::Tensor,
        OpClass::CpAsync,
        OpClass::Mbarrier,
        OpClass::Bulk,
        OpClass::Other,
    ];
    /// The short name the counter reports use.
    pub fn name(self) -> &'static str {
        match self {
            OpClass::Int => "int",
            OpClass::Float => "float",
            OpClass::Half => "half",
            OpClass::Convert => "cvt",
            OpClass::Move => "mov",
            OpClass::Compare => "cmp",
            OpClass::Control => "ctrl",
            OpClass::LdGlobal => "ld.global",
            OpClass::StGlobal => "st.global",
            OpClass::LdShared => "ld.shared",
            OpClass::StShared => "st.shared",
            OpClass::Local => "local",
            OpClass::ParamConst => "param/const",
            OpClass::Atomic => "atomic",
            OpClass::Barrier => "barrier",
            OpClass::Warp => "warp",
            OpClass::Tensor => "tensor",
            OpClass::CpAsync => "cp.async",
            OpClass::Mbarrier => "mbarrier",
            OpClass::Bulk => "cp.async.bulk",
            OpClass::Other => "other",
        }
    }
}

/// One decoded instruction.
#[derive(Debug, Clone)]
pub struct Inst {
    pub op: Op,
    /// carries a cache hint (`.L2::cache_hint`, or is `createpolicy`): counted, no effect
    pub hint: bool,
    pub guard: Option<(u32, bool)>,
    pub line: u32,
    pub class: OpClass,
    pub text: String,
    /// Every register the instruction names (operands and guard), for the wgmma checks.
    pub regs: Box<[u32]>,
}

/// A decoded function.
#[derive(Debug, Clone)]
pub struct Func {
    pub name: String,
    pub is_entry: bool,
    pub entry_pc: u32,
    /// (offset in frame / param buffer, size) of each parameter.
    pub params: Vec<(u32, u32)>,
    pub rets: Vec<(u32, u32)>,
    pub frame_size: u32,
    pub reg_range: (u32, u32),
    #[allow(dead_code)]
    pub line: u32,
}
