//! Thread-block clusters of several CTAs: launch checks, the cluster registers, distributed
//! shared memory through mapa, cluster barriers, remote mbarrier arrivals, and a planted-bug
//! kernel with its fixed twin for each cluster rule (tests/kernels/cluster.cu, nvcc's PTX).

mod common;

use common::*;
use ptxsim::{Device, ErrorKind, LaunchConfig, Param, SimError};
use rand::{Rng, SeedableRng};

fn cfg(grid: [u32; 3], block: u32, cluster: Option<[u32; 3]>) -> LaunchConfig {
    LaunchConfig {
        grid,
        block: [block, 1, 1],
        dynamic_shared_bytes: 0,
        only_ctas: None,
        cluster,
    }
}

/// Runs a `reduce_*` kernel of cluster.cu on random data: (result, its reference, ids).
fn run_reduce(
    kernel: &str,
    grid: [u32; 3],
    cluster: Option<[u32; 3]>,
    seed: u64,
) -> (
    Result<ptxsim::LaunchStats, SimError>,
    Vec<i32>,
    Vec<i32>,
    Vec<u32>,
) {
    let m = module("cluster.ptx");
    let ctas = (grid[0] * grid[1] * grid[2]) as usize;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let data: Vec<i32> = (0..ctas * 128).map(|_| rng.gen_range(-99..99)).collect();
    let mut dev = Device::new();
    let inp = upload(&mut dev, &data);
    let out = upload(&mut dev, &vec![0i32; ctas * 128]);
    let ids = upload(&mut dev, &vec![u32::MAX; ctas * 12]);
    let r = dev.launch(
        &m,
        kernel,
        &cfg(grid, 128, cluster),
        &[Param::U64(inp), Param::U64(out), Param::U64(ids)],
    );
    // reference: cluster k (x fastest over the grid of clusters) sums its CTAs' rows
    // weighted by rank + 1
    let c = cluster.unwrap_or([1, 1, 1]);
    let nc = [grid[0] / c[0], grid[1] / c[1], grid[2] / c[2]];
    let mut want = vec![0i32; ctas * 128];
    for z in 0..grid[2] {
        for y in 0..grid[1] {
            for x in 0..grid[0] {
                let cta = (x + grid[0] * (y + grid[1] * z)) as usize;
                let (cx, cy, cz) = (x / c[0], y / c[1], z / c[2]);
                let k = (cx + nc[0] * (cy + nc[1] * cz)) as usize;
                let rank = (x % c[0]) + c[0] * ((y % c[1]) + c[1] * (z % c[2]));
                for t in 0..128 {
                    want[k * 128 + t] += data[cta * 128 + t] * (rank as i32 + 1);
                }
            }
        }
    }
    let got = download::<i32>(&dev, out, ctas * 128);
    let idv = download::<u32>(&dev, ids, ctas * 12);
    (r, got, want, idv)
}

// A split reduction over clusters of 2, 4 (2x2) and 8 CTAs: each cluster's last CTA reads
// the others' shared memory through mapa after a cluster barrier; the cluster registers of
// every CTA are those of the ISA's definitions.
#[test]
fn cluster_reduction_and_registers() {
    for (seed, grid, c) in [
        (1, [4, 1, 1], [2, 1, 1]),
        (2, [4, 2, 1], [2, 2, 1]),
        (3, [8, 1, 2], [4, 1, 2]),
    ] {
        let (r, got, want, ids) = run_reduce("reduce_ok", grid, Some(c), seed);
        let st = r.unwrap_or_else(|e| panic!("{e}"));
        let ctas = (grid[0] * grid[1] * grid[2]) as usize;
        let nclusters = ctas / (c[0] * c[1] * c[2]) as usize;
        assert_eq!(
            &got[..nclusters * 128],
            &want[..nclusters * 128],
            "{grid:?} {c:?}"
        );
        assert_eq!(st.ctas, ctas as u64);
        for z in 0..grid[2] {
            for y in 0..grid[1] {
                for x in 0..grid[0] {
                    let cta = (x + grid[0] * (y + grid[1] * z)) as usize;
                    let ci = [x % c[0], y % c[1], z % c[2]];
                    let rank = ci[0] + c[0] * (ci[1] + c[1] * ci[2]);
                    let want_ids = [
                        rank,
                        c[0] * c[1] * c[2],
                        ci[0],
                        ci[1],
                        ci[2],
                        c[0],
                        c[1],
                        c[2],
                        x / c[0],
                        y / c[1],
                        z / c[2],
                        1,
                    ];
                    assert_eq!(ids[cta * 12..cta * 12 + 12], want_ids, "CTA {x},{y},{z}");
                }
            }
        }
    }
    // without cluster dimensions every CTA is its own (implicit) cluster
    let (r, got, want, ids) = run_reduce("reduce_ok", [3, 1, 1], None, 4);
    r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, want);
    assert_eq!(ids[12..24], [0, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0]);
}

// Planted bugs of the reduction: a remote read with no cluster barrier after the owner's
// write, and CTAs exiting while the last rank still reads their shared memory.
#[test]
fn cluster_reduction_planted_bugs() {
    let src = kernel_src("cluster.ptx");
    for kernel in ["reduce_noread", "reduce_noexit"] {
        let (r, ..) = run_reduce(kernel, [4, 1, 1], Some([2, 1, 1]), 5);
        let e = expect_exec(r);
        assert!(matches!(e.kind, ErrorKind::SharedRace(_)), "{kernel}: {e}");
        // the remote load of the last rank (CTA 1 of the first cluster)
        let body = &src[src.find(&format!(".entry {kernel}")).unwrap()..];
        let ld = src[..src.len() - body.len()].lines().count() as u32 + line_of(body, "ld.u32") - 1;
        assert_eq!((e.line, e.cta), (ld, [1, 0, 0]), "{kernel}: {e}");
        assert!(e.addr.is_some(), "{e}");
        let msg = e.to_string();
        if kernel == "reduce_noread" {
            assert!(msg.contains("of CTA [0, 0, 0]"), "{msg}");
        } else {
            assert!(msg.contains("whose threads have all exited"), "{msg}");
        }
    }
}

/// Runs a `handoff_*` kernel on `clusters` clusters of `n` CTAs of 64 threads.
fn run_handoff(
    kernel: &str,
    clusters: u32,
    n: u32,
) -> (Result<ptxsim::LaunchStats, SimError>, Vec<i32>) {
    let m = module("cluster.ptx");
    let mut dev = Device::new();
    let out = upload(&mut dev, &vec![-1i32; (clusters * 64) as usize]);
    let r = dev.launch(
        &m,
        kernel,
        &cfg([clusters * n, 1, 1], 64, Some([n, 1, 1])),
        &[Param::U64(out)],
    );
    (r, download::<i32>(&dev, out, (clusters * 64) as usize))
}

// Remote stores into rank 0's shared memory and remote arrivals on its mbarrier: rank 0
// waits on its barrier and sees every row; without the wait its reads race with the stores.
#[test]
fn cluster_handoff_through_remote_mbarrier() {
    for n in [2u32, 4, 8] {
        let (r, got) = run_handoff("handoff_ok", 2, n);
        let st = r.unwrap_or_else(|e| panic!("n={n}: {e}"));
        let want: Vec<i32> = (0..128)
            .map(|j| (1..n as i32).map(|r| r * 1000 + j % 64).sum())
            .collect();
        assert_eq!(got, want, "n={n}");
        assert_eq!(st.ctas, 2 * n as u64);
    }
    let (r, _) = run_handoff("handoff_nowait", 1, 2);
    let e = expect_exec(r);
    assert!(matches!(e.kind, ErrorKind::SharedRace(_)), "{e}");
}

// Cluster dimensions are checked at launch with a typed error: a grid that is not a multiple
// of them, zero, more than 8 CTAs (16 when non-portable sizes are allowed).
#[test]
fn cluster_launch_checks() {
    let m = module("cluster.ptx");
    let mut dev = Device::new();
    let inp = upload(&mut dev, &vec![1i32; 32 * 128]);
    let out = dev.alloc(32 * 128 * 4).unwrap();
    let ids = dev.alloc(32 * 12 * 4).unwrap();
    let launch = |dev: &mut Device, grid: u32, c: [u32; 3]| {
        dev.launch(
            &m,
            "reduce_ok",
            &cfg([grid, 1, 1], 128, Some(c)),
            &[Param::U64(inp), Param::U64(out), Param::U64(ids)],
        )
    };
    for (grid, c, what) in [
        (6, [4, 1, 1], "not a multiple"),
        (4, [0, 1, 1], "is 0"),
        (9, [9, 1, 1], "portable 8"),
        (16, [16, 1, 1], "portable 8"),
        (32, [32, 1, 1], "exceed 16"),
        (4, [2, 2, 1], "not a multiple"),
    ] {
        match launch(&mut dev, grid, c) {
            Err(e @ SimError::Cluster { .. }) => {
                assert!(e.to_string().contains(what), "{c:?}: {e}")
            }
            other => panic!("{c:?}: expected a cluster error, got {other:?}"),
        }
    }
    dev.allow_non_portable_cluster_size(true);
    launch(&mut dev, 16, [16, 1, 1]).unwrap_or_else(|e| panic!("{e}"));
    // the last rank summed 16 rows of ones weighted 1..=16
    assert_eq!(download::<i32>(&dev, out, 1), [136]);
    assert!(matches!(
        launch(&mut dev, 32, [32, 1, 1]),
        Err(SimError::Cluster { .. })
    ));
}

const HEAD: &str = ".version 8.0\n.target sm_90a\n.address_size 64\n";

/// A one-entry module `k(out, tmap)` with an 8-byte `bar` and a 1024-aligned 2 KiB `tile` in
/// shared memory; %r1 = %tid.x, %r2 = %cluster_ctarank, %p1 = (%tid.x == 0), %rd1 = out.
fn kernel(code: &str) -> String {
    format!(
        "{HEAD}.visible .entry k(.param .u64 out, .param .align 64 .b8 tmap[128])\n{{\n\t.reg .pred %p<8>;\n\t.reg .b32 %r<32>;\n\t.reg .b64 %rd<16>;\n\t.shared .align 8 .b64 bar;\n\t.shared .align 1024 .b8 tile[2048];\n\tmov.u32 %r1, %tid.x;\n\tmov.u32 %r2, %cluster_ctarank;\n\tsetp.eq.u32 %p1, %r1, 0;\n\tld.param.u64 %rd1, [out];\n{code}\n\tret;\n}}\n"
    )
}

fn run(
    dev: &mut Device,
    src: &str,
    grid: u32,
    block: u32,
    cluster: [u32; 3],
    params: [Param; 2],
) -> Result<ptxsim::LaunchStats, SimError> {
    let m = ptxsim::Module::parse(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    assert!(m.unsupported().is_empty(), "{:?}", m.unsupported());
    dev.launch(&m, "k", &cfg([grid, 1, 1], block, Some(cluster)), &params)
}

// A remote store into the shared memory of a CTA that then exits with nothing ordering the
// store before its exit (rank 0 runs first, so the store lands before rank 1 exits): reported
// at rank 1's exit, naming the store. The fixed twin ends with a cluster barrier.
#[test]
fn remote_store_before_the_owner_exits() {
    let store = "\tmov.u32 %r3, tile;\n\tmov.u32 %r4, 1;\n\tmapa.shared::cluster.u32 %r5, %r3, %r4;\n\tmad.lo.u32 %r6, %r1, 4, %r5;\n\tsetp.eq.u32 %p2, %r2, 0;\n\t@%p2 st.shared::cluster.u32 [%r6], %r1; // STORE\n";
    let sync =
        "\tbarrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;\n";
    let mut dev = Device::new();
    let out = dev.alloc(256).unwrap();
    let params = || [Param::U64(out), Param::Bytes(vec![0; 128])];
    let bad = kernel(store);
    let e = expect_exec(run(&mut dev, &bad, 2, 32, [2, 1, 1], params()));
    assert!(matches!(e.kind, ErrorKind::SharedRace(_)), "{e}");
    assert_eq!(e.cta, [1, 0, 0], "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("exits while its shared byte")
            && msg.contains(&format!("PTX line {}", line_of(&bad, "// STORE"))),
        "{msg}"
    );
    let good = kernel(&format!("{store}{sync}"));
    run(&mut dev, &good, 4, 32, [2, 1, 1], params()).unwrap_or_else(|e| panic!("{e}"));
}

// cp.async.bulk.tensor .multicast::cluster: rank 0 loads one 2 KiB box into the same offset
// of every CTA named by the mask, each completing on that CTA's own barrier (a remote
// complete_tx); each CTA waits on its barrier and copies its tile out. A mask naming a rank
// outside the cluster is an error.
#[test]
fn multicast_tensor_load() {
    use ptxsim::{Interleave, L2Promotion, OobFill, Swizzle, TensorMap, TmapDtype};
    let mut rng = rand::rngs::StdRng::seed_from_u64(77);
    let data: Vec<u32> = (0..512).map(|_| rng.gen_range(0..1000)).collect();
    let mut dev = Device::new();
    let src = upload(&mut dev, &data);
    let out = upload(&mut dev, &vec![u32::MAX; 4 * 512]);
    let map = TensorMap {
        dtype: TmapDtype::U32,
        global_address: src,
        dims: vec![32, 16],
        strides: vec![128],
        box_dims: vec![32, 16],
        element_strides: vec![1, 1],
        interleave: Interleave::None,
        swizzle: Swizzle::B128,
        l2_promotion: L2Promotion::None,
        oob_fill: OobFill::None,
    };
    let tm = map.encode().unwrap().to_vec();
    // init, fence, cluster barrier (every barrier initialised before any remote complete_tx);
    // each thread 0 expects 2 KiB; rank 0 multicasts; everyone waits, then copies the tile
    // (unswizzled by reading element i at its swizzled place is not needed: compare raw)
    let code = |mask: &str| {
        format!(
            "\t@%p1 mbarrier.init.shared::cta.b64 [bar], 1;\n\tfence.mbarrier_init.release.cluster;\n\tbarrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;\n\t@%p1 mbarrier.arrive.expect_tx.shared::cta.b64 _, [bar], 2048;\n\tsetp.eq.u32 %p2, %r2, 0;\n\tand.pred %p3, %p1, %p2;\n\tmov.u32 %r3, tile;\n\tmov.u32 %r4, bar;\n\tmov.u32 %r5, 0;\n\tmov.u16 %rs1, {mask};\n\t@%p3 cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster [%r3], [tmap, {{%r5, %r5}}], [%r4], %rs1; // MCAST\n\t{{\n\t.reg .pred %w;\n$Lw:\n\tmbarrier.try_wait.parity.shared::cta.b64 %w, [bar], 0;\n\t@!%w bra $Lw;\n\t}}\n\tmov.u32 %r6, 0;\n$Lc:\n\tmad.lo.u32 %r7, %r6, 32, %r1;\n\tshl.b32 %r8, %r7, 2;\n\tadd.u32 %r9, %r3, %r8;\n\tld.shared.u32 %r10, [%r9];\n\tmad.lo.u32 %r11, %r2, 512, %r7;\n\tmul.wide.u32 %rd2, %r11, 4;\n\tadd.s64 %rd3, %rd1, %rd2;\n\tst.global.u32 [%rd3], %r10;\n\tadd.u32 %r6, %r6, 1;\n\tsetp.lt.u32 %p4, %r6, 16;\n\t@%p4 bra $Lc;\n\tbarrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;\n"
        )
    };
    let with_rs = |c: String| {
        kernel(&c).replace(
            "\t.reg .b64 %rd<16>;",
            "\t.reg .b64 %rd<16>;\n\t.reg .b16 %rs<4>;",
        )
    };
    let good = with_rs(code("15"));
    let st = run(
        &mut dev,
        &good,
        4,
        32,
        [4, 1, 1],
        [Param::U64(out), Param::Bytes(tm.clone())],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // the 128B swizzle permutes 16-byte chunks within each 128-byte row: chunk c of row r
    // lands at chunk c ^ (r % 8)
    let got = download::<u32>(&dev, out, 4 * 512);
    for r in 0..4 {
        for row in 0..16 {
            for c in 0..8 {
                let sc = c ^ (row % 8);
                for e in 0..4 {
                    assert_eq!(
                        got[r * 512 + row * 32 + sc * 4 + e],
                        data[row * 32 + c * 4 + e],
                        "rank {r} row {row} chunk {c}"
                    );
                }
            }
        }
    }
    assert_eq!(st.bulk_bytes, 4 * 2048);
    // rank 4 does not exist in a cluster of 4
    let bad = with_rs(code("31"));
    let e = expect_exec(run(
        &mut dev,
        &bad,
        4,
        32,
        [4, 1, 1],
        [Param::U64(out), Param::Bytes(tm)],
    ));
    assert!(
        matches!(e.kind, ErrorKind::BulkAsync(ref m) if m.contains("multicast CTA mask")),
        "{e}"
    );
    assert_eq!(e.line, line_of(&bad, "// MCAST"));
}

// Atomics on another CTA's shared memory: every thread of ranks 1..4 adds to rank 0's
// counter (red and atom .shared::cluster); atomics do not race with each other, and a
// cluster barrier orders them before rank 0 reads the total. Without that barrier rank 0's
// read (its warps run first) races with the other CTAs' atomics.
#[test]
fn remote_atomics() {
    let init = "\t@%p1 st.shared.u32 [tile], 0;\n\tbarrier.cluster.arrive.aligned;\n\tbarrier.cluster.wait.aligned;\n\tmov.u32 %r3, tile;\n\tmov.u32 %r4, 0;\n\tmapa.shared::cluster.u32 %r5, %r3, %r4;\n\tsetp.ne.u32 %p5, %r2, 0;\n\t@%p5 red.relaxed.cluster.shared::cluster.add.u32 [%r5], 1; // RED\n\t@%p5 atom.shared::cluster.add.u32 %r6, [%r5], 2;\n\tfence.acq_rel.cluster;\n";
    let sync =
        "\tbarrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;\n";
    let read = "\tsetp.eq.u32 %p2, %r2, 0;\n\tand.pred %p3, %p1, %p2;\n\t@%p3 ld.shared.u32 %r7, [tile]; // READ\n\t@%p3 st.global.u32 [%rd1], %r7;\n";
    let tail =
        "\tbarrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;\n";
    let mut dev = Device::new();
    let out = upload(&mut dev, &[0u32; 2]);
    let p = || [Param::U64(out), Param::Bytes(vec![0; 128])];
    let good = kernel(&format!("{init}{sync}{read}{tail}"));
    run(&mut dev, &good, 4, 64, [4, 1, 1], p()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(download::<u32>(&dev, out, 1), [3 * 64 * 3]);
    // rank 0's warps run before the other CTAs' atomics: its read is then overwritten by
    // them with nothing ordering the two
    let bad = kernel(&format!("{init}{read}{tail}"));
    let e = expect_exec(run(&mut dev, &bad, 4, 64, [4, 1, 1], p()));
    assert!(matches!(e.kind, ErrorKind::SharedRace(_)), "{e}");
    assert_eq!((e.cta, e.line), ([1, 0, 0], line_of(&bad, "// RED")), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("PTX line {}", line_of(&bad, "// READ"))),
        "{e}"
    );
}

// Bounds: an offset past the window of another CTA is out of bounds like a local one, a
// mapa to a rank the cluster does not have is refused, and another CTA's shared::cluster
// address used as a shared::cta one is outside the CTA's window.
#[test]
fn remote_bounds() {
    let mut dev = Device::new();
    let out = dev.alloc(256).unwrap();
    let p = || [Param::U64(out), Param::Bytes(vec![0; 128])];
    let mapa = |rank: u32, off: u32| {
        format!("\tmov.u32 %r3, tile;\n\tadd.u32 %r3, %r3, {off};\n\tmov.u32 %r4, {rank};\n\tmapa.shared::cluster.u32 %r5, %r3, %r4; // MAPA\n\tsetp.eq.u32 %p2, %r2, 0;\n\tand.pred %p3, %p1, %p2;\n")
    };
    // tile ends at 1024 + 2048: the last word of rank 1 is in bounds, the next is not
    let ok = kernel(&format!("{}\t@%p3 st.shared::cluster.u32 [%r5], 7;\n\tbarrier.cluster.arrive.aligned;\n\tbarrier.cluster.wait.aligned;\n", mapa(1, 2044)));
    run(&mut dev, &ok, 2, 32, [2, 1, 1], p()).unwrap_or_else(|e| panic!("{e}"));
    let past = kernel(&format!("{}\t@%p3 st.shared::cluster.u32 [%r5+4], 7; // ST\n\tbarrier.cluster.arrive.aligned;\n\tbarrier.cluster.wait.aligned;\n", mapa(1, 2044)));
    let e = expect_exec(run(&mut dev, &past, 2, 32, [2, 1, 1], p()));
    assert!(matches!(e.kind, ErrorKind::OutOfBounds { .. }), "{e}");
    assert_eq!(e.line, line_of(&past, "// ST"));
    let rank = kernel(&mapa(2, 0));
    let e = expect_exec(run(&mut dev, &rank, 2, 32, [2, 1, 1], p()));
    assert!(e.to_string().contains("mapa to CTA rank 2"), "{e}");
    assert_eq!(e.line, line_of(&rank, "// MAPA"));
    let cta = kernel(&format!(
        "{}\t@%p3 st.shared::cta.u32 [%r5], 7; // ST\n",
        mapa(1, 0)
    ));
    let e = expect_exec(run(&mut dev, &cta, 2, 32, [2, 1, 1], p()));
    assert!(matches!(e.kind, ErrorKind::OutOfBounds { .. }), "{e}");
}

// 1-D cp.async.bulk .multicast::cluster: rank 1 copies 512 bytes into the same offset of
// ranks 0 and 2 of a cluster of 3 (mask 0b101), each completing on its own barrier; rank 1
// expects no bytes and its tile stays as it was.
#[test]
fn multicast_bulk_copy() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(78);
    let data: Vec<u32> = (0..128).map(|_| rng.gen_range(0..1000)).collect();
    let mut dev = Device::new();
    let src = upload(&mut dev, &data);
    let out = upload(&mut dev, &vec![u32::MAX; 3 * 128]);
    let code = format!(
        "\t.reg .b16 %rs<4>;\n\tst.shared.u32 [tile], 0;\n\t@%p1 mbarrier.init.shared::cta.b64 [bar], 1;\n\tfence.mbarrier_init.release.cluster;\n\tbarrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;\n\tsetp.ne.u32 %p4, %r2, 1;\n\tand.pred %p5, %p1, %p4;\n\t@%p5 mbarrier.arrive.expect_tx.shared::cta.b64 _, [bar], 512;\n\tsetp.eq.u32 %p2, %r2, 1;\n\tand.pred %p3, %p1, %p2;\n\t@%p3 mbarrier.arrive.shared::cta.b64 _, [bar];\n\tmov.u32 %r3, tile;\n\tmov.u32 %r4, bar;\n\tmov.u64 %rd4, {src};\n\tmov.u16 %rs1, 5;\n\t@%p3 cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%r3], [%rd4], 512, [%r4], %rs1;\n\t{{\n\t.reg .pred %w;\n$Lw:\n\tmbarrier.try_wait.parity.shared::cta.b64 %w, [bar], 0;\n\t@!%w bra $Lw;\n\t}}\n\tshl.b32 %r8, %r1, 2;\n\tadd.u32 %r9, %r3, %r8;\n\tld.shared.u32 %r10, [%r9];\n\tmad.lo.u32 %r11, %r2, 128, %r1;\n\tmul.wide.u32 %rd2, %r11, 4;\n\tadd.s64 %rd3, %rd1, %rd2;\n\tst.global.u32 [%rd3], %r10;\n\tbarrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;\n"
    );
    // every thread stores 0 at tile (a race unless one thread does): only thread 0 writes it
    let code = code.replace(
        "\tst.shared.u32 [tile], 0;\n",
        "\t@%p1 st.shared.u32 [tile], 0;\n",
    );
    let src_ptx = kernel(&code);
    // ranks 0 and 2 read the copied words; rank 1 reads only word 0 (its own zero) and
    // words it never wrote are uninitialised: read just thread 0's there
    let src_ptx = src_ptx.replace(
        "\tld.shared.u32 %r10, [%r9];\n",
        "\tsetp.eq.u32 %p6, %r2, 1;\n\t@%p6 mov.u32 %r9, %r3;\n\tld.shared.u32 %r10, [%r9];\n",
    );
    let st = run(
        &mut dev,
        &src_ptx,
        3,
        128,
        [3, 1, 1],
        [Param::U64(out), Param::Bytes(vec![0; 128])],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let got = download::<u32>(&dev, out, 3 * 128);
    assert_eq!(got[..128], data[..]);
    assert_eq!(got[256..], data[..]);
    assert!(got[128..256].iter().all(|&v| v == 0));
    assert_eq!(st.bulk_bytes, 2 * 512);
}
