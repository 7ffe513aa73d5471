//! A validated sparse-GEMM plan for one shape: configuration, grid, split-K and the
//! workspace it needs, and the heuristic that picks it.

use super::config::{
    prefill_tile_override, GemmConfig, DECODE8_MAX_TOKENS, DECODE_MAX_SPLITS, DECODE_MAX_TOKENS,
    DECODE_WAVES, LARGE_PREFILL_TILE, LARGE_TILE_MIN_TOKENS, MAX_SPLITS, MIN_GROUPS_PER_SPLIT,
    STAGED_PREFILL_CANDIDATES, WGMMA_MIN_TOKENS,
};
use super::tiles::MAX_CLUSTER_SPLITS;
use crate::error::{Error, Result};
use crate::layout::{FragmentGeometry, META_STEPS_PER_LOAD, TILE_ROWS};
use crate::shape::check_shape;

/// Alignment of the partials inside the workspace (after the counters).
pub(crate) const WORKSPACE_ALIGN: usize = 256;

/// The device a plan is chosen for: how many SMs it fills and which kernels exist for
/// it (the sm_90a kernels run on compute capability 9.0 alone: not on sm_80/86/89, not
/// on sm_100 and later, where `a` code does not run).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct GemmDevice {
    /// Streaming multiprocessors the grid should fill.
    pub sm_count: usize,
    /// (major, minor).
    pub compute_capability: (u32, u32),
}

impl GemmDevice {
    /// A device of compute capability 8.0 with `sm_count` SMs: what [`SparseGemmPlan::choose`]
    /// plans for (the mma.sp kernels only).
    pub fn sm80(sm_count: usize) -> GemmDevice {
        GemmDevice {
            sm_count,
            compute_capability: (8, 0),
        }
    }

    /// Whether sm_90a machine code runs here (H100, H200, GH200: compute capability 9.0).
    pub fn runs_sm90a(&self) -> bool {
        self.compute_capability == (9, 0)
    }

    /// Whether sm_90 machine code (no `a` instructions: the bulk-copy decode tile) runs
    /// here: compute capability 9.x.
    pub fn runs_sm90(&self) -> bool {
        self.compute_capability.0 == 9
    }

    /// The decode tile for 1..=[`DECODE_MAX_TOKENS`] tokens on this device: on compute
    /// capability 9.x the bulk-copy tile [`GemmConfig::Decode16Sm90`] (`decode16c`);
    /// elsewhere the 8-token tile up to [`DECODE8_MAX_TOKENS`] tokens, else the
    /// 16-token one. Provisional until the token sweep measures each architecture
    /// (the function is where a per-architecture value goes).
    pub fn decode_tile(&self, tokens: usize) -> GemmConfig {
        if self.runs_sm90() {
            GemmConfig::Decode16Sm90
        } else if tokens <= DECODE8_MAX_TOKENS {
            GemmConfig::Decode8
        } else {
            GemmConfig::Decode16
        }
    }
}

/// Shapes, configuration and split-K of one sparse GEMM call.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SparseGemmPlan {
    /// The tile configuration (which kernel).
    pub config: GemmConfig,
    /// Rows of X and Y.
    pub tokens: usize,
    /// Output features (rows of W).
    pub out: usize,
    /// Input features (columns of W).
    pub inn: usize,
    /// k32 steps of W in fragment order (padded to a multiple of 8).
    pub steps: usize,
    /// CTAs along K (grid.z); every split holds at least one 8-step group.
    pub splits: usize,
    /// k32 steps per split (a multiple of 8).
    pub chunk_steps: usize,
    /// CTAs a persistent kernel (the Hopper tiles) launches at most: the device's SM
    /// count where the plan was chosen for one, 0 for one CTA per work unit. The
    /// mma.sp tiles ignore it.
    pub resident_ctas: usize,
}

pub(crate) fn check_gemm_shape(tokens: usize, out: usize, inn: usize) -> Result<()> {
    check_shape(out, inn)?;
    crate::shape::tokens_by("X", "in", tokens, inn)?;
    crate::shape::tokens_by("Y", "out", tokens, out)?;
    // The kernel indexes with 32-bit counters.
    let limit = u32::MAX as usize / 2;
    for (what, v) in [("tokens", tokens), ("out", out), ("in", inn)] {
        if v > limit {
            return Err(Error::Shape {
                what,
                value: v,
                requirement: "each dimension must be below 2^31",
            });
        }
    }
    Ok(())
}

impl SparseGemmPlan {
    /// A plan with an explicit configuration and a requested split count (clamped to
    /// 1..=groups of 8 steps, then reduced so that no split is empty).
    pub fn new(
        config: GemmConfig,
        tokens: usize,
        out: usize,
        inn: usize,
        splits: usize,
    ) -> Result<SparseGemmPlan> {
        check_gemm_shape(tokens, out, inn)?;
        let tile = config.tile();
        if !tile.tokens_fast && tokens.div_ceil(tile.tokens) > 65535 {
            return Err(Error::Shape {
                what: "tokens",
                value: tokens,
                requirement: "tokens / tile tokens must fit grid.y (at most 65535 token tiles)",
            });
        }
        if tile.tokens_fast && out.div_ceil(tile.rows) > 65535 {
            return Err(Error::Shape {
                what: "out",
                value: out,
                requirement: "out / tile rows must fit grid.y (at most 65535 row blocks)",
            });
        }
        let steps = FragmentGeometry::new(out, inn).steps;
        let groups = steps / META_STEPS_PER_LOAD;
        let most = if tile.cluster_split_k() {
            MAX_CLUSTER_SPLITS
        } else {
            usize::MAX
        };
        let want = splits.clamp(1, groups).min(most);
        let chunk_groups = groups.div_ceil(want);
        Ok(SparseGemmPlan {
            config,
            tokens,
            out,
            inn,
            steps,
            splits: groups.div_ceil(chunk_groups),
            chunk_steps: chunk_groups * META_STEPS_PER_LOAD,
            resident_ctas: 0,
        })
        .and_then(SparseGemmPlan::check_units)
    }

    /// The persistent kernels count their work units (tiles × splits) in 32 bits.
    fn check_units(self) -> Result<SparseGemmPlan> {
        if self.config.tile().persistent() && u32::try_from(self.units()).is_err() {
            return Err(Error::Shape {
                what: "tokens",
                value: self.tokens,
                requirement: "output tiles × splits must stay below 2^32",
            });
        }
        Ok(self)
    }

    /// The plan launching at most `ctas` CTAs of a persistent kernel (0: one per
    /// work unit), as [`choose_for`](Self::choose_for) sets it to the SM count.
    pub fn with_resident_ctas(self, ctas: usize) -> SparseGemmPlan {
        SparseGemmPlan {
            resident_ctas: ctas,
            ..self
        }
    }

    /// The heuristic:
    /// - up to [`DECODE_MAX_TOKENS`] tokens: a latency-hiding decode tile
    ///   ([`GemmDevice::decode_tile`]: [`GemmConfig::Decode8`] up to
    ///   [`DECODE8_MAX_TOKENS`] tokens, else [`GemmConfig::Decode16`]); split-K so
    ///   that the grid fills [`DECODE_WAVES`] waves of resident CTAs and each CTA
    ///   holds its k range of X at once, at most [`DECODE_MAX_SPLITS`] (provisional
    ///   until gpu-bench's token sweep; the original [`GemmConfig::Decode`] tile, one
    ///   CTA per SM by the split-K sweep in bench/RESULTS.md, stays available through
    ///   [`SparseGemmPlan::new`]);
    /// - more tokens: a prefill tile, no split-K: the first of the staged tiles
    ///   ([`STAGED_PREFILL_CANDIDATES`]) whose token range has begun, whose shared
    ///   memory the device allows and whose grid has at least one CTA per SM; else
    ///   [`LARGE_PREFILL_TILE`] (256 × 64) from [`LARGE_TILE_MIN_TOKENS`] tokens on
    ///   when its grid has at least one CTA per SM, else [`GemmConfig::Prefill`]
    ///   (128 × 64). The environment variable
    ///   [`PREFILL_TILE_ENV`](super::PREFILL_TILE_ENV) overrides this choice (an unknown value is an error).
    ///
    /// This plans for the mma.sp kernels only (a compute capability 8.0 device);
    /// [`SparseGemmPlan::choose_for`] knows the device's architecture and takes the
    /// Hopper kernel where it runs.
    pub fn choose(
        tokens: usize,
        out: usize,
        inn: usize,
        sm_count: usize,
    ) -> Result<SparseGemmPlan> {
        SparseGemmPlan::choose_with(tokens, out, inn, sm_count, prefill_tile_override()?)
    }

    /// [`SparseGemmPlan::choose`] for a given device: on compute capability 9.0, from
    /// [`WGMMA_MIN_TOKENS`] tokens on, the Hopper kernel (`wg256x128`, wgmma.sp) instead
    /// of the mma.sp prefill tiles. The environment override ([`PREFILL_TILE_ENV`](super::PREFILL_TILE_ENV))
    /// applies as there; forcing an sm_90a tile on another architecture is an error.
    pub fn choose_for(
        tokens: usize,
        out: usize,
        inn: usize,
        device: GemmDevice,
    ) -> Result<SparseGemmPlan> {
        SparseGemmPlan::choose_for_with(tokens, out, inn, device, prefill_tile_override()?)
    }

    /// [`SparseGemmPlan::choose`] with the prefill override given instead of read
    /// from the environment (`None`: the heuristic). A decode tile as override is
    /// refused.
    pub fn choose_with(
        tokens: usize,
        out: usize,
        inn: usize,
        sm_count: usize,
        prefill_tile: Option<GemmConfig>,
    ) -> Result<SparseGemmPlan> {
        SparseGemmPlan::choose_for_with(tokens, out, inn, GemmDevice::sm80(sm_count), prefill_tile)
    }

    /// [`SparseGemmPlan::choose_for`] with the prefill override given instead of read
    /// from the environment.
    pub fn choose_for_with(
        tokens: usize,
        out: usize,
        inn: usize,
        device: GemmDevice,
        prefill_tile: Option<GemmConfig>,
    ) -> Result<SparseGemmPlan> {
        check_gemm_shape(tokens, out, inn)?;
        let sm_count = device.sm_count;
        if prefill_tile.is_some_and(|c| {
            c == GemmConfig::Decode
                || GemmConfig::DECODE.contains(&c)
                || GemmConfig::DECODE_SM90.contains(&c)
        }) {
            return Err(Error::InvalidArgument {
                what: "prefill tile",
                why: "the decode tile is not a prefill tile".into(),
            });
        }
        if let Some(c) = prefill_tile.filter(|c| c.tile().sm90a_only() && !device.runs_sm90a()) {
            let (major, minor) = device.compute_capability;
            return Err(Error::InvalidArgument {
                what: "prefill tile",
                why: format!(
                    "tile {} is sm_90a code, which runs on compute capability 9.0 only; \
                     this device is {major}.{minor}",
                    c.tile_name()
                ),
            });
        }
        if tokens > DECODE_MAX_TOKENS {
            let config = match prefill_tile {
                Some(c) => c,
                None if device.runs_sm90a() && tokens >= WGMMA_MIN_TOKENS => {
                    // Split-K up to about one CTA per SM where the output tiles do not
                    // fill the GPU (64-512 tokens on most layers).
                    let base = SparseGemmPlan::new(GemmConfig::Wgmma256x128, tokens, out, inn, 1)?;
                    return Ok(SparseGemmPlan::new(
                        GemmConfig::Wgmma256x128,
                        tokens,
                        out,
                        inn,
                        base.splits_to_fill(sm_count),
                    )?
                    .with_resident_ctas(sm_count));
                }
                None => prefill_for(tokens, out, device),
            };
            check_shared_memory(config, device)?;
            return Ok(
                SparseGemmPlan::new(config, tokens, out, inn, 1)?.with_resident_ctas(sm_count)
            );
        }
        SparseGemmPlan::decode(device.decode_tile(tokens), tokens, out, inn, sm_count)
    }

    /// A plan for `config` at the split count that gives about one CTA per SM (the rule
    /// of the original [`GemmConfig::Decode`] tile and of the Hopper kernel; see
    /// `splits_to_fill`): what gpu-bench's token sweep times those kernels with.
    pub fn one_cta_per_sm(
        config: GemmConfig,
        tokens: usize,
        out: usize,
        inn: usize,
        sm_count: usize,
    ) -> Result<SparseGemmPlan> {
        let base = SparseGemmPlan::new(config, tokens, out, inn, 1)?;
        SparseGemmPlan::new(config, tokens, out, inn, base.splits_to_fill(sm_count))
    }

    /// A plan for one of the latency-hiding decode tiles ([`GemmConfig::DECODE`] and
    /// [`GemmConfig::DECODE_SM90`]) at the heuristic's split count (what
    /// [`SparseGemmPlan::choose_for`] takes for few tokens; gpu-bench's token sweep
    /// times each decode tile this way). Another configuration is
    /// `Error::InvalidArgument`.
    pub fn decode(
        config: GemmConfig,
        tokens: usize,
        out: usize,
        inn: usize,
        sm_count: usize,
    ) -> Result<SparseGemmPlan> {
        if !GemmConfig::DECODE.contains(&config) && !GemmConfig::DECODE_SM90.contains(&config) {
            return Err(Error::InvalidArgument {
                what: "decode tile",
                why: format!("{} is not a decode tile", config.tile_name()),
            });
        }
        let base = SparseGemmPlan::new(config, tokens, out, inn, 1)?;
        SparseGemmPlan::new(config, tokens, out, inn, base.decode_splits(sm_count))
    }

    /// The split-K count of a latency-hiding decode tile ([`GemmConfig::DECODE`]): the
    /// larger of what fills [`DECODE_WAVES`] waves of resident CTAs (the tile's
    /// `min_ctas_per_sm` per SM) and what lets each CTA hold its whole k range of X
    /// at once (its `stages` metadata groups), at most [`DECODE_MAX_SPLITS`] and one
    /// 8-step group per split. Provisional until gpu-bench's token sweep has run; the
    /// trade it makes blind: each split adds a partial tile written and read (64 rows ×
    /// tokens × 4 bytes twice, against 2304 bytes of W per k32 step of the CTA: 11% of
    /// the traffic for `decode16` at 32-step chunks, 3% for `decode8` at 64), where
    /// fewer splits instead restage X (a barrier per X piece, the W ring still in
    /// flight) and, on layers whose row blocks alone about fill the GPU (28672 rows),
    /// leave a grid of just over one wave (448 CTAs for 396 slots) with a long tail.
    fn decode_splits(&self, sm_count: usize) -> usize {
        let t = self.config.tile();
        let groups = self.steps / META_STEPS_PER_LOAD;
        let ctas = self.tiles().max(1);
        let target = sm_count
            .max(1)
            .saturating_mul(t.min_ctas_per_sm * DECODE_WAVES);
        let fill = (target + ctas / 2) / ctas;
        let x_fits = groups.div_ceil(t.stages.max(1));
        let most = if t.cluster_split_k() {
            MAX_CLUSTER_SPLITS
        } else {
            DECODE_MAX_SPLITS
        };
        fill.max(x_fits).clamp(1, most).min(groups.max(1))
    }

    /// The split-K count that gives about one CTA per SM (SMs / output tiles,
    /// rounded), at most [`MAX_SPLITS`], each split at least [`MIN_GROUPS_PER_SPLIT`]
    /// 8-step groups (512 of `in`) so the reduction stays small next to the weight
    /// stream. The split-K sweep (bench/RESULTS.md) found this count fastest or nearly
    /// so on every decode case, ahead of two CTAs per SM; the Hopper kernel uses the
    /// same rule until a sweep of its own.
    fn splits_to_fill(&self, sm_count: usize) -> usize {
        let ctas = self.tiles().max(1);
        let sms = sm_count.max(1);
        let groups = self.steps / META_STEPS_PER_LOAD;
        ((sms + ctas / 2) / ctas)
            .clamp(1, MAX_SPLITS)
            .min((groups / MIN_GROUPS_PER_SPLIT).max(1))
    }

    /// The kernel this plan runs for inputs of `dtype`: `sgemm_<tile>_<dtype>`
    /// (`sgemm_wg256x128_bf16` where the Hopper kernel was chosen). What the plan
    /// picked is visible here; [`PREFILL_TILE_ENV`](super::PREFILL_TILE_ENV) overrides it once per process.
    pub fn kernel_name(&self, dtype: crate::dtype::DType) -> Result<&'static str> {
        self.config.kernel(dtype)
    }

    /// Row tiles of W (16 rows each).
    pub fn row_tiles(&self) -> usize {
        self.out.div_ceil(TILE_ROWS)
    }

    /// The grid a persistent kernel launches: one CTA per work unit, at most
    /// [`resident_ctas`](Self::resident_ctas), along x; for the other tiles
    /// [`grid`](Self::grid).
    pub fn launch_grid(&self) -> [u32; 3] {
        if !self.config.tile().persistent() {
            return self.grid();
        }
        let units = self.units();
        let ctas = match self.resident_ctas {
            0 => units,
            n => units.min(n),
        };
        // At most 2^32 - 1 units (checked when the plan was built).
        [ctas.max(1) as u32, 1, 1]
    }

    /// Work units of a persistent kernel: output tiles × splits.
    pub fn units(&self) -> usize {
        self.tiles() * self.splits
    }

    /// Token tiles per band of the persistent kernel's walk (kernels/gemm/sm90_schedule.cuh).
    /// The CTAs resident together cover about `band` token tiles × `resident / band`
    /// row blocks, and reading W once per band and X once per group of row blocks
    /// costs `W·NT/band + X·MT·band/resident` bytes, least at
    /// `band = √(resident · W per row block / X per token tile)`: with 2:4 W at 9/16 of
    /// the dense bytes, √(resident · rows · 9/16 / tokens) of the tile (12 on an H100's
    /// 132 SMs with the 256 × 128 tile). All token tiles (row-major order) when the
    /// resident CTAs are unknown.
    pub fn band(&self) -> u32 {
        let t = self.config.tile();
        let token_tiles = self.tokens.div_ceil(t.tokens).max(1);
        if self.resident_ctas == 0 {
            return token_tiles as u32;
        }
        let ideal =
            (self.resident_ctas as f64 * t.rows as f64 * 9.0 / 16.0 / t.tokens as f64).sqrt();
        // token_tiles ≤ 2^31 / tokens per tile (shapes are checked below 2^31).
        (ideal.round() as usize).clamp(1, token_tiles) as u32
    }

    /// The output tiles: token tiles and row blocks (in the tile's order), splits along
    /// z; the launch grid of the non-persistent tiles.
    pub fn grid(&self) -> [u32; 3] {
        let t = self.config.tile();
        let rows = self.out.div_ceil(t.rows) as u32;
        let toks = self.tokens.div_ceil(t.tokens) as u32;
        if t.tokens_fast {
            [toks, rows, self.splits as u32]
        } else {
            [rows, toks, self.splits as u32]
        }
    }

    /// Output tiles (CTAs per split).
    pub fn tiles(&self) -> usize {
        let [x, y, _] = self.grid();
        x as usize * y as usize
    }

    /// Bytes of split-K workspace this plan needs (0 without split-K): one u32
    /// arrival counter per output tile, padded to 256 bytes, then
    /// `tiles × splits × rows × tokens` f32 partials of the CTA tile. It must be
    /// zero-filled once when allocated; the kernel leaves the counters at zero.
    /// A tile that reduces across a thread-block cluster needs none.
    pub fn workspace_bytes(&self) -> usize {
        if self.splits <= 1 || self.config.tile().cluster_split_k() {
            return 0;
        }
        let t = self.config.tile();
        self.partials_offset() + self.tiles() * self.splits * t.rows * t.tokens * 4
    }

    pub(crate) fn partials_offset(&self) -> usize {
        (self.tiles() * 4).div_ceil(WORKSPACE_ALIGN) * WORKSPACE_ALIGN
    }
}

/// Shared memory one CTA may use on a device of compute capability `cc` (CUDA's
/// opt-in limit per block): 163 KiB on sm_80/87, 227 KiB on sm_90 and sm_100, 99 KiB
/// on sm_86/89/120 and on anything not listed (the smallest of the sm_80+ parts).
pub fn max_shared_per_block(cc: (u32, u32)) -> usize {
    match cc {
        (8, 0) | (8, 7) => 163 * 1024,
        (9, 0) | (10, _) => 227 * 1024,
        _ => 99 * 1024,
    }
}

/// The prefill tile of the heuristic for a device without the Hopper kernel (or below
/// its token range): the first of [`STAGED_PREFILL_CANDIDATES`] whose token range
/// starts at or below `tokens`, whose shared memory the device has and whose grid
/// gives every SM a CTA; else [`LARGE_PREFILL_TILE`] from
/// [`LARGE_TILE_MIN_TOKENS`] tokens on when its grid fills the SMs; else
/// [`GemmConfig::Prefill`].
fn prefill_for(tokens: usize, out: usize, device: GemmDevice) -> GemmConfig {
    let sms = device.sm_count.max(1);
    let ctas = |c: GemmConfig| {
        let t = c.tile();
        out.div_ceil(t.rows) * tokens.div_ceil(t.tokens)
    };
    let smem = max_shared_per_block(device.compute_capability);
    if let Some(&(c, _)) = STAGED_PREFILL_CANDIDATES
        .iter()
        .find(|&&(c, min)| tokens >= min && c.tile().shared_bytes() <= smem && ctas(c) >= sms)
    {
        return c;
    }
    if tokens >= LARGE_TILE_MIN_TOKENS && ctas(LARGE_PREFILL_TILE) >= sms {
        LARGE_PREFILL_TILE
    } else {
        GemmConfig::Prefill
    }
}

/// A tile whose shared memory exceeds what one CTA may use on `device`
/// ([`max_shared_per_block`]) is `Error::InvalidArgument` (it could not launch).
fn check_shared_memory(config: GemmConfig, device: GemmDevice) -> Result<()> {
    let need = config.tile().shared_bytes();
    let have = max_shared_per_block(device.compute_capability);
    if need > have {
        let (major, minor) = device.compute_capability;
        return Err(Error::InvalidArgument {
            what: "prefill tile",
            why: format!(
                "tile {} needs {need} bytes of shared memory per CTA; compute capability \
                 {major}.{minor} allows {have}",
                config.tile_name()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod decode_sm90_tests {
    use super::*;

    fn device(cc: (u32, u32)) -> GemmDevice {
        GemmDevice {
            sm_count: 132,
            compute_capability: cc,
        }
    }

    /// The bulk-copy decode tile is sm_90 code: picked for 1..=16 tokens on compute
    /// capability 9.x, never on 8.x (nor 10.x, where it was not measured).
    #[test]
    fn the_sm90_decode_tile_is_picked_on_compute_capability_9_only() {
        for tokens in [1, 5, 8, 9, 16] {
            for (out, inn) in [(4096, 4096), (14336, 4096), (40, 272)] {
                let p = SparseGemmPlan::choose_for_with(tokens, out, inn, device((9, 0)), None)
                    .unwrap();
                assert_eq!(p.config, GemmConfig::Decode16Sm90, "{tokens} {out} {inn}");
                assert!(p.splits <= MAX_CLUSTER_SPLITS);
                assert_eq!(p.workspace_bytes(), 0);
                for cc in [(8, 0), (8, 6), (8, 9), (10, 0), (12, 0)] {
                    let q = SparseGemmPlan::choose_for_with(tokens, out, inn, device(cc), None)
                        .unwrap();
                    assert!(
                        GemmConfig::DECODE.contains(&q.config),
                        "{cc:?}: {:?}",
                        q.config
                    );
                }
            }
        }
        assert!(
            SparseGemmPlan::choose_for_with(17, 4096, 4096, device((9, 0)), None)
                .is_ok_and(|p| p.config != GemmConfig::Decode16Sm90)
        );
        // Not a prefill tile.
        assert!(SparseGemmPlan::choose_for_with(
            100,
            64,
            64,
            device((9, 0)),
            Some(GemmConfig::Decode16Sm90)
        )
        .is_err());
    }

    /// A hand-built plan with more splits than a portable cluster is refused at launch
    /// description (plans are plain data).
    #[test]
    fn a_cluster_tile_plan_beyond_the_cluster_size_is_refused() {
        use crate::dtype::DType;
        use crate::ops::gemm::{DeviceEpilogue, GemmLaunch, GemmWeights};
        let mut p = SparseGemmPlan::new(GemmConfig::Decode16Sm90, 4, 64, 4096, 16).unwrap();
        assert_eq!(p.splits, MAX_CLUSTER_SPLITS);
        p.splits = 16;
        p.chunk_steps = 8;
        let w = GemmWeights {
            values: 0x1000,
            meta: 0x2000,
            geometry: FragmentGeometry::new(64, 4096),
            row_values: None,
        };
        let e = GemmLaunch::new(&p, DType::BF16, DType::F32, &w, &DeviceEpilogue::default());
        assert!(e.is_err());
    }
}
