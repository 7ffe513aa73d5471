//! How tests/kernels/pipeline.cu is launched: its two tensor maps (B, K-major, through
//! a 128B-swizzled ring; D, stored unswizzled) and its parameters. Shared by
//! tests/pipeline.rs (correctness) and sparse24's kernel report (ptxsim's wgmma speed).

use ptxsim::{
    Interleave, L2Promotion, LaunchConfig, OobFill, Param, Swizzle, TensorMap, TensorMapError,
    TmapDtype,
};

/// Threads per CTA: one producer warp and one consumer warpgroup.
pub const THREADS: u32 = 160;

/// A bf16 matrix of `dims` (dimension 0 contiguous) in boxes of 64 × 64.
pub fn map(addr: u64, dims: [u64; 2], swizzle: Swizzle) -> TensorMap {
    TensorMap {
        dtype: TmapDtype::BF16,
        global_address: addr,
        dims: dims.to_vec(),
        strides: vec![2 * dims[0]],
        box_dims: vec![64, 64],
        element_strides: vec![1, 1],
        interleave: Interleave::None,
        swizzle,
        l2_promotion: L2Promotion::None,
        oob_fill: OobFill::None,
    }
}

/// The launch of `ctas` CTAs over `ktiles` K tiles of 64: B (64 rows × 64·ktiles, K-major)
/// at `b`, the A fragments at `a`, D (64·ctas rows × 64) at `d`.
pub fn launch(
    b: u64,
    a: u64,
    d: u64,
    ctas: usize,
    ktiles: usize,
) -> Result<(LaunchConfig, Vec<Param>), TensorMapError> {
    let bytes = |m: TensorMap| m.encode().map(|e| Param::Bytes(e.to_vec()));
    Ok((
        LaunchConfig::linear(ctas as u32, THREADS),
        vec![
            bytes(map(b, [64 * ktiles as u64, 64], Swizzle::B128))?,
            bytes(map(d, [64, 64 * ctas as u64], Swizzle::None))?,
            Param::U64(a),
            Param::I32(ktiles as i32),
        ],
    ))
}
