//! Host cost of one `SparseLinear` forward (criterion), measured on the recording
//! executor (src/launch/record.rs): plan lookup, shape and buffer checks, launch
//! building and the enqueue call, with no kernel run and no GPU. cudarc's own cost
//! (events, cuLaunchKernel) is not in it.
//!
//! `before/*` replays, step by step, what `SparseLinear::forward_into`
//! (src/linear/gpu.rs) did before the launch cache: choose the plan twice, check shapes
//! and lengths, lock the layer state and the per-stream list, build a `Vec<Launch>`
//! with `sparse_linear_launches`, enqueue. (`sparse_linear_launches` is now built on
//! `GemmLaunch`, so this replays the old steps, not the old code byte for byte; the
//! numbers taken on the old code are in bench/RESULTS.md.)
//!
//! `after/*` replays the forward with the launch cache the same way: the same two
//! locks, then the executor-generic core (`DeviceLinear::launch`, enqueue)
//! that src/linear/gpu.rs calls. `after_core/*` is the core alone
//! (`DeviceLinear::forward_into`).
//!
//! `cargo bench --bench forward_host` (add `-- --quick` for a short run). No GPU.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use sparse24::launch::record::{Recording, RecordingExecutor};
use sparse24::launch::Executor;
use sparse24::layout::FragmentGeometry;
use sparse24::linear::device::{DeviceLinear, Workspace};
use sparse24::ops::gemm::{
    sparse_linear_launches, DeviceEpilogue, DeviceSlice, GemmBuffers, SparseGemmPlan,
};
use sparse24::{Activation, DType, Result};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// (name, tokens, out, in): decode, a 16-token batch, a 2048-token prefill.
const CASES: [(&str, usize, usize, usize); 3] = [
    ("decode_1x4096x4096", 1, 4096, 4096),
    ("batch_16x4096x4096", 16, 4096, 4096),
    ("prefill_2048x4096x14336", 2048, 4096, 14336),
];

/// The pre-change forward path, replayed on the recording executor.
mod before {
    use super::*;
    use sparse24::launch::record::RecordedBuffer;

    pub struct StreamState {
        pub stream: usize,
        pub exec: RecordingExecutor,
        pub workspace: Option<(RecordedBuffer, usize)>,
    }

    pub struct DeviceState {
        pub w_values: RecordedBuffer,
        pub w_meta: RecordedBuffer,
        pub geometry: FragmentGeometry,
        pub sm_count: usize,
        pub home: Arc<()>,
        pub streams: Mutex<Vec<StreamState>>,
    }

    pub struct Layer {
        pub out: usize,
        pub inn: usize,
        pub dtype: DType,
        pub activation: Activation,
        pub state: Mutex<Option<Arc<DeviceState>>>,
    }

    impl Layer {
        pub fn new(out: usize, inn: usize, stream: usize, ctx: &Arc<()>) -> Layer {
            let exec = RecordingExecutor::new(Recording::KeepLast);
            let g = FragmentGeometry::new(out, inn);
            let state = DeviceState {
                w_values: exec.alloc_zeroed(g.value_len() * 2).unwrap(),
                w_meta: exec.alloc_zeroed(g.meta_len() * 2).unwrap(),
                geometry: g,
                sm_count: exec.sm_count().unwrap(),
                home: ctx.clone(),
                streams: Mutex::new(vec![StreamState {
                    stream,
                    exec,
                    workspace: None,
                }]),
            };
            Layer {
                out,
                inn,
                dtype: DType::BF16,
                activation: Activation::None,
                state: Mutex::new(Some(Arc::new(state))),
            }
        }

        /// `SparseLinear::forward_into` as it was (src/linear/gpu.rs before the plan
        /// cache), with cudarc's stream and slices replaced by ids and fake addresses.
        pub fn forward_into(
            &self,
            stream: usize,
            ctx: &Arc<()>,
            x: DeviceSlice,
            tokens: usize,
            y: DeviceSlice,
        ) -> Result<()> {
            let (out, inn) = (self.out, self.inn);
            if self.dtype == DType::F32 {
                unreachable!();
            }
            SparseGemmPlan::choose(tokens, out, inn, 1)?;
            let (x_len, y_len) = (
                sparse24::shape::tokens_by("X", "in", tokens, inn)?,
                sparse24::shape::tokens_by("Y", "out", tokens, out)?,
            );
            sparse24::shape::check_len("X", x_len, x.len)?;
            sparse24::shape::check_len("Y", y_len, y.len)?;
            let state = {
                let slot = self.state.lock().unwrap();
                slot.as_ref().unwrap().clone()
            };
            assert!(Arc::ptr_eq(&state.home, ctx));
            let plan = SparseGemmPlan::choose(tokens, out, inn, state.sm_count)?;
            let mut streams = state.streams.lock().unwrap();
            let idx = streams.iter().position(|s| s.stream == stream).unwrap();
            let ss = &mut streams[idx];
            let need = plan.workspace_bytes();
            if need > 0 && ss.workspace.as_ref().is_none_or(|(_, len)| *len < need) {
                ss.workspace = Some((ss.exec.alloc_zeroed(need)?, need));
            }
            let exec = &ss.exec;
            let workspace = match (&ss.workspace, need) {
                (Some((buf, len)), n) if n > 0 => Some(DeviceSlice {
                    ptr: exec.ptr(buf),
                    len: *len,
                }),
                _ => None,
            };
            let epi = DeviceEpilogue {
                bias: None,
                activation: self.activation,
                ..Default::default()
            };
            let bufs = GemmBuffers {
                w_values: exec.ptr(&state.w_values),
                w_meta: exec.ptr(&state.w_meta),
                w_geometry: state.geometry,
                x: x.ptr,
                y: y.ptr,
                workspace,
            };
            for l in sparse_linear_launches(&plan, self.dtype, self.dtype, &bufs, &epi)? {
                exec.launch(&l)?;
            }
            Ok(())
        }
    }
}

/// The forward path after the launch cache, replayed the same way: the layer's state
/// and stream list locked as src/linear/gpu.rs does, then the executor-generic core
/// (`DeviceLinear::launch`, enqueue).
mod after {
    use super::*;
    use sparse24::bf16;
    use sparse24::linear::device::{DeviceLinear, Workspace};
    use sparse24::linear::{Pruning, SparseLinear};

    pub struct StreamState {
        pub stream: usize,
        pub exec: RecordingExecutor,
        pub workspace: Workspace<RecordingExecutor>,
    }

    pub struct DeviceState {
        pub layer: DeviceLinear<RecordingExecutor, bf16>,
        pub home: Arc<()>,
        pub streams: Mutex<Vec<StreamState>>,
    }

    pub struct Layer {
        pub state: Mutex<Option<Arc<DeviceState>>>,
    }

    /// A layer of zeros (a valid 2:4 weight; the values do not matter here).
    pub fn sparse_layer(out: usize, inn: usize) -> SparseLinear<bf16> {
        SparseLinear::from_dense(&vec![bf16::ZERO; out * inn], out, inn, Pruning::Magnitude)
            .unwrap()
    }

    impl Layer {
        pub fn new(lin: &SparseLinear<bf16>, stream: usize, ctx: &Arc<()>) -> Layer {
            let exec = RecordingExecutor::new(Recording::KeepLast);
            let layer = DeviceLinear::upload(&exec, lin).unwrap();
            Layer {
                state: Mutex::new(Some(Arc::new(DeviceState {
                    layer,
                    home: ctx.clone(),
                    streams: Mutex::new(vec![StreamState {
                        stream,
                        exec,
                        workspace: Workspace::new(),
                    }]),
                }))),
            }
        }

        /// `SparseLinear::forward_into` with the launch cache (src/linear/gpu.rs),
        /// cudarc's stream and slices replaced by ids and fake addresses.
        pub fn forward_into(
            &self,
            stream: usize,
            ctx: &Arc<()>,
            x: DeviceSlice,
            tokens: usize,
            y: DeviceSlice,
        ) -> Result<()> {
            let state = {
                let slot = self.state.lock().unwrap();
                slot.as_ref().unwrap().clone()
            };
            assert!(Arc::ptr_eq(&state.home, ctx));
            let mut streams = state.streams.lock().unwrap();
            let idx = streams.iter().position(|s| s.stream == stream).unwrap();
            let ss = &mut streams[idx];
            let launch = state
                .layer
                .launch(&ss.exec, tokens, x, y, &mut ss.workspace)?;
            ss.exec.launch(&launch)
        }
    }
}

/// The forward path with per-stream runtimes, replayed the same way as `after`.
mod shared {
    use super::*;
    use sparse24::bf16;
    use sparse24::linear::device::{DeviceLinear, StreamRuntime};
    use sparse24::linear::SparseLinear;

    type Runtime = Arc<StreamRuntime<RecordingExecutor>>;

    pub struct DeviceState {
        pub layer: DeviceLinear<RecordingExecutor, bf16>,
        pub home: Arc<()>,
        pub synced: Mutex<Vec<usize>>,
    }

    pub struct Layer {
        pub state: Mutex<Option<Arc<DeviceState>>>,
        /// Stands for the process-wide registry of src/linear/gpu.rs.
        pub streams: Mutex<Vec<((usize, usize), Runtime)>>,
    }

    impl Layer {
        pub fn new(lin: &SparseLinear<bf16>, stream: usize, ctx: &Arc<()>) -> Layer {
            let exec = RecordingExecutor::new(Recording::KeepLast);
            let layer = DeviceLinear::upload(&exec, lin).unwrap();
            Layer {
                state: Mutex::new(Some(Arc::new(DeviceState {
                    layer,
                    home: ctx.clone(),
                    synced: Mutex::new(vec![stream]),
                }))),
                streams: Mutex::new(vec![((1, stream), Arc::new(StreamRuntime::new(exec)))]),
            }
        }

        /// `SparseLinear::forward_with` (src/linear/gpu.rs), cudarc's stream and
        /// buffers replaced by ids and fake addresses.
        pub fn forward_into(
            &self,
            stream: usize,
            ctx: &Arc<()>,
            x: DeviceSlice,
            tokens: usize,
            y: DeviceSlice,
        ) -> Result<()> {
            let state = {
                let slot = self.state.lock().unwrap();
                slot.as_ref().unwrap().clone()
            };
            assert!(Arc::ptr_eq(&state.home, ctx));
            let rt = {
                let streams = self.streams.lock().unwrap();
                let (_, rt) = streams.iter().find(|(k, _)| *k == (1, stream)).unwrap();
                rt.clone()
            };
            assert!(state.synced.lock().unwrap().contains(&stream));
            rt.forward(&state.layer, tokens, x, y, None)
        }
    }
}

fn forward_host(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward_host");
    for &(name, tokens, out, inn) in &CASES {
        let ctx = Arc::new(());
        let layer = before::Layer::new(out, inn, 7, &ctx);
        let io = RecordingExecutor::new(Recording::CountOnly);
        let x = io.alloc_zeroed(tokens * inn * 2).unwrap();
        let y = io.alloc_zeroed(tokens * out * 2).unwrap();
        let (x, y) = (
            DeviceSlice {
                ptr: x.ptr(),
                len: tokens * inn,
            },
            DeviceSlice {
                ptr: y.ptr(),
                len: tokens * out,
            },
        );
        // One warm-up forward (caches the launch, grows the workspace), then the
        // measured ones.
        let mut replay = |what: &str, f: &dyn Fn(DeviceSlice, usize, DeviceSlice) -> Result<()>| {
            f(x, tokens, y).unwrap();
            g.bench_function(BenchmarkId::new(what, name), |b| {
                b.iter(|| f(black_box(x), black_box(tokens), black_box(y)).unwrap())
            });
        };
        replay("before", &|x, t, y| layer.forward_into(7, &ctx, x, t, y));
        drop(layer);

        let lin = after::sparse_layer(out, inn);
        let layer = after::Layer::new(&lin, 7, &ctx);
        replay("after", &|x, t, y| layer.forward_into(7, &ctx, x, t, y));
        drop(layer);

        let layer = shared::Layer::new(&lin, 7, &ctx);
        replay("shared", &|x, t, y| layer.forward_into(7, &ctx, x, t, y));
        drop(layer);

        // The executor-generic core alone (no layer-state or stream-list lock), planned
        // for compute capability 8.0 (`after_core`) and, from 64 tokens, for 9.0
        // (`after_core_sm90`: the Hopper kernel, its tensor-map description bound per
        // call; the driver's encoding of the map is not in it: examples/hopper-roofline
        // times that on a GPU).
        for (what, cc) in [("after_core", (8, 0)), ("after_core_sm90", (9, 0))] {
            if cc == (9, 0) && tokens < sparse24::ops::gemm::WGMMA_MIN_TOKENS {
                continue;
            }
            let exec = RecordingExecutor::new(Recording::KeepLast).with_compute_capability(cc);
            let core = DeviceLinear::upload(&exec, &lin).unwrap();
            let mut ws = Workspace::new();
            core.forward_into(&exec, tokens, x, y, &mut ws).unwrap();
            g.bench_function(BenchmarkId::new(what, name), |b| {
                b.iter(|| {
                    core.forward_into(
                        &exec,
                        black_box(tokens),
                        black_box(x),
                        black_box(y),
                        &mut ws,
                    )
                    .unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = forward_host
}
criterion_main!(benches);
