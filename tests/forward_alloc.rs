//! "Plan once, validate once": after a warm-up, the executor-generic forward of a
//! layer ([`DeviceLinear::forward_into`]) allocates nothing on the heap. A counting
//! global allocator counts this thread's allocations while the recording executor
//! (which runs nothing) takes the launches.

use sparse24::launch::record::{Recording, RecordingExecutor};
use sparse24::launch::Executor;
use sparse24::linear::device::{DeviceLinear, Workspace};
use sparse24::linear::{Pruning, SparseLinear};
use sparse24::ops::gemm::{sparse_linear_launches, DeviceEpilogue, DeviceSlice, GemmBuffers};
use sparse24::{bf16, Activation};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts allocations (and reallocations) made by the current thread, so that the
/// test harness's other threads do not disturb the count.
struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCS.with(|c| c.get())
}

fn layer(out: usize, inn: usize, bias: bool) -> SparseLinear<bf16> {
    let w: Vec<bf16> = (0..out * inn)
        .map(|i| bf16::from_f32(((i * 37 % 101) as f32 - 50.0) / 64.0))
        .collect();
    let l = SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude).unwrap();
    let l = if bias {
        l.with_bias((0..out).map(|o| bf16::from_f32(o as f32 / 64.0)).collect())
            .unwrap()
    } else {
        l
    };
    l.with_activation(Activation::Silu)
}

/// Token counts covering the decode tile with and without split-K and both
/// prefill tiles.
const TOKENS: [usize; 6] = [1, 3, 16, 17, 130, 700];

#[test]
fn forward_allocates_nothing_after_warm_up() {
    let (out, inn) = (256, 2048);
    let lin = layer(out, inn, true);
    let exec = RecordingExecutor::new(Recording::KeepLast);
    let dev = DeviceLinear::upload(&exec, &lin).unwrap();
    let mut ws = Workspace::new();
    let bufs: Vec<_> = TOKENS
        .iter()
        .map(|&t| {
            let x = exec.alloc_zeroed(t * inn * 2).unwrap();
            let y = exec.alloc_zeroed(t * out * 2).unwrap();
            (
                t,
                DeviceSlice {
                    ptr: x.ptr(),
                    len: t * inn,
                },
                DeviceSlice {
                    ptr: y.ptr(),
                    len: t * out,
                },
            )
        })
        .collect();
    // Warm-up: each token count's launch is built and cached, the workspace grows to
    // the largest need, the executor's record storage is allocated.
    for &(t, x, y) in &bufs {
        dev.forward_into(&exec, t, x, y, &mut ws).unwrap();
    }
    assert_eq!(dev.cached_token_counts(), TOKENS.len());
    assert!(ws.bytes() > 0, "a decode case should split K");
    let before = allocations();
    let rounds = 1000;
    for _ in 0..rounds {
        for &(t, x, y) in &bufs {
            dev.forward_into(&exec, t, x, y, &mut ws).unwrap();
        }
    }
    let during = allocations() - before;
    assert_eq!(
        during,
        0,
        "{during} heap allocations in {} forwards",
        rounds * bufs.len()
    );
    assert_eq!(exec.launches(), ((rounds + 1) * bufs.len()) as u64);
    // The counter does count: a Vec allocates.
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(allocations() > before, "{v:?}");
}

#[test]
fn cached_launches_match_the_per_call_builder() {
    let (out, inn) = (128, 1024);
    let lin = layer(out, inn, true);
    let exec = RecordingExecutor::new(Recording::KeepAll);
    let dev = DeviceLinear::upload(&exec, &lin).unwrap();
    let mut ws = Workspace::new();
    for &t in &TOKENS {
        let x = DeviceSlice {
            ptr: exec.alloc_zeroed(t * inn * 2).unwrap().ptr(),
            len: t * inn,
        };
        let y = DeviceSlice {
            ptr: exec.alloc_zeroed(t * out * 2).unwrap().ptr(),
            len: t * out,
        };
        // Twice: the second forward takes the cached launch.
        dev.forward_into(&exec, t, x, y, &mut ws).unwrap();
        dev.forward_into(&exec, t, x, y, &mut ws).unwrap();
        let got = exec.take_all();
        let plan = *dev.launch_for(t).unwrap().plan();
        let want = sparse_linear_launches(
            &plan,
            sparse24::DType::BF16,
            sparse24::DType::BF16,
            &GemmBuffers {
                w_values: exec.ptr(dev.weight().values()),
                w_meta: exec.ptr(dev.weight().meta()),
                w_geometry: dev.weight().geometry(),
                x: x.ptr,
                y: y.ptr,
                workspace: ws.ensure(&exec, plan.workspace_bytes()).unwrap(),
            },
            &DeviceEpilogue {
                bias: dev.bias().map(|b| DeviceSlice {
                    ptr: exec.ptr(b),
                    len: out,
                }),
                activation: Activation::Silu,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(got, [want.clone(), want].concat(), "{t} tokens");
    }
}

#[test]
fn forward_checks_lengths_and_alignment() {
    let (out, inn) = (64, 512);
    let lin = layer(out, inn, false);
    let exec = RecordingExecutor::new(Recording::CountOnly);
    let dev = DeviceLinear::upload(&exec, &lin).unwrap();
    let mut ws = Workspace::new();
    let x = exec.alloc_zeroed(4 * inn * 2).unwrap().ptr();
    let y = exec.alloc_zeroed(4 * out * 2).unwrap().ptr();
    let s = |ptr, len| DeviceSlice { ptr, len };
    let err = |r: sparse24::Result<()>| r.unwrap_err();
    assert!(matches!(
        err(dev.forward_into(&exec, 4, s(x, 4 * inn - 1), s(y, 4 * out), &mut ws)),
        sparse24::Error::Length { what: "X", .. }
    ));
    assert!(matches!(
        err(dev.forward_into(&exec, 4, s(x, 4 * inn), s(y, 4 * out + 1), &mut ws)),
        sparse24::Error::Length { what: "Y", .. }
    ));
    assert!(matches!(
        err(dev.forward_into(&exec, 4, s(x + 8, 4 * inn), s(y, 4 * out), &mut ws)),
        sparse24::Error::Misaligned { what: "X", .. }
    ));
    assert!(matches!(
        err(dev.forward_into(&exec, usize::MAX / 2, s(x, 4 * inn), s(y, 4 * out), &mut ws)),
        sparse24::Error::ShapeOverflow { .. } | sparse24::Error::Shape { .. }
    ));
    assert_eq!(exec.launches(), 0);
    dev.forward_into(&exec, 4, s(x, 4 * inn), s(y, 4 * out), &mut ws)
        .unwrap();
    assert_eq!(exec.launches(), 1);
    // f32 layers have no GPU forward.
    let w = vec![0.5f32; 16 * 32];
    let l32 = SparseLinear::from_dense(&w, 16, 32, Pruning::Magnitude).unwrap();
    assert!(matches!(
        DeviceLinear::upload(&exec, &l32),
        Err(sparse24::Error::InvalidArgument { what: "dtype", .. })
    ));
}
