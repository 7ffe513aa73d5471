//! The tile configurations of kernels/sparse_gemm.cu, their shapes and names, and the
//! process-wide prefill-tile override.

use crate::dtype::DType;
use crate::error::{Error, Result};

/// SM count assumed by [`sparse_linear_on`] (an H100 SXM has 132), and what the
/// emulator's [`Executor::sm_count`] reports.
pub const DEFAULT_SM_COUNT: usize = 132;
/// Decode handles up to this many tokens per CTA; more tokens go to prefill.
pub const DECODE_MAX_TOKENS: usize = 16;
/// Upper bound on split-K.
pub const MAX_SPLITS: usize = 16;
/// Each split reduces at least this many 8-step groups (2 × 256 = 512 of `in`).
pub const MIN_GROUPS_PER_SPLIT: usize = 2;
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

/// Output element types of the GEMM, as the kernel's `out_dtype` code ([`crate::abi`]).
pub fn out_dtype_code(d: DType) -> u32 {
    match d {
        DType::F32 => crate::abi::OUT_F32,
        DType::F16 => crate::abi::OUT_F16,
        DType::BF16 => crate::abi::OUT_BF16,
    }
}
