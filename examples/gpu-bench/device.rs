//! The device: its description and the raw buffer operations the benchmark uses.

use super::error::{BenchError, Res};
use cudarc::driver::{sys, CudaContext, CudaSlice, CudaStream, DevicePtr};
use std::sync::Arc;

pub struct Device {
    pub name: String,
    pub cc: (i32, i32),
    pub sms: usize,
    pub l2: usize,
    pub driver: i32,
    pub mem: usize,
}

impl Device {
    /// What sparse24's plans are chosen for on this device (its SMs and compute
    /// capability: the Hopper kernel on 9.0).
    pub fn gemm_device(&self) -> sparse24::ops::gemm::GemmDevice {
        sparse24::ops::gemm::GemmDevice {
            sm_count: self.sms,
            compute_capability: (self.cc.0.max(0) as u32, self.cc.1.max(0) as u32),
        }
    }
}

pub fn device_info(ctx: &Arc<CudaContext>) -> Res<Device> {
    use sys::CUdevice_attribute as A;
    let mut driver = 0;
    // SAFETY: writes one int; libcuda was probed present by sparse24::cuda::context.
    let r = unsafe { sys::cuDriverGetVersion(&mut driver) };
    if r != sys::CUresult::CUDA_SUCCESS {
        driver = -1;
    }
    Ok(Device {
        name: ctx.name()?,
        cc: ctx.compute_capability()?,
        sms: ctx.attribute(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as usize,
        l2: ctx.attribute(A::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)? as usize,
        driver,
        mem: ctx.total_mem()?,
    })
}

pub fn upload<T: bytemuck::Pod>(stream: &Arc<CudaStream>, v: &[T]) -> Res<CudaSlice<u8>> {
    Ok(stream.clone_htod(bytemuck::cast_slice::<T, u8>(v))?)
}

pub fn dptr(stream: &Arc<CudaStream>, b: &CudaSlice<u8>) -> u64 {
    let (p, _) = b.device_ptr(stream);
    p
}

pub fn alloc(stream: &Arc<CudaStream>, bytes: usize) -> Res<CudaSlice<u8>> {
    Ok(stream.alloc_zeros::<u8>(bytes.max(1))?)
}

pub fn memset(stream: &Arc<CudaStream>, p: u64, byte: u8, bytes: usize) -> Res<()> {
    // SAFETY: `p` is a live allocation of at least `bytes` bytes on `stream`.
    unsafe { cudarc::driver::result::memset_d8_async(p, byte, bytes, stream.cu_stream()) }?;
    Ok(())
}

pub fn copy_dtod(stream: &Arc<CudaStream>, dst: u64, src: u64, bytes: usize) -> Res<()> {
    // SAFETY: both are live allocations of at least `bytes` bytes on `stream`.
    let r = unsafe { sys::cuMemcpyDtoDAsync_v2(dst, src, bytes, stream.cu_stream()) };
    if r == sys::CUresult::CUDA_SUCCESS {
        Ok(())
    } else {
        Err(BenchError::DriverCall {
            call: "cuMemcpyDtoDAsync",
            code: r,
        })
    }
}
