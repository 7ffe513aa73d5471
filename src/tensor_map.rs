//! Tensor maps as launch data: the description of a tiled tensor map (what
//! `cuTensorMapEncodeTiled` takes) carried by a [`crate::launch::Launch`] and encoded by
//! each executor when it runs the launch: the cudarc executor by the driver
//! ([`crate::cuda`]), the emulator by ptxsim's own encoder ([`crate::sim`]), which
//! checks the driver's documented rules and so fails a test where the driver would
//! refuse the map. A kernel gets the 128 encoded bytes inside its
//! `__grid_constant__` parameter struct ([`crate::abi::Gemm90Params`]).
//!
//! Encoded per launch: the address of X changes from one forward to the next. The
//! fields are plain values (no allocation), so a launch stays `Copy`-cheap.

use crate::dtype::DType;

/// The largest rank a tensor map has.
pub const MAX_RANK: usize = 5;

/// Shared-memory swizzle of the boxes a tensor map copies (`CU_TENSOR_MAP_SWIZZLE_*`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TensorMapSwizzle {
    /// No swizzle: rows as they are.
    None,
    /// 32-byte swizzle span.
    B32,
    /// 64-byte swizzle span.
    B64,
    /// 128-byte rows, 16-byte chunks XORed with the row index mod 8: the layout a
    /// K-major wgmma operand with 128-byte swizzle reads.
    B128,
}

/// A tiled tensor map: element type, global tensor (dimension 0 contiguous), and the
/// box one copy moves. Element strides are 1, no interleave, out-of-bounds elements
/// read as zero (and are not written by stores), L2 promotion 128 bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorMapDesc {
    /// Element type.
    pub dtype: DType,
    /// Dimensions used (1..=5); entries past `rank` are ignored.
    pub rank: usize,
    /// Device address of element 0 (16-byte aligned).
    pub address: u64,
    /// Elements per dimension, dimension 0 (contiguous) first.
    pub dims: [u64; MAX_RANK],
    /// Byte strides of dimensions 1.. (`strides[i]` is dimension i + 1's).
    pub strides: [u64; MAX_RANK - 1],
    /// Elements per dimension of one box.
    pub box_dims: [u32; MAX_RANK],
    /// How a box is laid out in shared memory.
    pub swizzle: TensorMapSwizzle,
}

impl TensorMapDesc {
    /// A 2-D map of a row-major matrix: `[rows, cols]` elements, rows `pitch_bytes`
    /// apart, copied in boxes of `[box_rows, box_cols]`.
    pub fn matrix(
        dtype: DType,
        address: u64,
        [rows, cols]: [u64; 2],
        pitch_bytes: u64,
        [box_rows, box_cols]: [u32; 2],
        swizzle: TensorMapSwizzle,
    ) -> TensorMapDesc {
        TensorMapDesc {
            dtype,
            rank: 2,
            address,
            dims: [cols, rows, 1, 1, 1],
            strides: [pitch_bytes, 0, 0, 0],
            box_dims: [box_cols, box_rows, 1, 1, 1],
            swizzle,
        }
    }

    /// Bytes one box copies into shared memory.
    pub fn box_bytes(&self) -> u64 {
        self.box_dims[..self.rank.min(MAX_RANK)]
            .iter()
            .map(|&b| b as u64)
            .product::<u64>()
            * self.dtype.size() as u64
    }
}
