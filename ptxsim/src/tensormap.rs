//! Tensor maps as launch data: the description `cuTensorMapEncodeTiled` takes, validated
//! with the driver's documented rules into a typed error, and ptxsim's own 128-byte
//! encoding of it (what a kernel finds behind the address of its `__grid_constant__`
//! `CUtensorMap` parameter when it runs on ptxsim; a GPU gets the driver's opaque
//! encoding of the same description instead).
//!
//! Rules (CUDA driver API, `cuTensorMapEncodeTiled`): rank 1..=5; the global address
//! 16-byte aligned (32 with 32-byte interleave); every global dimension in 1..=2^32; the
//! strides of dimensions 1.. multiples of 16 and below 2^40; every box dimension in
//! 1..=256; without interleave, the inner box dimension times the element size a multiple
//! of 16 bytes; every element stride in 1..=8; with a swizzle (and no interleave), the
//! inner box dimension in bytes at most the swizzle span (32, 64 or 128 bytes).
//!
//! Shared-memory layout of a box (PTX ISA "Tensor copy", tile mode): the elements of the
//! box, dimension 0 fastest, packed, with the chosen swizzle applied to the shared address
//! (the 16-byte chunk index, address bits 4..6, XORed with bits 7..9: all three bits for
//! 128B, two for 64B, one for 32B; CUTLASS's Swizzle<3,4,3>, <2,4,3>, <1,4,3>), which is why
//! a swizzled box's shared address must be aligned to the pattern's repeat (1024, 512, 256
//! bytes). Out-of-bounds elements are filled with zeros (or NaN with `OobFill::NanRequestZeroFma`)
//! on loads and not written on stores.

use std::fmt;

/// Element types of a tensor map (the `CU_TENSOR_MAP_DATA_TYPE_*` ptxsim supports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TmapDtype {
    /// `UINT8`.
    U8,
    /// `UINT16`.
    U16,
    /// `UINT32`.
    U32,
    /// `INT32`.
    I32,
    /// `UINT64`.
    U64,
    /// `INT64`.
    I64,
    /// `FLOAT16`.
    F16,
    /// `FLOAT32`.
    F32,
    /// `FLOAT64`.
    F64,
    /// `BFLOAT16`.
    BF16,
}

impl TmapDtype {
    /// Bytes of one element.
    pub fn bytes(self) -> u32 {
        match self {
            TmapDtype::U8 => 1,
            TmapDtype::U16 | TmapDtype::F16 | TmapDtype::BF16 => 2,
            TmapDtype::U32 | TmapDtype::I32 | TmapDtype::F32 => 4,
            TmapDtype::U64 | TmapDtype::I64 | TmapDtype::F64 => 8,
        }
    }
    fn code(self) -> u8 {
        self as u8
    }
    fn from_code(c: u8) -> Option<TmapDtype> {
        use TmapDtype::*;
        [U8, U16, U32, I32, U64, I64, F16, F32, F64, BF16]
            .get(c as usize)
            .copied()
    }
    /// The bit pattern of NaN in this type (for `OobFill::NanRequestZeroFma`); integers get 0.
    fn nan(self) -> u64 {
        match self {
            TmapDtype::F16 => 0x7fff,
            TmapDtype::BF16 => 0x7fff,
            TmapDtype::F32 => 0x7fff_ffff,
            TmapDtype::F64 => 0x7fff_ffff_ffff_ffff,
            _ => 0,
        }
    }
}

/// `CU_TENSOR_MAP_SWIZZLE_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swizzle {
    /// `NONE`: rows stored as they are.
    None,
    /// `32B`.
    B32,
    /// `64B`.
    B64,
    /// `128B`.
    B128,
}

impl Swizzle {
    /// The span in bytes the inner box dimension may not exceed (None: no limit).
    pub fn span(self) -> Option<u32> {
        match self {
            Swizzle::None => None,
            Swizzle::B32 => Some(32),
            Swizzle::B64 => Some(64),
            Swizzle::B128 => Some(128),
        }
    }
    /// The shared-address alignment the pattern needs (its repeat: 8 rows of the span).
    pub fn repeat(self) -> u64 {
        self.span().map_or(16, |s| 8 * s as u64)
    }
    /// The swizzled shared address of byte address `a` (Swizzle<B,4,3>).
    pub fn apply(self, a: u64) -> u64 {
        let bits = match self {
            Swizzle::None => return a,
            Swizzle::B32 => 1,
            Swizzle::B64 => 2,
            Swizzle::B128 => 3,
        };
        let m = (1u64 << bits) - 1;
        a ^ (((a >> 7) & m) << 4)
    }
}

/// `CU_TENSOR_MAP_INTERLEAVE_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interleave {
    /// `NONE`.
    None,
    /// `16B`.
    B16,
    /// `32B`.
    B32,
}

/// `CU_TENSOR_MAP_L2_PROMOTION_*` (a cache hint: no effect on ptxsim's results).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2Promotion {
    /// `NONE`.
    None,
    /// `L2_64B`.
    B64,
    /// `L2_128B`.
    B128,
    /// `L2_256B`.
    B256,
}

/// `CU_TENSOR_MAP_FLOAT_OOB_FILL_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OobFill {
    /// Out-of-bounds elements read as zero.
    None,
    /// Out-of-bounds elements read as NaN (float types).
    NanRequestZeroFma,
}

/// A tiled tensor map: what `cuTensorMapEncodeTiled` takes. `dims`, `box_dims` and
/// `element_strides` have `rank` entries, dimension 0 (contiguous) first; `strides` has
/// `rank - 1`: the byte strides of dimensions 1.. .
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorMap {
    /// Element type.
    pub dtype: TmapDtype,
    /// Device address of the tensor's first element.
    pub global_address: u64,
    /// Elements along each dimension, dimension 0 first.
    pub dims: Vec<u64>,
    /// Byte strides of dimensions 1.. (`rank - 1` of them).
    pub strides: Vec<u64>,
    /// Elements of the box one copy moves, along each dimension.
    pub box_dims: Vec<u32>,
    /// Step between the elements a copy takes, along each dimension.
    pub element_strides: Vec<u32>,
    /// Interleaved layout.
    pub interleave: Interleave,
    /// Shared-memory swizzle of the box.
    pub swizzle: Swizzle,
    /// L2 promotion hint.
    pub l2_promotion: L2Promotion,
    /// What out-of-bounds elements read as.
    pub oob_fill: OobFill,
}

/// Why a tensor-map description is refused (the driver's rules).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorMapError {
    /// A rank outside 1..=5.
    #[error("tensor map rank {0} (must be 1..=5)")]
    Rank(usize),
    /// A per-dimension list of the wrong length for the rank.
    #[error("tensor map: {what} has {got} entries, rank {rank} needs {want}")]
    Length {
        /// The list.
        what: &'static str,
        /// Its entries.
        got: usize,
        /// The entries the rank needs.
        want: usize,
        /// The rank.
        rank: usize,
    },
    /// A global address off the alignment the driver requires.
    #[error("tensor map global address {addr:#x} is not {align}-byte aligned")]
    AddressAlignment {
        /// The address.
        addr: u64,
        /// The alignment required, in bytes.
        align: u64,
    },
    /// A dimension of 0 or above 2^32 elements.
    #[error("tensor map dimension {dim} is {size} (must be 1..=2^32)")]
    DimSize {
        /// The dimension.
        dim: usize,
        /// Its size.
        size: u64,
    },
    /// A byte stride not a multiple of 16 or not below 2^40.
    #[error("tensor map stride of dimension {dim} is {stride} bytes (must be a multiple of 16 below 2^40)")]
    Stride {
        /// The dimension.
        dim: usize,
        /// Its stride in bytes.
        stride: u64,
    },
    /// A box dimension outside 1..=256.
    #[error("tensor map box dimension {dim} is {size} (must be 1..=256)")]
    BoxSize {
        /// The dimension.
        dim: usize,
        /// Its box size.
        size: u32,
    },
    /// An inner box dimension whose bytes are not a multiple of 16 (no interleave).
    #[error("tensor map inner box dimension is {bytes} bytes (must be a multiple of 16 without interleave)")]
    InnerBoxBytes {
        /// Its bytes.
        bytes: u64,
    },
    /// An element stride outside 1..=8.
    #[error("tensor map element stride of dimension {dim} is {stride} (must be 1..=8)")]
    ElementStride {
        /// The dimension.
        dim: usize,
        /// Its element stride.
        stride: u32,
    },
    /// An inner box dimension wider than the swizzle span.
    #[error(
        "tensor map inner box dimension is {bytes} bytes, more than the {span}-byte swizzle span"
    )]
    SwizzleSpan {
        /// The inner box dimension's bytes.
        bytes: u64,
        /// The swizzle span in bytes.
        span: u32,
    },
    /// An interleaved layout (not supported by ptxsim yet).
    #[error("tensor map interleave: {0}")]
    Interleave(String),
    /// Bytes that are not a tensor map ptxsim encoded ([`TensorMap::decode`]).
    #[error("not a ptxsim tensor map encoding ({0})")]
    Encoding(String),
}

/// Magic of ptxsim's encoding ("PTXT").
const MAGIC: u32 = 0x5458_5450;
/// Bytes of an encoded tensor map (CUtensorMap's size).
pub const TENSOR_MAP_BYTES: usize = 128;

impl TensorMap {
    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// Check the description against the driver's rules.
    pub fn validate(&self) -> Result<(), TensorMapError> {
        let rank = self.rank();
        if !(1..=5).contains(&rank) {
            return Err(TensorMapError::Rank(rank));
        }
        let len = |what, got, want| {
            if got != want {
                Err(TensorMapError::Length {
                    what,
                    got,
                    want,
                    rank,
                })
            } else {
                Ok(())
            }
        };
        len("strides", self.strides.len(), rank - 1)?;
        len("box_dims", self.box_dims.len(), rank)?;
        len("element_strides", self.element_strides.len(), rank)?;
        let align = if self.interleave == Interleave::B32 {
            32
        } else {
            16
        };
        if !self.global_address.is_multiple_of(align) {
            return Err(TensorMapError::AddressAlignment {
                addr: self.global_address,
                align,
            });
        }
        for (dim, &size) in self.dims.iter().enumerate() {
            if size == 0 || size > 1 << 32 {
                return Err(TensorMapError::DimSize { dim, size });
            }
        }
        for (i, &stride) in self.strides.iter().enumerate() {
            if !stride.is_multiple_of(16) || stride >= 1 << 40 {
                return Err(TensorMapError::Stride { dim: i + 1, stride });
            }
        }
        for (dim, &size) in self.box_dims.iter().enumerate() {
            if size == 0 || size > 256 {
                return Err(TensorMapError::BoxSize { dim, size });
            }
        }
        let inner = self.box_dims[0] as u64 * self.dtype.bytes() as u64;
        if self.interleave == Interleave::None && !inner.is_multiple_of(16) {
            return Err(TensorMapError::InnerBoxBytes { bytes: inner });
        }
        for (dim, &stride) in self.element_strides.iter().enumerate() {
            if stride == 0 || stride > 8 {
                return Err(TensorMapError::ElementStride { dim, stride });
            }
        }
        if self.interleave != Interleave::None {
            return Err(TensorMapError::Interleave(
                "interleaved layouts are not supported by ptxsim yet".into(),
            ));
        }
        if let Some(span) = self.swizzle.span() {
            if inner > span as u64 {
                return Err(TensorMapError::SwizzleSpan { bytes: inner, span });
            }
        }
        Ok(())
    }

    /// Elements the box holds along each dimension (box size over element stride, rounded up).
    pub fn box_counts(&self) -> Vec<u64> {
        self.box_dims
            .iter()
            .zip(&self.element_strides)
            .map(|(&b, &e)| (b as u64).div_ceil(e as u64))
            .collect()
    }

    /// Bytes one box moves (the transaction bytes of a load, out-of-bounds elements included).
    pub fn box_bytes(&self) -> u64 {
        self.box_counts().iter().product::<u64>() * self.dtype.bytes() as u64
    }

    /// The fill pattern of out-of-bounds elements on loads.
    pub(crate) fn fill(&self) -> u64 {
        match self.oob_fill {
            OobFill::None => 0,
            OobFill::NanRequestZeroFma => self.dtype.nan(),
        }
    }

    /// ptxsim's 128-byte encoding (validated first).
    pub fn encode(&self) -> Result<[u8; TENSOR_MAP_BYTES], TensorMapError> {
        self.validate()?;
        let mut b = [0u8; TENSOR_MAP_BYTES];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4] = 1; // version
        b[5] = self.dtype.code();
        b[6] = self.rank() as u8;
        b[7] = self.swizzle as u8;
        b[8] = self.interleave as u8;
        b[9] = self.l2_promotion as u8;
        b[10] = self.oob_fill as u8;
        b[16..24].copy_from_slice(&self.global_address.to_le_bytes());
        for (i, d) in self.dims.iter().enumerate() {
            b[24 + 8 * i..32 + 8 * i].copy_from_slice(&d.to_le_bytes());
        }
        for (i, s) in self.strides.iter().enumerate() {
            b[64 + 8 * i..72 + 8 * i].copy_from_slice(&s.to_le_bytes());
        }
        for (i, x) in self.box_dims.iter().enumerate() {
            b[96 + 2 * i..98 + 2 * i].copy_from_slice(&(*x as u16).wrapping_sub(1).to_le_bytes());
        }
        for (i, e) in self.element_strides.iter().enumerate() {
            b[106 + i] = *e as u8;
        }
        Ok(b)
    }

    /// Read ptxsim's encoding back (validated).
    pub fn decode(b: &[u8]) -> Result<TensorMap, TensorMapError> {
        let bad = |m: &str| TensorMapError::Encoding(m.to_string());
        if b.len() < TENSOR_MAP_BYTES {
            return Err(bad("fewer than 128 bytes"));
        }
        let u64at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        if b[0..4] != MAGIC.to_le_bytes() || b[4] != 1 {
            return Err(bad(
                "no ptxsim magic: encode the map with TensorMap::encode",
            ));
        }
        let rank = b[6] as usize;
        if !(1..=5).contains(&rank) {
            return Err(TensorMapError::Rank(rank));
        }
        let pick = |c: u8, n: u8, what: &str| {
            if c < n {
                Ok(c)
            } else {
                Err(bad(what))
            }
        };
        let m = TensorMap {
            dtype: TmapDtype::from_code(b[5]).ok_or_else(|| bad("element type"))?,
            global_address: u64at(16),
            dims: (0..rank).map(|i| u64at(24 + 8 * i)).collect(),
            strides: (0..rank - 1).map(|i| u64at(64 + 8 * i)).collect(),
            box_dims: (0..rank)
                .map(|i| u16::from_le_bytes([b[96 + 2 * i], b[97 + 2 * i]]) as u32 + 1)
                .collect(),
            element_strides: (0..rank).map(|i| b[106 + i] as u32).collect(),
            swizzle: [Swizzle::None, Swizzle::B32, Swizzle::B64, Swizzle::B128]
                [pick(b[7], 4, "swizzle")? as usize],
            interleave: [Interleave::None, Interleave::B16, Interleave::B32]
                [pick(b[8], 3, "interleave")? as usize],
            l2_promotion: [
                L2Promotion::None,
                L2Promotion::B64,
                L2Promotion::B128,
                L2Promotion::B256,
            ][pick(b[9], 4, "L2 promotion")? as usize],
            oob_fill: [OobFill::None, OobFill::NanRequestZeroFma]
                [pick(b[10], 2, "OOB fill")? as usize],
        };
        m.validate()?;
        Ok(m)
    }
}

impl fmt::Display for TensorMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} tensor {:?} at {:#x}, strides {:?}, box {:?}, element strides {:?}, swizzle {:?}",
            self.dtype,
            self.dims,
            self.global_address,
            self.strides,
            self.box_dims,
            self.element_strides,
            self.swizzle
        )
    }
}
