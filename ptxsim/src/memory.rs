//! The simulated address space: the windows of the generic address space and the
//! global memory every CTA of a launch shares. Its own module so that the host API
//! (device.rs) and the executor (exec/) both use it without depending on each other.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::error::SimError;
use crate::limits::{Limit, Limits};

/// Where the simulated global allocations start.
pub(crate) const GLOBAL_BASE: u64 = 0x0000_7000_0000_0000;
/// Generic-address window of shared memory (shared-space offset added).
pub(crate) const SHARED_WIN: u64 = 0x0000_1000_0000_0000;
/// Generic-address window of local memory.
pub(crate) const LOCAL_WIN: u64 = 0x0000_2000_0000_0000;
/// Generic (and param-space) address window of the kernel parameter buffer.
pub(crate) const PARAM_WIN: u64 = 0x0000_3000_0000_0000;
/// Generic-address window of the const bank.
pub(crate) const CONST_WIN: u64 = 0x0000_4000_0000_0000;
pub(crate) const WIN_SIZE: u64 = 0x0000_0100_0000_0000;

/// The simulated global memory: a set of allocations. CTAs running on several host threads
/// share it: plain loads and stores are relaxed per-byte atomic accesses (no lock; a store
/// becomes visible to other CTAs without tearing a byte), and PTX atomics run their
/// read-modify-write under `atomics` (so they are atomic with respect to each other, and a
/// CTA that observes an atomic's result also sees every store its author made before it).
/// The set of allocations does not change during a launch.
#[derive(Debug, Default)]
pub(crate) struct GlobalMem {
    pub allocs: BTreeMap<u64, Box<[AtomicU8]>>,
    next: u64,
    /// bytes of the live allocations
    live: u64,
    atomics: Mutex<()>,
}

/// View exclusively borrowed atomic bytes as plain bytes.
fn plain_mut(s: &mut [AtomicU8]) -> &mut [u8] {
    // SAFETY: AtomicU8 has the same size, alignment and bit validity as u8, and the slice is
    // borrowed exclusively, so no other access can race with the plain one.
    unsafe { &mut *(s as *mut [AtomicU8] as *mut [u8]) }
}

impl GlobalMem {
    #[inline]
    pub(crate) fn find(&self, addr: u64, len: u64) -> Option<&[AtomicU8]> {
        let (base, v) = self.allocs.range(..=addr).next_back()?;
        let off = addr - *base;
        if off.checked_add(len)? <= v.len() as u64 {
            Some(&v[off as usize..(off + len) as usize])
        } else {
            None
        }
    }
    /// Copy `out.len()` bytes at `addr` out; false when they are not inside one allocation.
    #[inline]
    pub fn load(&self, addr: u64, out: &mut [u8]) -> bool {
        match self.find(addr, out.len() as u64) {
            Some(s) => {
                for (o, b) in out.iter_mut().zip(s) {
                    *o = b.load(Ordering::Relaxed);
                }
                true
            }
            None => false,
        }
    }
    /// Store `data` at `addr`; false when it is not inside one allocation.
    #[inline]
    pub fn store(&self, addr: u64, data: &[u8]) -> bool {
        match self.find(addr, data.len() as u64) {
            Some(s) => {
                for (b, &d) in s.iter().zip(data) {
                    b.store(d, Ordering::Relaxed);
                }
                true
            }
            None => false,
        }
    }
    /// Serialises PTX atomics (hold the guard across the read-modify-write).
    pub fn lock_atomics(&self) -> MutexGuard<'_, ()> {
        self.atomics.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Find the allocation containing [addr, addr+len), for host access.
    pub fn slice_mut(&mut self, addr: u64, len: u64) -> Option<&mut [u8]> {
        let (base, v) = self.allocs.range_mut(..=addr).next_back()?;
        let off = addr - *base;
        if off.checked_add(len)? <= v.len() as u64 {
            Some(plain_mut(&mut v[off as usize..(off + len) as usize]))
        } else {
            None
        }
    }
    /// Describe where an address lies relative to the allocations (for error messages).
    pub fn describe(&self, addr: u64, len: u64) -> String {
        match self.allocs.range(..=addr).next_back() {
            Some((base, v)) if addr < base + v.len() as u64 => format!(
                " (runs {} bytes past the end of the {}-byte allocation at {:#x})",
                addr.saturating_add(len)
                    .saturating_sub(base + v.len() as u64),
                v.len(),
                base
            ),
            Some((base, v)) => format!(
                " (not inside any allocation; {} bytes after the {}-byte allocation at {:#x})",
                addr - (base + v.len() as u64),
                v.len(),
                base
            ),
            None => " (not inside any allocation)".to_string(),
        }
    }
    /// A zeroed allocation of `bytes`, checked against the limits before the host memory
    /// is asked for (and a host refusal is an error, not an abort).
    pub(crate) fn alloc(&mut self, bytes: u64, limits: &Limits) -> Result<u64, SimError> {
        limits.check(Limit::AllocBytes, Some(bytes), None)?;
        limits.check(Limit::DeviceBytes, self.live.checked_add(bytes), None)?;
        if self.next == 0 {
            self.next = GLOBAL_BASE;
        }
        let addr = self.next;
        // leave a 256-byte guard gap so running past the end never lands in a neighbour
        let next = crate::decode::align_up(bytes.max(1), 256)
            .and_then(|s| s.checked_add(256))
            .and_then(|s| addr.checked_add(s))
            .ok_or_else(|| SimError::Api("device address space exhausted".into()))?;
        let n = usize::try_from(bytes).map_err(|_| {
            SimError::Api(format!(
                "allocation of {bytes} bytes is too large for the host"
            ))
        })?;
        let atomic = zeroed_atomic(n)
            .ok_or_else(|| SimError::Api(format!("the host could not allocate {bytes} bytes")))?;
        self.next = next;
        self.live += bytes;
        self.allocs.insert(addr, atomic);
        Ok(addr)
    }
    pub(crate) fn free(&mut self, ptr: u64) -> bool {
        match self.allocs.remove(&ptr) {
            Some(v) => {
                self.live -= v.len() as u64;
                true
            }
            None => false,
        }
    }
}

/// `n` zeroed atomic bytes, or None when the host refuses the memory.
fn zeroed_atomic(n: usize) -> Option<Box<[AtomicU8]>> {
    if n == 0 {
        return Some(Box::new([]));
    }
    let layout = std::alloc::Layout::array::<AtomicU8>(n).ok()?;
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc_zeroed(layout) } as *mut AtomicU8;
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is a fresh allocation of `n` zeroed AtomicU8s (all-zero is a valid
    // AtomicU8) with the layout Box<[AtomicU8]> frees with.
    Some(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, n)) })
}

/// A simulated GPU: global memory plus a launcher.
/// Windows of the generic address space, for tests and tools.
pub fn generic_windows() -> [(&'static str, u64); 5] {
    [
        ("global", GLOBAL_BASE),
        ("shared", SHARED_WIN),
        ("local", LOCAL_WIN),
        ("param", PARAM_WIN),
        ("const", CONST_WIN),
    ]
}
