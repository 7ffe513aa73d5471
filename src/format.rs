//! `Mask24` and `Sparse24<T>`: compress, decompress and validate the 2:4 format.
//!
//! The host type keeps the *logical* layout: values [rows, cols/2] row-major in
//! ascending column order, and metadata [rows, cols/16] 16-bit words (see
//! [`crate::pattern`]). Device layouts (fragment order, CUTLASS order) are derived
//! from it by [`crate::layout`].

use crate::dtype::{self, Element};
use crate::error::{Error, Result};
use crate::pattern::{self, Pattern, GROUP, WORD_COLS};
use crate::shape::{check_len, check_shape, MatrixShape};
use rayon::prelude::*;

mod split;

/// Columns must be a multiple of this (one metadata word per 16 columns).
pub const COL_MULTIPLE: usize = WORD_COLS;

/// A 2:4 mask: one [`Pattern`] per group of four along each row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask24 {
    rows: usize,
    cols: usize,
    patterns: Vec<Pattern>,
}

impl Mask24 {
    /// A mask from per-group patterns, row-major, `cols / 4` per row.
    pub fn new(rows: usize, cols: usize, patterns: Vec<Pattern>) -> Result<Mask24> {
        let shape = check_shape(rows, cols)?;
        check_len("mask patterns", shape.groups(), patterns.len())?;
        Ok(Mask24 {
            rows,
            cols,
            patterns,
        })
    }

    /// The mask whose group `g` (row-major) has pattern `classify(g)`, computed in
    /// parallel. On failure the error is the one of the *first* failing group: rayon's
    /// short-circuiting collect returns whichever failure a thread met first, so the
    /// (rare) error path rescans in order.
    pub(crate) fn from_groups<F>(shape: MatrixShape, classify: F) -> Result<Mask24>
    where
        F: Fn(usize) -> Result<Pattern> + Sync,
    {
        let groups = shape.groups();
        let patterns = match (0..groups)
            .into_par_iter()
            .map(&classify)
            .collect::<Result<Vec<_>>>()
        {
            Ok(p) => p,
            Err(any) => return Err((0..groups).find_map(|g| classify(g).err()).unwrap_or(any)),
        };
        Mask24::new(shape.rows(), shape.cols(), patterns)
    }

    /// The 2:4 pattern already present in sparse weights: errors on a group with more
    /// than two nonzeros (naming it) or a NaN or ±Inf; groups with fewer get the
    /// covering pattern of [`Pattern::covering`].
    pub fn detect<T: Element>(w: &[T], rows: usize, cols: usize) -> Result<Mask24> {
        let shape = check_shape(rows, cols)?;
        check_len("dense matrix", shape.elements(), w.len())?;
        let groups = shape.groups_per_row();
        Mask24::from_groups(shape, |g| {
            let quad = &w[g * GROUP..(g + 1) * GROUP];
            let mut bits = 0u8;
            for (i, v) in quad.iter().enumerate() {
                if !v.is_finite() {
                    return Err(dtype::non_finite_at("weights", g * GROUP + i, cols));
                }
                if !v.is_zero() {
                    bits |= 1 << i;
                }
            }
            Pattern::covering(bits).ok_or(Error::NotTwoFour {
                row: g / groups,
                group: g % groups,
                nonzeros: bits.count_ones() as usize,
            })
        })
    }
    /// Rows of the mask (`out` of a layer).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns of the mask (`in` of a layer, a multiple of 16).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Patterns, row-major (`rows × cols/4`).
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }
    /// Pattern of group `group` of row `row`.
    pub fn pattern(&self, row: usize, group: usize) -> Pattern {
        self.patterns[row * self.cols / GROUP + group]
    }
    /// Whether element (row, col) is kept.
    pub fn keeps(&self, row: usize, col: usize) -> bool {
        self.pattern(row, col / GROUP).keeps(col % GROUP)
    }
    /// Logical metadata words [rows, cols/16].
    pub fn metadata(&self) -> Vec<u16> {
        self.patterns
            .chunks_exact(WORD_COLS / GROUP)
            .map(|g| pattern::pack_word([g[0].code(), g[1].code(), g[2].code(), g[3].code()]))
            .collect()
    }
    /// The dense 0/1 mask as booleans, row-major.
    pub fn to_dense(&self) -> Vec<bool> {
        self.patterns
            .iter()
            .flat_map(|p| (0..GROUP).map(move |i| p.keeps(i)))
            .collect()
    }
    /// Zeroes the elements the mask drops.
    pub fn apply<T: Element>(&self, dense: &[T]) -> Result<Vec<T>> {
        check_len("dense matrix", self.rows * self.cols, dense.len())?;
        Ok(dense
            .iter()
            .zip(self.to_dense())
            .map(|(&v, keep)| if keep { v } else { T::default() })
            .collect())
    }
}

/// A 2:4-compressed matrix [rows, cols]: the kept values and their metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Sparse24<T> {
    rows: usize,
    cols: usize,
    values: Vec<T>,
    meta: Vec<u16>,
}

impl<T: Element> Sparse24<T> {
    /// Compresses a dense row-major matrix that is already 2:4 sparse. A group with
    /// more than two nonzeros is refused (naming row and group); a NaN or ±Inf is
    /// refused ([`dtype::check_finite`]); a group with fewer than two nonzeros stores
    /// zeros at its lowest zero positions.
    pub fn compress(dense: &[T], rows: usize, cols: usize) -> Result<Sparse24<T>> {
        let mask = Mask24::detect(dense, rows, cols)?;
        Sparse24::compress_masked(dense, &mask)
    }

    /// Keeps exactly the elements `mask` names, whatever the others hold; a kept
    /// NaN or ±Inf is refused (the dropped elements are not looked at).
    pub fn compress_masked(dense: &[T], mask: &Mask24) -> Result<Sparse24<T>> {
        let (rows, cols) = (mask.rows(), mask.cols());
        let shape = check_shape(rows, cols)?;
        check_len("dense matrix", shape.elements(), dense.len())?;
        let mut values = Vec::with_capacity(shape.values());
        for (g, (p, quad)) in mask
            .patterns()
            .iter()
            .zip(dense.chunks_exact(GROUP))
            .enumerate()
        {
            for i in p.indices() {
                if !quad[i].is_finite() {
                    return Err(dtype::non_finite_at("weights", g * GROUP + i, cols));
                }
                values.push(quad[i]);
            }
        }
        Ok(Sparse24 {
            rows,
            cols,
            values,
            meta: mask.metadata(),
        })
    }

    /// Builds from imported parts, validating shape, lengths, every code and that
    /// every value is finite (a NaN or ±Inf is named by its row and column in
    /// `values`, [rows, cols/2]).
    pub fn from_parts(
        rows: usize,
        cols: usize,
        values: Vec<T>,
        meta: Vec<u16>,
    ) -> Result<Sparse24<T>> {
        let s = Sparse24 {
            rows,
            cols,
            values,
            meta,
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks shape, lengths, that every 4-bit code is legal and that every value
    /// is finite.
    pub fn validate(&self) -> Result<()> {
        let shape = check_shape(self.rows, self.cols)?;
        check_len("values", shape.values(), self.values.len())?;
        check_len("metadata words", shape.meta_words(), self.meta.len())?;
        let words_per_row = shape.words_per_row();
        for (w, &word) in self.meta.iter().enumerate() {
            for j in 0..WORD_COLS / GROUP {
                let code = pattern::word_code(word, j);
                if !pattern::is_legal_code(code) {
                    return Err(Error::IllegalCode {
                        row: w / words_per_row,
                        group: (w % words_per_row) * 4 + j,
                        code,
                    });
                }
            }
        }
        dtype::check_finite("values", &self.values, self.cols / 2)
    }

    /// The exact inverse of compression: kept values in place, zeros elsewhere.
    pub fn decompress(&self) -> Vec<T> {
        let mut dense = vec![T::default(); self.rows * self.cols];
        for (g, (quad, pair)) in dense
            .chunks_exact_mut(GROUP)
            .zip(self.values.chunks_exact(2))
            .enumerate()
        {
            let p = self.group_pattern(g);
            let [a, b] = p.indices();
            quad[a] = pair[0];
            quad[b] = pair[1];
        }
        dense
    }

    fn group_pattern(&self, flat_group: usize) -> Pattern {
        let code = pattern::word_code(self.meta[flat_group / 4], flat_group % 4);
        // Validated at construction: every code is legal.
        Pattern::from_code(code).unwrap_or(Pattern::P01)
    }

    /// The mask this matrix keeps.
    pub fn mask(&self) -> Mask24 {
        let patterns = (0..self.rows * self.cols / GROUP)
            .map(|g| self.group_pattern(g))
            .collect();
        Mask24 {
            rows: self.rows,
            cols: self.cols,
            patterns,
        }
    }

    /// Rows of the matrix (`out` of a layer).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns of the matrix (`in` of a layer, a multiple of 16).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Kept values [rows, cols/2], ascending column order within each row.
    pub fn values(&self) -> &[T] {
        &self.values
    }
    /// Logical metadata words [rows, cols/16].
    pub fn metadata(&self) -> &[u16] {
        &self.meta
    }
    /// Bytes of values plus metadata (0.5625 of dense for 2-byte types).
    pub fn bytes(&self) -> usize {
        self.values.len() * std::mem::size_of::<T>() + self.meta.len() * 2
    }
    /// The kept value and its column for the `i`-th kept element of `row`.
    pub fn kept(&self, row: usize, i: usize) -> (usize, T) {
        let g = row * self.cols / GROUP + i / 2;
        let col = (g % (self.cols / GROUP)) * GROUP + self.group_pattern(g).indices()[i % 2];
        (col, self.values[row * self.cols / 2 + i])
    }
}
