//! The Hopper sparse GEMM (kernels/sparse_gemm_sm90.cu: bulk tensor copies of X on
//! mbarriers, W in registers, wgmma.mma_async.sp, warp-specialised) on ptxsim against
//! the f64 CPU reference, with ptxsim's counters checked against the arithmetic: one
//! wgmma.sp m64n128k32 per (64-row block, k32 step) of every CTA, one 16 KiB box per
//! stage, and every strict check (operands touched in flight, reads before the copy's
//! phase completed, proxy fences, mbarrier misuse) passing.

#[path = "common/gemm_cases.rs"]
mod gemm_cases;

use gemm_cases::{run_case, WGMMA_CASES, WGMMA_PERSISTENT_CASES};

use sparse24::ops::gemm::{GemmConfig, GemmDevice, SparseGemmPlan};
use sparse24::sim::SimExecutor;

use gemm_cases::kernels_missing as skip;

/// wgmma.sp the plan must issue: every CTA's consumer warpgroups run one per 64-row
/// block per k32 step, in range or not (rows past the end compute row tile 0 and are
/// not stored).
fn expected_wgmma(p: &SparseGemmPlan) -> u64 {
    let t = p.config.tile();
    let ctas = p.out.div_ceil(t.rows) * p.tokens.div_ceil(t.tokens);
    // Every split's CTAs together cover the k32 steps once.
    (ctas * (t.rows / 64) * p.steps) as u64
}

/// Bytes the bulk copy engine moves: one box (k 64 × 128 tokens of 2 bytes, out-of-
/// bounds parts zero-filled but still counted) per stage of every CTA, and in the SS
/// form one W box (the tile's rows × 32 compressed values of 2 bytes) beside it.
fn expected_bulk_bytes(p: &SparseGemmPlan) -> u64 {
    let t = p.config.tile();
    let ctas = p.out.div_ceil(t.rows) * p.tokens.div_ceil(t.tokens);
    let stages = p.steps / t.steps_per_stage;
    let w = if t.w_by_bulk_copy() {
        t.rows * t.steps_per_stage * 16 * 2
    } else {
        0
    };
    (ctas * stages * (t.tokens * t.steps_per_stage * 32 * 2 + w)) as u64
}

#[test]
fn wgmma_kernel_matches_reference() {
    if skip() {
        return;
    }
    for (i, c) in WGMMA_CASES.iter().enumerate() {
        let exec = SimExecutor::new();
        let t0 = std::time::Instant::now();
        let (err, tol, p) = run_case(&exec, c, 300 + i as u64).unwrap_or_else(|e| panic!("{e}"));
        let s = exec.last_stats().expect("ptxsim counters");
        println!(
            "{} {:?}->{:?} tokens={} out={} in={} act={:?} beta={:?} bias={}: rel err {err:.2e} \
             (bound {tol:.0e}); wgmma.sp m64n128k32={} bulk bytes={} mbarrier waits={} \
             warp-insts/wgmma.sp={:.1} in {:.1?}",
            c.config.name(),
            c.dtype,
            c.out_dtype,
            c.tokens,
            c.out,
            c.inn,
            c.act,
            c.beta,
            c.bias,
            s.wgmma_sp[15],
            s.bulk_bytes,
            s.mbarrier_waits,
            s.warp_instructions as f64 / s.wgmma_sp[15].max(1) as f64,
            t0.elapsed()
        );
        assert_eq!(s.wgmma_sp[15], expected_wgmma(&p), "{c:?}");
        assert_eq!(
            s.wgmma_instructions(),
            s.wgmma_sp[15],
            "{c:?}: other wgmma shapes"
        );
        assert_eq!(s.bulk_bytes, expected_bulk_bytes(&p), "{c:?}");
    }
}

#[test]
fn persistent_ctas_walk_several_units() {
    if skip() {
        return;
    }
    for (i, c) in WGMMA_PERSISTENT_CASES.iter().enumerate() {
        let exec = SimExecutor::new();
        let t0 = std::time::Instant::now();
        let (err, tol, p) = run_case(&exec, c, 400 + i as u64).unwrap_or_else(|e| panic!("{e}"));
        let s = exec.last_stats().expect("ptxsim counters");
        let [ctas, ..] = p.launch_grid();
        println!(
            "{c:?}: {} units on {ctas} CTAs, band {}: rel err {err:.2e} (bound {tol:.0e}) in {:.1?}",
            p.units(),
            p.band(),
            t0.elapsed()
        );
        assert!(
            (ctas as usize) < p.units(),
            "the case must give CTAs more than one unit"
        );
        // The same work as one CTA per unit: nothing skipped, nothing done twice.
        assert_eq!(s.wgmma_sp[15], expected_wgmma(&p), "{c:?}");
        assert_eq!(s.bulk_bytes, expected_bulk_bytes(&p), "{c:?}");
    }
}

#[test]
fn persistent_plans_launch_one_cta_per_sm_and_band_the_tiles() {
    let h100 = GemmDevice {
        sm_count: 132,
        compute_capability: (9, 0),
    };
    // 4096 x 4096 at 2048 tokens: 16 row blocks x 16 token tiles on 132 CTAs, in bands
    // of 12 token tiles (√(132 · 256 · 9/16 / 128) = 12.2).
    let p = SparseGemmPlan::choose_for_with(2048, 4096, 4096, h100, None).unwrap();
    assert_eq!(
        (p.units(), p.launch_grid(), p.band()),
        (256, [132, 1, 1], 12)
    );
    // Few tiles, split-K: 16 tiles x 8 splits = 128 units, one CTA each.
    let p = SparseGemmPlan::choose_for_with(64, 4096, 4096, h100, None).unwrap();
    assert_eq!((p.units(), p.launch_grid()), (128, [128, 1, 1]));
    // Fewer token tiles than the band: the band is all of them.
    let p = SparseGemmPlan::choose_for_with(300, 28672, 8192, h100, None).unwrap();
    assert_eq!(p.band(), 3);
    // Without a device: one CTA per unit, row-major, as a plain grid.
    let p = SparseGemmPlan::new(GemmConfig::Wgmma256x128, 2048, 4096, 4096, 1).unwrap();
    assert_eq!((p.launch_grid(), p.band()), ([256, 1, 1], 16));
    // The mma.sp tiles are not persistent: their grid is the tile grid.
    let p = SparseGemmPlan::choose_for_with(2048, 4096, 4096, GemmDevice::sm80(108), None).unwrap();
    assert_eq!(p.launch_grid(), p.grid());
}

#[test]
fn plans_pick_the_hopper_kernel_on_sm90_only() {
    let dev = |cc| GemmDevice {
        sm_count: 132,
        compute_capability: cc,
    };
    let pick = |tokens, cc| {
        SparseGemmPlan::choose_for_with(tokens, 4096, 4096, dev(cc), None)
            .unwrap()
            .config
    };
    assert_eq!(pick(2048, (9, 0)), GemmConfig::Wgmma256x128);
    let plan = SparseGemmPlan::choose_for_with(2048, 4096, 4096, dev((9, 0)), None).unwrap();
    assert_eq!(
        plan.kernel_name(sparse24::DType::BF16).unwrap(),
        "sgemm_wg256x128_bf16"
    );
    assert_eq!(pick(64, (9, 0)), GemmConfig::Wgmma256x128);
    // Never on another architecture, sm_100 and later included (`a` code runs on 9.0 alone).
    for cc in [(8, 0), (8, 6), (8, 9), (10, 0), (12, 0)] {
        for tokens in [1, 64, 2048, 8192] {
            assert!(!pick(tokens, cc).tile().sm90a_only(), "{cc:?} {tokens}");
        }
    }
    // Decode takes the sm_90 bulk-copy decode tile (mma.sp) on Hopper.
    assert_eq!(pick(8, (9, 0)), GemmConfig::Decode16Sm90);
    // Forcing it elsewhere is a typed error.
    assert!(SparseGemmPlan::choose_for_with(
        2048,
        4096,
        4096,
        dev((10, 0)),
        Some(GemmConfig::Wgmma256x128)
    )
    .is_err());
    // Few output tiles: split-K to about one CTA per SM (4096 × 4096 at 64 tokens: 16
    // tiles, 8 splits of 2 groups); enough tiles: none.
    let p = SparseGemmPlan::choose_for_with(64, 4096, 4096, dev((9, 0)), None).unwrap();
    assert_eq!((p.tiles(), p.splits), (16, 8));
    assert!(p.workspace_bytes() > 0);
    let p = SparseGemmPlan::choose_for_with(2048, 4096, 4096, dev((9, 0)), None).unwrap();
    assert_eq!((p.tiles(), p.splits), (256, 1));
}

#[test]
fn wgmma_split_k_is_deterministic_and_resets_its_counters() {
    if skip() {
        return;
    }
    let c = gemm_cases::Case {
        splits: 3,
        ..WGMMA_CASES[5]
    };
    let exec = SimExecutor::new();
    let (a, b) = gemm_cases::run_twice(&exec, &c, 9).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a, b, "split-K output differs between two runs");
}

/// The SS form (feature `hopper-ss`) against the f64 reference, with the same counters:
/// one wgmma.sp m64n128k32 (now both operands from shared memory) per 64-row block and
/// k32 step, X and W boxes per stage; strict checks on, as for every ptxsim run.
#[cfg(feature = "hopper-ss")]
#[test]
fn wgmma_ss_kernel_matches_reference() {
    use gemm_cases::WGMMA_SS_CASES;
    if skip() {
        return;
    }
    for (i, c) in WGMMA_SS_CASES.iter().enumerate() {
        let exec = SimExecutor::new();
        let t0 = std::time::Instant::now();
        let (err, tol, p) = run_case(&exec, c, 500 + i as u64).unwrap_or_else(|e| panic!("{e}"));
        let s = exec.last_stats().expect("ptxsim counters");
        let [ctas, ..] = p.launch_grid();
        println!(
            "{c:?}: {} units on {ctas} CTAs: rel err {err:.2e} (bound {tol:.0e}); wgmma.sp \
             m64n128k32={} bulk bytes={} warp-insts/wgmma.sp={:.1} in {:.1?}",
            p.units(),
            s.wgmma_sp[15],
            s.bulk_bytes,
            s.warp_instructions as f64 / s.wgmma_sp[15].max(1) as f64,
            t0.elapsed()
        );
        assert_eq!(s.wgmma_sp[15], expected_wgmma(&p), "{c:?}");
        assert_eq!(
            s.wgmma_instructions(),
            s.wgmma_sp[15],
            "{c:?}: other wgmma shapes"
        );
        assert_eq!(s.bulk_bytes, expected_bulk_bytes(&p), "{c:?}");
        if c.resident_ctas > 0 {
            assert!((ctas as usize) < p.units(), "{c:?}: one unit per CTA");
        }
    }
}

/// The SS tile is reachable only by name, on compute capability 9.0, and never by the
/// heuristic; a launch without W's row-major values is a typed error.
#[cfg(feature = "hopper-ss")]
#[test]
fn ss_tile_is_forced_only() {
    use sparse24::layout::FragmentGeometry;
    use sparse24::ops::gemm::{parse_prefill_tile, DeviceEpilogue, GemmLaunch, GemmWeights};
    let h100 = GemmDevice {
        sm_count: 132,
        compute_capability: (9, 0),
    };
    assert_eq!(
        parse_prefill_tile("wg256x128ss").unwrap(),
        Some(GemmConfig::Wgmma256x128Ss)
    );
    for tokens in [1, 64, 2048, 8192] {
        let p = SparseGemmPlan::choose_for_with(tokens, 4096, 4096, h100, None).unwrap();
        assert_ne!(p.config, GemmConfig::Wgmma256x128Ss, "{tokens}");
    }
    let ss = Some(GemmConfig::Wgmma256x128Ss);
    let p = SparseGemmPlan::choose_for_with(2048, 4096, 4096, h100, ss).unwrap();
    assert_eq!(p.config, GemmConfig::Wgmma256x128Ss);
    let sm100 = GemmDevice {
        compute_capability: (10, 0),
        ..h100
    };
    assert!(SparseGemmPlan::choose_for_with(2048, 4096, 4096, sm100, ss).is_err());
    let mut w = GemmWeights {
        values: 0x1000,
        meta: 0x2000,
        geometry: FragmentGeometry::new(4096, 4096),
        row_values: None,
    };
    let epi = DeviceEpilogue::default();
    let dt = sparse24::DType::BF16;
    assert!(matches!(
        GemmLaunch::new(&p, dt, dt, &w, &epi),
        Err(sparse24::Error::InvalidArgument {
            what: "weights",
            ..
        })
    ));
    w.row_values = Some(0x3008);
    assert!(matches!(
        GemmLaunch::new(&p, dt, dt, &w, &epi),
        Err(sparse24::Error::Misaligned { .. })
    ));
    w.row_values = Some(0x3000);
    assert!(GemmLaunch::new(&p, dt, dt, &w, &epi).is_ok());
    assert!(GemmConfig::Wgmma256x128Ss.tile().shared_bytes() <= 227 * 1024);
}

/// W's second, row-major copy exists only for a plan that reads it: the default path's
/// device memory is unchanged.
#[cfg(feature = "hopper-ss")]
#[test]
fn row_major_values_are_uploaded_for_ss_tiles_only() {
    use sparse24::launch::Executor;
    use sparse24::ops::gemm::DeviceSparse24;
    let c = gemm_cases::WGMMA_SS_CASES[0];
    let w = gemm_cases::inputs::<sparse24::bf16>(&c, 7).w;
    let exec = SimExecutor::new();
    for config in [GemmConfig::Wgmma256x128, GemmConfig::PrefillS128x128] {
        let d = DeviceSparse24::upload_for(&exec, &w, config).unwrap();
        assert!(d.row_values().is_none(), "{config:?}");
    }
    let d = DeviceSparse24::upload_for(&exec, &w, GemmConfig::Wgmma256x128Ss).unwrap();
    let rv = d.row_values().expect("row-major values");
    let bytes = exec.download_bytes(rv).unwrap();
    let want: Vec<u8> = w.values().iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(bytes, want);
}

/// Without the `hopper-ss` feature the SS tile has no kernel: forcing it is a typed
/// error naming the feature, and its name is not a prefill tile.
#[cfg(not(feature = "hopper-ss"))]
#[test]
fn ss_tile_needs_its_feature() {
    use sparse24::ops::gemm::parse_prefill_tile;
    let e = GemmConfig::Wgmma256x128Ss
        .handle(sparse24::DType::BF16)
        .unwrap_err();
    assert!(e.to_string().contains("hopper-ss"), "{e}");
    assert!(parse_prefill_tile("wg256x128ss").is_err());
}
