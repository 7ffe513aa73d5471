//! Per-launch counters.

use crate::ir::{OpClass, NCLASS};

/// Counters collected during a launch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchStats {
    /// Dynamic thread-instructions (every issued instruction times the lanes that issued it,
    /// predicated-off lanes included).
    pub thread_instructions: u64,
    /// Dynamic warp-instructions (issue slots).
    pub warp_instructions: u64,
    /// Thread-instructions by opcode class (index with [`OpClass`] via [`LaunchStats::class`]).
    pub by_class: [u64; NCLASS],
    /// Tensor-core instructions issued (warp-level): dense mma.
    pub mma_instructions: u64,
    /// Tensor-core instructions issued (warp-level): sparse mma.sp.
    pub mma_sp_instructions: u64,
    /// Warp-wide shared-memory accesses (including ldmatrix/stmatrix).
    pub shared_requests: u64,
    /// Extra shared-memory wavefronts beyond the minimum (bank-conflict replays).
    pub shared_bank_conflicts: u64,
    /// Warp-wide global-memory requests (ld/st/atom/red/cp.async source).
    pub global_requests: u64,
    /// 32-byte global-memory sectors touched, summed over requests.
    pub global_sectors: u64,
    /// Bytes read from global memory.
    pub global_bytes_read: u64,
    /// Bytes written to global memory.
    pub global_bytes_written: u64,
    /// Bytes read from shared memory.
    pub shared_bytes_read: u64,
    /// Bytes written to shared memory.
    pub shared_bytes_written: u64,
    /// CTAs executed.
    pub ctas: u64,
    /// mbarrier waits (`test_wait`/`try_wait`, per thread) that found their phase incomplete
    /// (a `try_wait` then sleeps until the phase completes).
    pub mbarrier_waits: u64,
    /// Bytes moved by `cp.async.bulk` copies (either direction).
    pub bulk_bytes: u64,
    /// Thread-instructions carrying a cache hint (`.L2::cache_hint`) or making a cache
    /// policy (`createpolicy`): accepted, counted, no effect (ptxsim has no cache model).
    pub cache_hints: u64,
    /// `wgmma.mma_async` issued (warpgroup-level), dense, by shape: index N/8 - 1 counts
    /// m64nNk16.
    pub wgmma: [u64; 32],
    /// `wgmma.mma_async.sp` issued (warpgroup-level), by shape: index N/8 - 1 counts
    /// m64nNk32.
    pub wgmma_sp: [u64; 32],
    /// Shared-memory bytes read through wgmma matrix descriptors (A and B operands).
    pub wgmma_desc_bytes: u64,
}

impl LaunchStats {
    /// Thread-instructions of one opcode class.
    pub fn class(&self, c: OpClass) -> u64 {
        self.by_class[c as usize]
    }
    /// wgmma.mma_async issued (dense and sparse, warpgroup-level).
    pub fn wgmma_instructions(&self) -> u64 {
        self.wgmma.iter().chain(self.wgmma_sp.iter()).sum()
    }
    /// Tensor-core instructions (mma + mma.sp), warp-level.
    pub fn tensor_instructions(&self) -> u64 {
        self.mma_instructions + self.mma_sp_instructions
    }
    /// Average 32-byte sectors per global request (4 is perfect for 4-byte coalesced loads).
    pub fn sectors_per_request(&self) -> f64 {
        if self.global_requests == 0 {
            0.0
        } else {
            self.global_sectors as f64 / self.global_requests as f64
        }
    }
    pub(crate) fn merge(&mut self, o: &LaunchStats) {
        self.thread_instructions += o.thread_instructions;
        self.warp_instructions += o.warp_instructions;
        for i in 0..NCLASS {
            self.by_class[i] += o.by_class[i];
        }
        self.mma_instructions += o.mma_instructions;
        self.mma_sp_instructions += o.mma_sp_instructions;
        self.shared_requests += o.shared_requests;
        self.shared_bank_conflicts += o.shared_bank_conflicts;
        self.global_requests += o.global_requests;
        self.global_sectors += o.global_sectors;
        self.global_bytes_read += o.global_bytes_read;
        self.global_bytes_written += o.global_bytes_written;
        self.shared_bytes_read += o.shared_bytes_read;
        self.shared_bytes_written += o.shared_bytes_written;
        self.ctas += o.ctas;
        self.mbarrier_waits += o.mbarrier_waits;
        self.bulk_bytes += o.bulk_bytes;
        self.cache_hints += o.cache_hints;
        for i in 0..32 {
            self.wgmma[i] += o.wgmma[i];
            self.wgmma_sp[i] += o.wgmma_sp[i];
        }
        self.wgmma_desc_bytes += o.wgmma_desc_bytes;
    }
    /// One-line summary.
    pub fn summary(&self) -> String {
        let mut classes = String::new();
        for c in OpClass::ALL {
            let n = self.class(c);
            if n > 0 {
                if !classes.is_empty() {
                    classes.push(' ');
                }
                classes.push_str(&format!("{}={}", c.name(), n));
            }
        }
        format!(
            "ctas={} thread_insts={} warp_insts={} [{}] mma={} mma.sp={} smem_req={} bank_conflicts={} gmem_req={} sectors={} ({:.2}/req) gmem_rd={}B gmem_wr={}B smem_rd={}B smem_wr={}B mbar_waits={} bulk={}B cache_hints={}{}",
            self.ctas,
            self.thread_instructions,
            self.warp_instructions,
            classes,
            self.mma_instructions,
            self.mma_sp_instructions,
            self.shared_requests,
            self.shared_bank_conflicts,
            self.global_requests,
            self.global_sectors,
            self.sectors_per_request(),
            self.global_bytes_read,
            self.global_bytes_written,
            self.shared_bytes_read,
            self.shared_bytes_written,
            self.mbarrier_waits,
            self.bulk_bytes,
            self.cache_hints,
            self.wgmma_summary()
        )
    }
}

impl LaunchStats {
    /// " wgmma=[m64n8k16:3 ...] wgmma_smem_rd=..B" when any wgmma ran, else "".
    fn wgmma_summary(&self) -> String {
        if self.wgmma_instructions() == 0 {
            return String::new();
        }
        let mut v = Vec::new();
        for (counts, k) in [(&self.wgmma, 16), (&self.wgmma_sp, 32)] {
            for (i, c) in counts.iter().enumerate() {
                if *c > 0 {
                    let sp = if k == 32 { "sp." } else { "" };
                    v.push(format!("{sp}m64n{}k{k}:{c}", 8 * (i + 1)));
                }
            }
        }
        format!(
            " wgmma=[{}] wgmma_smem_rd={}B",
            v.join(" "),
            self.wgmma_desc_bytes
        )
    }
}

/// Wavefronts for one warp-wide shared access: lanes are split into phases by access width
/// (4 B or less: one phase of 32 lanes; 8 B: two of 16; 16 B: four of 8), and each phase needs
/// as many wavefronts as the most distinct 4-byte words any one bank must serve.
/// Returns (wavefronts, minimum wavefronts).
pub(crate) fn shared_wavefronts(acc: &[(u32, u64, u32)]) -> (u64, u64) {
    if acc.is_empty() {
        return (0, 0);
    }
    let width = acc.iter().map(|a| a.2).max().unwrap_or(4).max(4);
    let lanes_per_phase = (128 / width).clamp(1, 32);
    let mut total = 0u64;
    let mut min = 0u64;
    let mut phase = 0;
    while phase * lanes_per_phase < 32 {
        let lo = phase * lanes_per_phase;
        let hi = lo + lanes_per_phase;
        let mut words: Vec<u64> = Vec::new();
        for &(lane, addr, size) in acc {
            if lane >= lo && lane < hi {
                let first = addr >> 2;
                let last = (addr + size as u64 - 1) >> 2;
                for w in first..=last {
                    words.push(w);
                }
            }
        }
        if !words.is_empty() {
            words.sort_unstable();
            words.dedup();
            let mut per_bank = [0u32; 32];
            for w in &words {
                per_bank[(w & 31) as usize] += 1;
            }
            total += *per_bank.iter().max().unwrap_or(&1) as u64;
            min += 1;
        }
        phase += 1;
    }
    (total, min)
}

/// Distinct 32-byte sectors touched by one warp-wide global access.
pub(crate) fn global_sectors(acc: &[(u32, u64, u32)]) -> u64 {
    let mut s: Vec<u64> = Vec::with_capacity(acc.len() * 2);
    for &(_, addr, size) in acc {
        let first = addr >> 5;
        let last = (addr + size.max(1) as u64 - 1) >> 5;
        for x in first..=last {
            s.push(x);
        }
    }
    s.sort_unstable();
    s.dedup();
    s.len() as u64
}
