//! Memory an engine can plan, counted (not estimated) on the recording executor,
//! which runs the same host code as the CUDA path and counts module loads per
//! context and allocated bytes.
//!
//! The stack is Llama-3-8B-sized: 32 blocks of q, o [4096, 4096], k, v [1024, 4096]
//! (GQA), gate, up [14336, 4096], down [4096, 14336]: 224 layers, on two streams,
//! every decode token count (1..=DECODE_MAX_TOKENS, the only counts that split K)
//! plus prefill counts, with plans for 132 SMs (an H100/H200 SXM).
//!
//! - **before**: what src/linear/gpu.rs did until this change, replayed through the
//!   same core: per layer and per stream its own executor (a CUDA executor with its
//!   own module map: one module load each) and its own split-K workspace.
//! - **after**: one module cache per context (one load), one [`StreamRuntime`] per
//!   stream whose workspace every layer shares, reserved up front
//!   ([`StreamRuntime::reserve`]), after which no forward allocates.
//!
//! `cargo test --test engine_memory -- --nocapture` prints the counts.

use sparse24::launch::record::{Recording, RecordingExecutor};
use sparse24::launch::Executor;
use sparse24::layout::FragmentGeometry;
use sparse24::linear::device::{DeviceLinear, StreamRuntime, Workspace};
use sparse24::linear::LinearEpilogue;
use sparse24::ops::gemm::{DeviceSlice, DeviceSparse24, DECODE_MAX_TOKENS};
use sparse24::{bf16, DType};

const BLOCKS: usize = 32;
const STREAMS: usize = 2;
const PREFILL: [usize; 3] = [17, 512, 2048];

fn llama_shapes() -> Vec<(usize, usize)> {
    let (h, kv, ffn) = (4096, 1024, 14336);
    let block = [
        (h, h),
        (kv, h),
        (kv, h),
        (h, h),
        (ffn, h),
        (ffn, h),
        (h, ffn),
    ];
    (0..BLOCKS).flat_map(|_| block).collect()
}

/// A layer whose weights are fake allocations of the right size (the recording
/// executor keeps no data), so a 224-layer stack costs nothing to build.
fn resident(
    exec: &RecordingExecutor,
    out: usize,
    inn: usize,
) -> DeviceLinear<RecordingExecutor, bf16> {
    let g = FragmentGeometry::new(out, inn);
    let values = exec.alloc_zeroed(g.value_len() * 2).unwrap();
    let meta = exec.alloc_zeroed(g.meta_len() * 4).unwrap();
    // SAFETY: nothing runs on the recording executor; the fake buffers have the
    // sizes from_buffers asks for.
    unsafe {
        DeviceLinear::from_resident(
            exec,
            DeviceSparse24::from_buffers(values, meta, g),
            None,
            &LinearEpilogue::new(DType::BF16),
        )
    }
    .unwrap()
}

fn token_counts() -> impl Iterator<Item = usize> {
    (1..=DECODE_MAX_TOKENS).chain(PREFILL)
}

struct Arena {
    x: DeviceSlice,
    y: DeviceSlice,
}

fn arena(exec: &RecordingExecutor) -> Arena {
    let n = 2048 * 14336;
    let x = exec.alloc_zeroed(n * 2).unwrap();
    let y = exec.alloc_zeroed(n * 2).unwrap();
    Arena {
        x: DeviceSlice {
            ptr: x.ptr(),
            len: n,
        },
        y: DeviceSlice {
            ptr: y.ptr(),
            len: n,
        },
    }
}

fn io(
    a: &Arena,
    l: &DeviceLinear<RecordingExecutor, bf16>,
    t: usize,
) -> (DeviceSlice, DeviceSlice) {
    (
        DeviceSlice {
            ptr: a.x.ptr,
            len: t * l.in_features(),
        },
        DeviceSlice {
            ptr: a.y.ptr,
            len: t * l.out_features(),
        },
    )
}

/// (module loads, split-K workspace bytes) of the pre-change layout.
fn before(shapes: &[(usize, usize)]) -> (u64, usize) {
    let home = RecordingExecutor::new(Recording::CountOnly);
    let layers: Vec<_> = shapes.iter().map(|&(o, i)| resident(&home, o, i)).collect();
    let a = arena(&home);
    let (mut loads, mut bytes) = (0, 0);
    for _stream in 0..STREAMS {
        for l in &layers {
            // The old per-(layer, stream) state: CudaExecutor::on_stream with its own
            // module map (here: its own context), and its own workspace.
            let exec = RecordingExecutor::new(Recording::CountOnly);
            let mut ws = Workspace::new();
            for t in token_counts() {
                let (x, y) = io(&a, l, t);
                l.forward_into(&exec, t, x, y, &mut ws).unwrap();
            }
            loads += exec.module_loads();
            bytes += ws.bytes();
        }
    }
    (loads, bytes)
}

/// (module loads, split-K workspace bytes, allocations made by the forwards) of the
/// shared layout.
fn after(shapes: &[(usize, usize)]) -> (u64, usize, u64) {
    let home = RecordingExecutor::new(Recording::CountOnly);
    let layers: Vec<_> = shapes.iter().map(|&(o, i)| resident(&home, o, i)).collect();
    let a = arena(&home);
    let max_tokens = token_counts().max().unwrap();
    let runtimes: Vec<_> = (0..STREAMS)
        .map(|_| StreamRuntime::new(home.sharing_context(Recording::CountOnly)))
        .collect();
    let mut bytes = 0;
    for rt in &runtimes {
        bytes += rt.reserve(&layers, max_tokens).unwrap();
    }
    let allocs = home.allocations();
    for rt in &runtimes {
        for l in &layers {
            for t in token_counts() {
                let (x, y) = io(&a, l, t);
                rt.forward(l, t, x, y, None).unwrap();
            }
        }
    }
    (home.module_loads(), bytes, home.allocations() - allocs)
}

/// What docs/engine.md promises engines about threads.
#[test]
fn layers_and_stream_runtimes_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<sparse24::linear::SparseLinear<bf16>>();
    send_sync::<DeviceLinear<RecordingExecutor, bf16>>();
    send_sync::<StreamRuntime<RecordingExecutor>>();
    send_sync::<StreamRuntime<sparse24::cuda::CudaExecutor>>();
}

#[test]
fn a_llama_sized_stack_loads_one_module_and_shares_one_workspace_per_stream() {
    let shapes = llama_shapes();
    assert_eq!(shapes.len(), 224);
    let (loads_before, ws_before) = before(&shapes);
    let (loads_after, ws_after, forward_allocs) = after(&shapes);
    let module_bytes = sparse24::kernels::module("sparse_gemm").map_or(0, |m| m.fatbin.len());
    println!(
        "{} layers x {STREAMS} streams, token counts 1..={DECODE_MAX_TOKENS} and {PREFILL:?}, \
         132 SMs:",
        shapes.len()
    );
    println!(
        "  module loads: before {loads_before}, after {loads_after} (sparse_gemm fatbin: {} \
         bytes per load, all architectures)",
        module_bytes
    );
    println!("  split-K workspace bytes: before {ws_before}, after {ws_after}");
    println!("  allocations by the forwards after reserve: {forward_allocs}");
    assert_eq!(loads_before, (shapes.len() * STREAMS) as u64);
    assert_eq!(loads_after, 1);
    assert_eq!(forward_allocs, 0);
    assert!(ws_after * shapes.len() <= ws_before * STREAMS);
}

/// The shared workspace is the largest any layer needs, reserve is idempotent, and
/// a forward after it allocates nothing for any token count up to the reserved one.
#[test]
fn reserve_covers_every_token_count_up_to_max_tokens() {
    let home = RecordingExecutor::new(Recording::CountOnly);
    let layers: Vec<_> = [(64, 1024), (96, 2048), (1024, 256)]
        .iter()
        .map(|&(o, i)| resident(&home, o, i))
        .collect();
    let rt = StreamRuntime::new(home.sharing_context(Recording::CountOnly));
    let a = arena(&home);
    let want = layers
        .iter()
        .map(|l| l.workspace_bytes_for(40).unwrap())
        .max()
        .unwrap();
    assert!(want > 0);
    assert_eq!(rt.reserve(&layers, 40).unwrap(), want);
    let allocs = home.allocations();
    assert_eq!(rt.reserve(&layers, 40).unwrap(), want);
    for l in &layers {
        for t in 1..=40 {
            let (x, y) = io(&a, l, t);
            rt.forward(l, t, x, y, None).unwrap();
        }
    }
    assert_eq!(home.allocations(), allocs);
    assert_eq!(rt.workspace_bytes(), want);
    // A misaligned X is staged: one copy, one staging allocation (then reused).
    let (x, y) = io(&a, &layers[0], 3);
    let x = DeviceSlice {
        ptr: x.ptr + 2,
        ..x
    };
    rt.forward(&layers[0], 3, x, y, None).unwrap();
    rt.forward(&layers[0], 3, x, y, None).unwrap();
    assert_eq!(home.copies(), 2);
    assert_eq!(home.allocations(), allocs + 1);
    assert_eq!(rt.staging_bytes(), 3 * 1024 * 2);
}

/// A frozen stream refuses a forward that would allocate, and allocates nothing.
#[test]
fn a_frozen_stream_refuses_to_grow() {
    let home = RecordingExecutor::new(Recording::CountOnly);
    let (small_layer, layer) = (resident(&home, 64, 1024), resident(&home, 64, 8192));
    let rt = StreamRuntime::new(home.sharing_context(Recording::CountOnly));
    let a = arena(&home);
    let small = rt.reserve([&small_layer], 16).unwrap();
    let big = layer.workspace_bytes_for(16).unwrap();
    assert!(0 < small && small < big, "{small} {big}");
    rt.freeze(true).unwrap();
    let allocs = home.allocations();
    let (x, y) = io(&a, &layer, 1);
    let err = rt.forward(&layer, 1, x, y, None).unwrap_err();
    assert!(
        matches!(
            err,
            sparse24::Error::InvalidArgument {
                what: "workspace",
                ..
            }
        ),
        "{err}"
    );
    let (xs, ys) = io(&a, &small_layer, 1);
    rt.forward(&small_layer, 1, xs, ys, None).unwrap();
    let xs = DeviceSlice {
        ptr: xs.ptr + 2,
        ..xs
    };
    assert!(
        rt.forward(&small_layer, 1, xs, ys, None).is_err(),
        "staging grew while frozen"
    );
    assert_eq!(home.allocations(), allocs);
    // reserve still grows a frozen stream; then the forward runs.
    rt.reserve([&layer], 16).unwrap();
    rt.forward(&layer, 1, x, y, None).unwrap();
    rt.freeze(false).unwrap();
    rt.forward(&small_layer, 1, xs, ys, None).unwrap();
}
