//! Tensor maps encoded by the driver (`cuTensorMapEncodeTiled`), for the kernels that
//! copy with the bulk tensor engine. The function is resolved from libcuda by name
//! here rather than through cudarc's bindings, which exist only when cudarc is built
//! for CUDA 12.0 or newer: a dependent that builds cudarc for CUDA 11 still compiles,
//! and only the Hopper kernels (which need CUDA 12 anyway) report the map missing.
//!
//! Cost on the host: one driver call per launch that carries a map (X's address
//! changes every forward); the driver encodes on the CPU without touching the GPU.

use crate::abi::TensorMapBytes;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor_map::{TensorMapDesc, TensorMapSwizzle, MAX_RANK};
use std::ffi::c_void;
use std::sync::OnceLock;

/// `cuTensorMapEncodeTiled`: (map, dtype, rank, address, dims, strides, box,
/// element strides, interleave, swizzle, L2 promotion, OOB fill) -> CUresult.
type EncodeTiled = unsafe extern "C" fn(
    *mut TensorMapBytes,
    u32,
    u32,
    *mut c_void,
    *const u64,
    *const u64,
    *const u32,
    *const u32,
    u32,
    u32,
    u32,
    u32,
) -> i32;

fn encoder() -> Option<EncodeTiled> {
    static ENCODE: OnceLock<Option<(libloading::Library, EncodeTiled)>> = OnceLock::new();
    ENCODE
        .get_or_init(|| {
            ["libcuda.so.1", "libcuda.so", "nvcuda.dll"]
                .into_iter()
                .find_map(|name| {
                    // SAFETY: libcuda's initialisers only; the library stays loaded
                    // (kept in the static) for as long as the symbol may be called.
                    let lib = unsafe { libloading::Library::new(name) }.ok()?;
                    // SAFETY: the symbol's C signature (cuda.h, CUDA 12.0+) is `EncodeTiled`:
                    // enums are 32-bit, cuuint64_t/cuuint32_t are u64/u32.
                    let f = unsafe { lib.get::<EncodeTiled>(b"cuTensorMapEncodeTiled\0") }
                        .ok()
                        .map(|s| *s)?;
                    Some((lib, f))
                })
        })
        .as_ref()
        .map(|(_, f)| *f)
}

/// The driver's encoding of `d` (`CU_TENSOR_MAP_*` codes from cuda.h).
pub(crate) fn encode(d: &TensorMapDesc) -> Result<TensorMapBytes> {
    let Some(f) = encoder() else {
        return Err(Error::InvalidArgument {
            what: "tensor map",
            why: "libcuda has no cuTensorMapEncodeTiled (a CUDA 12.0+ driver is needed)".into(),
        });
    };
    if !(1..=MAX_RANK).contains(&d.rank) {
        return Err(Error::InvalidArgument {
            what: "tensor map",
            why: format!("rank {} (must be 1..=5)", d.rank),
        });
    }
    let dtype = match d.dtype {
        DType::F16 => 6,
        DType::F32 => 7,
        DType::BF16 => 9,
    };
    let swizzle = match d.swizzle {
        TensorMapSwizzle::None => 0,
        TensorMapSwizzle::B32 => 1,
        TensorMapSwizzle::B64 => 2,
        TensorMapSwizzle::B128 => 3,
    };
    let element_strides = [1u32; MAX_RANK];
    let mut map = TensorMapBytes([0; 128]);
    // SAFETY: every array has at least `rank` entries (`strides` rank - 1), the map is
    // 128 bytes and 64-byte aligned (CUtensorMap), and the driver only reads the
    // description; the address is not dereferenced on the host.
    let status = unsafe {
        f(
            &mut map,
            dtype,
            d.rank as u32,
            d.address as *mut c_void,
            d.dims.as_ptr(),
            d.strides.as_ptr(),
            d.box_dims.as_ptr(),
            element_strides.as_ptr(),
            0, // CU_TENSOR_MAP_INTERLEAVE_NONE
            swizzle,
            2, // CU_TENSOR_MAP_L2_PROMOTION_L2_128B
            0, // CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE: out-of-bounds elements read as 0
        )
    };
    if status != 0 {
        return Err(Error::InvalidArgument {
            what: "tensor map",
            why: format!("cuTensorMapEncodeTiled refused {d:?} (CUresult {status})"),
        });
    }
    Ok(map)
}
