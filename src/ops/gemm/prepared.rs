//! A sparse GEMM launch validated once ([`GemmLaunch`]): everything that does not
//! change between calls of one layer at one token count (kernel, grid, block, shared
//! memory, shapes, weight and bias addresses, epilogue constants) is checked and
//! filled in when it is built; a call only adds its own addresses (X, Y, C, the
//! split-K workspace), checks their alignment and sizes, and gets a [`Launch`] whose
//! arguments are a fixed array: no heap allocation per call.

use super::config::out_dtype_code;
use super::plan::{check_gemm_shape, SparseGemmPlan, WORKSPACE_ALIGN};
use crate::abi::GemmParams;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::launch::{Arg, Launch, StructArg};
use crate::layout::{FragmentGeometry, META_STEPS_PER_LOAD};
use crate::ops::check_aligned;
use crate::shape::check_len;
use crate::tensor_map::{TensorMapDesc, TensorMapSwizzle};

use super::launch::DeviceEpilogue;
use super::launch::DeviceSlice;

/// Device addresses and fragment geometry of a resident 2:4 weight (see
/// [`super::DeviceSparse24`]).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct GemmWeights {
    /// Fragment-ordered W values and metadata.
    pub values: u64,
    /// Fragment-ordered W metadata.
    pub meta: u64,
    /// The fragment geometry of W (checked against the plan's shape).
    pub geometry: FragmentGeometry,
    /// W's compressed values row-major (`[out, in/2]`, [`crate::Sparse24::values`]'s
    /// order), 16-byte aligned: read only by the Hopper SS tiles
    /// ([`TileShape::w_by_bulk_copy`](super::TileShape::w_by_bulk_copy)), which refuse a
    /// launch without them; `None` elsewhere (no second copy of W on the device).
    pub row_values: Option<u64>,
}

/// One sparse GEMM call with its constant part validated: built once per (layer,
/// token count) by [`GemmLaunch::new`], then [`GemmLaunch::bind`] per call.
#[derive(Clone, Debug, PartialEq)]
pub struct GemmLaunch {
    plan: SparseGemmPlan,
    dtype: DType,
    out_dtype: DType,
    /// Elements of C the epilogue reads (`Some` when beta is nonzero).
    c_len: Option<usize>,
    /// [`SparseGemmPlan::workspace_bytes`] and where the partials start in it.
    workspace_bytes: usize,
    partials_offset: usize,
    /// Kernel, grid, block and shared memory; the argument is built per call.
    template: Launch<()>,
    /// The kernel's parameters with the per-call addresses (x, y, c, ws, counters)
    /// zero.
    params: GemmParams,
    /// The Hopper kernels' tensor map of X with its address 0 (set per call); `None`
    /// for the mma.sp kernels, which load X themselves.
    x_map: Option<TensorMapDesc>,
    /// The SS tiles' tensor map of W's row-major values (complete: W does not change
    /// per call); `None` for every other kernel.
    w_map: Option<TensorMapDesc>,
    /// The persistent kernels' band ([`SparseGemmPlan::band`]), computed once here
    /// instead of per call.
    band: u32,
}

impl GemmLaunch {
    /// Validates the plan against the weights, the dtypes and the epilogue's constant
    /// part, and describes the launch. Typed errors name the requirement: the kernel
    /// for `dtype` (f16 or bf16), the shape, the weights' fragment geometry, the
    /// plan's split-K fields, W and bias alignment, the bias length.
    ///
    /// `epi.c` is not read here (C changes per call: [`GemmLaunch::bind`] takes it);
    /// a nonzero `epi.beta` makes it required there.
    pub fn new(
        plan: &SparseGemmPlan,
        dtype: DType,
        out_dtype: DType,
        weights: &GemmWeights,
        epi: &DeviceEpilogue,
    ) -> Result<GemmLaunch> {
        let kernel = plan.config.handle(dtype)?;
        check_gemm_shape(plan.tokens, plan.out, plan.inn)?;
        let geo = weights.geometry;
        if geo != FragmentGeometry::new(plan.out, plan.inn) || geo.steps != plan.steps {
            return Err(Error::InvalidArgument {
                what: "weights",
                why: format!(
                    "W is {}x{} (fragment geometry {:?}) but the plan is for out = {}, in = {}",
                    geo.rows, geo.cols, geo, plan.out, plan.inn
                ),
            });
        }
        let groups = plan.steps / META_STEPS_PER_LOAD;
        if plan.chunk_steps == 0
            || !plan.chunk_steps.is_multiple_of(META_STEPS_PER_LOAD)
            || plan.splits == 0
            || plan.splits != (groups).div_ceil(plan.chunk_steps / META_STEPS_PER_LOAD)
        {
            return Err(Error::InvalidArgument {
                what: "plan",
                why: format!(
                    "splits = {} and chunk_steps = {} do not cover {} steps in nonempty 8-step \
                     chunks (build plans with SparseGemmPlan::new or ::choose)",
                    plan.splits, plan.chunk_steps, plan.steps
                ),
            });
        }
        if plan.config.tile().cluster_split_k() && plan.splits > super::tiles::MAX_CLUSTER_SPLITS {
            return Err(Error::InvalidArgument {
                what: "plan",
                why: format!(
                    "tile {} reduces split-K across a thread-block cluster of at most {} CTAs; \
                     the plan has {} splits",
                    plan.config.tile_name(),
                    super::tiles::MAX_CLUSTER_SPLITS,
                    plan.splits
                ),
            });
        }
        check_aligned("W values", weights.values, 16)?;
        check_aligned("W metadata", weights.meta, 16)?;
        let c_len = if epi.beta != 0.0 {
            Some(crate::shape::tokens_by("C", "out", plan.tokens, plan.out)?)
        } else {
            None
        };
        let bias = match epi.bias {
            Some(b) => {
                check_len("bias", plan.out, b.len)?;
                check_aligned("bias", b.ptr, dtype.size())?;
                b.ptr
            }
            None => 0,
        };
        let params = GemmParams {
            wv: weights.values,
            wm: weights.meta,
            x: 0,
            c: 0,
            bias,
            y: 0,
            ws: 0,
            counters: 0,
            out: plan.out as u32,
            inn: plan.inn as u32,
            tokens: plan.tokens as u32,
            steps: plan.steps as u32,
            chunk_steps: plan.chunk_steps as u32,
            splits: plan.splits as u32,
            alpha: epi.alpha,
            beta: epi.beta,
            act: epi.activation.code(),
            out_dtype: out_dtype_code(out_dtype),
        };
        let t = plan.config.tile();
        // The Hopper kernels read X through the bulk tensor copy engine: boxes of 64
        // elements of `in` (128 bytes: the 128B swizzle's row, what the kernel's wgmma
        // descriptors read) × the tile's tokens, out-of-bounds k and tokens as zeros.
        // Valid by construction: `in % 16 == 0` makes the row pitch a multiple of 32
        // bytes, the box is at most 256 × 256 and its inner 128 bytes fit the swizzle
        // span (ptxsim's encoder checks the driver's rules again at every launch).
        let x_map = t.sm90a_only().then(|| {
            TensorMapDesc::matrix(
                dtype,
                0,
                [plan.tokens as u64, plan.inn as u64],
                (plan.inn * dtype.size()) as u64,
                [t.tokens as u32, (t.steps_per_stage * 32) as u32],
                TensorMapSwizzle::B128,
            )
        });
        // The SS tiles read W's row-major values [out, in/2] through the bulk copy
        // engine too: boxes of the tile's rows × one stage's 32 compressed values (64
        // bytes: the 64B swizzle's row, what their A descriptors read), out-of-bounds
        // rows and columns as zeros; the row pitch (`in` bytes) is a multiple of 16.
        let w_map = if t.w_by_bulk_copy() {
            let rv = weights.row_values.ok_or_else(|| Error::InvalidArgument {
                what: "weights",
                why: format!(
                    "tile {} reads W's row-major values; upload the weight with \
                     DeviceSparse24::upload_for (or set GemmWeights::row_values)",
                    plan.config.tile_name()
                ),
            })?;
            check_aligned("W row-major values", rv, 16)?;
            Some(TensorMapDesc::matrix(
                dtype,
                rv,
                [plan.out as u64, (plan.inn / 2) as u64],
                (plan.inn / 2 * dtype.size()) as u64,
                [t.rows as u32, (t.steps_per_stage * 16) as u32],
                TensorMapSwizzle::B64,
            ))
        } else {
            None
        };
        let template = Launch {
            module: kernel.module,
            kernel: kernel.name,
            grid: plan.launch_grid(),
            block: [t.threads as u32, 1, 1],
            dynamic_shared_bytes: t.dynamic_shared_bytes() as u32,
            // Split-K across a thread-block cluster: the splits along z form one cluster.
            cluster: if t.cluster_split_k() && plan.splits > 1 {
                [1, 1, plan.splits as u32]
            } else {
                crate::launch::NO_CLUSTER
            },
            args: (),
        };
        Ok(GemmLaunch {
            plan: *plan,
            dtype,
            out_dtype,
            c_len,
            workspace_bytes: plan.workspace_bytes(),
            partials_offset: plan.partials_offset(),
            template,
            params,
            x_map,
            band: plan.band(),
            w_map,
        })
    }

    /// The plan this launch runs.
    pub fn plan(&self) -> &SparseGemmPlan {
        &self.plan
    }

    /// Bytes of split-K workspace a call needs ([`SparseGemmPlan::workspace_bytes`]).
    pub fn workspace_bytes(&self) -> usize {
        self.workspace_bytes
    }

    /// Elements of X (`tokens × in`).
    pub fn x_len(&self) -> usize {
        self.plan.tokens * self.plan.inn
    }
    /// Elements of Y (`tokens × out`).
    pub fn y_len(&self) -> usize {
        self.plan.tokens * self.plan.out
    }

    /// The launch of one call: X and Y addresses (16-byte and output-element
    /// aligned), C (required with nonzero beta: `tokens × out` elements, input-element
    /// aligned; ignored otherwise) and the split-K workspace (required when the plan
    /// splits K: at least [`GemmLaunch::workspace_bytes`] bytes, 256-byte aligned,
    /// zero-filled once). Allocates nothing unless it returns an error.
    pub fn bind(
        &self,
        x: u64,
        y: u64,
        c: Option<DeviceSlice>,
        workspace: Option<DeviceSlice>,
    ) -> Result<Launch<[Arg; 1]>> {
        check_aligned("X", x, 16)?;
        check_aligned("Y", y, self.out_dtype.size())?;
        let plan = &self.plan;
        let (ws, counters) = if self.workspace_bytes > 0 {
            let need = self.workspace_bytes;
            let w = workspace.ok_or_else(|| Error::InvalidArgument {
                what: "workspace",
                why: format!(
                    "the plan splits K {} ways and needs a {need}-byte workspace",
                    plan.splits
                ),
            })?;
            if w.len < need {
                return Err(Error::Length {
                    what: "split-K workspace bytes",
                    expected: need,
                    actual: w.len,
                });
            }
            check_aligned("workspace", w.ptr, WORKSPACE_ALIGN)?;
            (w.ptr + self.partials_offset as u64, w.ptr)
        } else {
            (0, 0)
        };
        let c = match (c, self.c_len) {
            (Some(c), Some(need)) => {
                check_len("C", need, c.len)?;
                check_aligned("C", c.ptr, self.dtype.size())?;
                c.ptr
            }
            (None, Some(_)) => {
                return Err(Error::InvalidArgument {
                    what: "beta",
                    why: "beta is nonzero but no C matrix was given".into(),
                })
            }
            (_, None) => 0,
        };
        let params = GemmParams {
            x,
            y,
            c,
            ws,
            counters,
            ..self.params
        };
        let arg = match self.x_map {
            Some(map) => StructArg::Gemm90 {
                params,
                x_map: TensorMapDesc { address: x, ..map },
                w_map: self.w_map,
                band: self.band,
            },
            None => StructArg::Gemm(params),
        };
        Ok(self.template.with_args([Arg::Struct(arg)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::gemm::{sparse_linear_launches, GemmBuffers, GemmConfig};

    fn params(l: &Launch<[Arg; 1]>) -> GemmParams {
        let [Arg::Struct(StructArg::Gemm(p))] = l.args else {
            panic!("one GemmParams argument expected, got {:?}", l.args);
        };
        p
    }

    fn weights(plan: &SparseGemmPlan) -> GemmWeights {
        GemmWeights {
            values: 0x1000,
            meta: 0x2000,
            geometry: FragmentGeometry::new(plan.out, plan.inn),
            row_values: None,
        }
    }

    #[test]
    fn bind_fills_only_the_per_call_addresses() {
        let plan = SparseGemmPlan::new(GemmConfig::Decode, 7, 100, 272, 2).unwrap();
        let epi = DeviceEpilogue {
            alpha: 0.5,
            beta: 2.0,
            bias: Some(DeviceSlice {
                ptr: 0x9000,
                len: 100,
            }),
            ..Default::default()
        };
        let g = GemmLaunch::new(&plan, DType::F16, DType::F32, &weights(&plan), &epi).unwrap();
        assert_eq!(g.x_len(), 7 * 272);
        assert_eq!(g.y_len(), 7 * 100);
        let c = DeviceSlice {
            ptr: 0x8000,
            len: 700,
        };
        let ws = DeviceSlice {
            ptr: 0x10000,
            len: g.workspace_bytes(),
        };
        let a = g.bind(0x3000, 0x4000, Some(c), Some(ws)).unwrap();
        let b = g.bind(0x5000, 0x6000, Some(c), Some(ws)).unwrap();
        let (pa, pb) = (params(&a), params(&b));
        assert_eq!((pa.x, pa.y, pb.x, pb.y), (0x3000, 0x4000, 0x5000, 0x6000));
        assert_eq!(
            GemmParams {
                x: 0x3000,
                y: 0x4000,
                ..pb
            },
            pa
        );
        assert_eq!((pa.c, pa.bias, pa.counters), (0x8000, 0x9000, 0x10000));
        assert_eq!((pa.alpha, pa.beta), (0.5, 2.0));
        // The same launch as the per-call builder's.
        let bufs = GemmBuffers {
            w_values: 0x1000,
            w_meta: 0x2000,
            w_geometry: FragmentGeometry::new(100, 272),
            x: 0x3000,
            y: 0x4000,
            workspace: Some(ws),
        };
        let epi_c = DeviceEpilogue { c: Some(c), ..epi };
        assert_eq!(
            sparse_linear_launches(&plan, DType::F16, DType::F32, &bufs, &epi_c).unwrap(),
            vec![a.to_vec()]
        );
    }

    #[test]
    fn bind_checks_c_and_the_workspace() {
        let plan = SparseGemmPlan::new(GemmConfig::Decode, 3, 40, 1024, 4).unwrap();
        let beta = DeviceEpilogue {
            beta: 1.0,
            ..Default::default()
        };
        let g = GemmLaunch::new(&plan, DType::BF16, DType::BF16, &weights(&plan), &beta).unwrap();
        let ws = Some(DeviceSlice {
            ptr: 0x10000,
            len: g.workspace_bytes(),
        });
        let c = |len| Some(DeviceSlice { ptr: 0x8000, len });
        assert!(g.bind(0x3000, 0x4000, c(120), ws).is_ok());
        assert!(matches!(
            g.bind(0x3000, 0x4000, None, ws),
            Err(Error::InvalidArgument { what: "beta", .. })
        ));
        assert!(matches!(
            g.bind(0x3000, 0x4000, c(119), ws),
            Err(Error::Length { what: "C", .. })
        ));
        assert!(matches!(
            g.bind(0x3000, 0x4000, c(120), None),
            Err(Error::InvalidArgument {
                what: "workspace",
                ..
            })
        ));
        assert!(matches!(
            g.bind(
                0x3000,
                0x4000,
                c(120),
                ws.map(|w| DeviceSlice { ptr: 0x10080, ..w })
            ),
            Err(Error::Misaligned {
                what: "workspace",
                ..
            })
        ));
        // Without beta, C is not read.
        let g = GemmLaunch::new(
            &plan,
            DType::BF16,
            DType::BF16,
            &weights(&plan),
            &Default::default(),
        )
        .unwrap();
        let l = g.bind(0x3000, 0x4000, c(1), ws).unwrap();
        assert_eq!(params(&l).c, 0);
        // Constant checks happen once, at new.
        let bad_bias = DeviceEpilogue {
            bias: Some(DeviceSlice {
                ptr: 0x8001,
                len: 40,
            }),
            ..Default::default()
        };
        assert!(matches!(
            GemmLaunch::new(&plan, DType::BF16, DType::BF16, &weights(&plan), &bad_bias),
            Err(Error::Misaligned { what: "bias", .. })
        ));
    }
}
