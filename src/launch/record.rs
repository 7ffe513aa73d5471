//! [`RecordingExecutor`]: a third [`Executor`] that runs nothing. It hands out fake
//! device addresses and records each [`Launch`] it is given, so host code (plan
//! lookup, checks, launch building, enqueue) can be inspected and timed without a
//! GPU and without the emulator's cost: benches/forward_host.rs measures the host
//! side of one `SparseLinear` forward on it, and tests/forward_alloc.rs counts its
//! heap allocations.
//!
//! ```
//! use sparse24::launch::record::{Recording, RecordingExecutor};
//! use sparse24::launch::{Arg, Executor, Launch};
//!
//! let exec = RecordingExecutor::new(Recording::KeepAll);
//! let buf = exec.alloc_zeroed(1000)?;
//! let l = Launch {
//!     module: "m",
//!     kernel: "k",
//!     grid: [1, 1, 1],
//!     block: [32, 1, 1],
//!     dynamic_shared_bytes: 0,
//!     cluster: sparse24::launch::NO_CLUSTER,
//!     args: vec![Arg::Ptr(exec.ptr(&buf))],
//! };
//! exec.launch(&l)?;
//! assert_eq!(exec.launches(), 1);
//! assert_eq!(exec.take_all(), vec![l]);
//! # Ok::<(), sparse24::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::launch::{Arg, Executor, Launch, ModuleCache};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Where the fake address space starts (a typical device virtual address, far from
/// zero so that a null pointer never collides with a buffer).
pub const FAKE_BASE: u64 = 0x7f00_0000_0000;
/// Alignment of every fake allocation (cudaMalloc guarantees at least 256 bytes).
pub const FAKE_ALIGN: u64 = 256;

/// What a [`RecordingExecutor`] keeps of the launches it is given.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Recording {
    /// Only the count ([`RecordingExecutor::launches`]).
    CountOnly,
    /// The count and the most recent launch, copied into storage that is reused:
    /// after the first launch, recording one more allocates nothing as long as its
    /// argument list is no longer than any before (what a host-cost bench wants).
    #[default]
    KeepLast,
    /// The count and every launch, in order (what a test of launch sequences
    /// wants; the list grows, so this mode allocates per launch).
    KeepAll,
}

#[derive(Default)]
struct Recorded {
    count: u64,
    last: Option<Launch>,
    all: Vec<Launch>,
}

/// An executor that runs no kernel and holds no device memory: allocations are
/// distinct, [`FAKE_ALIGN`]-aligned fake addresses (with a gap between neighbours,
/// so an off-by-one address never lands in another buffer), launches are recorded as
/// [`Recording`] says. Downloads are refused (there is nothing to read back).
pub struct RecordingExecutor {
    mode: Recording,
    sm_count: usize,
    compute_capability: (u32, u32),
    ctx: Arc<RecordingContext>,
    recorded: Mutex<Recorded>,
}

/// What the executors of one recording "context" share, as the streams of a CUDA
/// context do: the address space, the module cache and the allocation counters.
#[derive(Default)]
struct RecordingContext {
    next: AtomicU64,
    modules: ModuleCache<()>,
    allocations: AtomicU64,
    allocated_bytes: AtomicU64,
    copies: AtomicU64,
}

/// A fake allocation of a [`RecordingExecutor`]: an address and a length, no memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordedBuffer {
    ptr: u64,
    len: usize,
}

impl RecordedBuffer {
    /// The fake device address.
    pub fn ptr(&self) -> u64 {
        self.ptr
    }
    /// Bytes requested.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether no bytes were requested.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for RecordingExecutor {
    fn default() -> Self {
        RecordingExecutor::new(Recording::default())
    }
}

fn poisoned() -> Error {
    Error::InvalidArgument {
        what: "recording executor",
        why: "a thread panicked while recording a launch".into(),
    }
}

impl RecordingExecutor {
    /// An executor that records as `mode` says and reports
    /// [`DEFAULT_SM_COUNT`](crate::ops::gemm::DEFAULT_SM_COUNT) SMs (as the emulator
    /// does, so plans chosen from it match the tests').
    pub fn new(mode: Recording) -> RecordingExecutor {
        RecordingExecutor {
            mode,
            sm_count: crate::ops::gemm::DEFAULT_SM_COUNT,
            compute_capability: (8, 0),
            ctx: Arc::new(RecordingContext {
                next: AtomicU64::new(FAKE_BASE),
                ..Default::default()
            }),
            recorded: Mutex::new(Recorded::default()),
        }
    }

    /// Another executor in this one's context, as a second stream of one CUDA
    /// context: the same address space, module cache ([`Executor::module_loads`]:
    /// the first launch of a module in the context counts one load, as the CUDA
    /// executor loads each module once per context) and allocation counters; its own
    /// recording (`mode`) and the same SM count.
    pub fn sharing_context(&self, mode: Recording) -> RecordingExecutor {
        RecordingExecutor {
            mode,
            sm_count: self.sm_count,
            compute_capability: self.compute_capability,
            ctx: self.ctx.clone(),
            recorded: Mutex::new(Recorded::default()),
        }
    }

    /// Allocations (uploads included) made by the executors of this context.
    pub fn allocations(&self) -> u64 {
        self.ctx.allocations.load(Ordering::Relaxed)
    }

    /// Bytes allocated (uploads included) by the executors of this context; nothing
    /// is ever freed.
    pub fn allocated_bytes(&self) -> u64 {
        self.ctx.allocated_bytes.load(Ordering::Relaxed)
    }

    /// Device-to-device copies enqueued ([`Executor::copy_device`]) in this context.
    pub fn copies(&self) -> u64 {
        self.ctx.copies.load(Ordering::Relaxed)
    }

    /// Reports `n` SMs (at least 1) from [`Executor::sm_count`].
    pub fn with_sm_count(mut self, n: usize) -> RecordingExecutor {
        self.sm_count = n.max(1);
        self
    }

    /// Plans for a device of this compute capability (8.0 by default).
    pub fn with_compute_capability(mut self, cc: (u32, u32)) -> RecordingExecutor {
        self.compute_capability = cc;
        self
    }

    /// What this executor keeps.
    pub fn mode(&self) -> Recording {
        self.mode
    }

    /// Launches recorded so far (every mode counts).
    pub fn launches(&self) -> u64 {
        self.recorded.lock().map(|r| r.count).unwrap_or(0)
    }

    /// The most recent launch ([`Recording::KeepLast`] and [`Recording::KeepAll`]).
    pub fn last(&self) -> Option<Launch> {
        let r = self.recorded.lock().ok()?;
        match self.mode {
            Recording::CountOnly => None,
            Recording::KeepLast => r.last.clone(),
            Recording::KeepAll => r.all.last().cloned(),
        }
    }

    /// Every launch recorded since the last call, in order ([`Recording::KeepAll`];
    /// empty in the other modes).
    pub fn take_all(&self) -> Vec<Launch> {
        self.recorded
            .lock()
            .map(|mut r| std::mem::take(&mut r.all))
            .unwrap_or_default()
    }

    /// Forgets the launches and the count (the address space is not reused).
    pub fn clear(&self) {
        if let Ok(mut r) = self.recorded.lock() {
            r.count = 0;
            r.last = None;
            r.all.clear();
        }
    }

    fn fake_alloc(&self, bytes: usize) -> Result<RecordedBuffer> {
        let span = (bytes.max(1) as u64)
            .checked_next_multiple_of(FAKE_ALIGN)
            .and_then(|s| s.checked_add(FAKE_ALIGN))
            .ok_or_else(|| Error::InvalidArgument {
                what: "allocation size",
                why: format!("{bytes} bytes do not fit the fake address space"),
            })?;
        let ptr = self.ctx.next.fetch_add(span, Ordering::Relaxed);
        if ptr.checked_add(span).is_none() {
            return Err(Error::InvalidArgument {
                what: "allocation size",
                why: "the fake address space is exhausted".into(),
            });
        }
        self.ctx.allocations.fetch_add(1, Ordering::Relaxed);
        self.ctx
            .allocated_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        Ok(RecordedBuffer { ptr, len: bytes })
    }
}

impl Executor for RecordingExecutor {
    type Buffer = RecordedBuffer;

    fn name(&self) -> &'static str {
        "recording"
    }

    /// A fake allocation of `data.len()` bytes; the data is not kept.
    fn upload_bytes(&self, data: &[u8]) -> Result<RecordedBuffer> {
        self.fake_alloc(data.len())
    }

    fn alloc_zeroed(&self, bytes: usize) -> Result<RecordedBuffer> {
        self.fake_alloc(bytes)
    }

    /// Refused: a recording executor keeps no memory and runs no kernel.
    fn download_bytes(&self, _buf: &RecordedBuffer) -> Result<Vec<u8>> {
        Err(Error::InvalidArgument {
            what: "download",
            why: "the recording executor runs no kernel and keeps no device memory".into(),
        })
    }

    fn ptr(&self, buf: &RecordedBuffer) -> u64 {
        buf.ptr
    }

    /// Records `launch` (nothing runs); the first launch of a module in this
    /// context counts as its load.
    fn launch<A: AsRef<[Arg]>>(&self, launch: &Launch<A>) -> Result<()> {
        self.ctx.modules.get_or_load(launch.module, || Ok(()))?;
        let mut r = self.recorded.lock().map_err(|_| poisoned())?;
        r.count += 1;
        match self.mode {
            Recording::CountOnly => {}
            Recording::KeepLast => match &mut r.last {
                Some(last) => {
                    last.module = launch.module;
                    last.kernel = launch.kernel;
                    last.grid = launch.grid;
                    last.block = launch.block;
                    last.dynamic_shared_bytes = launch.dynamic_shared_bytes;
                    last.cluster = launch.cluster;
                    last.args.clear();
                    last.args.extend_from_slice(launch.args.as_ref());
                }
                None => r.last = Some(launch.to_vec()),
            },
            Recording::KeepAll => r.all.push(launch.to_vec()),
        }
        Ok(())
    }

    fn sm_count(&self) -> Result<usize> {
        Ok(self.sm_count)
    }

    fn compute_capability(&self) -> Result<(u32, u32)> {
        Ok(self.compute_capability)
    }

    fn module_loads(&self) -> u64 {
        self.ctx.modules.loads()
    }

    /// Counts the copy ([`RecordingExecutor::copies`]); nothing is copied.
    fn copy_device(&self, _dst: u64, _src: u64, _bytes: usize) -> Result<()> {
        self.ctx.copies.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(kernel: &'static str, args: Vec<Arg>) -> Launch {
        Launch {
            module: "m",
            kernel,
            grid: [2, 1, 1],
            block: [64, 1, 1],
            dynamic_shared_bytes: 16,
            cluster: crate::launch::NO_CLUSTER,
            args,
        }
    }

    #[test]
    fn fake_allocations_are_aligned_distinct_and_apart() {
        let exec = RecordingExecutor::default();
        let sizes = [0usize, 1, 255, 256, 257, 4096, 1 << 20];
        let bufs: Vec<_> = sizes
            .iter()
            .map(|&n| exec.alloc_zeroed(n).unwrap())
            .collect();
        for (b, &n) in bufs.iter().zip(&sizes) {
            assert_eq!(b.ptr() % FAKE_ALIGN, 0);
            assert!(b.ptr() >= FAKE_BASE);
            assert_eq!(b.len(), n);
            assert_eq!(exec.ptr(b), b.ptr());
        }
        // Each buffer ends (plus a gap) before the next begins.
        for w in bufs.windows(2) {
            assert!(w[0].ptr() + w[0].len().max(1) as u64 + FAKE_ALIGN <= w[1].ptr() + 1);
            assert!(w[0].ptr() < w[1].ptr());
        }
        let up = exec.upload(&[1u32, 2, 3]).unwrap();
        assert_eq!(up.len(), 12);
        assert!(matches!(
            exec.download_bytes(&up),
            Err(Error::InvalidArgument {
                what: "download",
                ..
            })
        ));
    }

    #[test]
    fn modes_keep_what_they_say() {
        let a = launch("a", vec![Arg::U32(1), Arg::Ptr(0x100)]);
        let b = launch("b", vec![Arg::F32(2.0)]);

        let count = RecordingExecutor::new(Recording::CountOnly);
        count.launch(&a).unwrap();
        count.launch(&b).unwrap();
        assert_eq!(count.launches(), 2);
        assert_eq!(count.last(), None);
        assert!(count.take_all().is_empty());

        let last = RecordingExecutor::new(Recording::KeepLast);
        last.launch(&a).unwrap();
        assert_eq!(last.last().as_ref(), Some(&a));
        last.launch(&b).unwrap();
        assert_eq!(last.last().as_ref(), Some(&b));
        assert_eq!(last.launches(), 2);
        assert!(last.take_all().is_empty());

        let all = RecordingExecutor::new(Recording::KeepAll);
        all.launch(&a).unwrap();
        all.launch(&b).unwrap();
        assert_eq!(all.last().as_ref(), Some(&b));
        assert_eq!(all.take_all(), vec![a.clone(), b.clone()]);
        assert!(all.take_all().is_empty());
        assert_eq!(all.launches(), 2);
        all.clear();
        assert_eq!(all.launches(), 0);
    }

    #[test]
    fn a_context_loads_each_module_once_and_counts_allocations() {
        let a = RecordingExecutor::new(Recording::CountOnly);
        let b = a.sharing_context(Recording::CountOnly);
        let other = RecordingExecutor::new(Recording::CountOnly);
        for e in [&a, &b, &a, &other] {
            e.launch(&launch("k", vec![])).unwrap();
        }
        assert_eq!((a.module_loads(), b.module_loads()), (1, 1));
        assert_eq!(other.module_loads(), 1);
        let x = a.alloc_zeroed(100).unwrap();
        let y = b.upload(&[0u8; 28]).unwrap();
        assert_ne!(x.ptr(), y.ptr());
        assert_eq!((b.allocations(), b.allocated_bytes()), (2, 128));
        assert_eq!(other.allocated_bytes(), 0);
        b.copy_device(x.ptr(), y.ptr(), 28).unwrap();
        assert_eq!((a.copies(), other.copies()), (1, 0));
    }

    #[test]
    fn sm_count_is_configurable() {
        let exec = RecordingExecutor::default();
        assert_eq!(exec.sm_count().unwrap(), crate::ops::gemm::DEFAULT_SM_COUNT);
        assert_eq!(exec.with_sm_count(0).sm_count().unwrap(), 1);
        assert_eq!(
            RecordingExecutor::default()
                .with_sm_count(108)
                .sm_count()
                .unwrap(),
            108
        );
        assert_eq!(RecordingExecutor::default().name(), "recording");
    }
}
