//! Splitting a [`Sparse24`] into blocks of rows or of columns: the matrix half of
//! tensor-parallel sharding ([`crate::linear::SparseLinear::column_parallel`] and
//! [`crate::linear::SparseLinear::row_parallel`] build layers on it).
//!
//! Both splits copy slices of the compressed arrays: no decompression, no
//! re-validation (a slice of a valid matrix at a row boundary or at a metadata-word
//! boundary is valid).

use super::{Sparse24, COL_MULTIPLE};
use crate::dtype::Element;
use crate::error::Result;
use crate::pattern::WORD_COLS;
use crate::shape::check_bounds;

impl<T: Element> Sparse24<T> {
    /// The blocks of rows `bounds[i]..bounds[i + 1]`: `bounds` are the fences
    /// `0 = b₀ < b₁ < … < bₙ = rows` of `n` shards (any row counts). Each shard keeps
    /// every column. Bounds that are empty, unsorted, out of range or that leave a
    /// shard empty are an [`crate::Error::ShardBounds`].
    ///
    /// ```
    /// use sparse24::Sparse24;
    /// let dense: Vec<f32> = (0..6 * 16).map(|i| if i % 2 == 0 { i as f32 } else { 0.0 }).collect();
    /// let w = Sparse24::compress(&dense, 6, 16)?;
    /// let shards = w.split_rows(&[0, 2, 6])?;
    /// assert_eq!((shards[0].rows(), shards[1].rows()), (2, 4));
    /// assert_eq!(shards[1].decompress(), dense[2 * 16..].to_vec());
    /// # Ok::<(), sparse24::Error>(())
    /// ```
    pub fn split_rows(&self, bounds: &[usize]) -> Result<Vec<Sparse24<T>>> {
        check_bounds("rows", self.rows, bounds, 1)?;
        let (values_per_row, words_per_row) = (self.cols / 2, self.cols / WORD_COLS);
        Ok(bounds
            .windows(2)
            .map(|r| Sparse24 {
                rows: r[1] - r[0],
                cols: self.cols,
                values: self.values[r[0] * values_per_row..r[1] * values_per_row].to_vec(),
                meta: self.meta[r[0] * words_per_row..r[1] * words_per_row].to_vec(),
            })
            .collect())
    }

    /// The blocks of columns `bounds[i]..bounds[i + 1]`: `bounds` are the fences
    /// `0 = b₀ < b₁ < … < bₙ = cols` of `n` shards, each a multiple of
    /// [`COL_MULTIPLE`] (16, one metadata word: the format's own granularity, so
    /// every shard is a valid 2:4 matrix). Each shard keeps every row. Bounds that are
    /// empty, unsorted, out of range, misaligned or that leave a shard empty are an
    /// [`crate::Error::ShardBounds`].
    ///
    /// The GPU kernels pad every matrix to a multiple of 256 columns; a layer split
    /// for them uses [`crate::linear::SparseLinear::row_parallel_at`], which requires
    /// that granularity.
    ///
    /// ```
    /// use sparse24::Sparse24;
    /// let dense: Vec<f32> = (0..2 * 48).map(|i| if i % 4 < 2 { 1.0 + i as f32 } else { 0.0 }).collect();
    /// let w = Sparse24::compress(&dense, 2, 48)?;
    /// let shards = w.split_cols(&[0, 32, 48])?;
    /// assert_eq!((shards[0].cols(), shards[1].cols()), (32, 16));
    /// assert_eq!(shards[1].decompress()[..16], dense[32..48]);
    /// assert!(w.split_cols(&[0, 20, 48]).is_err()); // 20 is not a multiple of 16
    /// # Ok::<(), sparse24::Error>(())
    /// ```
    pub fn split_cols(&self, bounds: &[usize]) -> Result<Vec<Sparse24<T>>> {
        check_bounds("cols", self.cols, bounds, COL_MULTIPLE)?;
        let (values_per_row, words_per_row) = (self.cols / 2, self.cols / WORD_COLS);
        Ok(bounds
            .windows(2)
            .map(|c| {
                let (first, last) = (c[0], c[1]);
                let mut values = Vec::with_capacity(self.rows * (last - first) / 2);
                let mut meta = Vec::with_capacity(self.rows * (last - first) / WORD_COLS);
                for row in 0..self.rows {
                    let v = row * values_per_row;
                    values.extend_from_slice(&self.values[v + first / 2..v + last / 2]);
                    let m = row * words_per_row;
                    meta.extend_from_slice(&self.meta[m + first / WORD_COLS..m + last / WORD_COLS]);
                }
                Sparse24 {
                    rows: self.rows,
                    cols: last - first,
                    values,
                    meta,
                }
            })
            .collect())
    }
}
