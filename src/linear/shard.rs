//! Tensor-parallel shards of a [`SparseLinear`]: the layer split across devices the
//! way Megatron-style engines split a dense linear layer, each shard a complete
//! `SparseLinear` that runs on its own device and stream like any other layer.
//!
//! - **Column-parallel** ([`SparseLinear::column_parallel`], `_at`): W's output rows
//!   (`out`) split into blocks. Shard `i` computes `Y[:, bᵢ..bᵢ₊₁]` from the whole X:
//!   it keeps its slice of the bias, the activation, alpha, the residual weight beta
//!   (its forward takes the matching columns of C, `C[:, bᵢ..bᵢ₊₁]`) and the output
//!   dtype. Concatenating the shards' outputs along the features gives the layer's Y.
//! - **Row-parallel** ([`SparseLinear::row_parallel`], `_at`): W's input columns
//!   (`in`) split into blocks. Shard `i` computes a partial product from
//!   `X[:, bᵢ..bᵢ₊₁]`, given as its own row-major [tokens, bᵢ₊₁ − bᵢ] matrix (what a
//!   column-parallel layer split at the same fences leaves on each device); the sum of the shards' outputs (an all-reduce, done by the
//!   engine's own communication library) is the layer's Y. So that the sum is the
//!   layer, the bias and the residual `beta · C` belong to shard 0 only (the other
//!   shards have neither), alpha to every shard (it scales each partial product), and
//!   a layer with an activation is refused: the activation applies to the sum, not to
//!   the parts (remove it with `with_activation(Activation::None)` before sharding and
//!   apply it after the all-reduce). The partial sums are rounded to the output dtype
//!   before they are added: for sums as exact as the unsharded f32 accumulation, shard
//!   a layer whose output dtype is f32 ([`SparseLinear::with_output_dtype`]) and round
//!   after the all-reduce.
//!
//! Granularity: the GPU kernels take any `out ≥ 1` and any `in` that is a multiple of
//! 16, padding each layer internally to 16-row tiles and to 256-column blocks
//! ([`layout::COL_PAD`]: eight k32 steps, the unit of the kernels' metadata loads and
//! of split-K). Row-parallel fences inside `in` must be multiples of
//! [`IN_SHARD_MULTIPLE`] (256): then no shard but the last carries padding, and the
//! shards together run exactly the k steps of the unsharded layer, where a fence at
//! an odd multiple of 16 would make every shard pay for up to 240 columns of zeros.
//! Column-parallel fences may fall anywhere (a shard's rows pad to 16 in any case);
//! the even helper [`SparseLinear::column_parallel`] puts them at multiples of
//! [`OUT_SHARD_MULTIPLE`] (16, one row tile).
//!
//! The shards are new layers: nothing of the whole layer's device state is shared,
//! each shard uploads its own weights on the first stream it runs on.

use super::{gpu, LinearEpilogue, SparseLinear};
use crate::dtype::Element;
use crate::epilogue::Activation;
use crate::error::{Error, Result};
use crate::layout;
use crate::shape::{check_bounds, even_bounds};

/// Inner fences of a row-parallel split ([`SparseLinear::row_parallel_at`]) must be
/// multiples of this many input columns: the kernels' padding unit along K,
/// [`layout::COL_PAD`] (256).
pub const IN_SHARD_MULTIPLE: usize = layout::COL_PAD;

/// [`SparseLinear::column_parallel`] puts its fences at multiples of this many
/// output rows: one row tile of the kernels, [`layout::TILE_ROWS`] (16).
pub const OUT_SHARD_MULTIPLE: usize = layout::TILE_ROWS;

impl<T: Element> SparseLinear<T> {
    /// `shards` column-parallel shards of near-equal `out`, at fences that are
    /// multiples of [`OUT_SHARD_MULTIPLE`] (the last shard ends at `out`): see
    /// [`SparseLinear::column_parallel_at`]. `shards` must be between 1 and
    /// `⌈out / 16⌉` ([`crate::Error::InvalidArgument`] otherwise); the fences used are
    /// [`crate::shape::even_bounds`]`("out", out, shards, OUT_SHARD_MULTIPLE)`.
    pub fn column_parallel(&self, shards: usize) -> Result<Vec<SparseLinear<T>>> {
        let bounds = even_bounds("out", self.out_features(), shards, OUT_SHARD_MULTIPLE)?;
        self.column_parallel_at(&bounds)
    }

    /// Column-parallel shards: shard `i` holds the output rows `bounds[i]..bounds[i+1]`
    /// of W, the same rows of the bias, and the whole epilogue (alpha, beta, the
    /// activation, the output dtype). Its forward takes the whole X and the columns
    /// `bounds[i]..bounds[i+1]` of C (when beta is nonzero) and writes those columns
    /// of Y. `bounds` are the fences `0 = b₀ < … < bₙ = out` (any row counts);
    /// anything else is an [`crate::Error::ShardBounds`].
    ///
    /// ```
    /// use sparse24::linear::{Pruning, SparseLinear};
    /// use sparse24::{bf16, Activation};
    ///
    /// let (out, inn, tokens) = (48, 64, 2);
    /// let w: Vec<bf16> = (0..out * inn).map(|i| bf16::from_f32((i % 9) as f32 / 8.0 - 0.5)).collect();
    /// let layer = SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude)?
    ///     .with_bias((0..out).map(|o| bf16::from_f32(o as f32 / 64.0)).collect())?
    ///     .with_activation(Activation::Relu);
    /// let shards = layer.column_parallel_at(&[0, 16, 48])?;
    /// let x = vec![bf16::from_f32(0.5); tokens * inn];
    /// let (y, y0, y1) = (
    ///     layer.forward_cpu(&x, tokens)?,
    ///     shards[0].forward_cpu(&x, tokens)?,
    ///     shards[1].forward_cpu(&x, tokens)?,
    /// );
    /// for t in 0..tokens {
    ///     // Y's row t is shard 0's row t, then shard 1's.
    ///     assert_eq!(y[t * out..t * out + 16], y0[t * 16..(t + 1) * 16]);
    ///     assert_eq!(y[t * out + 16..(t + 1) * out], y1[t * 32..(t + 1) * 32]);
    /// }
    /// # Ok::<(), sparse24::Error>(())
    /// ```
    pub fn column_parallel_at(&self, bounds: &[usize]) -> Result<Vec<SparseLinear<T>>> {
        let weights = self.weight.split_rows(bounds)?;
        Ok(weights
            .into_iter()
            .zip(bounds.windows(2))
            .map(|(weight, r)| SparseLinear {
                weight,
                bias: self.bias.as_ref().map(|b| b[r[0]..r[1]].to_vec()),
                epilogue: self.epilogue,
                device: gpu::DeviceCache::default(),
            })
            .collect())
    }

    /// `shards` row-parallel shards of near-equal `in`, at fences that are multiples
    /// of [`IN_SHARD_MULTIPLE`] (the last shard ends at `in`): see
    /// [`SparseLinear::row_parallel_at`]. `shards` must be between 1 and
    /// `⌈in / 256⌉` ([`crate::Error::InvalidArgument`] otherwise); the fences used are
    /// [`crate::shape::even_bounds`]`("in", in, shards, IN_SHARD_MULTIPLE)`.
    pub fn row_parallel(&self, shards: usize) -> Result<Vec<SparseLinear<T>>> {
        let bounds = even_bounds("in", self.in_features(), shards, IN_SHARD_MULTIPLE)?;
        self.row_parallel_at(&bounds)
    }

    /// Row-parallel shards: shard `i` holds the input columns `bounds[i]..bounds[i+1]`
    /// of W and computes `alpha · X[:, bᵢ..bᵢ₊₁] · Wᵢᵀ` in the layer's output dtype;
    /// shard 0 adds the bias and `beta · C` (its forward takes the whole C when beta
    /// is nonzero), the other shards have neither. The sum of the shards' outputs is
    /// the layer's output. `bounds` are the fences `0 = b₀ < … < bₙ = in` with every
    /// inner fence a multiple of [`IN_SHARD_MULTIPLE`] (256; see the [module
    /// documentation](self) for why); anything else is an
    /// [`crate::Error::ShardBounds`]. A layer with an activation is an
    /// [`crate::Error::InvalidArgument`]: the activation belongs after the sum.
    ///
    /// ```
    /// use sparse24::linear::{Pruning, SparseLinear};
    /// use sparse24::{bf16, DType};
    ///
    /// let (out, inn, tokens) = (16, 512, 1);
    /// let w: Vec<bf16> = (0..out * inn).map(|i| bf16::from_f32((i % 7) as f32 / 8.0 - 0.4)).collect();
    /// let layer = SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude)?
    ///     .with_bias(vec![bf16::from_f32(0.25); out])?
    ///     .with_output_dtype(DType::F32); // partial sums in f32
    /// let shards = layer.row_parallel(2)?; // in = 256 + 256
    /// let x: Vec<bf16> = (0..tokens * inn).map(|i| bf16::from_f32((i % 5) as f32 / 4.0)).collect();
    /// // Each shard reads its columns of X: here, one token, X[0..256] and X[256..512].
    /// let y: Vec<f32> = layer.forward_cpu_with(&x, tokens, None)?;
    /// let y0: Vec<f32> = shards[0].forward_cpu_with(&x[..256], tokens, None)?;
    /// let y1: Vec<f32> = shards[1].forward_cpu_with(&x[256..], tokens, None)?;
    /// for o in 0..out {
    ///     assert!((y0[o] + y1[o] - y[o]).abs() <= 1e-4 * y[o].abs().max(1.0));
    /// }
    /// # Ok::<(), sparse24::Error>(())
    /// ```
    pub fn row_parallel_at(&self, bounds: &[usize]) -> Result<Vec<SparseLinear<T>>> {
        if self.epilogue.activation != Activation::None {
            return Err(Error::InvalidArgument {
                what: "activation",
                why: format!(
                    "the layer applies {:?}, but row-parallel shards hold partial sums and \
                     the activation belongs after their sum: shard the layer without it \
                     (with_activation(Activation::None)) and apply it after the all-reduce",
                    self.epilogue.activation
                ),
            });
        }
        check_bounds("in", self.in_features(), bounds, IN_SHARD_MULTIPLE)?;
        let weights = self.weight.split_cols(bounds)?;
        Ok(weights
            .into_iter()
            .enumerate()
            .map(|(i, weight)| {
                let first = i == 0;
                SparseLinear {
                    weight,
                    bias: if first { self.bias.clone() } else { None },
                    epilogue: LinearEpilogue {
                        beta: if first { self.epilogue.beta } else { 0.0 },
                        ..self.epilogue
                    },
                    device: gpu::DeviceCache::default(),
                }
            })
            .collect())
    }
}
