//! The roofline probe's kernels (roofline.cu, PTX committed as roofline.ptx) as data:
//! which exist, their parameters, and their run on ptxsim. Shared by the example
//! (main.rs) and tests/hopper_roofline_sim.rs.

/// The probe's PTX (sm_90a), as the pinned nvcc wrote it.
pub const PTX: &str = include_str!("roofline.ptx");

/// One probe kernel: A from registers (RS) or shared memory (SS), and the wgmma N.
#[derive(Copy, Clone, Debug)]
pub struct Probe {
    pub kernel: &'static str,
    pub ss: bool,
    pub n: usize,
}

pub const PROBES: [Probe; 4] = [
    Probe {
        kernel: "roofline_rs_n128",
        ss: false,
        n: 128,
    },
    Probe {
        kernel: "roofline_rs_n256",
        ss: false,
        n: 256,
    },
    Probe {
        kernel: "roofline_ss_n128",
        ss: true,
        n: 128,
    },
    Probe {
        kernel: "roofline_ss_n256",
        ss: true,
        n: 256,
    },
];

/// Threads per CTA (two consumer warpgroups).
pub const THREADS: u32 = 256;
/// 16-byte vectors of the W stream buffer (a power of two: the kernel wraps with a mask),
/// 64 MiB: beyond the L2, as the GEMM's W is.
pub const W_VECS: usize = 1 << 22;

impl Probe {
    /// m64 blocks per warpgroup per k32 step.
    pub fn blocks(&self) -> usize {
        256 / self.n
    }
    /// wgmma.sp one CTA issues in `iters` steps.
    pub fn wgmma_per_cta(&self, iters: usize) -> u64 {
        (2 * iters * self.blocks()) as u64
    }
    /// Dense-equivalent floating-point operations of one CTA over `iters` steps:
    /// 2 warpgroups × blocks × 64 rows × N × k 32 × 2.
    pub fn flops_per_cta(&self, iters: usize) -> f64 {
        (2 * iters * self.blocks() * 64 * self.n * 32 * 2) as f64
    }
}

/// Runs one probe on ptxsim (one CTA, `iters` steps, the W stream on or off) and
/// returns its counters.
pub fn sim_run(probe: &Probe, iters: i32, stream: bool) -> Result<ptxsim::LaunchStats, String> {
    use ptxsim::{Device, LaunchConfig, Module, Param};
    let e = |e: ptxsim::SimError| e.to_string();
    let m = Module::parse(PTX).map_err(e)?;
    let mut dev = Device::new();
    // A small W buffer is enough here (the mask wraps it).
    let vecs = 1usize << 12;
    let w = dev.alloc(vecs * 16).map_err(e)?;
    let words: Vec<u8> = (0..vecs * 16).map(|i| (i % 251) as u8).collect();
    dev.write(w, &words).map_err(e)?;
    let out = dev.alloc(THREADS as usize * 4).map_err(e)?;
    let params = [
        Param::U64(if stream { w } else { 0 }),
        Param::U32(vecs as u32 - 1),
        Param::I32(iters),
        Param::U64(out),
    ];
    dev.launch(&m, probe.kernel, &LaunchConfig::linear(1, THREADS), &params)
        .map_err(e)
}
