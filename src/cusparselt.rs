//! A minimal binding to NVIDIA cuSPARSELt 0.8, loaded at run time: the peer that the
//! GPU benchmark measures sparse24 against (REFERENCES.md). Only what the benchmark
//! needs: handle, dense and structured matrix descriptors, matmul descriptor,
//! prune + prune check, compress, algorithm selection, plan, workspace size, the
//! library's own algorithm search and the matmul itself.
//!
//! The library is opened with `dlopen` on first use: from the path in the environment
//! variable `SPARSE24_CUSPARSELT` when set, else `libcusparseLt.so.0` from the loader
//! path (on the GPU machines it ships inside the Python environment, under
//! `site-packages/nvidia/cusparselt/lib`; scripts/gpu-check.sh puts that directory on
//! `LD_LIBRARY_PATH`). Its version must be 0.8.x (checked with
//! `cusparseLtGetProperty` before any other call). A missing library or another
//! version is reported by [`library`] as a reason string, never a panic; every call's
//! status is checked and turned into [`Error::Cuda`] naming the call.
//!
//! The declarations were written from the cuSPARSELt documentation (types,
//! enumerators and function signatures of the 0.8 API); the opaque structs are
//! over-allocated (8 KiB each, the library's are 1 KiB) and boxed so that their
//! addresses stay fixed while the library keeps pointers between them.
//!
//! Layout of the linear layer, as PyTorch's `_cslt_sparse_mm` sets it up for
//! `F.linear` with a sparse weight: A = W [out, in] row-major, structured (2:4 along
//! `in`); B = X [tokens, in] row-major used transposed; C = D = Y as a column-major
//! [out, tokens] matrix, which is Y [tokens, out] row-major. f32 compute.

use crate::dtype::DType;
use crate::error::{CudaCode, Error, Result};
use cudarc::driver::CudaStream;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

/// Environment variable with an explicit path to `libcusparseLt.so.0`.
pub const PATH_ENV: &str = "SPARSE24_CUSPARSELT";
/// The library's file name on the loader path.
pub const LIBRARY_NAME: &str = "libcusparseLt.so.0";
/// The API versions whose header these declarations were checked against: the
/// enum values, the opaque struct sizes (512 bytes in 0.10, 1024 in 0.8) and every
/// signature used here are the same in 0.8 and in 0.10.0 (nvidia-cusparselt-cu13).
/// Major 0, minor in this range.
pub const API_MINOR_VERSIONS: std::ops::RangeInclusive<i32> = 8..=10;

type Status = c_int;
type Stream = *mut c_void;

/// Storage of one opaque cuSPARSELt struct: the 0.8 headers declare 1024 bytes; 8 KiB
/// at 64-byte alignment leaves room for any growth and any alignment it may declare.
#[repr(C, align(64))]
struct Block([u8; 8192]);

/// An opaque cuSPARSELt object (handle, descriptor, plan), boxed at a fixed address.
struct Opaque(Box<Block>);

impl Opaque {
    fn new() -> Opaque {
        Opaque(Box::new(Block([0u8; 8192])))
    }
    fn ptr(&self) -> *const c_void {
        self.0.as_ref() as *const Block as *const c_void
    }
    fn mut_ptr(&mut self) -> *mut c_void {
        self.0.as_mut() as *mut Block as *mut c_void
    }
}

// Enumerator values of the 0.8 API (cuSPARSELt and CUDA library_types.h).
const CUDA_R_16F: c_int = 2;
const CUDA_R_16BF: c_int = 14;
const ORDER_COL: c_int = 1;
const ORDER_ROW: c_int = 2;
const OP_NON_TRANSPOSE: c_int = 0;
const OP_TRANSPOSE: c_int = 1;
const SPARSITY_50_PERCENT: c_int = 0;
const COMPUTE_32F: c_int = 2;
const MATMUL_ALG_DEFAULT: c_int = 0;
const ALG_CONFIG_ID: c_int = 0;
const PRUNE_SPMMA_STRIP: c_int = 1;
const PROPERTY_MAJOR: c_int = 0;
const PROPERTY_MINOR: c_int = 1;
const PROPERTY_PATCH: c_int = 2;
/// Alignment in bytes promised for every matrix pointer.
const ALIGNMENT: u32 = 16;

type FnGetProperty = unsafe extern "C" fn(c_int, *mut c_int) -> Status;
type FnHandle = unsafe extern "C" fn(*mut c_void) -> Status;
type FnConstHandle = unsafe extern "C" fn(*const c_void) -> Status;
type FnGetVersion = unsafe extern "C" fn(*const c_void, *mut c_int) -> Status;
type FnErrorString = unsafe extern "C" fn(Status) -> *const c_char;
type FnDenseInit =
    unsafe extern "C" fn(*const c_void, *mut c_void, i64, i64, i64, u32, c_int, c_int) -> Status;
type FnStructuredInit = unsafe extern "C" fn(
    *const c_void,
    *mut c_void,
    i64,
    i64,
    i64,
    u32,
    c_int,
    c_int,
    c_int,
) -> Status;
type FnMatmulDescInit = unsafe extern "C" fn(
    *const c_void,
    *mut c_void,
    c_int,
    c_int,
    *const c_void,
    *const c_void,
    *const c_void,
    *const c_void,
    c_int,
) -> Status;
type FnAlgSelInit =
    unsafe extern "C" fn(*const c_void, *mut c_void, *const c_void, c_int) -> Status;
type FnAlgGetAttribute =
    unsafe extern "C" fn(*const c_void, *const c_void, c_int, *mut c_void, usize) -> Status;
type FnPlanInit =
    unsafe extern "C" fn(*const c_void, *mut c_void, *const c_void, *const c_void) -> Status;
type FnGetWorkspace = unsafe extern "C" fn(*const c_void, *const c_void, *mut usize) -> Status;
type FnPrune = unsafe extern "C" fn(
    *const c_void,
    *const c_void,
    *const c_void,
    *mut c_void,
    c_int,
    Stream,
) -> Status;
type FnPruneCheck =
    unsafe extern "C" fn(*const c_void, *const c_void, *const c_void, *mut c_int, Stream) -> Status;
type FnCompressedSize =
    unsafe extern "C" fn(*const c_void, *const c_void, *mut usize, *mut usize) -> Status;
type FnCompress = unsafe extern "C" fn(
    *const c_void,
    *const c_void,
    *const c_void,
    *mut c_void,
    *mut c_void,
    Stream,
) -> Status;
/// `cusparseLtMatmul` and `cusparseLtMatmulSearch` (the plan is const in the first,
/// written in the second; the ABI is the same).
type FnMatmul = unsafe extern "C" fn(
    *const c_void,
    *mut c_void,
    *const c_void,
    *const c_void,
    *const c_void,
    *const c_void,
    *const c_void,
    *mut c_void,
    *mut c_void,
    *mut Stream,
    i32,
) -> Status;

/// The loaded library: its entry points, valid while `_lib` lives (for the process).
pub struct CuSparseLt {
    _lib: libloading::Library,
    /// Where it was loaded from.
    pub path: String,
    /// (major, minor, patch) from `cusparseLtGetProperty`.
    pub version: (i32, i32, i32),
    init: FnHandle,
    destroy: FnConstHandle,
    get_version: FnGetVersion,
    error_string: Option<FnErrorString>,
    dense_init: FnDenseInit,
    structured_init: FnStructuredInit,
    mat_destroy: FnConstHandle,
    matmul_desc_init: FnMatmulDescInit,
    alg_sel_init: FnAlgSelInit,
    alg_get_attribute: FnAlgGetAttribute,
    alg_sel_destroy: Option<FnConstHandle>,
    plan_init: FnPlanInit,
    plan_destroy: FnConstHandle,
    get_workspace: FnGetWorkspace,
    prune: FnPrune,
    prune_check: FnPruneCheck,
    compressed_size: FnCompressedSize,
    compress: FnCompress,
    matmul: FnMatmul,
    search: FnMatmul,
}

fn status_name(s: Status) -> &'static str {
    match s {
        0 => "CUSPARSE_STATUS_SUCCESS",
        1 => "CUSPARSE_STATUS_NOT_INITIALIZED",
        2 => "CUSPARSE_STATUS_ALLOC_FAILED",
        3 => "CUSPARSE_STATUS_INVALID_VALUE",
        4 => "CUSPARSE_STATUS_ARCH_MISMATCH",
        5 => "CUSPARSE_STATUS_MAPPING_ERROR",
        6 => "CUSPARSE_STATUS_EXECUTION_FAILED",
        7 => "CUSPARSE_STATUS_INTERNAL_ERROR",
        8 => "CUSPARSE_STATUS_MATRIX_TYPE_NOT_SUPPORTED",
        9 => "CUSPARSE_STATUS_ZERO_PIVOT",
        10 => "CUSPARSE_STATUS_NOT_SUPPORTED",
        11 => "CUSPARSE_STATUS_INSUFFICIENT_RESOURCES",
        _ => "unknown status",
    }
}

impl CuSparseLt {
    fn check(&self, call: &'static str, s: Status) -> Result<()> {
        if s == 0 {
            return Ok(());
        }
        let detail = self
            .error_string
            // SAFETY: cusparseLtGetErrorString takes any status value and returns a
            // pointer to a static NUL-terminated string (or null).
            .map(|f| unsafe { f(s) })
            .filter(|p| !p.is_null())
            // SAFETY: non-null, NUL-terminated, static storage (see above).
            .map(|p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
            .unwrap_or_default();
        Err(Error::Cuda {
            code: Some(CudaCode::CusparseLt(s)),
            message: format!(
                "{call}: {} ({s}){}{detail}",
                status_name(s),
                if detail.is_empty() { "" } else { ": " }
            ),
        })
    }
}

fn open() -> std::result::Result<CuSparseLt, String> {
    let path = std::env::var(PATH_ENV).unwrap_or_else(|_| LIBRARY_NAME.to_string());
    // SAFETY: loading a shared library runs its initialisers; cuSPARSELt's only set
    // up its own state. Nothing else is called until its version has been checked.
    let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| {
        format!(
            "cannot load {path} ({e}); set {PATH_ENV} to its full path or put \
             site-packages/nvidia/cusparselt/lib on LD_LIBRARY_PATH"
        )
    })?;
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the symbol is declared above with the signature of the 0.8 API
            // (types and argument order from its documentation); the pointer stays
            // valid while `lib` is alive, and `lib` lives in the returned struct.
            *unsafe { lib.get($name) }.map_err(|e| {
                format!(
                    "{path} lacks {}: {e}",
                    String::from_utf8_lossy(&$name[..$name.len() - 1])
                )
            })?
        };
    }
    macro_rules! opt_sym {
        ($name:literal) => {
            // SAFETY: as for `sym!`; optional entry points.
            unsafe { lib.get($name) }.ok().map(|s| *s)
        };
    }
    let get_property: FnGetProperty = sym!(b"cusparseLtGetProperty\0");
    let mut v = [0 as c_int; 3];
    for (i, prop) in [PROPERTY_MAJOR, PROPERTY_MINOR, PROPERTY_PATCH]
        .into_iter()
        .enumerate()
    {
        // SAFETY: writes one int through a valid pointer; needs no handle.
        let s = unsafe { get_property(prop, &mut v[i]) };
        if s != 0 {
            return Err(format!(
                "cusparseLtGetProperty({prop}) failed: {} ({s})",
                status_name(s)
            ));
        }
    }
    let version = (v[0], v[1], v[2]);
    if version.0 != 0 || !API_MINOR_VERSIONS.contains(&version.1) {
        return Err(format!(
            "{path} is cuSPARSELt {}.{}.{}; this binding is checked against 0.{}..=0.{}",
            version.0,
            version.1,
            version.2,
            API_MINOR_VERSIONS.start(),
            API_MINOR_VERSIONS.end()
        ));
    }
    Ok(CuSparseLt {
        init: sym!(b"cusparseLtInit\0"),
        destroy: sym!(b"cusparseLtDestroy\0"),
        get_version: sym!(b"cusparseLtGetVersion\0"),
        error_string: opt_sym!(b"cusparseLtGetErrorString\0"),
        dense_init: sym!(b"cusparseLtDenseDescriptorInit\0"),
        structured_init: sym!(b"cusparseLtStructuredDescriptorInit\0"),
        mat_destroy: sym!(b"cusparseLtMatDescriptorDestroy\0"),
        matmul_desc_init: sym!(b"cusparseLtMatmulDescriptorInit\0"),
        alg_sel_init: sym!(b"cusparseLtMatmulAlgSelectionInit\0"),
        alg_get_attribute: sym!(b"cusparseLtMatmulAlgGetAttribute\0"),
        alg_sel_destroy: opt_sym!(b"cusparseLtMatmulAlgSelectionDestroy\0"),
        plan_init: sym!(b"cusparseLtMatmulPlanInit\0"),
        plan_destroy: sym!(b"cusparseLtMatmulPlanDestroy\0"),
        get_workspace: sym!(b"cusparseLtMatmulGetWorkspace\0"),
        prune: sym!(b"cusparseLtSpMMAPrune\0"),
        prune_check: sym!(b"cusparseLtSpMMAPruneCheck\0"),
        compressed_size: sym!(b"cusparseLtSpMMACompressedSize\0"),
        compress: sym!(b"cusparseLtSpMMACompress\0"),
        matmul: sym!(b"cusparseLtMatmul\0"),
        search: sym!(b"cusparseLtMatmulSearch\0"),
        version,
        path,
        _lib: lib,
    })
}

/// The library, loaded and version-checked once per process; `Err` says why it is
/// not available (not found, a symbol missing, another version).
pub fn library() -> std::result::Result<&'static CuSparseLt, String> {
    static LIB: OnceLock<std::result::Result<CuSparseLt, String>> = OnceLock::new();
    LIB.get_or_init(open).as_ref().map_err(|e| e.clone())
}

fn data_type(d: DType) -> Result<c_int> {
    match d {
        DType::F16 => Ok(CUDA_R_16F),
        DType::BF16 => Ok(CUDA_R_16BF),
        DType::F32 => Err(Error::InvalidArgument {
            what: "dtype",
            why: "the cuSPARSELt baseline is set up for f16/bf16 (2:4) only".into(),
        }),
    }
}

fn dim(what: &'static str, v: usize) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Shape {
        what,
        value: v,
        requirement: "must fit in i64",
    })
}

fn as_ptr(p: u64) -> *const c_void {
    p as usize as *const c_void
}
fn as_mut_ptr(p: u64) -> *mut c_void {
    p as usize as *mut c_void
}

/// One sparse linear layer on cuSPARSELt: `Y[tokens, out] = X[tokens, in] · Wᵀ`, W
/// 2:4 along `in`, inputs and output of one dtype (f16 or bf16), f32 compute. All
/// pointers are device addresses on the stream given to each call.
pub struct SparseLtLinear {
    lib: &'static CuSparseLt,
    handle: Opaque,
    mat_a: Opaque,
    mat_b: Opaque,
    mat_c: Opaque,
    matmul: Opaque,
    alg: Opaque,
    plan: Opaque,
    /// Input and output dtype (f16 or bf16).
    pub dtype: DType,
    /// Rows of X and Y.
    pub tokens: usize,
    /// Output features: rows of W, columns of Y.
    pub out: usize,
    /// Input features: columns of W and of X.
    pub inn: usize,
    live: Live,
}

/// Which objects were initialised (and so must be destroyed).
#[derive(Default)]
struct Live {
    handle: bool,
    a: bool,
    b: bool,
    c: bool,
    alg: bool,
    plan: bool,
}

impl SparseLtLinear {
    /// Creates the handle, descriptors, default algorithm selection and plan.
    pub fn new(
        lib: &'static CuSparseLt,
        dtype: DType,
        tokens: usize,
        out: usize,
        inn: usize,
    ) -> Result<SparseLtLinear> {
        let ty = data_type(dtype)?;
        crate::shape::check_shape(out, inn)?;
        crate::shape::tokens_by("X", "in", tokens, inn)?;
        crate::shape::tokens_by("Y", "out", tokens, out)?;
        let (t, o, i) = (dim("tokens", tokens)?, dim("out", out)?, dim("in", inn)?);
        let mut s = SparseLtLinear {
            lib,
            handle: Opaque::new(),
            mat_a: Opaque::new(),
            mat_b: Opaque::new(),
            mat_c: Opaque::new(),
            matmul: Opaque::new(),
            alg: Opaque::new(),
            plan: Opaque::new(),
            dtype,
            tokens,
            out,
            inn,
            live: Live::default(),
        };
        // SAFETY (all calls below): every pointer is to a boxed opaque struct of at
        // least the size the library declares, or to a local; the descriptors are
        // initialised before they are passed on, and `Drop` destroys only what was
        // initialised (tracked in `live`).
        lib.check("cusparseLtInit", unsafe { (lib.init)(s.handle.mut_ptr()) })?;
        s.live.handle = true;
        let h = s.handle.ptr();
        lib.check("cusparseLtStructuredDescriptorInit (W)", unsafe {
            (lib.structured_init)(
                h,
                s.mat_a.mut_ptr(),
                o,
                i,
                i,
                ALIGNMENT,
                ty,
                ORDER_ROW,
                SPARSITY_50_PERCENT,
            )
        })?;
        s.live.a = true;
        lib.check("cusparseLtDenseDescriptorInit (X)", unsafe {
            (lib.dense_init)(h, s.mat_b.mut_ptr(), t, i, i, ALIGNMENT, ty, ORDER_ROW)
        })?;
        s.live.b = true;
        lib.check("cusparseLtDenseDescriptorInit (Y)", unsafe {
            (lib.dense_init)(h, s.mat_c.mut_ptr(), o, t, o, ALIGNMENT, ty, ORDER_COL)
        })?;
        s.live.c = true;
        lib.check("cusparseLtMatmulDescriptorInit", unsafe {
            (lib.matmul_desc_init)(
                h,
                s.matmul.mut_ptr(),
                OP_NON_TRANSPOSE,
                OP_TRANSPOSE,
                s.mat_a.ptr(),
                s.mat_b.ptr(),
                s.mat_c.ptr(),
                s.mat_c.ptr(),
                COMPUTE_32F,
            )
        })?;
        lib.check("cusparseLtMatmulAlgSelectionInit", unsafe {
            (lib.alg_sel_init)(h, s.alg.mut_ptr(), s.matmul.ptr(), MATMUL_ALG_DEFAULT)
        })?;
        s.live.alg = true;
        lib.check("cusparseLtMatmulPlanInit", unsafe {
            (lib.plan_init)(h, s.plan.mut_ptr(), s.matmul.ptr(), s.alg.ptr())
        })?;
        s.live.plan = true;
        Ok(s)
    }

    /// The version the handle reports (e.g. 800 for 0.8.0).
    pub fn handle_version(&self) -> Result<i32> {
        let mut v: c_int = 0;
        // SAFETY: valid handle, one int written.
        self.lib.check("cusparseLtGetVersion", unsafe {
            (self.lib.get_version)(self.handle.ptr(), &mut v)
        })?;
        Ok(v)
    }

    /// Prunes the dense W [out, in] at `dense` to 2:4 by magnitude in each 1×4 strip
    /// along `in` (`CUSPARSELT_PRUNE_SPMMA_STRIP`) into `pruned` (same size; may be
    /// `dense`). Stream-ordered.
    pub fn prune(&self, dense: u64, pruned: u64, stream: &CudaStream) -> Result<()> {
        // SAFETY: the caller passes device buffers of out·in elements on `stream`.
        self.lib.check("cusparseLtSpMMAPrune", unsafe {
            (self.lib.prune)(
                self.handle.ptr(),
                self.matmul.ptr(),
                as_ptr(dense),
                as_mut_ptr(pruned),
                PRUNE_SPMMA_STRIP,
                stream.cu_stream() as Stream,
            )
        })
    }

    /// Checks that W at `dense` is 2:4 as cuSPARSELt needs it; writes an int (0 when
    /// valid) to the device address `valid`. Stream-ordered.
    pub fn prune_check(&self, dense: u64, valid: u64, stream: &CudaStream) -> Result<()> {
        // SAFETY: `valid` is a device int, `dense` out·in elements, both on `stream`.
        self.lib.check("cusparseLtSpMMAPruneCheck", unsafe {
            (self.lib.prune_check)(
                self.handle.ptr(),
                self.matmul.ptr(),
                as_ptr(dense),
                valid as usize as *mut c_int,
                stream.cu_stream() as Stream,
            )
        })
    }

    /// (compressed bytes, compress scratch bytes) for W.
    pub fn compressed_size(&self) -> Result<(usize, usize)> {
        let (mut size, mut buffer) = (0usize, 0usize);
        // SAFETY: initialised plan; two usize written.
        self.lib.check("cusparseLtSpMMACompressedSize", unsafe {
            (self.lib.compressed_size)(self.handle.ptr(), self.plan.ptr(), &mut size, &mut buffer)
        })?;
        Ok((size, buffer))
    }

    /// Compresses the pruned W at `dense` into `compressed` ([`Self::compressed_size`]
    /// bytes), using `scratch` (its second figure; 0 for none). Stream-ordered.
    pub fn compress(
        &self,
        dense: u64,
        compressed: u64,
        scratch: u64,
        stream: &CudaStream,
    ) -> Result<()> {
        // SAFETY: buffers sized by `compressed_size` on `stream`.
        self.lib.check("cusparseLtSpMMACompress", unsafe {
            (self.lib.compress)(
                self.handle.ptr(),
                self.plan.ptr(),
                as_ptr(dense),
                as_mut_ptr(compressed),
                as_mut_ptr(scratch),
                stream.cu_stream() as Stream,
            )
        })
    }

    /// Workspace bytes the current plan needs.
    pub fn workspace_size(&self) -> Result<usize> {
        let mut size = 0usize;
        // SAFETY: initialised plan; one usize written.
        self.lib.check("cusparseLtMatmulGetWorkspace", unsafe {
            (self.lib.get_workspace)(self.handle.ptr(), self.plan.ptr(), &mut size)
        })?;
        Ok(size)
    }

    /// The algorithm configuration id the plan holds (after a search: the winner).
    pub fn algorithm_id(&self) -> Result<i32> {
        let mut id: c_int = 0;
        // SAFETY: initialised selection; one int written of the size passed.
        self.lib
            .check("cusparseLtMatmulAlgGetAttribute(CONFIG_ID)", unsafe {
                (self.lib.alg_get_attribute)(
                    self.handle.ptr(),
                    self.alg.ptr(),
                    ALG_CONFIG_ID,
                    &mut id as *mut c_int as *mut c_void,
                    std::mem::size_of::<c_int>(),
                )
            })?;
        Ok(id)
    }

    fn call(
        &mut self,
        search: bool,
        compressed: u64,
        x: u64,
        y: u64,
        workspace: u64,
        stream: &CudaStream,
    ) -> Result<()> {
        let mut stream = stream.cu_stream() as Stream;
        let (alpha, beta) = (1.0f32, 0.0f32);
        let (f, name) = if search {
            (self.lib.search, "cusparseLtMatmulSearch")
        } else {
            (self.lib.matmul, "cusparseLtMatmul")
        };
        // SAFETY: initialised plan; alpha/beta are host f32 (f32 compute); the device
        // buffers hold W compressed, X [tokens, in], Y [tokens, out] and a workspace
        // of `workspace_size` bytes, all on `stream` (one stream passed).
        self.lib.check(name, unsafe {
            f(
                self.handle.ptr(),
                self.plan.mut_ptr(),
                &alpha as *const f32 as *const c_void,
                as_ptr(compressed),
                as_ptr(x),
                &beta as *const f32 as *const c_void,
                as_ptr(y),
                as_mut_ptr(y),
                as_mut_ptr(workspace),
                &mut stream,
                1,
            )
        })
    }

    /// `Y = X · Wᵀ` with the plan's algorithm. Stream-ordered.
    pub fn matmul(
        &mut self,
        compressed: u64,
        x: u64,
        y: u64,
        workspace: u64,
        stream: &CudaStream,
    ) -> Result<()> {
        self.call(false, compressed, x, y, workspace, stream)
    }

    /// cuSPARSELt's own search over its algorithms (and split-K settings); the plan
    /// keeps the fastest. Runs the matmul many times; Y is overwritten. Afterwards
    /// the workspace size may differ: query [`Self::workspace_size`] again.
    pub fn search(
        &mut self,
        compressed: u64,
        x: u64,
        y: u64,
        workspace: u64,
        stream: &CudaStream,
    ) -> Result<()> {
        self.call(true, compressed, x, y, workspace, stream)
    }
}

impl Drop for SparseLtLinear {
    fn drop(&mut self) {
        let lib = self.lib;
        // SAFETY: each object is destroyed once, only if it was initialised, plan
        // before the descriptors it refers to, the handle last. Statuses are ignored:
        // nothing useful can be done about them in drop.
        unsafe {
            if self.live.plan {
                (lib.plan_destroy)(self.plan.ptr());
            }
            if self.live.alg {
                if let Some(f) = lib.alg_sel_destroy {
                    f(self.alg.ptr());
                }
            }
            for (live, m) in [
                (self.live.c, &self.mat_c),
                (self.live.b, &self.mat_b),
                (self.live.a, &self.mat_a),
            ] {
                if live {
                    (lib.mat_destroy)(m.ptr());
                }
            }
            if self.live.handle {
                (lib.destroy)(self.handle.ptr());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_library_is_reported_not_panicked() {
        // On machines without cuSPARSELt this is Err with a reason; with it, Ok with
        // a version this binding was checked against. Either way no panic.
        match library() {
            Ok(l) => assert!(l.version.0 == 0 && API_MINOR_VERSIONS.contains(&l.version.1)),
            Err(why) => assert!(why.contains("cuSPARSELt") || why.contains("load")),
        }
    }

    #[test]
    fn status_names() {
        assert_eq!(status_name(0), "CUSPARSE_STATUS_SUCCESS");
        assert_eq!(status_name(10), "CUSPARSE_STATUS_NOT_SUPPORTED");
        assert_eq!(status_name(99), "unknown status");
    }
}
