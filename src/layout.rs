//! Every memory layout of the 2:4 format, as pure functions both ways. The logical
//! layout is what [`Sparse24`] holds; the others are derived from it here and nowhere
//! else (shared/HARDWARE.md has the facts):
//! - CUTLASS sm80 / PyTorch metadata order (import/export only);
//! - fragment order: the exact register order of the `mma.sp` m16n8k32 A operand and
//!   its metadata, so a warp fetches its fragment with one 16-byte load per lane.

use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::format::Sparse24;
use crate::pattern::{PAD_WORD, WORD_COLS};
use crate::shape::{self, MatrixShape};
use crate::shape::{check_len, check_shape};

// ---------------------------------------------------------------- CUTLASS sm80

/// Offset (in 16-bit words) of logical metadata word `E[r][c]` in CUTLASS's sm80
/// reordered layout for an M-row matrix (M % 32 == 0).
pub fn cutlass_meta_offset(r: usize, c: usize, m: usize) -> usize {
    (c >> 1) * 2 * m
        + 64 * (r >> 5)
        + 8 * (r & 7)
        + 4 * ((r >> 4) & 1)
        + 2 * (c & 1)
        + ((r >> 3) & 1)
}

/// The CUTLASS layout interleaves pairs of metadata columns and groups rows by 32.
fn check_cutlass_shape(rows: usize, cols: usize) -> Result<MatrixShape> {
    if rows == 0 || !rows.is_multiple_of(32) {
        return Err(Error::Shape {
            what: "rows",
            value: rows,
            requirement: "the CUTLASS/PyTorch metadata layout needs rows to be a multiple of 32",
        });
    }
    if cols == 0 || !cols.is_multiple_of(32) {
        return Err(Error::Shape {
            what: "cols",
            value: cols,
            requirement: "the CUTLASS/PyTorch metadata layout needs cols to be a multiple of 32",
        });
    }
    check_shape(rows, cols)
}

/// Logical metadata [rows, cols/16] → CUTLASS order (same length).
pub fn meta_to_cutlass(meta: &[u16], rows: usize, cols: usize) -> Result<Vec<u16>> {
    let shape = check_cutlass_shape(rows, cols)?;
    let words = shape.words_per_row();
    check_len("metadata words", shape.meta_words(), meta.len())?;
    let mut out = vec![0u16; meta.len()];
    for r in 0..rows {
        for c in 0..words {
            out[cutlass_meta_offset(r, c, rows)] = meta[r * words + c];
        }
    }
    Ok(out)
}

/// CUTLASS order → logical metadata [rows, cols/16].
pub fn meta_from_cutlass(reordered: &[u16], rows: usize, cols: usize) -> Result<Vec<u16>> {
    let shape = check_cutlass_shape(rows, cols)?;
    let words = shape.words_per_row();
    check_len("metadata words", shape.meta_words(), reordered.len())?;
    let mut out = vec![0u16; reordered.len()];
    for r in 0..rows {
        for c in 0..words {
            out[r * words + c] = reordered[cutlass_meta_offset(r, c, rows)];
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- fragment order

/// Rows per `mma.sp` row tile.
pub const TILE_ROWS: usize = 16;
/// Logical columns per k32 step.
pub const STEP_COLS: usize = 32;
/// k32 steps whose metadata one 16-byte load per lane covers.
pub const META_STEPS_PER_LOAD: usize = 8;
/// Columns pad to a multiple of this in fragment order: [`META_STEPS_PER_LOAD`] k32
/// steps (256): the K granularity of the GEMM kernels' metadata loads, of their
/// decode stage (k = 256) and of split-K (whole 8-step groups per split).
pub const COL_PAD: usize = STEP_COLS * META_STEPS_PER_LOAD;

/// Padded geometry of a matrix in fragment order. Rows pad to 16 and columns to 256
/// (eight k32 steps) with zero values and metadata code 0x4; the padding exists only
/// in the device layout.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FragmentGeometry {
    /// Rows of the logical matrix.
    pub rows: usize,
    /// Columns of the logical matrix.
    pub cols: usize,
    /// Row tiles of [`TILE_ROWS`] rows after padding.
    pub row_tiles: usize,
    /// k32 steps after padding (a multiple of 8).
    pub steps: usize,
}

impl FragmentGeometry {
    /// The geometry of a [rows, cols] matrix, unchecked: for shapes already
    /// validated and held in memory (a [`Sparse24`], a GEMM plan), whose padded size
    /// cannot overflow. Use [`FragmentGeometry::checked`] for any other shape.
    pub fn new(rows: usize, cols: usize) -> FragmentGeometry {
        let row_tiles = rows.div_ceil(TILE_ROWS);
        let steps = cols.div_ceil(COL_PAD) * META_STEPS_PER_LOAD;
        FragmentGeometry {
            rows,
            cols,
            row_tiles,
            steps,
        }
    }
    /// The geometry of a [rows, cols] matrix after checking the shape (the format's
    /// granularity) and that the padded matrix's element count fits
    /// ([`shape::MAX_ELEMENTS`]), so [`FragmentGeometry::value_len`] and
    /// [`FragmentGeometry::meta_len`] cannot overflow.
    pub fn checked(rows: usize, cols: usize) -> Result<FragmentGeometry> {
        check_shape(rows, cols)?;
        let geo = FragmentGeometry::new(rows, cols);
        shape::product(
            "fragment-ordered matrix",
            ["padded rows", "padded cols"],
            geo.row_tiles * TILE_ROWS,
            geo.steps * STEP_COLS,
        )?;
        Ok(geo)
    }
    /// Elements of the values array (8 per lane per step).
    pub fn value_len(&self) -> usize {
        self.row_tiles * self.steps * 32 * 8
    }
    /// 32-bit words of the metadata array (4 per lane per 8 steps).
    pub fn meta_len(&self) -> usize {
        self.row_tiles * (self.steps / META_STEPS_PER_LOAD) * 32 * 4
    }
}

/// Position of element `e` (0..8) of lane `lane` in row tile `rt`, step `s`:
/// (row, compressed column). reg = e/2 holds rows g / g+8 (reg & 1) and compressed
/// columns 2t.. / 8+2t.. (reg >> 1) of the step's 16 compressed columns.
pub fn fragment_value_coord(rt: usize, s: usize, lane: usize, e: usize) -> (usize, usize) {
    let (g, t) = (lane >> 2, lane & 3);
    let reg = e >> 1;
    let row = TILE_ROWS * rt + g + 8 * (reg & 1);
    let ccol = 16 * s + 2 * t + (e & 1) + 8 * (reg >> 1);
    (row, ccol)
}

/// Index in the fragment-ordered values array of element `e` of lane `lane`.
pub fn fragment_value_index(
    geo: &FragmentGeometry,
    rt: usize,
    s: usize,
    lane: usize,
    e: usize,
) -> usize {
    ((rt * geo.steps + s) * 32 + lane) * 8 + e
}

/// The metadata register of lane `lane` (g, t) for step `s` of row tile `rt`:
/// logical word 2s + (t & 1) of row g in bits [15:0] and of row g + 8 in [31:16].
fn meta_register(meta: &[u16], geo: &FragmentGeometry, rt: usize, s: usize, lane: usize) -> u32 {
    let (g, t) = (lane >> 2, lane & 3);
    let words = geo.cols / WORD_COLS;
    let c = 2 * s + (t & 1);
    let word = |row: usize| -> u16 {
        if row < geo.rows && c < words {
            meta[row * words + c]
        } else {
            PAD_WORD
        }
    };
    let r0 = TILE_ROWS * rt + g;
    word(r0) as u32 | (word(r0 + 8) as u32) << 16
}

/// Index in the fragment-ordered metadata array of word `j` (0..4) for lane `lane`,
/// load `q` of row tile `rt`. It serves step 8q + 2j in lanes t < 2 (selector 0) and
/// step 8q + 2j + 1 in lanes t ≥ 2 (selector 1).
pub fn fragment_meta_index(
    geo: &FragmentGeometry,
    rt: usize,
    q: usize,
    lane: usize,
    j: usize,
) -> usize {
    ((rt * (geo.steps / META_STEPS_PER_LOAD) + q) * 32 + lane) * 4 + j
}

/// The step that word `j` of load `q` serves for lane `lane`.
pub fn fragment_meta_step(q: usize, lane: usize, j: usize) -> usize {
    META_STEPS_PER_LOAD * q + 2 * j + usize::from(lane & 3 >= 2)
}

/// A matrix in fragment order: what the sparse GEMM streams.
#[derive(Clone, Debug, PartialEq)]
pub struct FragmentOrdered<T> {
    /// The padded geometry the arrays are laid out for.
    pub geometry: FragmentGeometry,
    /// Values, [`FragmentGeometry::value_len`] of them (padding included).
    pub values: Vec<T>,
    /// Metadata words, [`FragmentGeometry::meta_len`] of them.
    pub meta: Vec<u32>,
}

/// Logical → fragment order (padding with zeros and code 0x4).
pub fn to_fragment_order<T: Element>(s: &Sparse24<T>) -> FragmentOrdered<T> {
    let geo = FragmentGeometry::new(s.rows(), s.cols());
    let half_cols = s.cols() / 2;
    let mut values = vec![T::default(); geo.value_len()];
    let mut meta = vec![0u32; geo.meta_len()];
    for rt in 0..geo.row_tiles {
        for st in 0..geo.steps {
            for lane in 0..32 {
                for e in 0..8 {
                    let (row, ccol) = fragment_value_coord(rt, st, lane, e);
                    if row < s.rows() && ccol < half_cols {
                        values[fragment_value_index(&geo, rt, st, lane, e)] =
                            s.values()[row * half_cols + ccol];
                    }
                }
            }
        }
        for q in 0..geo.steps / META_STEPS_PER_LOAD {
            for lane in 0..32 {
                for j in 0..4 {
                    let st = fragment_meta_step(q, lane, j);
                    meta[fragment_meta_index(&geo, rt, q, lane, j)] =
                        meta_register(s.metadata(), &geo, rt, st, lane);
                }
            }
        }
    }
    FragmentOrdered {
        geometry: geo,
        values,
        meta,
    }
}

/// Fragment order → logical, validating the geometry (shape, padding, size) before
/// anything is allocated, and the result. Padding is dropped.
pub fn from_fragment_order<T: Element>(f: &FragmentOrdered<T>) -> Result<Sparse24<T>> {
    let geo = f.geometry;
    let expected = FragmentGeometry::checked(geo.rows, geo.cols)?;
    if geo != expected {
        return Err(Error::InvalidArgument {
            what: "fragment geometry",
            why: format!(
                "{geo:?} is not the geometry of a {}x{} matrix ({expected:?})",
                geo.rows, geo.cols
            ),
        });
    }
    let shape = check_shape(geo.rows, geo.cols)?;
    check_len("fragment values", geo.value_len(), f.values.len())?;
    check_len("fragment metadata", geo.meta_len(), f.meta.len())?;
    let half_cols = geo.cols / 2;
    let words = geo.cols / WORD_COLS;
    let mut values = vec![T::default(); shape.values()];
    let mut meta = vec![0u16; shape.meta_words()];
    for rt in 0..geo.row_tiles {
        for st in 0..geo.steps {
            for lane in 0..32 {
                for e in 0..8 {
                    let (row, ccol) = fragment_value_coord(rt, st, lane, e);
                    if row < geo.rows && ccol < half_cols {
                        values[row * half_cols + ccol] =
                            f.values[fragment_value_index(&geo, rt, st, lane, e)];
                    }
                }
            }
        }
        for q in 0..geo.steps / META_STEPS_PER_LOAD {
            for lane in 0..32 {
                let (g, t) = (lane >> 2, lane & 3);
                for j in 0..4 {
                    let st = fragment_meta_step(q, lane, j);
                    let c = 2 * st + (t & 1);
                    let reg = f.meta[fragment_meta_index(&geo, rt, q, lane, j)];
                    for (half, row) in [(0, TILE_ROWS * rt + g), (16, TILE_ROWS * rt + g + 8)] {
                        if row < geo.rows && c < words {
                            meta[row * words + c] = (reg >> half) as u16;
                        }
                    }
                }
            }
        }
    }
    Sparse24::from_parts(geo.rows, geo.cols, values, meta)
}
