//! Checked shape arithmetic: the one place where dimensions become element counts.
//!
//! Every public function that takes dimensions validates them here *before* it
//! compares buffer lengths, allocates or loops, so a zero or absurd dimension is a
//! typed error instead of a wrapped product, a capacity-overflow panic or a loop
//! that never ends. A product is accepted when it is at most [`MAX_ELEMENTS`]:
//! then a buffer of that many 8-byte values is a legal allocation size, and every
//! length derived from it below (values, metadata words, groups, logits, bytes)
//! fits in a `usize` without further checks.

use crate::error::{Error, Result};
use crate::mask::CANDIDATES;
use crate::pattern::{GROUP, WORD_COLS};

/// The most elements one matrix may have: `isize::MAX / 8` (2^60 − 1 on 64-bit),
/// the largest count whose f64 buffer Rust can allocate.
pub const MAX_ELEMENTS: usize = isize::MAX as usize / 8;

fn nonzero(what: &'static str, value: usize) -> Result<usize> {
    if value == 0 {
        return Err(Error::Shape {
            what,
            value,
            requirement: "must be at least 1",
        });
    }
    Ok(value)
}

/// `a · b` for two dimensions of `what`, both at least 1, the product at most
/// [`MAX_ELEMENTS`]. `names` name the two dimensions in the zero-dimension error.
pub fn product(what: &'static str, names: [&'static str; 2], a: usize, b: usize) -> Result<usize> {
    nonzero(names[0], a)?;
    nonzero(names[1], b)?;
    match a.checked_mul(b) {
        Some(n) if n <= MAX_ELEMENTS => Ok(n),
        _ => Err(Error::ShapeOverflow {
            what,
            dims: vec![a, b],
        }),
    }
}

/// Elements of activations or outputs `what` [tokens, width]; `width_name` is the
/// width's name in errors (`in` for X, `out` for Y and C).
pub fn tokens_by(
    what: &'static str,
    width_name: &'static str,
    tokens: usize,
    width: usize,
) -> Result<usize> {
    product(what, ["tokens", width_name], tokens, width)
}

/// Most thread blocks along grid.x (CUDA's limit, 2^31 − 1).
pub const MAX_GRID_X: usize = (1 << 31) - 1;
/// Most thread blocks along grid.y and grid.z.
pub const MAX_GRID_YZ: usize = 65535;

fn grid(what: &'static str, n: usize, per_block: usize, limit: usize) -> Result<u32> {
    let blocks = n.div_ceil(per_block.max(1)).max(1);
    if blocks > limit {
        return Err(Error::Shape {
            what,
            value: n,
            requirement: "needs more thread blocks than a CUDA grid dimension holds",
        });
    }
    Ok(blocks as u32)
}

/// Blocks of `per_block` covering `n` items along grid.x, refused (not truncated to
/// 32 bits) past [`MAX_GRID_X`].
pub fn grid_x(what: &'static str, n: usize, per_block: usize) -> Result<u32> {
    grid(what, n, per_block, MAX_GRID_X)
}

/// [`grid_x`] for grid.y or grid.z ([`MAX_GRID_YZ`]).
pub fn grid_yz(what: &'static str, n: usize, per_block: usize) -> Result<u32> {
    grid(what, n, per_block, MAX_GRID_YZ)
}

/// A validated [rows, cols] shape of a matrix in the 2:4 format: rows ≥ 1, cols a
/// positive multiple of 16, rows·cols ≤ [`MAX_ELEMENTS`]. Its derived lengths cannot
/// overflow.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct MatrixShape {
    rows: usize,
    cols: usize,
}

impl MatrixShape {
    /// Checks a [rows, cols] shape against the format's granularity and size limit.
    pub fn new(rows: usize, cols: usize) -> Result<MatrixShape> {
        if rows == 0 {
            return Err(Error::Shape {
                what: "rows",
                value: rows,
                requirement: "rows must be at least 1",
            });
        }
        if cols == 0 || !cols.is_multiple_of(WORD_COLS) {
            return Err(Error::Shape {
                what: "cols",
                value: cols,
                requirement:
                    "cols (the reduction dimension `in`) must be a positive multiple of 16",
            });
        }
        product("matrix", ["rows", "cols"], rows, cols)?;
        Ok(MatrixShape { rows, cols })
    }

    /// Rows (at least 1).
    pub fn rows(self) -> usize {
        self.rows
    }
    /// Columns (a positive multiple of 16).
    pub fn cols(self) -> usize {
        self.cols
    }
    /// rows · cols, the dense element count.
    pub fn elements(self) -> usize {
        self.rows * self.cols
    }
    /// Kept values: rows · cols/2.
    pub fn values(self) -> usize {
        self.elements() / 2
    }
    /// Groups of four: rows · cols/4.
    pub fn groups(self) -> usize {
        self.elements() / GROUP
    }
    /// Groups of four in one row.
    pub fn groups_per_row(self) -> usize {
        self.cols / GROUP
    }
    /// 16-bit metadata words: rows · cols/16.
    pub fn meta_words(self) -> usize {
        self.elements() / WORD_COLS
    }
    /// Metadata words in one row.
    pub fn words_per_row(self) -> usize {
        self.cols / WORD_COLS
    }
    /// Mask-learning logits: six per group, rows · cols/4 · 6.
    pub fn logits(self) -> usize {
        self.groups() * CANDIDATES
    }
    /// Logits in one row.
    pub fn logits_per_row(self) -> usize {
        self.groups_per_row() * CANDIDATES
    }
}

/// Checks a [rows, cols] 2:4 matrix shape: the format's granularity and the size
/// limit (see [`MatrixShape::new`]).
pub fn check_shape(rows: usize, cols: usize) -> Result<MatrixShape> {
    MatrixShape::new(rows, cols)
}

/// A buffer of `actual` elements where the shape needs `expected`.
pub fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<()> {
    if expected != actual {
        return Err(Error::Length {
            what,
            expected,
            actual,
        });
    }
    Ok(())
}

/// Checks that `bounds` are the fences of a partition of `0..len` into shards:
/// `0 = b₀ < b₁ < … < bₙ = len` with `n ≥ 1`, shard `i` being `bᵢ..bᵢ₊₁`, and every
/// inner fence a multiple of `multiple` (the last shard may end off it, at `len`).
/// Anything else is an [`Error::ShardBounds`] naming the first violation.
pub fn check_bounds(
    what: &'static str,
    len: usize,
    bounds: &[usize],
    multiple: usize,
) -> Result<()> {
    let bad = |why: String| Error::ShardBounds {
        what,
        len,
        bounds: bounds.to_vec(),
        why,
    };
    let (Some(&first), Some(&last)) = (bounds.first(), bounds.last()) else {
        return Err(bad(
            "no fences: give 0, the inner bounds, then the length".into()
        ));
    };
    if bounds.len() < 2 {
        return Err(bad(
            "a single fence: give at least 0 and the length (one shard)".into(),
        ));
    }
    if first != 0 {
        return Err(bad(format!("the first fence is {first}, not 0")));
    }
    if last != len {
        return Err(bad(format!("the last fence is {last}, not {what} = {len}")));
    }
    if let Some(i) = bounds.windows(2).position(|w| w[0] >= w[1]) {
        return Err(bad(format!(
            "fences {} and {} (positions {i} and {}) are not increasing: shard {i} would be empty or reversed",
            bounds[i],
            bounds[i + 1],
            i + 1
        )));
    }
    let multiple = multiple.max(1);
    if let Some(b) = bounds[1..bounds.len() - 1]
        .iter()
        .find(|b| !b.is_multiple_of(multiple))
    {
        return Err(bad(format!(
            "the inner fence {b} is not a multiple of {multiple}"
        )));
    }
    Ok(())
}

/// The fences of `shards` near-equal shards of `0..len` whose inner fences are
/// multiples of `multiple`: `len` is cut into `⌈len / multiple⌉` units, the first
/// shards take one unit more than the others when they do not divide evenly, and the
/// last shard ends at `len`. An [`Error::InvalidArgument`] when `shards` is 0 or more
/// than the units (a shard would be empty).
pub fn even_bounds(
    what: &'static str,
    len: usize,
    shards: usize,
    multiple: usize,
) -> Result<Vec<usize>> {
    let multiple = multiple.max(1);
    let units = len.div_ceil(multiple);
    if shards == 0 || shards > units {
        return Err(Error::InvalidArgument {
            what: "shards",
            why: format!(
                "{shards} shards of {what} = {len} in units of {multiple}:                  give between 1 and {units} (one unit of {multiple} at least per shard)"
            ),
        });
    }
    let (base, extra) = (units / shards, units % shards);
    let mut bounds = Vec::with_capacity(shards + 1);
    let mut fence = 0usize;
    bounds.push(0);
    for i in 0..shards {
        // Saturating: near usize::MAX the last unit overshoots `len`, clamped below.
        fence = fence.saturating_add((base + usize::from(i < extra)).saturating_mul(multiple));
        bounds.push(fence.min(len));
    }
    Ok(bounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_at_the_limit() {
        assert_eq!(product("m", ["a", "b"], MAX_ELEMENTS, 1), Ok(MAX_ELEMENTS));
        assert!(matches!(
            product("m", ["a", "b"], MAX_ELEMENTS / 2 + 1, 2),
            Err(Error::ShapeOverflow { .. })
        ));
        assert!(matches!(
            product("m", ["a", "b"], 1 << 32, 1 << 32),
            Err(Error::ShapeOverflow { .. })
        ));
        assert!(matches!(
            product("m", ["a", "b"], 0, 3),
            Err(Error::Shape { what: "a", .. })
        ));
    }
}
