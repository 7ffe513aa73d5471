//! Dense matrix products through cuBLASLt (cudarc's raw bindings), f32 accumulation:
//! the dense f32 GEMM behind [`crate::launch::DenseF32Gemm`] on a real GPU
//! ([`RowMajorF32Gemm`]) and the dense baseline of the GPU benchmark (f16/bf16).
//!
//! Compute type `CUBLAS_COMPUTE_32F` (not the TF32 variant), so f32 products match an
//! f32-accumulating reference to f32 rounding. Descriptors and the heuristic's
//! algorithm are made once per shape and reused.

use crate::dtype::DType;
use crate::error::{CudaCode, Error, Result};
use cudarc::cublaslt::{result as lt, sys as ltsys};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};
use std::sync::Arc;

const WORKSPACE_BYTES: usize = 32 << 20;

fn lt_err(call: &'static str) -> impl Fn(lt::CublasError) -> Error {
    move |e| Error::Cuda {
        code: Some(CudaCode::CublasLt(e.0)),
        message: format!("{call}: {e:?}"),
    }
}

/// Whether libcublasLt can be loaded on this machine.
pub fn present() -> bool {
    super::loader::present("cublasLt")
}

/// A column-major operand of cuBLASLt: `rows` × `cols` with leading dimension `ld`.
#[derive(Copy, Clone, Debug)]
pub struct Layout {
    /// Rows of the operand.
    pub rows: usize,
    /// Columns of the operand.
    pub cols: usize,
    /// Leading dimension: elements between consecutive columns.
    pub ld: usize,
}

/// D = op(A) · B in cuBLASLt's column-major terms (op = transpose when `trans_a`),
/// all of one dtype, f32 accumulation and scale, D written in place of C (beta 0).
pub struct LtMatmul {
    handle: ltsys::cublasLtHandle_t,
    desc: ltsys::cublasLtMatmulDesc_t,
    a: ltsys::cublasLtMatrixLayout_t,
    b: ltsys::cublasLtMatrixLayout_t,
    c: ltsys::cublasLtMatrixLayout_t,
    algo: ltsys::cublasLtMatmulAlgo_t,
    workspace: CudaSlice<u8>,
}

// SAFETY: the cuBLASLt objects are plain handles to library state that may be used
// from any thread; users serialise use (the executor through a Mutex).
unsafe impl Send for LtMatmul {}

impl LtMatmul {
    /// A matmul set up for these operands on `stream` (descriptors and the algorithm chosen once).
    pub fn new(
        stream: &Arc<CudaStream>,
        dtype: DType,
        trans_a: bool,
        a: Layout,
        b: Layout,
        c: Layout,
    ) -> Result<Self> {
        if !present() {
            return Err(Error::cuda("libcublasLt is not on the loader path"));
        }
        let ty = match dtype {
            DType::F32 => ltsys::cudaDataType_t::CUDA_R_32F,
            DType::F16 => ltsys::cudaDataType_t::CUDA_R_16F,
            DType::BF16 => ltsys::cudaDataType_t::CUDA_R_16BF,
        };
        let handle = lt::create_handle().map_err(lt_err("cublasLtCreate"))?;
        // Filled in step by step; Drop releases whatever is non-null.
        let mut s = LtMatmul {
            handle,
            desc: std::ptr::null_mut(),
            a: std::ptr::null_mut(),
            b: std::ptr::null_mut(),
            c: std::ptr::null_mut(),
            // SAFETY: a plain C struct of integers, overwritten by the heuristic.
            algo: unsafe { std::mem::zeroed() },
            workspace: stream.alloc_zeros::<u8>(WORKSPACE_BYTES)?,
        };
        s.desc = lt::create_matmul_desc(
            ltsys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
            ltsys::cudaDataType_t::CUDA_R_32F,
        )
        .map_err(lt_err("cublasLtMatmulDescCreate"))?;
        if trans_a {
            let op_t: i32 = 1; // CUBLAS_OP_T
                               // SAFETY: valid descriptor, attribute value of the size given.
            unsafe {
                lt::set_matmul_desc_attribute(
                    s.desc,
                    ltsys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA,
                    &op_t as *const i32 as *const _,
                    4,
                )
            }
            .map_err(lt_err("cublasLtMatmulDescSetAttribute(TRANSA)"))?;
        }
        let layout = |l: Layout, what: &'static str| {
            lt::create_matrix_layout(ty, l.rows as u64, l.cols as u64, l.ld as i64)
                .map_err(lt_err(what))
        };
        s.a = layout(a, "cublasLtMatrixLayoutCreate(A)")?;
        s.b = layout(b, "cublasLtMatrixLayoutCreate(B)")?;
        s.c = layout(c, "cublasLtMatrixLayoutCreate(C)")?;
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

    /// Enqueues D = op(A)·B on `stream`; `a`, `b`, `d` are device addresses of live
    /// buffers of the layouts given to [`LtMatmul::new`].
    pub fn enqueue(&self, stream: &Arc<CudaStream>, a: u64, b: u64, d: u64) -> Result<()> {
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
                a as usize as *const _,
                self.a,
                b as usize as *const _,
                self.b,
                d as usize as *const _,
                self.c,
                d as usize as *mut _,
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

impl Drop for LtMatmul {
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

/// C[m, n] = A[m, k] · B[k, n], all f32 and row-major, set up for one shape.
pub struct RowMajorF32Gemm(LtMatmul);

impl RowMajorF32Gemm {
    /// Set up for `m × k` times `k × n` on `stream`.
    pub fn new(stream: &Arc<CudaStream>, m: usize, n: usize, k: usize) -> Result<Self> {
        // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ, and a row-major matrix read as
        // column-major is its transpose: so the library's "A" is our B ([n, k]
        // column-major, ld n), its "B" is our A ([k, m], ld k), no transposes.
        let l = |rows, cols| Layout {
            rows,
            cols,
            ld: rows,
        };
        Ok(RowMajorF32Gemm(LtMatmul::new(
            stream,
            DType::F32,
            false,
            l(n, k),
            l(k, m),
            l(n, m),
        )?))
    }

    /// Enqueues C = A·B on `stream` (f32 buffers of m·k, k·n and m·n elements).
    pub fn enqueue(&self, stream: &Arc<CudaStream>, a: u64, b: u64, c: u64) -> Result<()> {
        self.0.enqueue(stream, b, a, c)
    }
}
