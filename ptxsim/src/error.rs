//! Error types. Execution errors carry the full location of the fault.

use std::fmt;

use crate::limits::Limit;

/// Formats the optional PTX line of a limit error.
fn at_line(line: &Option<u32>) -> String {
    line.map(|l| format!(" (PTX line {l})")).unwrap_or_default()
}

/// Everything that can go wrong when parsing PTX, using the host API, or executing a kernel.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SimError {
    /// The PTX text could not be parsed.
    #[error("PTX parse error at line {line}: {msg}")]
    Parse {
        /// The line (1-based).
        line: u32,
        /// What is wrong there.
        msg: String,
    },
    /// A host-side API misuse (bad pointer, unknown kernel, parameter mismatch...).
    #[error("{0}")]
    Api(String),
    /// A fault while executing a kernel, with its location.
    #[error("{0}")]
    Exec(Box<ExecError>),
    /// A launch's cluster dimensions are not allowed (zero, more CTAs than a cluster may
    /// hold, or a grid that is not a multiple of them).
    #[error("cluster {cluster:?} for grid {grid:?}: {reason}")]
    Cluster {
        /// The launch's grid (CTAs along x, y, z).
        grid: [u32; 3],
        /// The cluster dimensions asked for.
        cluster: [u32; 3],
        /// What is wrong with them.
        reason: String,
    },
    /// A module or host call asked for more than a [`Limits`](crate::Limits) cap allows.
    /// `requested` is `u64::MAX` when computing the amount overflowed.
    #[error(
        "limit `{limit}` exceeded{}: {requested} requested, the cap is {cap}",
        at_line(line)
    )]
    Limit {
        /// The cap.
        limit: Limit,
        /// What was asked for.
        requested: u64,
        /// The cap's value.
        cap: u64,
        /// The PTX line that asked, when known.
        line: Option<u32>,
    },
}

impl SimError {
    /// The execution error, if this is one.
    pub fn exec(&self) -> Option<&ExecError> {
        match self {
            SimError::Exec(e) => Some(e),
            _ => None,
        }
    }
}

/// An execution fault: what went wrong and where.
#[derive(Debug, Clone)]
pub struct ExecError {
    /// Kernel (entry) name.
    pub kernel: String,
    /// PTX source line of the faulting instruction (1-based).
    pub line: u32,
    /// CTA index (%ctaid).
    pub cta: [u32; 3],
    /// Thread index within the CTA (%tid).
    pub tid: [u32; 3],
    /// Address involved, where relevant.
    pub addr: Option<u64>,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kernel `{}`, PTX line {}, CTA ({},{},{}), thread ({},{},{})",
            self.kernel,
            self.line,
            self.cta[0],
            self.cta[1],
            self.cta[2],
            self.tid[0],
            self.tid[1],
            self.tid[2]
        )?;
        if let Some(a) = self.addr {
            write!(f, ", address {a:#x}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// The kinds of execution faults.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// An instruction or modifier the emulator does not implement (never a silent no-op).
    #[error("unsupported instruction or modifier: {0} (not supported yet)")]
    Unsupported(String),
    /// Access outside any allocation / outside the shared window / outside the local frame.
    #[error("out-of-bounds {space} access of {size} bytes{detail}")]
    OutOfBounds {
        /// The state space (`global`, `shared`, `local`, ...).
        space: &'static str,
        /// Bytes accessed.
        size: u32,
        /// The address and the bounds it missed.
        detail: String,
    },
    /// Address not aligned to what the access needs.
    #[error("misaligned {space} access of {size} bytes (needs {align}-byte alignment)")]
    Misaligned {
        /// The state space.
        space: &'static str,
        /// Bytes accessed.
        size: u32,
        /// The alignment the access needs, in bytes.
        align: u32,
    },
    /// Illegal 2:4 sparsity metadata.
    #[error("illegal 2:4 metadata: {0}")]
    IllegalMetadata(String),
    /// A warp-collective instruction reached by only part of its member mask.
    #[error("partial warp collective: {0}")]
    PartialCollective(String),
    /// A CTA barrier that can never complete.
    #[error("barrier deadlock: {0}")]
    BarrierDeadlock(String),
    /// Read of shared memory never written in this launch.
    #[error("read of uninitialised shared memory ({size} bytes)")]
    UninitShared {
        /// Bytes read.
        size: u32,
    },
    /// Two threads touching the same shared bytes with no ordering between them.
    #[error("shared-memory race: {0}")]
    SharedRace(String),
    /// Read of shared memory that an in-flight cp.async will write.
    #[error(
        "read of shared memory with a cp.async still in flight (missing cp.async.wait_group): {0}"
    )]
    CpAsyncInFlight(String),
    /// An mbarrier used against the PTX ISA's rules: before `mbarrier.init`, through plain
    /// loads or stores, over-arrived, more transaction bytes than announced, a parity wait
    /// two phases old.
    #[error("mbarrier misuse: {0}")]
    Mbarrier(String),
    /// Shared memory used against an asynchronous bulk copy (`cp.async.bulk`): read before
    /// the mbarrier phase of the copy writing it completed for the reading thread, or a
    /// bulk-store source changed before its `cp.async.bulk.wait_group.read`.
    #[error("asynchronous bulk copy: {0}")]
    BulkAsync(String),
    /// A warpgroup instruction (wgmma, setmaxnreg) used against the PTX ISA's rules: a
    /// register of an unretired wgmma touched, a missing `wgmma.fence`, warps of a
    /// warpgroup disagreeing, groups pending at exit, a bad matrix descriptor.
    #[error("wgmma misuse: {0}")]
    Wgmma(String),
    /// A malformed operand found at execution time.
    #[error("invalid operand: {0}")]
    InvalidOperand(String),
    /// `trap` executed.
    #[error("trap executed")]
    Trap,
    /// A thread asked for more than a [`Limits`](crate::Limits) cap allows (call depth,
    /// local memory).
    #[error("limit `{limit}` exceeded: {requested} requested, the cap is {cap}")]
    LimitExceeded {
        /// The cap.
        limit: Limit,
        /// What was asked for.
        requested: u64,
        /// The cap's value.
        cap: u64,
    },
    /// The per-launch instruction budget ran out (probably an infinite loop).
    #[error("instruction limit exceeded ({0} thread-instructions)")]
    InstructionLimit(u64),
}

/// A fault raised below the scheduler, before the location is attached.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub kind: ErrorKind,
    pub addr: Option<u64>,
}

impl Fault {
    pub fn new(kind: ErrorKind) -> Box<Fault> {
        Box::new(Fault { kind, addr: None })
    }
    pub fn at(kind: ErrorKind, addr: u64) -> Box<Fault> {
        Box::new(Fault {
            kind,
            addr: Some(addr),
        })
    }
    pub fn unsupported(s: impl Into<String>) -> Box<Fault> {
        Fault::new(ErrorKind::Unsupported(s.into()))
    }
}

pub(crate) type FResult<T> = Result<T, Box<Fault>>;
