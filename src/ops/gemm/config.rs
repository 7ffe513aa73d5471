//! The tile configurations of the sparse GEMM (defined in [`super::tiles`]), their
//! kernels, and the process-wide prefill-tile override.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::Kernel;

/// SM count assumed by [`sparse_linear_on`](super::sparse_linear_on) (an H100 SXM has 132), and what the
/// emulator's [`Executor::sm_count`](crate::launch::Executor::sm_count) reports.
pub const DEFAULT_SM_COUNT: usize = 132;
/// Decode handles up to this many tokens per CTA; more tokens go to prefill.
pub const DECODE_MAX_TOKENS: usize = 16;
/// Up to this many tokens the plan takes the 8-token decode tile
/// ([`GemmConfig::Decode8`]), above it the 16-token one ([`GemmConfig::Decode16`]), on
/// sm_80, sm_86, sm_89 and sm_100+; compute capability 9.x takes the bulk-copy tile
/// ([`GemmConfig::Decode16Sm90`]) for every decode token count instead.
/// Provisional: the crossover is the one the tile sizes suggest; gpu-bench's token sweep
/// (`--token-sweep`) measures it per architecture and sets it, and has not run yet.
pub const DECODE8_MAX_TOKENS: usize = 8;
/// The decode tiles' grid aims at this many waves of resident CTAs (the tile's
/// `min_ctas_per_sm` CTAs per SM each), so an SM that finishes a CTA has the next one
/// streaming W while its neighbours drain. Provisional until the token sweep.
pub const DECODE_WAVES: usize = 1;
/// Upper bound on the decode tiles' split-K (their reduction loads one batch of
/// partials at a time: 16 for `decode8`, 8 for `decode16`).
pub const DECODE_MAX_SPLITS: usize = 32;
/// Upper bound on split-K.
pub const MAX_SPLITS: usize = 16;
/// Each split reduces at least this many 8-step groups (2 × 256 = 512 of `in`).
pub const MIN_GROUPS_PER_SPLIT: usize = 2;
/// From this many tokens on, [`SparseGemmPlan::choose`](super::SparseGemmPlan::choose) takes the large prefill tile
/// ([`LARGE_PREFILL_TILE`]) when its grid still gives every SM a CTA.
pub const LARGE_TILE_MIN_TOKENS: usize = 256;
/// The prefill tile the heuristic takes for many tokens: 256 × 64, the fastest of the
/// prefill tiles on every LLM layer measured (the numbers, with device and date, are
/// in bench/RESULTS.md).
pub const LARGE_PREFILL_TILE: GemmConfig = GemmConfig::PrefillT256x64;
/// The shared-memory-staged prefill tiles (kernels/gemm/smem_*.cuh) as candidates of
/// the heuristic for devices without the Hopper kernel, each with the token count its
/// range starts at, in the order the kernel report's model ranks them: the first that
/// fits the device's shared memory per CTA and still gives every SM a CTA is taken.
/// Provisional, not yet measured on a GPU:
/// - `s256x128` from 1024 tokens: the fewest shared-memory bytes per mma.sp (its
///   cp.async writes spread over 16 row tiles) and the fewest L2 bytes (68 per
///   mma.sp against 82 for `s128x256`, their cp.async traffic); 1024 tokens is where
///   its grid first fills an A100's 108 SMs on the 4096-row layers (16 row blocks × 8
///   token tiles);
/// - `s128x256` from 2048 tokens: its grid has as many CTAs as `s256x128`'s, so the
///   order reaches it only where `s256x128` is moved behind it; it ships for the GPU
///   sweep to place;
/// - `s128x128` from 512 tokens (32 row blocks × 4 token tiles on 4096 rows), and the
///   only one within sm_86/89's 99 KiB per CTA.
///
/// The decode issue's token sweep (gpu-bench `--prefill-tiles`) sets the real order
/// and crossovers.
pub const STAGED_PREFILL_CANDIDATES: [(GemmConfig, usize); 3] = [
    (GemmConfig::PrefillS256x128, 1024),
    (GemmConfig::PrefillS128x256, 2048),
    (GemmConfig::PrefillS128x128, 512),
];
/// From this many tokens on, [`SparseGemmPlan::choose_for`](super::SparseGemmPlan::choose_for) takes the Hopper kernel on
/// compute capability 9.0. Provisional: the crossover with the mma.sp tiles belongs to
/// the decode issue's token sweep on a GPU, which has not run yet (64 is where the
/// Hopper GEMM's targets start).
pub const WGMMA_MIN_TOKENS: usize = 64;
/// Environment variable that forces the prefill tile of [`SparseGemmPlan::choose`](super::SparseGemmPlan::choose):
/// `auto` (or unset / empty) for the heuristic, else a name of
/// [`GemmConfig::tile_name`]: `64` (alias `128x64`), `128x128`, `128x128a2`, `256x64`,
/// `256x64w16`, the staged tiles `s128x128`, `s256x128`, `s128x256` (and with the
/// `gemm-sweep` feature the sweep's), or the Hopper tile `wg256x128` (refused on other
/// architectures; with the `hopper-ss` feature also its SS form `wg256x128ss`).
pub const PREFILL_TILE_ENV: &str = "SPARSE24_PREFILL_TILE";

pub use super::tiles::{GemmConfig, MainLoop, TileShape};

impl GemmConfig {
    /// The prefill tile of a name of [`GemmConfig::tile_name`] (case-insensitive,
    /// `128x64` accepted for `64`); anything else is `Error::InvalidArgument` listing
    /// the names.
    pub fn prefill_from_name(name: &str) -> Result<GemmConfig> {
        let n = name.trim().to_ascii_lowercase();
        if n == "128x64" {
            return Ok(GemmConfig::Prefill);
        }
        GemmConfig::named_prefill()
            .find(|c| c.tile_name() == n)
            .ok_or_else(|| Error::InvalidArgument {
                what: "prefill tile",
                why: format!(
                    "unknown prefill tile `{name}`; expected one of {}",
                    GemmConfig::named_prefill()
                        .map(|c| c.tile_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// The tiles a prefill name may select: the prefill tiles, the Hopper tiles, with
    /// the `gemm-sweep` feature the sweep's, and with `hopper-ss` the Hopper SS form's.
    fn named_prefill() -> impl Iterator<Item = GemmConfig> {
        let sweep: &[GemmConfig] = if cfg!(feature = "gemm-sweep") {
            &GemmConfig::SWEEP
        } else {
            &[]
        };
        let ss: &[GemmConfig] = if cfg!(feature = "hopper-ss") {
            &GemmConfig::WGMMA_SS
        } else {
            &[]
        };
        GemmConfig::PREFILL
            .into_iter()
            .chain(GemmConfig::WGMMA)
            .chain(sweep.iter().copied())
            .chain(ss.iter().copied())
    }

    /// The kernel for input dtype `dtype` (f16 or bf16): its typed handle, generated by
    /// build.rs with the kernel itself ([`crate::kernels::sparse_gemm::kernel`]).
    pub fn handle(self, dtype: DType) -> Result<Kernel> {
        crate::kernels::sparse_gemm::kernel(self, dtype).ok_or_else(|| {
            if dtype == DType::F32 {
                Error::InvalidArgument {
                    what: "dtype",
                    why: "the sparse GEMM takes f16 or bf16 inputs (tensor cores have no 2:4 \
                          form for f32)"
                        .into(),
                }
            } else {
                // A sweep tile in a build without the `gemm-sweep` feature, or an SS
                // tile without `hopper-ss`.
                let feature = if self.tile().w_by_bulk_copy() {
                    "hopper-ss"
                } else {
                    "gemm-sweep"
                };
                Error::InvalidArgument {
                    what: "prefill tile",
                    why: format!(
                        "tile {} is compiled only with the `{feature}` feature",
                        self.tile_name()
                    ),
                }
            }
        })
    }

    /// The name of [`GemmConfig::handle`]'s kernel: `sgemm_<tile>_<dtype>`.
    pub fn kernel(self, dtype: DType) -> Result<&'static str> {
        Ok(self.handle(dtype)?.name)
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
