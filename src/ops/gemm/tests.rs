//! Unit tests of the plan, the configurations and the launch description.

use super::*;
use crate::dtype::DType;
use crate::error::Error;
use crate::launch::{Arg, StructArg};
use crate::layout::FragmentGeometry;

#[test]
fn heuristic_picks_the_decode_tiles_with_split_k_for_few_tokens() {
    // 4096 x 4096 at 1 token: 64 row blocks of the 8-token tile; 3 waves of 132 SMs
    // ask for 6 splits (chunks of 3 groups).
    let p = SparseGemmPlan::choose(1, 4096, 4096, 132).unwrap();
    assert_eq!(p.config, GemmConfig::Decode8);
    assert_eq!(p.grid(), [64, 1, 6]);
    assert_eq!(p.chunk_steps, 24);
    // 224 row blocks fill the waves with 2 splits; X of 16 groups held 4 groups at a
    // time by the 16-token tile asks for 4.
    let p = SparseGemmPlan::choose(16, 14336, 4096, 132).unwrap();
    assert_eq!(
        (p.config, p.splits, p.chunk_steps),
        (GemmConfig::Decode16, 4, 32)
    );
    let p = SparseGemmPlan::choose(8, 4096, 14336, 132).unwrap();
    assert_eq!(
        (p.config, p.splits, p.chunk_steps),
        (GemmConfig::Decode8, 7, 64)
    );
    let p = SparseGemmPlan::choose(9, 4096, 14336, 132).unwrap();
    assert_eq!(
        (p.config, p.splits, p.chunk_steps),
        (GemmConfig::Decode16, 14, 32)
    );
    let p = SparseGemmPlan::choose(1, 8192, 28672, 132).unwrap();
    assert_eq!((p.splits, p.chunk_steps), (14, 64));
    // Past DECODE_MAX_SPLITS of X-sized chunks: the CTAs restage X.
    let p = SparseGemmPlan::choose(16, 64, 65536, 132).unwrap();
    assert_eq!(p.splits, DECODE_MAX_SPLITS);
    assert!(p.chunk_steps > p.config.tile().stages * 8);
    // Short K: one split per group at most.
    let p = SparseGemmPlan::choose(1, 64, 16, 132).unwrap();
    assert_eq!((p.splits, p.steps, p.chunk_steps), (1, 8, 8));
    assert_eq!(p.workspace_bytes(), 0);
    // The same tiles on every architecture of the mma.sp kernels but 9.x, which takes
    // the sm_90 bulk-copy decode tile for every decode token count.
    for tokens in [1, DECODE8_MAX_TOKENS, DECODE_MAX_TOKENS] {
        let d = GemmDevice {
            sm_count: 132,
            compute_capability: (9, 0),
        };
        let p = SparseGemmPlan::choose_for_with(tokens, 4096, 4096, d, None).unwrap();
        assert_eq!(p.config, GemmConfig::Decode16Sm90, "{tokens}");
    }
    for cc in [(8, 0), (8, 6), (8, 9), (10, 0)] {
        let d = GemmDevice {
            sm_count: 132,
            compute_capability: cc,
        };
        for (tokens, want) in [
            (1, GemmConfig::Decode8),
            (DECODE8_MAX_TOKENS, GemmConfig::Decode8),
            (DECODE8_MAX_TOKENS + 1, GemmConfig::Decode16),
            (DECODE_MAX_TOKENS, GemmConfig::Decode16),
        ] {
            let p = SparseGemmPlan::choose_for_with(tokens, 4096, 4096, d, None).unwrap();
            assert_eq!(p.config, want, "{cc:?} {tokens}");
        }
    }
}

#[test]
fn decode_splits_stay_within_bounds_on_any_shape() {
    for out in [1usize, 17, 64, 4096, 100_000] {
        for inn in [16usize, 272, 4096, 28672, 200_000] {
            for sms in [1usize, 108, 132] {
                for tokens in [1usize, 8, 9, 16] {
                    let p = SparseGemmPlan::choose(tokens, out, inn, sms).unwrap();
                    let groups = p.steps / 8;
                    assert!(p.splits >= 1 && p.splits <= DECODE_MAX_SPLITS.min(groups));
                    assert!(p.chunk_steps * p.splits >= p.steps);
                    assert!(p.chunk_steps * (p.splits - 1) < p.steps);
                }
            }
        }
    }
}

#[test]
fn heuristic_picks_prefill_for_many_tokens() {
    let choose = |t, o, i, sms| SparseGemmPlan::choose_with(t, o, i, sms, None).unwrap();
    let p = choose(17, 4096, 4096, 132);
    assert_eq!((p.config, p.splits), (GemmConfig::Prefill, 1));
    assert_eq!(p.grid(), [32, 1, 1]);
    let p = choose(255, 4096, 4096, 132);
    assert_eq!(p.config, GemmConfig::Prefill);
    // Many tokens: the 256 × 64 tile, token tiles along grid.x, below the staged
    // tiles' ranges.
    let p = choose(384, 8192, 4096, 108);
    assert_eq!((p.config, p.splits), (LARGE_PREFILL_TILE, 1));
    assert_eq!(p.grid(), [6, 32, 1]);
    // The staged tiles (STAGED_PREFILL_CANDIDATES): the first whose range has begun
    // and whose grid fills the SMs, within the device's shared memory.
    let p = choose(4096, 4096, 4096, 108);
    assert_eq!(
        (p.config, p.grid()),
        (GemmConfig::PrefillS256x128, [32, 16, 1])
    );
    let p = choose(1024, 4096, 4096, 108);
    assert_eq!(
        (p.config, p.grid()),
        (GemmConfig::PrefillS256x128, [8, 16, 1])
    );
    let p = choose(512, 4096, 4096, 108);
    assert_eq!(
        (p.config, p.grid()),
        (GemmConfig::PrefillS128x128, [4, 32, 1])
    );
    let ada = GemmDevice {
        sm_count: 58,
        compute_capability: (8, 9),
    };
    let p = SparseGemmPlan::choose_for_with(4096, 4096, 4096, ada, None).unwrap();
    assert_eq!(
        p.config,
        GemmConfig::PrefillS128x128,
        "99 KiB per CTA on sm_89"
    );
    assert!(matches!(
        SparseGemmPlan::choose_for_with(4096, 4096, 4096, ada, Some(GemmConfig::PrefillS256x128)),
        Err(Error::InvalidArgument { .. })
    ));
    let p = choose(256, 14336, 4096, 132);
    assert_eq!(p.config, GemmConfig::PrefillT256x64);
    assert_eq!(p.grid(), [4, 56, 1]);
    // 256 tokens of a 4096-row layer: 64 CTAs of 256 × 64 would leave SMs idle.
    let p = choose(256, 4096, 4096, 132);
    assert_eq!(p.config, GemmConfig::Prefill);
    assert_eq!(p.grid(), [32, 4, 1]);
    // The override wins whenever prefill runs, never for decode.
    for c in GemmConfig::PREFILL {
        let p = SparseGemmPlan::choose_with(300, 4096, 4096, 132, Some(c)).unwrap();
        assert_eq!(p.config, c);
        let p = SparseGemmPlan::choose_with(16, 4096, 4096, 132, Some(c)).unwrap();
        assert_eq!(p.config, GemmConfig::Decode16);
    }
    for d in [
        GemmConfig::Decode,
        GemmConfig::Decode8,
        GemmConfig::Decode16,
    ] {
        assert!(matches!(
            SparseGemmPlan::choose_with(300, 64, 64, 132, Some(d)),
            Err(Error::InvalidArgument { .. })
        ));
    }
}

#[test]
fn prefill_tile_names_parse_and_unknown_names_are_errors() {
    assert_eq!(parse_prefill_tile("").unwrap(), None);
    assert_eq!(parse_prefill_tile(" auto ").unwrap(), None);
    assert_eq!(parse_prefill_tile("64").unwrap(), Some(GemmConfig::Prefill));
    assert_eq!(
        parse_prefill_tile("128x64").unwrap(),
        Some(GemmConfig::Prefill)
    );
    for c in GemmConfig::PREFILL {
        assert_eq!(parse_prefill_tile(c.tile_name()).unwrap(), Some(c));
        assert_eq!(GemmConfig::prefill_from_name(c.tile_name()).unwrap(), c);
    }
    assert_eq!(
        parse_prefill_tile("128X128A2").unwrap(),
        Some(GemmConfig::PrefillT128x128A2)
    );
    assert_eq!(
        parse_prefill_tile(" 256X64W16").unwrap(),
        Some(GemmConfig::PrefillT256x64W16)
    );
    for bad in ["decode", "128", "256x128", "128x128a3", "256x64w8", "x"] {
        match parse_prefill_tile(bad) {
            Err(Error::InvalidArgument { what, why }) => {
                assert_eq!(what, PREFILL_TILE_ENV);
                assert!(why.contains(bad) && why.contains("128x128a2"), "{why}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn tiles_describe_their_shared_memory_and_grid_order() {
    // Mirrors SMEM_BYTES of kernels/sparse_gemm.cu.
    let smem: Vec<(usize, usize)> = GemmConfig::ALL
        .iter()
        .map(|c| (c.tile().shared_bytes(), c.tile().dynamic_shared_bytes()))
        .collect();
    assert_eq!(
        smem,
        [
            (24576, 0),
            (33792, 0),
            (67584, 67584),
            (67584, 67584),
            (66560, 66560),
            (66560, 66560),
            (81920, 81920),
            (114688, 114688),
            (131072, 131072)
        ]
    );
    let p = SparseGemmPlan::new(GemmConfig::PrefillT256x64, 130, 300, 64, 1).unwrap();
    assert_eq!(p.grid(), [3, 2, 1]);
    let l = sparse_linear_launches(&p, DType::BF16, DType::F32, &bufs(&p), &Default::default())
        .unwrap();
    assert_eq!(l[0].kernel, "sgemm_256x64_bf16");
    assert_eq!((l[0].grid, l[0].dynamic_shared_bytes), ([3, 2, 1], 66560));
    // The 16-warp 256 × 64 tile: same grid and shared memory, 512 threads.
    let p = SparseGemmPlan::new(GemmConfig::PrefillT256x64W16, 130, 300, 64, 1).unwrap();
    assert_eq!(p.grid(), [3, 2, 1]);
    let l =
        sparse_linear_launches(&p, DType::F16, DType::F32, &bufs(&p), &Default::default()).unwrap();
    assert_eq!(l[0].kernel, "sgemm_256x64w16_f16");
    assert_eq!(
        (l[0].block, l[0].dynamic_shared_bytes),
        ([512, 1, 1], 66560)
    );
    // Row blocks go to grid.y (at most 65535) for the token-fast tiles.
    assert!(matches!(
        SparseGemmPlan::new(GemmConfig::PrefillT128x128, 1, 128 * 65536, 16, 1),
        Err(Error::Shape { what: "out", .. })
    ));
    assert!(SparseGemmPlan::new(GemmConfig::PrefillT128x128, 128 * 70000, 16, 16, 1).is_ok());
}

#[test]
fn splits_never_leave_an_empty_chunk() {
    for groups in 1..40 {
        for want in 1..20 {
            let p = SparseGemmPlan::new(GemmConfig::Decode, 3, 40, groups * 256, want).unwrap();
            assert!(p.splits >= 1 && p.splits <= want.max(1));
            assert!((p.splits - 1) * p.chunk_steps < p.steps, "{p:?}");
            assert!(p.splits * p.chunk_steps >= p.steps, "{p:?}");
        }
    }
}

#[test]
fn workspace_size_counts_counters_and_partials() {
    let p = SparseGemmPlan::new(GemmConfig::Decode, 5, 300, 1024, 4).unwrap();
    assert_eq!(p.splits, 4);
    assert_eq!(p.tiles(), 3);
    assert_eq!(p.workspace_bytes(), 256 + 3 * 4 * 128 * 16 * 4);
}

#[test]
fn shapes_are_checked() {
    assert!(matches!(
        SparseGemmPlan::choose(0, 16, 16, 132),
        Err(Error::Shape { what: "tokens", .. })
    ));
    assert!(matches!(
        SparseGemmPlan::choose(1, 16, 24, 132),
        Err(Error::Shape { what: "cols", .. })
    ));
    assert!(matches!(
        SparseGemmPlan::new(GemmConfig::Decode, 16 * 65536, 16, 16, 1),
        Err(Error::Shape { what: "tokens", .. })
    ));
    assert!(matches!(
        SparseGemmPlan::choose(1, 0, 16, 132),
        Err(Error::Shape { what: "rows", .. })
    ));
}

fn bufs(plan: &SparseGemmPlan) -> GemmBuffers {
    GemmBuffers {
        w_values: 0x1000,
        w_meta: 0x2000,
        w_geometry: FragmentGeometry::new(plan.out, plan.inn),
        x: 0x3000,
        y: 0x4000,
        workspace: Some(DeviceSlice {
            ptr: 0x10000,
            len: plan.workspace_bytes(),
        }),
    }
}

#[test]
fn launch_describes_the_kernel() {
    let plan = SparseGemmPlan::new(GemmConfig::Decode, 7, 100, 272, 2).unwrap();
    let l = sparse_linear_launches(
        &plan,
        DType::BF16,
        DType::F32,
        &bufs(&plan),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].kernel, "sgemm_decode_bf16");
    assert_eq!(l[0].grid, [1, 1, 2]);
    assert_eq!(l[0].block, [256, 1, 1]);
    let [Arg::Struct(StructArg::Gemm(p))] = l[0].args[..] else {
        panic!("one GemmParams argument expected, got {:?}", l[0].args);
    };
    assert_eq!(p.ws, 0x10000 + 256);
    assert_eq!(p.counters, 0x10000);
    assert_eq!((p.out, p.inn, p.tokens, p.splits), (100, 272, 7, 2));
}

#[test]
fn launch_rejects_bad_arguments() {
    let plan = SparseGemmPlan::new(GemmConfig::Prefill, 70, 40, 48, 1).unwrap();
    let ok = bufs(&plan);
    let e = DeviceEpilogue::default();
    assert!(sparse_linear_launches(&plan, DType::F16, DType::F16, &ok, &e).is_ok());
    assert!(matches!(
        sparse_linear_launches(&plan, DType::F32, DType::F16, &ok, &e),
        Err(Error::InvalidArgument { what: "dtype", .. })
    ));
    let mis = GemmBuffers { x: 0x3008, ..ok };
    assert!(matches!(
        sparse_linear_launches(&plan, DType::F16, DType::F16, &mis, &e),
        Err(Error::Misaligned { what: "X", .. })
    ));
    let mis = GemmBuffers { y: 0x4001, ..ok };
    assert!(matches!(
        sparse_linear_launches(&plan, DType::F16, DType::F16, &mis, &e),
        Err(Error::Misaligned { what: "Y", .. })
    ));
    let beta = DeviceEpilogue { beta: 1.0, ..e };
    assert!(matches!(
        sparse_linear_launches(&plan, DType::F16, DType::F16, &ok, &beta),
        Err(Error::InvalidArgument { what: "beta", .. })
    ));
    let short_c = DeviceEpilogue {
        beta: 1.0,
        c: Some(DeviceSlice {
            ptr: 0x8000,
            len: 70 * 40 - 1,
        }),
        ..e
    };
    assert!(matches!(
        sparse_linear_launches(&plan, DType::F16, DType::F16, &ok, &short_c),
        Err(Error::Length { what: "C", .. })
    ));
    let bias = DeviceEpilogue {
        bias: Some(DeviceSlice {
            ptr: 0x8000,
            len: 41,
        }),
        ..e
    };
    assert!(matches!(
        sparse_linear_launches(&plan, DType::F16, DType::F16, &ok, &bias),
        Err(Error::Length { what: "bias", .. })
    ));
    let wrong_w = GemmBuffers {
        w_geometry: FragmentGeometry::new(48, 48),
        ..ok
    };
    assert!(sparse_linear_launches(&plan, DType::F16, DType::F16, &wrong_w, &e).is_err());
    // Split-K without (enough) workspace.
    let split = SparseGemmPlan::new(GemmConfig::Decode, 3, 40, 1024, 4).unwrap();
    let none = GemmBuffers {
        workspace: None,
        ..bufs(&split)
    };
    assert!(matches!(
        sparse_linear_launches(&split, DType::F16, DType::F16, &none, &e),
        Err(Error::InvalidArgument {
            what: "workspace",
            ..
        })
    ));
    let small = GemmBuffers {
        workspace: Some(DeviceSlice {
            ptr: 0x10000,
            len: 64,
        }),
        ..bufs(&split)
    };
    assert!(matches!(
        sparse_linear_launches(&split, DType::F16, DType::F16, &small, &e),
        Err(Error::Length { .. })
    ));
}

/// Without the `gemm-sweep` feature the sweep's tiles have no kernels: asking for one
/// names the feature, and their names are not prefill tiles.
#[cfg(not(feature = "gemm-sweep"))]
#[test]
fn sweep_tiles_need_their_feature() {
    for c in GemmConfig::SWEEP {
        match c.kernel(DType::BF16) {
            Err(Error::InvalidArgument { why, .. }) => assert!(why.contains("gemm-sweep"), "{why}"),
            other => panic!("{c:?}: {other:?}"),
        }
        assert!(parse_prefill_tile(c.tile_name()).is_err());
    }
}
