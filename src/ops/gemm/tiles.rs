//! The tile configurations of the sparse GEMM, defined once: this file is the crate's
//! (re-exported by [`crate::ops::gemm`]) and build.rs's, which includes it with
//! `#[path]` (as it does src/abi.rs) and generates from it the CUDA instantiation of
//! every tile × dtype (kernels/gemm/ parts, `static_assert`ed against the shapes
//! here) and the typed kernel handles ([`crate::kernels::sparse_gemm`]). So it uses
//! nothing from the crate.
//!
//! One name per tile ([`GemmConfig::tile_name`]) is used everywhere: the enum docs,
//! the kernel symbol (`sgemm_<tile>_<dtype>`), kernel-report, the benchmark and
//! `SPARSE24_PREFILL_TILE`.
//!
//! Adding a tile: a variant here with its [`GemmConfig::tile`] shape and
//! [`GemmConfig::tile_name`] (and in `ALL`, `PREFILL`); build.rs then compiles its
//! f16 and bf16 kernels and generates their handles. A tile that needs a new pipeline
//! or grid walk adds a part in kernels/gemm/ (a main-loop policy, a rasterisation)
//! and a [`MainLoop`] variant naming it, not a flag. tests/gemm_sim.rs (and
//! tests/prefill_sim.rs for the staged tiles) runs every tile of `ALL` against the CPU
//! reference; tests/gemm_build.rs checks its registers and spills.

/// A tile configuration of the sparse GEMM (kernels/gemm/, instantiated for f16 and
/// bf16 by build.rs).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum GemmConfig {
    /// Tile `decode`: 8 warps × one 16-row tile = 128 rows × 16 tokens per CTA,
    /// k = 256 per stage, 3 stages; split-K over grid.z so that 1..16 tokens still
    /// fill the GPU.
    Decode,
    /// Tile `decode8`: the latency-hiding decode tile for 1..8 tokens (sm_80 code,
    /// kernels/gemm/decode_*.cuh): 4 warps × one 16-row tile = 64 rows × 8 tokens per
    /// CTA; X of up to 64 k32 steps staged once per CTA (not a per-stage ring), W
    /// streamed with an evict-first hint through a ring of three 8-step register
    /// stages per warp (two in flight while one is computed), 3 CTAs per SM; fine
    /// split-K reduced by the last CTA with every partial load issued before the
    /// fixed-order adds.
    Decode8,
    /// Tile `decode16`: the `decode8` design for 9..16 tokens (64 rows × 16 tokens per
    /// CTA, X of up to 32 k32 steps resident per CTA).
    Decode16,
    /// Tile `64` (alias `128x64`): 4 × 2 warps, each 32 rows × 32 tokens: 128 rows ×
    /// 64 tokens per CTA, k = 64 per stage, 4 stages; normally no split-K.
    Prefill,
    /// Tile `128x128`: 4 × 2 warps, each 32 rows × 64 tokens: 128 rows × 128 tokens
    /// per CTA, k = 64 per stage, 4 stages, A prefetched one stage ahead; 66 KiB of
    /// dynamic shared memory; token tiles along grid.x.
    PrefillT128x128,
    /// Tile `128x128a2`: the 128 × 128 tile with A prefetched two stages ahead.
    PrefillT128x128A2,
    /// Tile `256x64`: 8 × 1 warps, each 32 rows × 64 tokens: 256 rows × 64 tokens per
    /// CTA (no two warps load the same A fragment); 65 KiB of dynamic shared memory;
    /// token tiles along grid.x.
    PrefillT256x64,
    /// Tile `256x64w16`: the 256 × 64 tile on 8 × 2 warps, each 32 rows × 32 tokens:
    /// 16 warps (512 threads, at most 128 registers) per CTA, twice the warps per SM
    /// of `256x64` to hide latency; the lean main loop (one metadata group per
    /// iteration); 65 KiB of dynamic shared memory; token tiles along grid.x.
    PrefillT256x64W16,
    /// Tile `s128x128`: the shared-memory-staged pipeline (kernels/gemm/smem_*.cuh):
    /// W's fragment-ordered tiles and X both staged by cp.async 2 stages ahead (3
    /// slots, k = 64 each), W copied once per CTA and shared by the warps; 2 × 2 warps
    /// of 64 rows × 64 tokens (128 rows × 128 tokens per CTA, 128 threads); 80 KiB of
    /// dynamic shared memory, within every architecture's limit (sm_86/89: 99 KiB), two
    /// CTAs per SM on sm_80 and sm_90.
    PrefillS128x128,
    /// Tile `s256x128`: the staged pipeline on 4 × 2 warps of 64 × 64: 256 rows × 128
    /// tokens, 256 threads, 3 slots; 112 KiB of dynamic shared memory (sm_80 and sm_90
    /// only).
    PrefillS256x128,
    /// Tile `s128x256`: the staged pipeline on 2 × 4 warps of 64 × 64: 128 rows × 256
    /// tokens, 256 threads, 3 slots; 128 KiB of dynamic shared memory (sm_80 and sm_90
    /// only).
    PrefillS128x256,
    /// Tile `s128x128k4` (feature `gemm-sweep` only): `s128x128` with 4 slots (104 KiB).
    SweepS128x128K4,
    /// Tile `s128x128w8` (feature `gemm-sweep` only): 128 × 128 on 2 × 4 warps of 64
    /// rows × 32 tokens, 3 slots.
    SweepS128x128W8,
    /// Tile `s256x128k4` (feature `gemm-sweep` only): `s256x128` with 4 slots (144 KiB).
    SweepS256x128K4,
    /// Tile `s128x256k4` (feature `gemm-sweep` only): `s128x256` with 4 slots (168 KiB,
    /// sm_90 only).
    SweepS128x256K4,
    /// Tile `wg256x128` (sm_90a only: wgmma.mma_async.sp, kernels/sparse_gemm_sm90.cu):
    /// a producer warpgroup streams X through the bulk tensor copy engine into an
    /// 8-stage ring (k = 64 per stage, 128B swizzle) and two consumer warpgroups, each
    /// 128 rows × 128 tokens (two m64n128k32 per k32 step), stream W from global memory
    /// into registers two stages ahead: 256 rows × 128 tokens per CTA, 384 threads,
    /// persistent (about one CTA per SM walking the tiles in bands), 162 KiB of dynamic
    /// shared memory (the ring and a 32-token epilogue buffer).
    Wgmma256x128,
    /// Tile `decode16c` (sm_90 only: kernels/sparse_decode_sm90.cu, compute
    /// capability 9.x): the `decode16` tile (4 warps × one 16-row tile = 64 rows × 16
    /// tokens, mma.sp, X of up to 32 k32 steps resident per CTA) with W streamed by the
    /// bulk copy engine (1-D `cp.async.bulk` of the fragment-ordered row tiles) into a
    /// 4-slot shared-memory ring on mbarriers (4 × 18 KiB in flight per CTA), split-K
    /// over a thread-block cluster of up to [`MAX_CLUSTER_SPLITS`] CTAs reduced through
    /// distributed shared memory in rank order (no workspace), and programmatic
    /// dependent launch (`griddepcontrol`); 104 KiB of dynamic shared memory, 2 CTAs
    /// per SM.
    Decode16Sm90,
    /// Tile `wg256x128ss` (feature `hopper-ss` only; sm_90a): `wg256x128` in the SS
    /// form, to measure against it: W's compressed values (row-major, `[out, in/2]`)
    /// come through the bulk tensor copy engine too, a 256-row × 32-value box (64B
    /// swizzle) beside each X box of a 6-stage ring, and the wgmma.sp read A from
    /// shared memory; only W's metadata is streamed into registers. Needs the weight's
    /// row-major values on the device ([`GemmWeights::row_values`](crate::ops::gemm::GemmWeights::row_values)).
    /// Never picked by the heuristic: forced by name.
    Wgmma256x128Ss,
}

/// The main-loop policy of a tile (kernels/gemm/mainloop.cuh).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MainLoop {
    /// `MainLoopStandard`: A prefetched one stage ahead, two register buffers.
    Standard,
    /// `MainLoopPrefetchA<2>`: A prefetched two stages ahead, three register buffers.
    PrefetchA2,
    /// `MainLoopLean`: A one stage ahead, X copy hoisted, one metadata group per
    /// iteration.
    Lean,
    /// `SmemMainLoop` (kernels/gemm/smem_mainloop.cuh, kernel smem_kernel.cuh): W's
    /// fragment-ordered values and metadata staged through shared memory by cp.async
    /// with X, the warps' A fragments read from shared memory.
    SmemStaged,
    /// The warp-specialised Hopper pipeline (kernels/gemm/sm90_kernel.cuh): X by bulk
    /// tensor copies on mbarriers, W two stages ahead in registers, wgmma.sp.
    Wgmma,
    /// `MainLoopDecode<2>` (kernels/gemm/decode_mainloop.cuh): X resident per CTA
    /// (`stages` 8-step stages, restaged only when the CTA's k range is longer), W
    /// two 8-step stages ahead in a ring of three register stages, evict-first loads.
    DecodeRing,
    /// `DecodeGemm90` (kernels/gemm/decode90_kernel.cuh): X resident per CTA as
    /// `DecodeRing`, W by 1-D bulk copies into an `a_prefetch`-slot shared-memory ring
    /// of 8-step stages on mbarriers, split-K across a thread-block cluster.
    DecodeBulk,

    /// The Hopper pipeline in the SS form (feature `hopper-ss`): W's compressed values
    /// also by bulk tensor copies, into a W slot beside each X slot
    /// (kernels/gemm/sm90_w_ring.cuh), A read from shared memory; W's metadata two
    /// stages ahead in registers.
    WgmmaSs,
}

impl MainLoop {
    /// The CUDA type of the policy.
    pub fn cuda_type(self) -> &'static str {
        match self {
            MainLoop::Standard => "s24::gemm::MainLoopStandard",
            MainLoop::PrefetchA2 => "s24::gemm::MainLoopPrefetchA<2>",
            MainLoop::Lean => "s24::gemm::MainLoopLean",
            MainLoop::Wgmma | MainLoop::WgmmaSs => "s24::gemm::SparseGemm90",
            MainLoop::SmemStaged => "s24::gemm::SmemMainLoop",
            MainLoop::DecodeRing => "s24::gemm::MainLoopDecode<2>",
            MainLoop::DecodeBulk => "s24::gemm::DecodeGemm90",
        }
    }

    /// Pipeline stages A is prefetched ahead in registers (0: A is staged in shared
    /// memory with X).
    pub fn a_prefetch(self) -> usize {
        match self {
            MainLoop::PrefetchA2 | MainLoop::Wgmma | MainLoop::WgmmaSs | MainLoop::DecodeRing => 2,
            MainLoop::DecodeBulk => DECODE_BULK_SLOTS,
            MainLoop::Standard | MainLoop::Lean => 1,
            MainLoop::SmemStaged => 0,
        }
    }
}

/// The CTA tile of a configuration, from which build.rs instantiates the kernel.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TileShape {
    /// Output features (W rows) per CTA.
    pub rows: usize,
    /// Tokens per CTA.
    pub tokens: usize,
    /// Threads per CTA (producer warpgroup included).
    pub threads: usize,
    /// Threads of the producer warpgroup inside `threads` (the Hopper tiles; 0 for the
    /// mma.sp tiles, whose every warp computes).
    pub producer_threads: usize,
    /// Warps along the rows (`WM`) and along the tokens (`WN`): each warp computes
    /// rows / WM rows × tokens / WN tokens.
    pub warps: [usize; 2],
    /// k32 steps per pipeline stage.
    pub steps_per_stage: usize,
    /// Depth of the X pipeline in shared memory.
    pub stages: usize,
    /// Pipeline stages A is prefetched ahead in registers (that of `main_loop`).
    pub a_prefetch: usize,
    /// The main-loop policy (kernels/gemm/mainloop.cuh) or the Hopper pipeline.
    pub main_loop: MainLoop,
    /// The kernel takes its shared memory as dynamic shared memory
    /// ([`TileShape::shared_bytes`] at launch) instead of a static array.
    pub dynamic_shared: bool,
    /// grid.x walks token tiles and grid.y row blocks (else the other way round).
    pub tokens_fast: bool,
    /// CTAs per SM the kernel is compiled for (`__launch_bounds__`).
    pub min_ctas_per_sm: usize,
}

impl TileShape {
    /// Shared memory the kernel uses (kernels/gemm/tile.cuh and sm90_tile.cuh
    /// `SMEM_BYTES`): the larger of the X pipeline (stages × tokens × k of a stage,
    /// bf16/f16) and the f32 epilogue tile (tokens × (rows + 4)), which reuses it; the
    /// persistent Hopper tiles hold both, the epilogue in chunks of
    /// [`HOPPER_EPILOGUE_TOKENS`], plus 1 KiB to align the ring to the 128-byte
    /// swizzle's 1024-byte repeat; the SS form adds a W slot per stage (rows × the
    /// stage's compressed values, half its k).
    /// The bulk-copy decode tile adds its W ring ([`TileShape::w_ring_bytes`]).
    pub fn shared_bytes(&self) -> usize {
        if self.main_loop == MainLoop::SmemStaged {
            return self.staged_shared_bytes();
        }
        let x = self.stages * self.tokens * self.steps_per_stage * 32 * 2;
        let dt = |tokens: usize| tokens * (self.rows + 4) * 4;
        if self.persistent() {
            x + self.w_stage_bytes() * self.stages + dt(HOPPER_EPILOGUE_TOKENS) + 1024
        } else {
            x.max(dt(self.tokens)) + self.w_ring_bytes()
        }
    }

    /// Shared memory of the bulk-copy decode tile's W ring (kernels/gemm/decode90_w_ring.cuh
    /// `BYTES + BAR_BYTES`): `a_prefetch` slots of one 8-step stage of every row tile
    /// (8 × 512 bytes of values and 512 of metadata each), plus a full and an empty
    /// mbarrier per slot; 0 for the other tiles.
    pub fn w_ring_bytes(&self) -> usize {
        if self.main_loop != MainLoop::DecodeBulk {
            return 0;
        }
        let stage = self.rows / 16 * (self.steps_per_stage * 512 + 512);
        self.a_prefetch * (stage + 2 * 8)
    }

    /// Whether split-K is reduced across a thread-block cluster (the splits along z
    /// form one cluster of at most [`MAX_CLUSTER_SPLITS`] CTAs; no workspace).
    pub fn cluster_split_k(&self) -> bool {
        self.main_loop == MainLoop::DecodeBulk
    }

    /// Whether the kernel is sm_90 code (no `a` instructions: kernels/sparse_decode_sm90.cu,
    /// compiled for sm_90 with compute_90 PTX): it runs on compute capability 9.x.
    pub fn sm90_only(&self) -> bool {
        self.main_loop == MainLoop::DecodeBulk
    }

    /// Whether the kernel is persistent: about one CTA per SM walking the output tiles
    /// and splits ([`SparseGemmPlan::launch_grid`](super::SparseGemmPlan::launch_grid)).
    /// The Hopper tiles are.
    pub fn persistent(&self) -> bool {
        matches!(self.main_loop, MainLoop::Wgmma | MainLoop::WgmmaSs)
    }

    /// Whether W's compressed values reach the kernel through the bulk tensor copy
    /// engine (the SS form), which reads them row-major (`[out, in/2]`) instead of in
    /// fragment order.
    pub fn w_by_bulk_copy(&self) -> bool {
        self.main_loop == MainLoop::WgmmaSs
    }

    /// Bytes of one stage's W slot in shared memory (the SS form; 0 otherwise): the
    /// tile's rows × the stage's compressed values (k / 2) of 2 bytes.
    pub fn w_stage_bytes(&self) -> usize {
        if self.w_by_bulk_copy() {
            self.rows * self.steps_per_stage * 16 * 2
        } else {
            0
        }
    }

    /// Shared memory of the staged pipeline (kernels/gemm/smem_tile.cuh `SMEM_BYTES`):
    /// per slot X (tokens × k of a stage, 2 bytes each) and W values (16-row tiles ×
    /// steps × 512 bytes), two metadata slots (16-row tiles × 512 bytes), or the
    /// epilogue's f32 tile of one warp column (tokens / warps\[1\] × (rows + 4)) if
    /// larger.
    fn staged_shared_bytes(&self) -> usize {
        let row_tiles = self.rows / 16;
        let x = self.tokens * self.steps_per_stage * 32 * 2;
        let w = row_tiles * self.steps_per_stage * 512;
        let pipe = self.stages * (x + w) + 2 * row_tiles * 512;
        let dt = self.tokens / self.warps[1] * (self.rows + 4) * 4;
        pipe.max(dt)
    }

    /// Whether the kernel uses sm_90a-only instructions (wgmma, setmaxnreg): it exists
    /// as sm_90a machine code only and runs on compute capability 9.0 alone.
    pub fn sm90a_only(&self) -> bool {
        self.persistent()
    }

    /// Dynamic shared memory to launch with (0 for static-memory kernels).
    pub fn dynamic_shared_bytes(&self) -> usize {
        if self.dynamic_shared {
            self.shared_bytes()
        } else {
            0
        }
    }

    /// Bytes of W (values and metadata, fragment order) each warp has requested and
    /// not yet consumed while it computes a stage: `a_prefetch` stages of
    /// `steps_per_stage` k32 steps of its `MT` row tiles, each step 32 lanes × 16 bytes
    /// of values plus an eighth of a 512-byte metadata load. What Little's law asks of
    /// a memory-bound kernel (the kernel report's decode section).
    pub fn w_bytes_in_flight_per_warp(&self) -> usize {
        const VALUE_BYTES_PER_STEP: usize = 32 * 16;
        const META_BYTES_PER_STEP: usize = 32 * 16 / 8;
        let [mt, _] = self.mma_tiles_per_warp();
        self.a_prefetch * self.steps_per_stage * mt * (VALUE_BYTES_PER_STEP + META_BYTES_PER_STEP)
    }

    /// Warps per CTA.
    pub fn warps_per_cta(&self) -> usize {
        self.threads / 32
    }

    /// 16-row MMA tiles (`MT`) and 8-token MMA tiles (`NT`) per warp (for a Hopper
    /// tile: per consumer warp, whose row tiles lie 64 rows apart).
    pub fn mma_tiles_per_warp(&self) -> [usize; 2] {
        [
            self.rows / (16 * self.warps[0]),
            self.tokens / (8 * self.warps[1]),
        ]
    }
}

/// Tokens per chunk of the Hopper kernels' epilogue (`Tile90::EPI_TOKENS`, checked at
/// build time through the shared-memory size): persistent, they store a tile through
/// a buffer of their own while the producer refills the X ring, and a whole 128-token
/// f32 tile would not fit beside the ring.
pub const HOPPER_EPILOGUE_TOKENS: usize = 32;

/// Slots of the bulk-copy decode tile's W ring (8-step stages in flight per CTA;
/// kernels/gemm/decode90_w_ring.cuh `SLOTS`).
pub const DECODE_BULK_SLOTS: usize = 4;

/// The most splits of a tile whose split-K is reduced across a thread-block cluster:
/// the portable cluster size (kernels/gemm/decode90_split_k.cuh `kMaxClusterSplits`).
pub const MAX_CLUSTER_SPLITS: usize = 8;

impl GemmConfig {
    /// Every mma.sp tile (kernels/sparse_gemm.cu), the decode tile first.
    pub const ALL: [GemmConfig; 9] = [
        GemmConfig::Decode,
        GemmConfig::Prefill,
        GemmConfig::PrefillT128x128,
        GemmConfig::PrefillT128x128A2,
        GemmConfig::PrefillT256x64,
        GemmConfig::PrefillT256x64W16,
        GemmConfig::PrefillS128x128,
        GemmConfig::PrefillS256x128,
        GemmConfig::PrefillS128x256,
    ];
    /// The latency-hiding decode tiles (kernels/gemm/decode_*.cuh, also in
    /// kernels/sparse_gemm.cu), not in `ALL` (whose tiles share kernels/gemm/kernel.cuh):
    /// 8 tokens first.
    pub const DECODE: [GemmConfig; 2] = [GemmConfig::Decode8, GemmConfig::Decode16];
    /// Every prefill tile, the original 128 × 64 one first.
    pub const PREFILL: [GemmConfig; 8] = [
        GemmConfig::Prefill,
        GemmConfig::PrefillT128x128,
        GemmConfig::PrefillT128x128A2,
        GemmConfig::PrefillT256x64,
        GemmConfig::PrefillT256x64W16,
        GemmConfig::PrefillS128x128,
        GemmConfig::PrefillS256x128,
        GemmConfig::PrefillS128x256,
    ];
    /// The rest of the staged pipeline's sweep (DESIGN.md: few instantiations): its
    /// kernels are compiled only with the `gemm-sweep` feature (the GPU bundle's), for
    /// the GPU check to measure them against the three shipped staged tiles.
    pub const SWEEP: [GemmConfig; 4] = [
        GemmConfig::SweepS128x128K4,
        GemmConfig::SweepS128x128W8,
        GemmConfig::SweepS256x128K4,
        GemmConfig::SweepS128x256K4,
    ];
    /// The Hopper tiles (sm_90a only, kernels/sparse_gemm_sm90.cu), not in `ALL`
    /// (the mma.sp tiles of kernels/sparse_gemm.cu).
    pub const WGMMA: [GemmConfig; 1] = [GemmConfig::Wgmma256x128];
    /// The sm_90 decode tiles (kernels/sparse_decode_sm90.cu, compute capability 9.x
    /// only), in none of the lists above.
    pub const DECODE_SM90: [GemmConfig; 1] = [GemmConfig::Decode16Sm90];
    /// The Hopper tiles in the SS form, compiled only with the `hopper-ss` feature (the
    /// GPU bundle's) for the measurement RS against SS; never picked by the heuristic.
    pub const WGMMA_SS: [GemmConfig; 1] = [GemmConfig::Wgmma256x128Ss];

    /// The kernel module (`kernels/<module>.cu`) of the tile's kernels.
    pub fn module(self) -> &'static str {
        if self.tile().sm90a_only() {
            "sparse_gemm_sm90"
        } else if self.tile().sm90_only() {
            "sparse_decode_sm90"
        } else {
            "sparse_gemm"
        }
    }

    /// The tile's shape, from which build.rs instantiates its kernels.
    pub fn tile(self) -> TileShape {
        // The larger prefill tiles: k = 64 per stage, 4 stages, dynamic shared memory
        // (the epilogue tile exceeds 48 KiB), token tiles along grid.x, 1 CTA per SM
        // (their registers allow no more).
        let big = |rows, tokens, warps, main_loop: MainLoop| TileShape {
            rows,
            tokens,
            threads: 256,
            producer_threads: 0,
            warps,
            steps_per_stage: 2,
            stages: 4,
            a_prefetch: main_loop.a_prefetch(),
            main_loop,
            dynamic_shared: true,
            tokens_fast: true,
            min_ctas_per_sm: 1,
        };
        // The first two tiles: static shared memory, row blocks along grid.x, the
        // standard main loop.
        let small = |rows, tokens, warps, steps_per_stage, stages, min_ctas_per_sm| TileShape {
            rows,
            tokens,
            threads: 256,
            producer_threads: 0,
            warps,
            steps_per_stage,
            stages,
            a_prefetch: 1,
            main_loop: MainLoop::Standard,
            dynamic_shared: false,
            tokens_fast: false,
            min_ctas_per_sm,
        };
        // The staged pipeline's tiles (kernels/gemm/smem_kernel.cuh): 64 × 64 warp
        // tiles (CUTLASS's sm_80 choice: per mma.sp m16n8k32 a warp reads 512 / 8
        // bytes of A and 512 / 4 of B from shared memory, 192 in all, where an SM
        // serves 128 bytes per clock for one mma.sp per 2 clocks: 75% of the
        // shared-memory bandwidth; 64 × 32 warps would need 100%), k = 64 per stage,
        // 3 slots (2 stages in flight) unless the sweep says otherwise, token tiles
        // along grid.x, 1 CTA per SM in `__launch_bounds__` (a 64 × 64 warp tile takes
        // ~255 registers, which still lets two 128-thread CTAs share an SM).
        let staged = |rows, tokens, warps: [usize; 2], stages| TileShape {
            rows,
            tokens,
            threads: warps[0] * warps[1] * 32,
            producer_threads: 0,
            warps,
            steps_per_stage: 2,
            stages,
            a_prefetch: 0,
            main_loop: MainLoop::SmemStaged,
            dynamic_shared: true,
            tokens_fast: true,
            min_ctas_per_sm: 1,
        };
        match self {
            // 2 CTAs per SM (≤ 128 registers) so split-K's two waves of CTAs are
            // resident; 24 KiB of static shared memory.
            GemmConfig::Decode => small(128, 16, [8, 1], 8, 3, 2),
            // 128 threads, 3 CTAs per SM (at most 168 registers: the W ring holds 3 ×
            // 36), `stages` 8-step stages of X resident per CTA (32 KiB static).
            GemmConfig::Decode8 | GemmConfig::Decode16 => {
                let tokens = if self == GemmConfig::Decode8 { 8 } else { 16 };
                TileShape {
                    rows: 64,
                    tokens,
                    threads: 128,
                    producer_threads: 0,
                    warps: [4, 1],
                    steps_per_stage: 8,
                    stages: 64 / tokens,
                    a_prefetch: MainLoop::DecodeRing.a_prefetch(),
                    main_loop: MainLoop::DecodeRing,
                    dynamic_shared: false,
                    tokens_fast: false,
                    min_ctas_per_sm: 3,
                }
            }
            // 1 CTA per SM (asking for 2 spills on sm_80); 33 KiB of static shared
            // memory.
            GemmConfig::Prefill => small(128, 64, [4, 2], 2, 4, 1),
            GemmConfig::PrefillT128x128 => big(128, 128, [4, 2], MainLoop::Standard),
            GemmConfig::PrefillT128x128A2 => big(128, 128, [4, 2], MainLoop::PrefetchA2),
            GemmConfig::PrefillT256x64 => big(256, 64, [8, 1], MainLoop::Standard),
            // 512 threads, 1 CTA per SM: at most 128 registers.
            GemmConfig::PrefillT256x64W16 => TileShape {
                threads: 512,
                ..big(256, 64, [8, 2], MainLoop::Lean)
            },
            GemmConfig::PrefillS128x128 => staged(128, 128, [2, 2], 3),
            GemmConfig::PrefillS256x128 => staged(256, 128, [4, 2], 3),
            GemmConfig::PrefillS128x256 => staged(128, 256, [2, 4], 3),
            GemmConfig::SweepS128x128K4 => staged(128, 128, [2, 2], 4),
            GemmConfig::SweepS128x128W8 => staged(128, 128, [2, 4], 3),
            GemmConfig::SweepS256x128K4 => staged(256, 128, [4, 2], 4),
            GemmConfig::SweepS128x256K4 => staged(128, 256, [2, 4], 4),
            // The decode16 tile's warps and X; 2 CTAs per SM (104 KiB of shared memory
            // each: 32 KiB of X, the 72 KiB W ring).
            GemmConfig::Decode16Sm90 => TileShape {
                rows: 64,
                tokens: 16,
                threads: 128,
                producer_threads: 0,
                warps: [4, 1],
                steps_per_stage: 8,
                stages: 4,
                a_prefetch: MainLoop::DecodeBulk.a_prefetch(),
                main_loop: MainLoop::DecodeBulk,
                dynamic_shared: true,
                tokens_fast: false,
                min_ctas_per_sm: 2,
            },
            // 2 consumer warpgroups × 4 warps along the rows, each warp 2 row tiles
            // (64 rows apart) × all 128 tokens; plus the producer warpgroup.
            GemmConfig::Wgmma256x128 => TileShape {
                threads: 384,
                producer_threads: 128,
                stages: 8,
                ..big(256, 128, [8, 1], MainLoop::Wgmma)
            },
            // The same warps; 6 stages of X and W (32 KiB each) fit beside the
            // epilogue buffer (226 KiB of the 227).
            GemmConfig::Wgmma256x128Ss => TileShape {
                threads: 384,
                producer_threads: 128,
                stages: 6,
                ..big(256, 128, [8, 1], MainLoop::WgmmaSs)
            },
        }
    }

    /// The tile's one name (see the variants), as in its kernels' symbols; the
    /// same as [`GemmConfig::tile_name`].
    pub fn name(self) -> &'static str {
        self.tile_name()
    }

    /// The short tile name: what [`PREFILL_TILE_ENV`](crate::ops::gemm::PREFILL_TILE_ENV)
    /// takes (`decode` for the decode tile), the `<tile>` of the kernel symbols
    /// `sgemm_<tile>_<dtype>`, kernel-report's and the benchmark's label.
    pub fn tile_name(self) -> &'static str {
        match self {
            GemmConfig::Decode => "decode",
            GemmConfig::Decode8 => "decode8",
            GemmConfig::Decode16 => "decode16",
            GemmConfig::Decode16Sm90 => "decode16c",
            GemmConfig::Prefill => "64",
            GemmConfig::PrefillT128x128 => "128x128",
            GemmConfig::PrefillT128x128A2 => "128x128a2",
            GemmConfig::PrefillT256x64 => "256x64",
            GemmConfig::PrefillT256x64W16 => "256x64w16",
            GemmConfig::Wgmma256x128 => "wg256x128",
            GemmConfig::Wgmma256x128Ss => "wg256x128ss",
            GemmConfig::PrefillS128x128 => "s128x128",
            GemmConfig::PrefillS256x128 => "s256x128",
            GemmConfig::PrefillS128x256 => "s128x256",
            GemmConfig::SweepS128x128K4 => "s128x128k4",
            GemmConfig::SweepS128x128W8 => "s128x128w8",
            GemmConfig::SweepS256x128K4 => "s256x128k4",
            GemmConfig::SweepS128x256K4 => "s128x256k4",
        }
    }
}
