//! The sparse tensor-core GEMM of a linear layer (kernels/sparse_gemm.cu):
//! `Y[tokens, out] = act(alpha · X[tokens, in] · Wᵀ + beta · C[tokens, out] + bias[out])`
//! with W 2:4-sparse along `in` (the `mma.sp` A operand, fragment-ordered on the
//! device), X of the same dtype (f16 or bf16), f32 accumulation, output f16, bf16 or
//! f32, activation none / ReLU / GELU (tanh) / SiLU.
//!
//! Host code only computes launches ([`sparse_linear_launches`]); any
//! [`Executor`] runs them. Tile configurations ([`GemmConfig`]: one decode tile and
//! several prefill tiles) and a documented heuristic ([`SparseGemmPlan::choose`]) pick
//! the configuration and the split-K count from the shape and the device's SM count
//! ([`Executor::sm_count`]);
//! the prefill tile can be forced with the environment variable
//! [`PREFILL_TILE_ENV`] (`SPARSE24_PREFILL_TILE`, see [`prefill_tile_override`]). Split-K is deterministic: partials go to
//! a caller-provided workspace ([`SparseGemmPlan::workspace_bytes`]), the last CTA of
//! each output tile reduces them in a fixed order and resets its arrival counter, so
//! the workspace is zeroed once at allocation and never again.

use super::check_aligned;
use crate::abi::GemmParams;
use crate::dtype::{DType, Element};
use crate::epilogue::{Activation, Epilogue};
use crate::error::{Error, Result};
use crate::format::Sparse24;
use crate::launch::{Arg, Executor, Launch, StructArg};
use crate::layout::{to_fragment_order, FragmentGeometry, META_STEPS_PER_LOAD, TILE_ROWS};
use crate::shape::{check_len, check_shape};
use half::{bf16, f16};
use std::marker::PhantomData;

/// SM count assumed by [`sparse_linear_on`] (an H100 SXM has 132), and what the
/// emulator's [`Executor::sm_count`] reports.
pub const DEFAULT_SM_COUNT: usize = 132;
/// Decode handles up to this many tokens per CTA; more tokens go to prefill.
pub const DECODE_MAX_TOKENS: usize = 16;
/// Upper bound on split-K.
pub const MAX_SPLITS: usize = 16;
/// Each split reduces at least this many 8-step groups (2 × 256 = 512 of `in`).
pub const MIN_GROUPS_PER_SPLIT: usize = 2;
/// Alignment of the partials inside the workspace (after the counters).
const WORKSPACE_ALIGN: usize = 256;
/// From this many tokens on, [`SparseGemmPlan::choose`] takes the large prefill tile
/// ([`LARGE_PREFILL_TILE`]) when its grid still gives every SM a CTA.
pub const LARGE_TILE_MIN_TOKENS: usize = 256;
/// The prefill tile the heuristic takes for many tokens: 256 × 64, the fastest of the
/// prefill tiles on every LLM layer measured (the numbers, with device and date, are
/// in bench/RESULTS.md).
pub const LARGE_PREFILL_TILE: GemmConfig = GemmConfig::PrefillT256x64;
/// Environment variable that forces the prefill tile of [`SparseGemmPlan::choose`]:
/// `auto` (or unset / empty) for the heuristic, else a name of
/// [`GemmConfig::tile_name`]: `64` (alias `128x64`), `128x128`, `128x128a2`, `256x64`,
/// `256x64w16`.
pub const PREFILL_TILE_ENV: &str = "SPARSE24_PREFILL_TILE";

/// A tile configuration of kernels/sparse_gemm.cu (`Decode`, `Prefill`,
/// `PrefillT*` there).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum GemmConfig {
    /// 8 warps × one 16-row tile = 128 rows × 16 tokens per CTA, k = 256 per stage,
    /// 3 stages; split-K over grid.z so that 1..16 tokens still fill the GPU.
    Decode,
    /// 4 × 2 warps, each 32 rows × 32 tokens: 128 rows × 64 tokens per CTA, k = 64
    /// per stage, 4 stages; normally no split-K. Tile name `64`.
    Prefill,
    /// 4 × 2 warps, each 32 rows × 64 tokens: 128 rows × 128 tokens per CTA, k = 64
    /// per stage, 4 stages, A prefetched one stage ahead; 66 KiB of dynamic shared
    /// memory; token tiles along grid.x. Tile name `128x128`.
    PrefillT128x128,
    /// The 128 × 128 tile with A prefetched two stages ahead. Tile name `128x128a2`.
    PrefillT128x128A2,
    /// 8 × 1 warps, each 32 rows × 64 tokens: 256 rows × 64 tokens per CTA (no two
    /// warps load the same A fragment); 65 KiB of dynamic shared memory; token tiles
    /// along grid.x. Tile name `256x64`.
    PrefillT256x64,
    /// The 256 × 64 tile on 8 × 2 warps, each 32 rows × 32 tokens: 16 warps (512
    /// threads, at most 128 registers) per CTA, twice the warps per SM of `256x64`
    /// to hide latency; a leaner main loop (one metadata group per iteration);
    /// 65 KiB of dynamic shared memory; token tiles along grid.x. Tile name
    /// `256x64w16`.
    PrefillT256x64W16,
}

/// The CTA tile of a configuration (must match the kernel's template arguments).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TileShape {
    /// Output features (W rows) per CTA.
    pub rows: usize,
    /// Tokens per CTA.
    pub tokens: usize,
    pub threads: usize,
    /// k32 steps per pipeline stage.
    pub steps_per_stage: usize,
    pub stages: usize,
    /// Pipeline stages A is prefetched ahead in registers.
    pub a_prefetch: usize,
    /// The kernel takes its shared memory as dynamic shared memory
    /// ([`TileShape::shared_bytes`] at launch) instead of a static array.
    pub dynamic_shared: bool,
    /// grid.x walks token tiles and grid.y row blocks (else the other way round).
    pub tokens_fast: bool,
}

impl TileShape {
    /// Shared memory the kernel uses (kernels/sparse_gemm.cu `SMEM_BYTES`): the larger
    /// of the X pipeline (stages × tokens × k of a stage, bf16/f16) and the f32
    /// epilogue tile (tokens × (rows + 4)).
    pub fn shared_bytes(&self) -> usize {
        let x = self.stages * self.tokens * self.steps_per_stage * 32 * 2;
        let dt = self.tokens * (self.rows + 4) * 4;
        x.max(dt)
    }

    /// Dynamic shared memory to launch with (0 for static-memory kernels).
    pub fn dynamic_shared_bytes(&self) -> usize {
        if self.dynamic_shared {
            self.shared_bytes()
        } else {
            0
        }
    }
}

impl GemmConfig {
    pub const ALL: [GemmConfig; 6] = [
        GemmConfig::Decode,
        GemmConfig::Prefill,
        GemmConfig::PrefillT128x128,
        GemmConfig::PrefillT128x128A2,
        GemmConfig::PrefillT256x64,
        GemmConfig::PrefillT256x64W16,
    ];
    /// Every prefill tile, the original 128 × 64 one first.
    pub const PREFILL: [GemmConfig; 5] = [
        GemmConfig::Prefill,
        GemmConfig::PrefillT128x128,
        GemmConfig::PrefillT128x128A2,
        GemmConfig::PrefillT256x64,
        GemmConfig::PrefillT256x64W16,
    ];

    pub fn tile(self) -> TileShape {
        let big = |rows, tokens, a_prefetch| TileShape {
            rows,
            tokens,
            threads: 256,
            steps_per_stage: 2,
            stages: 4,
            a_prefetch,
            dynamic_shared: true,
            tokens_fast: true,
        };
        match self {
            GemmConfig::Decode => TileShape {
                rows: 128,
                tokens: 16,
                threads: 256,
                steps_per_stage: 8,
                stages: 3,
                a_prefetch: 1,
                dynamic_shared: false,
                tokens_fast: false,
            },
            GemmConfig::Prefill => TileShape {
                rows: 128,
                tokens: 64,
                threads: 256,
                steps_per_stage: 2,
                stages: 4,
                a_prefetch: 1,
                dynamic_shared: false,
                tokens_fast: false,
            },
            GemmConfig::PrefillT128x128 => big(128, 128, 1),
            GemmConfig::PrefillT128x128A2 => big(128, 128, 2),
            GemmConfig::PrefillT256x64 => big(256, 64, 1),
            GemmConfig::PrefillT256x64W16 => TileShape {
                threads: 512,
                ..big(256, 64, 1)
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GemmConfig::Decode => "decode",
            GemmConfig::Prefill => "prefill",
            GemmConfig::PrefillT128x128 => "prefill-128x128",
            GemmConfig::PrefillT128x128A2 => "prefill-128x128a2",
            GemmConfig::PrefillT256x64 => "prefill-256x64",
            GemmConfig::PrefillT256x64W16 => "prefill-256x64w16",
        }
    }

    /// The short tile name [`PREFILL_TILE_ENV`] takes (`decode` for the decode tile).
    pub fn tile_name(self) -> &'static str {
        match self {
            GemmConfig::Decode => "decode",
            GemmConfig::Prefill => "64",
            GemmConfig::PrefillT128x128 => "128x128",
            GemmConfig::PrefillT128x128A2 => "128x128a2",
            GemmConfig::PrefillT256x64 => "256x64",
            GemmConfig::PrefillT256x64W16 => "256x64w16",
        }
    }

    /// The prefill tile of a name of [`GemmConfig::tile_name`] (case-insensitive,
    /// `128x64` accepted for `64`); anything else is `Error::InvalidArgument` listing
    /// the names.
    pub fn prefill_from_name(name: &str) -> Result<GemmConfig> {
        let n = name.trim().to_ascii_lowercase();
        if n == "128x64" {
            return Ok(GemmConfig::Prefill);
        }
        GemmConfig::PREFILL
            .into_iter()
            .find(|c| c.tile_name() == n)
            .ok_or_else(|| Error::InvalidArgument {
                what: "prefill tile",
                why: format!(
                    "unknown prefill tile `{name}`; expected one of {}",
                    GemmConfig::PREFILL
                        .iter()
                        .map(|c| c.tile_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// The kernel for input dtype `dtype` (f16 or bf16).
    pub fn kernel(self, dtype: DType) -> Result<&'static str> {
        Ok(match (self, dtype) {
            (GemmConfig::Decode, DType::F16) => "sgemm_decode_f16",
            (GemmConfig::Decode, DType::BF16) => "sgemm_decode_bf16",
            (GemmConfig::Prefill, DType::F16) => "sgemm_prefill_f16",
            (GemmConfig::Prefill, DType::BF16) => "sgemm_prefill_bf16",
            (GemmConfig::PrefillT128x128, DType::F16) => "sgemm_prefill_t128x128_f16",
            (GemmConfig::PrefillT128x128, DType::BF16) => "sgemm_prefill_t128x128_bf16",
            (GemmConfig::PrefillT128x128A2, DType::F16) => "sgemm_prefill_t128x128a2_f16",
            (GemmConfig::PrefillT128x128A2, DType::BF16) => "sgemm_prefill_t128x128a2_bf16",
            (GemmConfig::PrefillT256x64, DType::F16) => "sgemm_prefill_t256x64_f16",
            (GemmConfig::PrefillT256x64, DType::BF16) => "sgemm_prefill_t256x64_bf16",
            (GemmConfig::PrefillT256x64W16, DType::F16) => "sgemm_prefill_t256x64w16_f16",
            (GemmConfig::PrefillT256x64W16, DType::BF16) => "sgemm_prefill_t256x64w16_bf16",
            (_, DType::F32) => {
                return Err(Error::InvalidArgument {
                    what: "dtype",
                    why: "the sparse GEMM takes f16 or bf16 inputs (tensor cores have no 2:4 \
                          form for f32)"
                        .into(),
                })
            }
        })
    }
}

/// Shapes, configuration and split-K of one sparse GEMM call.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SparseGemmPlan {
    pub config: GemmConfig,
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
}

/// The prefill tile forced by a value of [`PREFILL_TILE_ENV`]: `None` for the
/// heuristic (`auto`, empty), else the tile of [`GemmConfig::prefill_from_name`];
/// an unknown name is `Error::InvalidArgument` naming the variable.
pub fn parse_prefill_tile(value: &str) -> Result<Option<GemmConfig>> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    GemmConfig::prefill_from_name(v)
        .map(Some)
        .map_err(|e| match e {
            Error::InvalidArgument { why, .. } => Error::InvalidArgument {
                what: PREFILL_TILE_ENV,
                why,
            },
            other => other,
        })
}

/// The prefill tile forced by the environment variable [`PREFILL_TILE_ENV`], read
/// once per process (the forward path reads no environment): `Ok(None)` when unset,
/// empty or `auto`; an unknown name or a value that is not UTF-8 is
/// `Error::InvalidArgument`, on every call.
pub fn prefill_tile_override() -> Result<Option<GemmConfig>> {
    static OVERRIDE: std::sync::OnceLock<Result<Option<GemmConfig>>> = std::sync::OnceLock::new();
    OVERRIDE
        .get_or_init(|| match std::env::var(PREFILL_TILE_ENV) {
            Ok(v) => parse_prefill_tile(&v),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(v)) => Err(Error::InvalidArgument {
                what: PREFILL_TILE_ENV,
                why: format!("value {v:?} is not UTF-8"),
            }),
        })
        .clone()
}

fn check_gemm_shape(tokens: usize, out: usize, inn: usize) -> Result<()> {
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
        let want = splits.clamp(1, groups);
        let chunk_groups = groups.div_ceil(want);
        Ok(SparseGemmPlan {
            config,
            tokens,
            out,
            inn,
            steps,
            splits: groups.div_ceil(chunk_groups),
            chunk_steps: chunk_groups * META_STEPS_PER_LOAD,
        })
    }

    /// The heuristic:
    /// - up to [`DECODE_MAX_TOKENS`] tokens: [`GemmConfig::Decode`]; split-K so that
    ///   the grid holds about one CTA per SM (SMs / row blocks, rounded; the split-K
    ///   sweep in bench/RESULTS.md found it best, ahead of two per SM), with at most
    ///   [`MAX_SPLITS`]
    ///   splits and at least [`MIN_GROUPS_PER_SPLIT`] 8-step groups (512 of `in`) per
    ///   split so the reduction stays small next to the weight stream;
    /// - more tokens: a prefill tile, no split-K: [`LARGE_PREFILL_TILE`] (256 × 64)
    ///   from [`LARGE_TILE_MIN_TOKENS`] tokens on when its grid has at least one CTA
    ///   per SM, else [`GemmConfig::Prefill`] (128 × 64). The environment variable
    ///   [`PREFILL_TILE_ENV`] overrides this choice (an unknown value is an error).
    pub fn choose(
        tokens: usize,
        out: usize,
        inn: usize,
        sm_count: usize,
    ) -> Result<SparseGemmPlan> {
        SparseGemmPlan::choose_with(tokens, out, inn, sm_count, prefill_tile_override()?)
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
        check_gemm_shape(tokens, out, inn)?;
        if prefill_tile == Some(GemmConfig::Decode) {
            return Err(Error::InvalidArgument {
                what: "prefill tile",
                why: "the decode tile is not a prefill tile".into(),
            });
        }
        if tokens > DECODE_MAX_TOKENS {
            let config = match prefill_tile {
                Some(c) => c,
                None => {
                    let large = LARGE_PREFILL_TILE.tile();
                    let ctas = out.div_ceil(large.rows) * tokens.div_ceil(large.tokens);
                    if tokens >= LARGE_TILE_MIN_TOKENS && ctas >= sm_count.max(1) {
                        LARGE_PREFILL_TILE
                    } else {
                        GemmConfig::Prefill
                    }
                }
            };
            return SparseGemmPlan::new(config, tokens, out, inn, 1);
        }
        let base = SparseGemmPlan::new(GemmConfig::Decode, tokens, out, inn, 1)?;
        // About one CTA per SM: the split-K sweep (bench/RESULTS.md) found this count
        // fastest or nearly so on every decode case, ahead of two CTAs per SM.
        let ctas = base.tiles().max(1);
        let sms = sm_count.max(1);
        let groups = base.steps / META_STEPS_PER_LOAD;
        let splits = ((sms + ctas / 2) / ctas)
            .clamp(1, MAX_SPLITS)
            .min((groups / MIN_GROUPS_PER_SPLIT).max(1));
        SparseGemmPlan::new(GemmConfig::Decode, tokens, out, inn, splits)
    }

    /// Row tiles of W (16 rows each).
    pub fn row_tiles(&self) -> usize {
        self.out.div_ceil(TILE_ROWS)
    }

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
    pub fn workspace_bytes(&self) -> usize {
        if self.splits <= 1 {
            return 0;
        }
        let t = self.config.tile();
        self.partials_offset() + self.tiles() * self.splits * t.rows * t.tokens * 4
    }

    fn partials_offset(&self) -> usize {
        (self.tiles() * 4).div_ceil(WORKSPACE_ALIGN) * WORKSPACE_ALIGN
    }
}

/// Output element types of the GEMM, as the kernel's `out_dtype` code ([`crate::abi`]).
pub fn out_dtype_code(d: DType) -> u32 {
    match d {
        DType::F32 => crate::abi::OUT_F32,
        DType::F16 => crate::abi::OUT_F16,
        DType::BF16 => crate::abi::OUT_BF16,
    }
}

/// A device buffer given by address and length in elements.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DeviceSlice {
    pub ptr: u64,
    pub len: usize,
}

/// Device addresses of one GEMM call. `workspace` is needed when the plan splits K.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct GemmBuffers {
    /// Fragment-ordered W values and metadata (see [`DeviceSparse24`]).
    pub w_values: u64,
    pub w_meta: u64,
    /// The fragment geometry of W (checked against the plan's shape).
    pub w_geometry: FragmentGeometry,
    /// X [tokens, in], the input dtype.
    pub x: u64,
    /// Y [tokens, out], the output dtype.
    pub y: u64,
    /// Split-K workspace of at least `plan.workspace_bytes()` bytes, zero-filled once.
    pub workspace: Option<DeviceSlice>,
}

/// The epilogue on the device: `act(alpha · acc + beta · C + bias)`, C and bias in
/// the input dtype.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct DeviceEpilogue {
    pub alpha: f32,
    pub beta: f32,
    /// C [tokens, out]: read only when `beta != 0`.
    pub c: Option<DeviceSlice>,
    /// bias [out].
    pub bias: Option<DeviceSlice>,
    pub activation: Activation,
}

impl Default for DeviceEpilogue {
    fn default() -> Self {
        DeviceEpilogue {
            alpha: 1.0,
            beta: 0.0,
            c: None,
            bias: None,
            activation: Activation::None,
        }
    }
}

/// The launches of one sparse linear layer (today exactly one; split-K reduces inside
/// the kernel). Pure: validates shapes (typed errors naming the requirement),
/// pointer alignment and epilogue lengths, then describes the launch.
pub fn sparse_linear_launches(
    plan: &SparseGemmPlan,
    dtype: DType,
    out_dtype: DType,
    bufs: &GemmBuffers,
    epi: &DeviceEpilogue,
) -> Result<Vec<Launch>> {
    let kernel = plan.config.kernel(dtype)?;
    check_gemm_shape(plan.tokens, plan.out, plan.inn)?;
    let geo = bufs.w_geometry;
    if geo != FragmentGeometry::new(plan.out, plan.inn) || geo.steps != plan.steps {
        return Err(Error::InvalidArgument {
            what: "weights",
            why: format!(
                "W is {}x{} (fragment geometry {:?}) but the plan is for out = {}, in = {}",
                geo.rows, geo.cols, geo, plan.out, plan.inn
            ),
        });
    }
    let groups = plan.steps / META_STEPS_PER_LOAD;
    if plan.chunk_steps == 0
        || !plan.chunk_steps.is_multiple_of(META_STEPS_PER_LOAD)
        || plan.splits == 0
        || plan.splits != (groups).div_ceil(plan.chunk_steps / META_STEPS_PER_LOAD)
    {
        return Err(Error::InvalidArgument {
            what: "plan",
            why: format!(
                "splits = {} and chunk_steps = {} do not cover {} steps in nonempty 8-step \
                 chunks (build plans with SparseGemmPlan::new or ::choose)",
                plan.splits, plan.chunk_steps, plan.steps
            ),
        });
    }
    check_aligned("W values", bufs.w_values, 16)?;
    check_aligned("W metadata", bufs.w_meta, 16)?;
    check_aligned("X", bufs.x, 16)?;
    check_aligned("Y", bufs.y, out_dtype.size())?;
    let (ws, counters) = if plan.splits > 1 {
        let need = plan.workspace_bytes();
        let w = bufs.workspace.ok_or_else(|| Error::InvalidArgument {
            what: "workspace",
            why: format!(
                "the plan splits K {} ways and needs a {need}-byte workspace",
                plan.splits
            ),
        })?;
        if w.len < need {
            return Err(Error::Length {
                what: "split-K workspace bytes",
                expected: need,
                actual: w.len,
            });
        }
        check_aligned("workspace", w.ptr, WORKSPACE_ALIGN)?;
        (w.ptr + plan.partials_offset() as u64, w.ptr)
    } else {
        (0, 0)
    };
    let c = match (epi.c, epi.beta != 0.0) {
        (Some(c), true) => {
            check_len(
                "C",
                crate::shape::tokens_by("C", "out", plan.tokens, plan.out)?,
                c.len,
            )?;
            check_aligned("C", c.ptr, dtype.size())?;
            c.ptr
        }
        (None, true) => {
            return Err(Error::InvalidArgument {
                what: "beta",
                why: "beta is nonzero but no C matrix was given".into(),
            })
        }
        (_, false) => 0,
    };
    let bias = match epi.bias {
        Some(b) => {
            check_len("bias", plan.out, b.len)?;
            check_aligned("bias", b.ptr, dtype.size())?;
            b.ptr
        }
        None => 0,
    };
    let t = plan.config.tile();
    Ok(vec![Launch {
        module: "sparse_gemm",
        kernel,
        grid: plan.grid(),
        block: [t.threads as u32, 1, 1],
        dynamic_shared_bytes: t.dynamic_shared_bytes() as u32,
        args: vec![Arg::Struct(StructArg::Gemm(GemmParams {
            wv: bufs.w_values,
            wm: bufs.w_meta,
            x: bufs.x,
            c,
            bias,
            y: bufs.y,
            ws,
            counters,
            out: plan.out as u32,
            inn: plan.inn as u32,
            tokens: plan.tokens as u32,
            steps: plan.steps as u32,
            chunk_steps: plan.chunk_steps as u32,
            splits: plan.splits as u32,
            alpha: epi.alpha,
            beta: epi.beta,
            act: epi.activation.code(),
            out_dtype: out_dtype_code(out_dtype),
        }))],
    }])
}

/// A 2:4 weight resident on an executor's device in fragment order (uploaded once).
pub struct DeviceSparse24<E: Executor, T> {
    values: E::Buffer,
    meta: E::Buffer,
    geometry: FragmentGeometry,
    _t: PhantomData<T>,
}

impl<E: Executor, T: Element> DeviceSparse24<E, T> {
    /// Converts `w` to fragment order on the CPU (src/layout.rs) and uploads it.
    pub fn upload(exec: &E, w: &Sparse24<T>) -> Result<Self> {
        if T::DTYPE == DType::F32 {
            return Err(Error::InvalidArgument {
                what: "dtype",
                why: "the sparse GEMM takes f16 or bf16 weights".into(),
            });
        }
        let f = to_fragment_order(w);
        Ok(DeviceSparse24 {
            values: exec.upload(&f.values)?,
            meta: exec.upload(&f.meta)?,
            geometry: f.geometry,
            _t: PhantomData,
        })
    }
    pub fn rows(&self) -> usize {
        self.geometry.rows
    }
    pub fn cols(&self) -> usize {
        self.geometry.cols
    }
    pub fn geometry(&self) -> FragmentGeometry {
        self.geometry
    }
    pub fn values(&self) -> &E::Buffer {
        &self.values
    }
    pub fn meta(&self) -> &E::Buffer {
        &self.meta
    }
}

/// Runs one sparse linear layer on device buffers with a caller-provided workspace
/// (`plan.workspace_bytes()` bytes, zero-filled once, reusable across calls on the
/// same stream). Stream-ordered: nothing waits for the device.
#[allow(clippy::too_many_arguments)]
pub fn sparse_linear_with_workspace<E: Executor, T: Element>(
    exec: &E,
    plan: &SparseGemmPlan,
    w: &DeviceSparse24<E, T>,
    x: &E::Buffer,
    y: &E::Buffer,
    out_dtype: DType,
    epi: &DeviceEpilogue,
    workspace: Option<DeviceSlice>,
) -> Result<()> {
    let bufs = GemmBuffers {
        w_values: exec.ptr(&w.values),
        w_meta: exec.ptr(&w.meta),
        w_geometry: w.geometry,
        x: exec.ptr(x),
        y: exec.ptr(y),
        workspace,
    };
    for l in sparse_linear_launches(plan, T::DTYPE, out_dtype, &bufs, epi)? {
        exec.launch(&l)?;
    }
    Ok(())
}

/// Converts output bytes of `out_dtype` to f32.
pub fn output_to_f32(bytes: &[u8], out_dtype: DType) -> Vec<f32> {
    match out_dtype {
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
    }
}

/// Uploads everything, runs `plan` on `exec` and returns Y as f32 (for tests).
pub fn sparse_linear_with_plan_on<E: Executor, T: Element>(
    exec: &E,
    plan: &SparseGemmPlan,
    x: &[T],
    w: &Sparse24<T>,
    epi: &Epilogue<T>,
    out_dtype: DType,
) -> Result<Vec<f32>> {
    if plan.out != w.rows() || plan.inn != w.cols() {
        return Err(Error::InvalidArgument {
            what: "plan",
            why: format!(
                "plan is for out = {}, in = {} but W is {}x{}",
                plan.out,
                plan.inn,
                w.rows(),
                w.cols()
            ),
        });
    }
    check_gemm_shape(plan.tokens, plan.out, plan.inn)?;
    let x_len = crate::shape::tokens_by("X", "in", plan.tokens, plan.inn)?;
    let y_len = crate::shape::tokens_by("Y", "out", plan.tokens, plan.out)?;
    check_len("X", x_len, x.len())?;
    let dw = DeviceSparse24::upload(exec, w)?;
    let xb = exec.upload(x)?;
    let yb = exec.alloc_zeroed(y_len * out_dtype.size())?;
    let cb = match epi.c {
        Some(c) => Some((exec.upload(c)?, c.len())),
        None => None,
    };
    let bb = match epi.bias {
        Some(b) => Some((exec.upload(b)?, b.len())),
        None => None,
    };
    let wsb = match plan.workspace_bytes() {
        0 => None,
        n => Some((exec.alloc_zeroed(n)?, n)),
    };
    let slice = |b: &Option<(E::Buffer, usize)>| {
        b.as_ref().map(|(buf, len)| DeviceSlice {
            ptr: exec.ptr(buf),
            len: *len,
        })
    };
    let depi = DeviceEpilogue {
        alpha: epi.alpha,
        beta: epi.beta,
        c: slice(&cb),
        bias: slice(&bb),
        activation: epi.activation,
    };
    sparse_linear_with_workspace(exec, plan, &dw, &xb, &yb, out_dtype, &depi, slice(&wsb))?;
    Ok(output_to_f32(&exec.download_bytes(&yb)?, out_dtype))
}

/// Uploads everything, runs the plan [`SparseGemmPlan::choose`] picks for
/// [`DEFAULT_SM_COUNT`] SMs, and returns Y as f32 (for tests and examples).
pub fn sparse_linear_on<E: Executor, T: Element>(
    exec: &E,
    x: &[T],
    tokens: usize,
    w: &Sparse24<T>,
    epi: &Epilogue<T>,
    out_dtype: DType,
) -> Result<Vec<f32>> {
    let plan = SparseGemmPlan::choose(tokens, w.rows(), w.cols(), DEFAULT_SM_COUNT)?;
    sparse_linear_with_plan_on(exec, &plan, x, w, epi, out_dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heuristic_picks_decode_with_split_k_for_few_tokens() {
        // 32 row blocks on 132 SMs: 4 splits (the H100 sweep's best).
        let p = SparseGemmPlan::choose(1, 4096, 4096, 132).unwrap();
        assert_eq!(p.config, GemmConfig::Decode);
        assert_eq!(p.grid(), [32, 1, 4]);
        assert_eq!(p.chunk_steps, 32);
        // 112 row blocks already about one per SM: no split.
        let p = SparseGemmPlan::choose(16, 14336, 4096, 132).unwrap();
        assert_eq!(
            (p.config, p.splits, p.chunk_steps),
            (GemmConfig::Decode, 1, 128)
        );
        let p = SparseGemmPlan::choose(8, 4096, 14336, 132).unwrap();
        assert_eq!((p.splits, p.chunk_steps), (4, 112));
        let p = SparseGemmPlan::choose(1, 8192, 28672, 132).unwrap();
        assert_eq!(p.splits, 2);
        // Enough CTAs already: no split.
        let p = SparseGemmPlan::choose(16, 28672 * 2, 8192, 132).unwrap();
        assert_eq!(p.splits, 1);
        assert_eq!(p.workspace_bytes(), 0);
        // Short K: at most one split per two groups.
        let p = SparseGemmPlan::choose(1, 64, 16, 132).unwrap();
        assert_eq!((p.splits, p.steps, p.chunk_steps), (1, 8, 8));
    }

    #[test]
    fn heuristic_picks_prefill_for_many_tokens() {
        let choose = |t, o, i, sms| SparseGemmPlan::choose_with(t, o, i, sms, None).unwrap();
        let p = choose(17, 4096, 4096, 132);
        assert_eq!((p.config, p.splits), (GemmConfig::Prefill, 1));
        assert_eq!(p.grid(), [32, 1, 1]);
        let p = choose(255, 4096, 4096, 132);
        assert_eq!(p.config, GemmConfig::Prefill);
        // Many tokens: the 256 × 64 tile, token tiles along grid.x.
        let p = choose(4096, 4096, 4096, 108);
        assert_eq!((p.config, p.splits), (LARGE_PREFILL_TILE, 1));
        assert_eq!(p.grid(), [64, 16, 1]);
        let p = choose(256, 14336, 4096, 132);
        assert_eq!(p.config, GemmConfig::PrefillT256x64);
        assert_eq!(p.grid(), [4, 56, 1]);
        // 256 tokens of a 4096-row layer: 64 CTAs of 256 × 64 would leave SMs idle.
        let p = choose(256, 4096, 4096, 132);
        assert_eq!(p.config, GemmConfig::Prefill);
        assert_eq!(p.grid(), [32, 4, 1]);
        // The override wins whenever prefill runs, never for decode.
        for c in GemmConfig::PREFILL {
            let p = SparseGemmPlan::choose_with(300, 4096, 4096, 132, Some(c)).unwrap();
            assert_eq!(p.config, c);
            let p = SparseGemmPlan::choose_with(16, 4096, 4096, 132, Some(c)).unwrap();
            assert_eq!(p.config, GemmConfig::Decode);
        }
        assert!(matches!(
            SparseGemmPlan::choose_with(300, 64, 64, 132, Some(GemmConfig::Decode)),
            Err(Error::InvalidArgument { .. })
        ));
    }

    #[test]
    fn prefill_tile_names_parse_and_unknown_names_are_errors() {
        assert_eq!(parse_prefill_tile("").unwrap(), None);
        assert_eq!(parse_prefill_tile(" auto ").unwrap(), None);
        assert_eq!(parse_prefill_tile("64").unwrap(), Some(GemmConfig::Prefill));
        assert_eq!(
            parse_prefill_tile("128x64").unwrap(),
            Some(GemmConfig::Prefill)
        );
        for c in GemmConfig::PREFILL {
            assert_eq!(parse_prefill_tile(c.tile_name()).unwrap(), Some(c));
            assert_eq!(GemmConfig::prefill_from_name(c.tile_name()).unwrap(), c);
        }
        assert_eq!(
            parse_prefill_tile("128X128A2").unwrap(),
            Some(GemmConfig::PrefillT128x128A2)
        );
        assert_eq!(
            parse_prefill_tile(" 256X64W16").unwrap(),
            Some(GemmConfig::PrefillT256x64W16)
        );
        for bad in ["decode", "128", "256x128", "128x128a3", "256x64w8", "x"] {
            match parse_prefill_tile(bad) {
                Err(Error::InvalidArgument { what, why }) => {
                    assert_eq!(what, PREFILL_TILE_ENV);
                    assert!(why.contains(bad) && why.contains("128x128a2"), "{why}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn tiles_describe_their_shared_memory_and_grid_order() {
        // Mirrors SMEM_BYTES of kernels/sparse_gemm.cu.
        let smem: Vec<(usize, usize)> = GemmConfig::ALL
            .iter()
            .map(|c| (c.tile().shared_bytes(), c.tile().dynamic_shared_bytes()))
            .collect();
        assert_eq!(
            smem,
            [
                (24576, 0),
                (33792, 0),
                (67584, 67584),
                (67584, 67584),
                (66560, 66560),
                (66560, 66560)
            ]
        );
        let p = SparseGemmPlan::new(GemmConfig::PrefillT256x64, 130, 300, 64, 1).unwrap();
        assert_eq!(p.grid(), [3, 2, 1]);
        let l = sparse_linear_launches(&p, DType::BF16, DType::F32, &bufs(&p), &Default::default())
            .unwrap();
        assert_eq!(l[0].kernel, "sgemm_prefill_t256x64_bf16");
        assert_eq!((l[0].grid, l[0].dynamic_shared_bytes), ([3, 2, 1], 66560));
        // The 16-warp 256 × 64 tile: same grid and shared memory, 512 threads.
        let p = SparseGemmPlan::new(GemmConfig::PrefillT256x64W16, 130, 300, 64, 1).unwrap();
        assert_eq!(p.grid(), [3, 2, 1]);
        let l = sparse_linear_launches(&p, DType::F16, DType::F32, &bufs(&p), &Default::default())
            .unwrap();
        assert_eq!(l[0].kernel, "sgemm_prefill_t256x64w16_f16");
        assert_eq!(
            (l[0].block, l[0].dynamic_shared_bytes),
            ([512, 1, 1], 66560)
        );
        // Row blocks go to grid.y (at most 65535) for the token-fast tiles.
        assert!(matches!(
            SparseGemmPlan::new(GemmConfig::PrefillT128x128, 1, 128 * 65536, 16, 1),
            Err(Error::Shape { what: "out", .. })
        ));
        assert!(SparseGemmPlan::new(GemmConfig::PrefillT128x128, 128 * 70000, 16, 16, 1).is_ok());
    }

    #[test]
    fn splits_never_leave_an_empty_chunk() {
        for groups in 1..40 {
            for want in 1..20 {
                let p = SparseGemmPlan::new(GemmConfig::Decode, 3, 40, groups * 256, want).unwrap();
                assert!(p.splits >= 1 && p.splits <= want.max(1));
                assert!((p.splits - 1) * p.chunk_steps < p.steps, "{p:?}");
                assert!(p.splits * p.chunk_steps >= p.steps, "{p:?}");
            }
        }
    }

    #[test]
    fn workspace_size_counts_counters_and_partials() {
        let p = SparseGemmPlan::new(GemmConfig::Decode, 5, 300, 1024, 4).unwrap();
        assert_eq!(p.splits, 4);
        assert_eq!(p.tiles(), 3);
        assert_eq!(p.workspace_bytes(), 256 + 3 * 4 * 128 * 16 * 4);
    }

    #[test]
    fn shapes_are_checked() {
        assert!(matches!(
            SparseGemmPlan::choose(0, 16, 16, 132),
            Err(Error::Shape { what: "tokens", .. })
        ));
        assert!(matches!(
            SparseGemmPlan::choose(1, 16, 24, 132),
            Err(Error::Shape { what: "cols", .. })
        ));
        assert!(matches!(
            SparseGemmPlan::new(GemmConfig::Decode, 16 * 65536, 16, 16, 1),
            Err(Error::Shape { what: "tokens", .. })
        ));
        assert!(matches!(
            SparseGemmPlan::choose(1, 0, 16, 132),
            Err(Error::Shape { what: "rows", .. })
        ));
    }

    fn bufs(plan: &SparseGemmPlan) -> GemmBuffers {
        GemmBuffers {
            w_values: 0x1000,
            w_meta: 0x2000,
            w_geometry: FragmentGeometry::new(plan.out, plan.inn),
            x: 0x3000,
            y: 0x4000,
            workspace: Some(DeviceSlice {
                ptr: 0x10000,
                len: plan.workspace_bytes(),
            }),
        }
    }

    #[test]
    fn launch_describes_the_kernel() {
        let plan = SparseGemmPlan::new(GemmConfig::Decode, 7, 100, 272, 2).unwrap();
        let l = sparse_linear_launches(
            &plan,
            DType::BF16,
            DType::F32,
            &bufs(&plan),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].kernel, "sgemm_decode_bf16");
        assert_eq!(l[0].grid, [1, 1, 2]);
        assert_eq!(l[0].block, [256, 1, 1]);
        let [Arg::Struct(StructArg::Gemm(p))] = l[0].args[..] else {
            panic!("one GemmParams argument expected, got {:?}", l[0].args);
        };
        assert_eq!(p.ws, 0x10000 + 256);
        assert_eq!(p.counters, 0x10000);
        assert_eq!((p.out, p.inn, p.tokens, p.splits), (100, 272, 7, 2));
    }

    #[test]
    fn launch_rejects_bad_arguments() {
        let plan = SparseGemmPlan::new(GemmConfig::Prefill, 70, 40, 48, 1).unwrap();
        let ok = bufs(&plan);
        let e = DeviceEpilogue::default();
        assert!(sparse_linear_launches(&plan, DType::F16, DType::F16, &ok, &e).is_ok());
        assert!(matches!(
            sparse_linear_launches(&plan, DType::F32, DType::F16, &ok, &e),
            Err(Error::InvalidArgument { what: "dtype", .. })
        ));
        let mis = GemmBuffers { x: 0x3008, ..ok };
        assert!(matches!(
            sparse_linear_launches(&plan, DType::F16, DType::F16, &mis, &e),
            Err(Error::Misaligned { what: "X", .. })
        ));
        let mis = GemmBuffers { y: 0x4001, ..ok };
        assert!(matches!(
            sparse_linear_launches(&plan, DType::F16, DType::F16, &mis, &e),
            Err(Error::Misaligned { what: "Y", .. })
        ));
        let beta = DeviceEpilogue { beta: 1.0, ..e };
        assert!(matches!(
            sparse_linear_launches(&plan, DType::F16, DType::F16, &ok, &beta),
            Err(Error::InvalidArgument { what: "beta", .. })
        ));
        let short_c = DeviceEpilogue {
            beta: 1.0,
            c: Some(DeviceSlice {
                ptr: 0x8000,
                len: 70 * 40 - 1,
            }),
            ..e
        };
        assert!(matches!(
            sparse_linear_launches(&plan, DType::F16, DType::F16, &ok, &short_c),
            Err(Error::Length { what: "C", .. })
        ));
        let bias = DeviceEpilogue {
            bias: Some(DeviceSlice {
                ptr: 0x8000,
                len: 41,
            }),
            ..e
        };
        assert!(matches!(
            sparse_linear_launches(&plan, DType::F16, DType::F16, &ok, &bias),
            Err(Error::Length { what: "bias", .. })
        ));
        let wrong_w = GemmBuffers {
            w_geometry: FragmentGeometry::new(48, 48),
            ..ok
        };
        assert!(sparse_linear_launches(&plan, DType::F16, DType::F16, &wrong_w, &e).is_err());
        // Split-K without (enough) workspace.
        let split = SparseGemmPlan::new(GemmConfig::Decode, 3, 40, 1024, 4).unwrap();
        let none = GemmBuffers {
            workspace: None,
            ..bufs(&split)
        };
        assert!(matches!(
            sparse_linear_launches(&split, DType::F16, DType::F16, &none, &e),
            Err(Error::InvalidArgument {
                what: "workspace",
                ..
            })
        ));
        let small = GemmBuffers {
            workspace: Some(DeviceSlice {
                ptr: 0x10000,
                len: 64,
            }),
            ..bufs(&split)
        };
        assert!(matches!(
            sparse_linear_launches(&split, DType::F16, DType::F16, &small, &e),
            Err(Error::Length { .. })
        ));
    }
}
