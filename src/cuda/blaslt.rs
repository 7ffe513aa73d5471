//! Dense f32 matrix products through cuBLASLt (cudarc's raw bindings): the library
//! GEMM behind [`crate::launch::Executor::sgemm_row_major`] on a real GPU.
//!
//! Compute type `CUBLAS_COMPUTE_32F` (not the TF32 variant), so products match an
//! f32-accumulating reference to f32 rounding. The descriptors and the heuristic's
//! algorithm are made once per shape and reused.

use crate::error::{Error, Result};
use cudarc::cublaslt::{result as lt, sys as ltsys};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};
use std::sync::Arc;

const WORKSPACE_BYTES: usize = 32 << 20;

fn lt_err(call: &'static str) -> impl Fn(lt::CublasError) -> Error {
    move |e| Error::Cuda(format!("{call}: {e:?}"))
}

/// Whether libcublasLt can be loaded on this machine.
pub fn present() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { ltsys::is_culib_present() }
}

/// C[m, n] = A[m, k] · B[k, n], all f32 and row-major, set up for one shape.
pub struct RowMajorSgemm {
    handle: ltsys::cublasLtHandle_t,
    desc: ltsys::cublasLtMatmulDesc_t,
    a: ltsys::cublasLtMatrixLayout_t,
    b: ltsys::cublasLtMatrixLayout_t,
    c: ltsys::cublasLtMatrixLayout_t,
    algo: ltsys::cublasLtMatmulAlgo_t,
    workspace: CudaSlice<u8>,
}

// SAFETY: the cuBLASLt objects are plain handles to library state that may be used
// from any thread; the executor serialises use through a Mutex.
unsafe impl Send for RowMajorSgemm {}

impl RowMajorSgemm {
    pub fn new(stream: &Arc<CudaStream>, m: usize, n: usize, k: usize) -> Result<Self> {
        if !present() {
            return Err(Error::Cuda("libcublasLt is not on the loader path".into()));
        }
        let f32_ty = ltsys::cudaDataType_t::CUDA_R_32F;
        let handle = lt::create_handle().map_err(lt_err("cublasLtCreate"))?;
        // Filled in step by step; Drop releases whatever is non-null.
        let mut s = RowMajorSgemm {
            handle,
            desc: std::ptr::null_mut(),
            a: std::ptr::null_mut(),
            b: std::ptr::null_mut(),
            c: std::ptr::null_mut(),
            // SAFETY: a plain C struct of integers, overwritten by the heuristic.
            algo: unsafe { std::mem::zeroed() },
            workspace: stream.alloc_zeros::<u8>(WORKSPACE_BYTES)?,
        };
        s.desc = lt::create_matmul_desc(ltsys::cublasComputeType_t::CUBLAS_COMPUTE_32F, f32_ty)
            .map_err(lt_err("cublasLtMatmulDescCreate"))?;
        // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ, and a row-major matrix read as
        // column-major is its transpose: so the library's "A" is our B ([n, k] col-major,
        // ld n), its "B" is our A ([k, m] col-major, ld k), no transposes.
        let dim = |v: usize| v as u64;
        s.a = lt::create_matrix_layout(f32_ty, dim(n), dim(k), n as i64)
            .map_err(lt_err("cublasLtMatrixLayoutCreate(A)"))?;
        s.b = lt::create_matrix_layout(f32_ty, dim(k), dim(m), k as i64)
            .map_err(lt_err("cublasLtMatrixLayoutCreate(B)"))?;
        s.c = lt::create_matrix_layout(f32_ty, dim(n), dim(m), n as i64)
            .map_err(lt_err("cublasLtMatrixLayoutCreate(C)"))?;
        let pref = lt::create_matmul_pref().map_err(lt_err("cublasLtMatmulPreferenceCreate"))?;
        let ws = WORKSPACE_BYTES as u64;
        // SAFETY: valid objects created above; the preference is destroyed whatever
        // the outcome.
        let heur = unsafe {
            let r = lt::set_matmul_pref_attribute(
                pref,
                ltsys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                &ws as *const u64 as *const _,
                8,
            )
            .map_err(lt_err("cublasLtMatmulPreferenceSetAttribute"))
            .and_then(|_| {
                lt::get_matmul_algo_heuristic(s.handle, s.desc, s.a, s.b, s.c, s.c, pref)
                    .map_err(lt_err("cublasLtMatmulAlgoGetHeuristic"))
            });
            let _ = lt::destroy_matmul_pref(pref);
            r?
        };
        s.algo = heur.algo;
        Ok(s)
    }

    /// Enqueues C = A·B on `stream`; `a`, `b`, `c` are device addresses of live f32
    /// buffers of m·k, k·n and m·n elements.
    pub fn enqueue(&self, stream: &Arc<CudaStream>, a: u64, b: u64, c: u64) -> Result<()> {
        let (alpha, beta) = (1.0f32, 0.0f32);
        let (ws, _sync) = self.workspace.device_ptr(stream);
        // SAFETY: descriptors and algorithm made by `new` for this shape; the caller
        // guarantees the buffers' sizes.
        unsafe {
            lt::matmul(
                self.handle,
                self.desc,
                &alpha as *const f32 as *const _,
                &beta as *const f32 as *const _,
                b as usize as *const _,
                self.a,
                a as usize as *const _,
                self.b,
                c as usize as *const _,
                self.c,
                c as usize as *mut _,
                self.c,
                &self.algo,
                ws as usize as *mut _,
                WORKSPACE_BYTES,
                stream.cu_stream() as *mut _,
            )
        }
        .map_err(lt_err("cublasLtMatmul"))
    }
}

impl Drop for RowMajorSgemm {
    fn drop(&mut self) {
        // SAFETY: each object was created by `new` (or is null) and is released once.
        unsafe {
            for l in [self.a, self.b, self.c] {
                if !l.is_null() {
                    let _ = lt::destroy_matrix_layout(l);
                }
            }
            if !self.desc.is_null() {
                let _ = lt::destroy_matmul_desc(self.desc);
            }
            let _ = lt::destroy_handle(self.handle);
        }
    }
}
