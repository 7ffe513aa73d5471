//! Tensor maps (issue 17 stage a): the description's validation with the driver's rules,
//! ptxsim's 128-byte encoding, and `cp.async.bulk.tensor` tile loads and stores on random
//! small integers against a reference written from the PTX ISA's tile-mode rules (box
//! elements packed dimension 0 first, swizzle on the shared address, out-of-bounds
//! elements zero on loads and not written on stores).
mod common;
use common::*;
use ptxsim::{
    Device, ErrorKind, Interleave, L2Promotion, LaunchConfig, LaunchStats, Module, OobFill, Param,
    SimError, Swizzle, TensorMap, TensorMapError, TmapDtype,
};
use rand::{Rng, SeedableRng};

fn map2d(addr: u64, rows: u64, cols: u64, pitch: u64, bx: u32, by: u32) -> TensorMap {
    TensorMap {
        dtype: TmapDtype::U32,
        global_address: addr,
        dims: vec![cols, rows],
        strides: vec![pitch],
        box_dims: vec![bx, by],
        element_strides: vec![1, 1],
        interleave: Interleave::None,
        swizzle: Swizzle::None,
        l2_promotion: L2Promotion::B128,
        oob_fill: OobFill::None,
    }
}

#[test]
fn tensor_map_validation_follows_the_driver_rules() {
    let ok = map2d(0x1000, 10, 20, 96, 8, 4);
    ok.validate().unwrap();
    let with = |f: &dyn Fn(&mut TensorMap)| {
        let mut m = ok.clone();
        f(&mut m);
        m.validate().unwrap_err()
    };
    assert_eq!(
        with(&|m| m.global_address = 0x1008),
        TensorMapError::AddressAlignment {
            addr: 0x1008,
            align: 16
        }
    );
    assert_eq!(
        with(&|m| m.strides = vec![88]),
        TensorMapError::Stride { dim: 1, stride: 88 }
    );
    assert_eq!(
        with(&|m| m.box_dims = vec![8, 257]),
        TensorMapError::BoxSize { dim: 1, size: 257 }
    );
    assert_eq!(
        with(&|m| m.box_dims = vec![6, 4]),
        TensorMapError::InnerBoxBytes { bytes: 24 }
    );
    assert_eq!(
        with(&|m| {
            m.box_dims = vec![16, 4];
            m.swizzle = Swizzle::B32
        }),
        TensorMapError::SwizzleSpan {
            bytes: 64,
            span: 32
        }
    );
    assert_eq!(
        with(&|m| m.element_strides = vec![1, 9]),
        TensorMapError::ElementStride { dim: 1, stride: 9 }
    );
    assert_eq!(
        with(&|m| m.dims = vec![20, 0]),
        TensorMapError::DimSize { dim: 1, size: 0 }
    );
    assert_eq!(
        with(&|m| {
            m.dims = vec![1; 6];
        }),
        TensorMapError::Rank(6)
    );
    assert!(matches!(
        with(&|m| m.strides = vec![]),
        TensorMapError::Length {
            what: "strides",
            ..
        }
    ));
    // the encoding round-trips and refuses what is not one
    let mut m = ok.clone();
    m.swizzle = Swizzle::B32;
    m.oob_fill = OobFill::NanRequestZeroFma;
    m.dtype = TmapDtype::F32;
    let b = m.encode().unwrap();
    assert_eq!(TensorMap::decode(&b).unwrap(), m);
    assert!(matches!(
        TensorMap::decode(&[0u8; 128]),
        Err(TensorMapError::Encoding(_))
    ));
    assert!(with(&|m| m.box_dims = vec![6, 4]) == TensorMapError::InnerBoxBytes { bytes: 24 });
}

const HEAD: &str = ".version 8.0\n.target sm_90a\n.address_size 64\n";

/// A kernel that loads (or, `store`, stores) one `rank`-d box of `bytes` bytes between the
/// tensor of `tmap` and `tile` (1024-byte aligned, plus `skew` bytes), then dumps
/// (or, for a store, first fills) `tile` word by word from/to `buf`.
fn tensor_kernel(rank: usize, bytes: u32, store: bool, skew: u32) -> String {
    let coords: Vec<String> = (0..rank).map(|i| format!("%c{i}")).collect();
    let coord_params: String = (0..rank).map(|i| format!(", .param .u32 c{i}")).collect();
    let coord_loads: String = (0..rank)
        .map(|i| format!("\tld.param.u32 %c{i}, [c{i}];\n"))
        .collect();
    let words = bytes / 4;
    let copy = if store {
        format!("\tcp.async.bulk.tensor.{rank}d.global.shared::cta.tile.bulk_group [tmap, {{{}}}], [%r10]; // COPY\n\tcp.async.bulk.commit_group;\n\tcp.async.bulk.wait_group 0;\n", coords.join(", "))
    } else {
        format!("\tmbarrier.arrive.expect_tx.shared::cta.b64 _, [bar], {bytes};\n\tcp.async.bulk.tensor.{rank}d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%r10], [tmap, {{{}}}], [bar]; // COPY\n", coords.join(", "))
    };
    let (before, after) = if store {
        // buf -> tile, then the store
        (
            format!("\tmov.u32 %r4, %r1;\n$Lfill:\n\tsetp.lt.u32 %p2, %r4, {words};\n\t@!%p2 bra $Lfilled;\n\tmul.wide.u32 %rd3, %r4, 4;\n\tadd.s64 %rd4, %rd1, %rd3;\n\tld.global.u32 %r5, [%rd4];\n\tmad.lo.u32 %r6, %r4, 4, %r10;\n\tst.shared.u32 [%r6], %r5;\n\tadd.u32 %r4, %r4, 128;\n\tbra $Lfill;\n$Lfilled:\n\tfence.proxy.async.shared::cta;\n\tbar.sync 0;\n"),
            String::new(),
        )
    } else {
        (
            String::new(),
            format!("\t{{\n\t.reg .pred %w;\n$Lw:\n\tmbarrier.try_wait.parity.shared::cta.b64 %w, [bar], 0;\n\t@!%w bra $Lw;\n\t}}\n\tmov.u32 %r4, %r1;\n$Ldump:\n\tsetp.lt.u32 %p2, %r4, {words};\n\t@!%p2 bra $Ldone;\n\tmad.lo.u32 %r6, %r4, 4, %r10;\n\tld.shared.u32 %r5, [%r6];\n\tmul.wide.u32 %rd3, %r4, 4;\n\tadd.s64 %rd4, %rd1, %rd3;\n\tst.global.u32 [%rd4], %r5;\n\tadd.u32 %r4, %r4, 128;\n\tbra $Ldump;\n$Ldone:\n"),
        )
    };
    format!(
        "{HEAD}.visible .entry k(.param .align 64 .b8 tmap[128], .param .u64 buf{coord_params})\n{{\n\t.reg .pred %p<4>;\n\t.reg .b32 %r<16>;\n\t.reg .b32 %c<5>;\n\t.reg .b64 %rd<8>;\n\t.shared .align 8 .b64 bar;\n\t.shared .align 1024 .b8 tile[{}];\n\tld.param.u64 %rd1, [buf];\n{coord_loads}\tmov.u32 %r1, %tid.x;\n\tsetp.eq.u32 %p1, %r1, 0;\n\tmov.u32 %r10, tile;\n\tadd.u32 %r10, %r10, {skew};\n\t@%p1 mbarrier.init.shared::cta.b64 [bar], 1;\n\tbar.sync 0;\n{before}\t@!%p1 bra $Lskip;\n{copy}$Lskip:\n{after}\tret;\n}}\n",
        bytes.next_multiple_of(1024) + 1024
    )
}

/// Launch `src` with the map, `buf`, and the coordinates.
fn run(
    dev: &mut Device,
    src: &str,
    map: &TensorMap,
    buf: u64,
    coords: &[i64],
) -> Result<LaunchStats, SimError> {
    let m = Module::parse(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    assert!(m.unsupported().is_empty(), "{:?}", m.unsupported());
    let mut params = vec![
        Param::Bytes(map.encode().unwrap().to_vec()),
        Param::U64(buf),
    ];
    params.extend(coords.iter().map(|&c| Param::U32(c as i32 as u32)));
    dev.launch(&m, "k", &LaunchConfig::linear(1, 128), &params)
}

/// The element index (into a dense row-major tensor with `pitch_elems` per row) of box
/// element `lin`, or None out of bounds. 2-D helper: dims = [cols, rows].
fn box_elem(
    lin: u64,
    counts: &[u64],
    start: &[i64],
    estr: &[u32],
    dims: &[u64],
    pitch: &[u64],
) -> Option<u64> {
    let (mut rem, mut idx) = (lin, 0u64);
    for i in 0..counts.len() {
        let c = start[i] + (rem % counts[i]) as i64 * estr[i] as i64;
        rem /= counts[i];
        if c < 0 || c as u64 >= dims[i] {
            return None;
        }
        idx += c as u64 * pitch[i];
    }
    Some(idx)
}

/// `box_elem` for a 2-D box (bx, by) with unit element strides in a (cols, rows) tensor.
fn elem2(
    lin: u64,
    (bx, by): (u32, u32),
    start: &[i64],
    (cols, rows): (u64, u64),
    pitch: u64,
) -> Option<u64> {
    box_elem(
        lin,
        &[bx as u64, by as u64],
        start,
        &[1, 1],
        &[cols, rows],
        &[1, pitch],
    )
}

/// Load a box at random coordinates (some partly outside the tensor) for each swizzle
/// mode and check every word of the shared tile.
#[test]
fn tensor_tile_loads_fill_out_of_bounds_with_zero_and_swizzle() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(24);
    let (rows, cols, pitch_elems) = (19u64, 45u64, 48u64);
    let data: Vec<u32> = (0..rows * pitch_elems)
        .map(|_| rng.gen_range(1..1000))
        .collect();
    let mut dev = Device::new();
    let g = upload(&mut dev, &data);
    for (swizzle, bx) in [
        (Swizzle::None, 12u32),
        (Swizzle::B32, 8),
        (Swizzle::B64, 16),
        (Swizzle::B128, 32),
    ] {
        let by = 8u32;
        let mut map = map2d(g, rows, cols, pitch_elems * 4, bx, by);
        map.swizzle = swizzle;
        let bytes = bx * by * 4;
        let src = tensor_kernel(2, bytes, false, 0);
        for _ in 0..3 {
            let start = [
                rng.gen_range(-6..cols as i64),
                rng.gen_range(-4..rows as i64),
            ];
            let out = dev.alloc(bytes as usize).unwrap();
            let st = run(&mut dev, &src, &map, out, &start).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(st.bulk_bytes, bytes as u64);
            let got = download::<u32>(&dev, out, (bytes / 4) as usize);
            let mut want = vec![0u32; (bytes / 4) as usize];
            for lin in 0..(bx * by) as u64 {
                let v = elem2(lin, (bx, by), &start, (cols, rows), pitch_elems)
                    .map_or(0, |i| data[i as usize]);
                // the tile is 1024-byte aligned: the swizzle of its offset is the swizzle
                // of its address
                let off = swizzle.apply(lin * 4);
                want[(off / 4) as usize] = v;
            }
            assert_eq!(got, want, "{swizzle:?} at {start:?}");
        }
    }
}

/// The swizzle patterns themselves, from the PTX ISA / CUTLASS tables: 16-byte chunk c of
/// 128-byte line r lands at chunk c ^ (r % 8) for 128B, c ^ (r % 4) within 64 bytes for
/// 64B, c ^ (r % 2) within 32 bytes for 32B.
#[test]
fn swizzle_patterns() {
    for r in 0..16u64 {
        for c in 0..8u64 {
            let a = r * 128 + c * 16 + 5;
            assert_eq!(Swizzle::B128.apply(a), r * 128 + (c ^ (r % 8)) * 16 + 5);
            assert_eq!(
                Swizzle::B64.apply(a),
                r * 128 + (c & 4 | ((c & 3) ^ (r % 4))) * 16 + 5
            );
            assert_eq!(
                Swizzle::B32.apply(a),
                r * 128 + (c & 6 | ((c & 1) ^ (r % 2))) * 16 + 5
            );
            assert_eq!(Swizzle::None.apply(a), a);
        }
    }
}

/// A 3-D load with an element stride of 2 in dimension 0 and one of 3 in dimension 2.
#[test]
fn tensor_tile_load_3d_with_element_strides() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let dims = [40u64, 6, 9];
    let pitch = [1u64, 48, 48 * 6];
    let data: Vec<u32> = (0..48 * 6 * 9).map(|_| rng.gen_range(1..1000)).collect();
    let mut dev = Device::new();
    let g = upload(&mut dev, &data);
    let map = TensorMap {
        dtype: TmapDtype::U32,
        global_address: g,
        dims: dims.to_vec(),
        strides: vec![48 * 4, 48 * 6 * 4],
        box_dims: vec![8, 4, 6],
        element_strides: vec![2, 1, 3],
        interleave: Interleave::None,
        swizzle: Swizzle::None,
        l2_promotion: L2Promotion::None,
        oob_fill: OobFill::None,
    };
    let counts = [4u64, 4, 2];
    let bytes = (counts.iter().product::<u64>() * 4) as u32;
    assert_eq!(map.box_bytes(), bytes as u64);
    let src = tensor_kernel(3, bytes, false, 0);
    let start = [35i64, 3, 4];
    let out = dev.alloc(bytes as usize).unwrap();
    run(&mut dev, &src, &map, out, &start).unwrap_or_else(|e| panic!("{e}"));
    let got = download::<u32>(&dev, out, (bytes / 4) as usize);
    let want: Vec<u32> = (0..bytes as u64 / 4)
        .map(|lin| {
            box_elem(lin, &counts, &start, &[2, 1, 3], &dims, &pitch)
                .map_or(0, |i| data[i as usize])
        })
        .collect();
    assert_eq!(got, want);
}

/// A store of a box partly outside the tensor: in-bounds elements written, the rest of the
/// tensor untouched.
#[test]
fn tensor_tile_store_clips_out_of_bounds_elements() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let (rows, cols, pitch_elems) = (11u64, 21u64, 24u64);
    let mut dev = Device::new();
    let sentinel = vec![0xdead_beefu32; (rows * pitch_elems) as usize];
    let g = upload(&mut dev, &sentinel);
    for swizzle in [Swizzle::None, Swizzle::B128] {
        let (bx, by) = (32u32, 8u32);
        let mut map = map2d(g, rows, cols, pitch_elems * 4, bx, by);
        map.swizzle = swizzle;
        let bytes = bx * by * 4;
        // buf holds the tile's shared bytes in order (swizzled as they sit in memory)
        let tile: Vec<u32> = (0..bytes / 4).map(|_| rng.gen_range(1..1000)).collect();
        let buf = upload(&mut dev, &tile);
        dev.write(g, &as_bytes(&sentinel)).unwrap();
        let start = [cols as i64 - 20, -3];
        let src = tensor_kernel(2, bytes, true, 0);
        let st = run(&mut dev, &src, &map, buf, &start).unwrap_or_else(|e| panic!("{e}"));
        let mut want = sentinel.clone();
        let mut moved = 0;
        for lin in 0..(bx * by) as u64 {
            if let Some(i) = elem2(lin, (bx, by), &start, (cols, rows), pitch_elems) {
                want[i as usize] = tile[(swizzle.apply(lin * 4) / 4) as usize];
                moved += 4;
            }
        }
        assert_eq!(download::<u32>(&dev, g, want.len()), want, "{swizzle:?}");
        assert_eq!(st.bulk_bytes, moved);
    }
}

/// 128-byte swizzle on a tile that is not 1024-byte aligned is reported; the aligned twin
/// passes. So is a parameter that holds no tensor map.
#[test]
fn swizzled_tile_must_be_aligned_to_its_pattern() {
    let data = vec![1u32; 64 * 8];
    let mut dev = Device::new();
    let g = upload(&mut dev, &data);
    let mut map = map2d(g, 8, 64, 256, 32, 8);
    map.swizzle = Swizzle::B128;
    let out = dev.alloc(1024).unwrap();
    run(
        &mut dev,
        &tensor_kernel(2, 1024, false, 0),
        &map,
        out,
        &[0, 0],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let bad = tensor_kernel(2, 1024, false, 128);
    let e = match run(&mut dev, &bad, &map, out, &[0, 0]) {
        Err(SimError::Exec(e)) => *e,
        other => panic!("{other:?}"),
    };
    println!("{e}");
    assert!(
        matches!(e.kind, ErrorKind::Misaligned { align: 1024, .. }),
        "{e}"
    );
    assert_eq!(
        e.line,
        bad.lines().position(|l| l.contains("COPY")).unwrap() as u32 + 1
    );
    assert_eq!(e.tid, [0, 0, 0]);
    // a plain 128-byte aligned tile is enough without a swizzle
    map.swizzle = Swizzle::None;
    run(&mut dev, &bad, &map, out, &[0, 0]).unwrap_or_else(|e| panic!("{e}"));
    // a 3-d copy with this 2-d map
    let three = tensor_kernel(3, 1024, false, 0);
    let e = run(&mut dev, &three, &map, out, &[0, 0, 0]).unwrap_err();
    assert!(
        e.to_string()
            .contains("3-d tensor copy with a tensor map of rank 2"),
        "{e}"
    );
    // bytes that are not ptxsim's encoding
    let m = Module::parse(&bad).unwrap();
    let r = dev.launch(
        &m,
        "k",
        &LaunchConfig::linear(1, 128),
        &[
            Param::Bytes(vec![0; 128]),
            Param::U64(out),
            Param::U32(0),
            Param::U32(0),
        ],
    );
    let e = r.unwrap_err();
    assert!(e.to_string().contains("not a ptxsim tensor map"), "{e}");
}

// nvcc's own sm_90a PTX (tests/kernels/tma.cu, `tile`): a 128B-swizzled 32x8 box loaded
// through one `__grid_constant__` CUtensorMap, incremented, stored through another; the box
// hangs over the tensor's edge, so the load fills zeros and the store clips.
#[test]
fn nvcc_built_tile_load_and_store() {
    let m = module("tma.ptx");
    assert!(m.unsupported().is_empty(), "{:?}", m.unsupported());
    let (rows, cols, pitch) = (20u64, 40u64, 48u64);
    let mut rng = rand::rngs::StdRng::seed_from_u64(31);
    let data: Vec<u32> = (0..rows * pitch).map(|_| rng.gen_range(0..1000)).collect();
    let mut dev = Device::new();
    let src = upload(&mut dev, &data);
    let sentinel = vec![7u32; data.len()];
    let dst = upload(&mut dev, &sentinel);
    let mut smap = map2d(src, rows, cols, pitch * 4, 32, 8);
    smap.swizzle = Swizzle::B128;
    let mut dmap = smap.clone();
    dmap.global_address = dst;
    for start in [[0i64, 0], [20, 15], [-5, -3]] {
        dev.write(dst, &as_bytes(&sentinel)).unwrap();
        let params = [
            Param::Bytes(smap.encode().unwrap().to_vec()),
            Param::Bytes(dmap.encode().unwrap().to_vec()),
            Param::I32(start[0] as i32),
            Param::I32(start[1] as i32),
        ];
        dev.launch(&m, "tile", &LaunchConfig::linear(1, 128), &params)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut want = sentinel.clone();
        for lin in 0..256 {
            if let Some(i) = elem2(lin, (32, 8), &start, (cols, rows), pitch) {
                want[i as usize] = data[i as usize] + 1;
            }
        }
        assert_eq!(download::<u32>(&dev, dst, want.len()), want, "{start:?}");
    }
}
