//! Thread-block cluster launches. cudarc 0.19's launch builder passes no launch
//! attributes, so a [`Launch`] with cluster dimensions goes through `cuLaunchKernelEx`
//! with `CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION` (and, above 8 CTAs per cluster, the
//! function's non-portable-cluster-size attribute). Its arguments are passed as the driver
//! reads kernel parameters: one pointer per parameter, to the value in the `Launch` (or to
//! its struct as `EncodedStruct` holds it). Built against the driver API's documented
//! layout; not yet run on a GPU (ptxsim runs cluster launches: tests/cluster_launch.rs).

use crate::error::{Error, Result};
use crate::launch::{Arg, EncodedStruct, Launch};
use cudarc::driver::sys;
use cudarc::driver::{CudaContext, CudaFunction, CudaStream};
use std::ffi::c_void;

/// The most CTAs a cluster holds without the non-portable attribute (sm_90).
const PORTABLE_CTAS: u64 = 8;

/// Launches `l` on `stream` as clusters of `l.cluster`; `structs` are its struct arguments,
/// encoded, in order.
pub(super) fn launch<A: AsRef<[Arg]>>(
    ctx: &CudaContext,
    stream: &CudaStream,
    f: &CudaFunction,
    l: &Launch<A>,
    structs: &[EncodedStruct],
) -> Result<()> {
    let ctas = l
        .cluster
        .iter()
        .fold(1u64, |n, &d| n.saturating_mul(d as u64));
    if ctas > PORTABLE_CTAS {
        f.set_attribute(
            sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED,
            1,
        )?;
    }
    let mut structs = structs.iter();
    let mut params: Vec<*mut c_void> = Vec::with_capacity(l.args.as_ref().len());
    for a in l.args.as_ref() {
        let p: *const c_void = match a {
            Arg::Ptr(v) | Arg::U64(v) => (v as *const u64).cast(),
            Arg::U32(v) => (v as *const u32).cast(),
            Arg::I32(v) => (v as *const i32).cast(),
            Arg::F32(v) => (v as *const f32).cast(),
            Arg::Struct(_) => match structs.next() {
                Some(EncodedStruct::Gemm(p)) => (p as *const crate::abi::GemmParams).cast(),
                Some(EncodedStruct::Gemm90(p)) => (p as *const crate::abi::Gemm90Params).cast(),
                None => {
                    return Err(Error::InvalidArgument {
                        what: "launch",
                        why: "a struct argument was not encoded".into(),
                    })
                }
            },
        };
        params.push(p.cast_mut());
    }
    // SAFETY: CUlaunchAttribute is a C struct of an enum id (0 is a valid id), padding
    // and a union of plain integers: all-zero is a valid value, overwritten below.
    let mut attr: sys::CUlaunchAttribute = unsafe { std::mem::zeroed() };
    attr.id = sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    attr.value.clusterDim = sys::CUlaunchAttributeValue_union__bindgen_ty_1 {
        x: l.cluster[0],
        y: l.cluster[1],
        z: l.cluster[2],
    };
    let cfg = sys::CUlaunchConfig {
        gridDimX: l.grid[0],
        gridDimY: l.grid[1],
        gridDimZ: l.grid[2],
        blockDimX: l.block[0],
        blockDimY: l.block[1],
        blockDimZ: l.block[2],
        sharedMemBytes: l.dynamic_shared_bytes,
        hStream: stream.cu_stream(),
        attrs: &mut attr,
        numAttrs: 1,
    };
    ctx.bind_to_thread()?;
    // SAFETY: `f` belongs to `ctx`, bound to this thread; `params` holds one pointer per
    // kernel parameter, each to a live value of the parameter's type (the launch was
    // computed by this crate's host code for this kernel, as for the builder path), and
    // the driver copies them before returning; `cfg` and `attr` outlive the call.
    unsafe {
        sys::cuLaunchKernelEx(
            &cfg,
            f.cu_function(),
            params.as_mut_ptr(),
            std::ptr::null_mut(),
        )
    }
    .result()?;
    Ok(())
}
