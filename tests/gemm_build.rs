//! The sparse GEMM kernels: compiled for sm_80/86/89/90 without spills, and their
//! register / shared-memory use printed (the figures the closing note reports).

#[path = "common/sass_loop.rs"]
mod sass_loop;

use sparse24::kernels::{self, ResourceUsage};
use sparse24::ops::gemm::{GemmConfig, MainLoop};
use sparse24::DType;

#[test]
fn sparse_gemm_compiles_for_every_arch_without_spills() {
    if !kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return;
    }
    let m = kernels::module("sparse_gemm").expect("sparse_gemm module is embedded");
    let usage = kernels::parse_ptxas_report(m.ptxas_report);
    let mut names = Vec::new();
    for c in GemmConfig::ALL {
        for d in [DType::F16, DType::BF16] {
            names.push((c, c.kernel(d).expect("f16/bf16 kernels exist")));
        }
    }
    for (config, name) in &names {
        let tile = config.tile();
        assert!(
            m.ptx.contains(&format!(".entry {name}(")),
            "{name} missing from the PTX"
        );
        for arch in ["sm_80", "sm_86", "sm_89", "sm_90"] {
            let u = spill_free(&usage, name, arch);
            // 128 threads (the 4-warp staged tile) or 256 per CTA: at most 255
            // registers; 512 (the 16-warp tile): at most 128, so that one CTA fits the
            // 64 K registers of an SM.
            assert!(
                matches!(tile.threads, 128 | 256 | 512),
                "{name}: {} threads",
                tile.threads
            );
            let max_regs = (65536 / tile.threads).min(255);
            assert!(
                u.registers as usize <= max_regs,
                "{name}@{arch}: {} registers > {max_regs} for {} threads",
                u.registers,
                tile.threads
            );
            assert!(u.shared_bytes <= 48 * 1024);
            // Static kernels hold their pipeline/epilogue buffer statically; the
            // others get it at launch (GemmConfig::tile().dynamic_shared_bytes()) and
            // keep only a few bytes (the split-K flag) static.
            if tile.dynamic_shared {
                assert!(
                    u.shared_bytes <= 256,
                    "{name}@{arch}: {} B static smem",
                    u.shared_bytes
                );
            } else {
                assert!(
                    u.shared_bytes as usize >= tile.shared_bytes(),
                    "{name}@{arch}"
                );
            }
            let smem = u.shared_bytes as usize + tile.dynamic_shared_bytes();
            assert!(smem <= 227 * 1024, "{name}: {smem} B of shared memory");
            let ctas_by_regs =
                65536 / ((u.registers as usize).div_ceil(8) * 8 * tile.threads).max(1);
            let ctas_by_smem = (228 * 1024) / (smem + 1024).max(1);
            assert!(ctas_by_regs >= 1 && ctas_by_smem >= 1);
            println!(
                "{name}@{arch}: {} threads, {} registers, {} B static + {} B dynamic smem, 0 spills; CTAs/SM by registers {}, by smem (228 KiB) {}",
                tile.threads,
                u.registers,
                u.shared_bytes,
                tile.dynamic_shared_bytes(),
                ctas_by_regs,
                ctas_by_smem
            );
        }
    }
}

/// The ptxas report of kernel `name` on `arch`, which must not spill (no spill stores or
/// loads, no stack).
fn spill_free<'a>(usage: &'a [ResourceUsage], name: &str, arch: &str) -> &'a ResourceUsage {
    let u = usage
        .iter()
        .find(|u| u.kernel == name && u.arch == arch)
        .unwrap_or_else(|| panic!("{name}: no ptxas report for {arch}"));
    assert_eq!(
        (u.spill_store_bytes, u.spill_load_bytes, u.stack_bytes),
        (0, 0, 0),
        "{name} spills on {arch}"
    );
    u
}

/// The first SASS listing of kernel `name` in cuobjdump's output (whichever
/// architecture comes first).
fn first_listing<'a>(text: &'a str, name: &str) -> &'a str {
    text.split("Function : ")
        .find(|f| f.starts_with(name))
        .unwrap_or_else(|| panic!("{name}: no SASS"))
}

/// The SASS of a fatbin (the pinned toolchain's cuobjdump), or None where it is
/// missing (a build with another nvcc).
fn sass(fatbin: &[u8]) -> Option<String> {
    let tool = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".cuda/nvidia/cu13/bin/cuobjdump");
    let tool = std::env::var_os("CUOBJDUMP")
        .map(Into::into)
        .unwrap_or(tool);
    if !tool.is_file() {
        return None;
    }
    // One file per call: the tests run in parallel threads of one process, and a
    // shared name let one test disassemble the other's fatbin.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "sparse24-gemm-build-{}-{call}.fatbin",
        std::process::id()
    ));
    std::fs::write(&path, fatbin).ok()?;
    let out = std::process::Command::new(tool)
        .arg("-sass")
        .arg(&path)
        .output()
        .ok();
    let _ = std::fs::remove_file(&path);
    Some(String::from_utf8_lossy(&out?.stdout).into_owned())
}

/// The Hopper kernels: sm_90a machine code only (no sm_80/86/89/90 entry: `a` code
/// must never be loaded elsewhere), within the register budget of 384 threads at one
/// CTA per SM, no spills, and the SASS the design promises: HGMMA.SP (sparse wgmma)
/// and no dense HMMA.SP fallback, setmaxnreg for both roles, bulk tensor copies.
/// (A ptxas warning that wgmma was serialised is a build error: build.rs.)
#[test]
fn hopper_gemm_is_sm90a_only_without_spills_and_uses_hgmma_sp() {
    if !kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return;
    }
    let m = kernels::module("sparse_gemm_sm90").expect("sparse_gemm_sm90 module is embedded");
    let usage = kernels::parse_ptxas_report(m.ptxas_report);
    for c in hopper_tiles() {
        let tile = c.tile();
        for d in [DType::F16, DType::BF16] {
            let name = c.kernel(d).expect("f16/bf16 kernels exist");
            let archs: Vec<&str> = usage
                .iter()
                .filter(|u| u.kernel == name)
                .map(|u| u.arch.as_str())
                .collect();
            assert_eq!(archs, ["sm_90a"], "{name}: compiled for {archs:?}");
            let u = spill_free(&usage, name, archs[0]);
            let max_regs = 65536 / tile.threads / 8 * 8;
            assert!(
                u.registers as usize <= max_regs,
                "{name}: {} registers",
                u.registers
            );
            println!(
                "{name}@sm_90a: {} threads ({} producer), {} registers at launch, {} B dynamic smem, 0 spills",
                tile.threads,
                tile.producer_threads,
                u.registers,
                tile.dynamic_shared_bytes()
            );
        }
    }
    let Some(text) = sass(m.fatbin) else {
        println!("skipped SASS checks: cuobjdump not found");
        return;
    };
    for c in hopper_tiles() {
        for d in [DType::F16, DType::BF16] {
            let name = c.kernel(d).expect("kernel");
            let body = first_listing(&text, name);
            let count = |op: &str| body.lines().filter(|l| l.contains(op)).count();
            println!(
                "{name}: HGMMA.SP {}, USETMAXREG {}, UTMALDG {}, SYNCS {}",
                count("HGMMA.SP"),
                count("USETMAXREG"),
                count("UTMALDG"),
                count("SYNCS")
            );
            assert!(count("HGMMA.SP.64x128x32.F32") >= 4, "{name}: no HGMMA.SP");
            assert_eq!(
                count("HMMA"),
                0,
                "{name}: mma.sync code in the Hopper kernel"
            );
            assert!(count("USETMAXREG") >= 2, "{name}: no register reallocation");
            assert!(count("UTMALDG") >= 1, "{name}: no bulk tensor copy");
        }
    }
}

/// The shared-memory-staged tiles (kernels/gemm/smem_*.cuh) in SASS, on every
/// architecture: the main loop (one 8-step metadata group, GS stages) issues MT × NT ×
/// 8 HMMA.SP per warp and at most 3 instructions per HMMA.SP (the goal), and
/// reads its operands from shared memory (LDS/LDSM) with W and X arriving by cp.async
/// (LDGSTS): no global load of W into registers is left in it.
#[test]
fn staged_tiles_main_loop_sass() {
    if !kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return;
    }
    let m = kernels::module("sparse_gemm").expect("sparse_gemm module is embedded");
    let Some(text) = sass(m.fatbin) else {
        println!("skipped SASS checks: cuobjdump not found");
        return;
    };
    for c in GemmConfig::ALL {
        let tile = c.tile();
        if tile.main_loop != MainLoop::SmemStaged {
            continue;
        }
        let [mt, nt] = tile.mma_tiles_per_warp();
        for d in [DType::F16, DType::BF16] {
            let name = c.kernel(d).expect("kernel");
            for arch in ["sm_80", "sm_86", "sm_89", "sm_90"] {
                let body = sass_loop::function_sass(&text, arch, name)
                    .unwrap_or_else(|| panic!("{name}@{arch}: no SASS"));
                let l = sass_loop::main_loop(body)
                    .unwrap_or_else(|| panic!("{name}@{arch}: no main loop"));
                println!(
                    "{name}@{arch}: main loop {} instructions, {} HMMA.SP, {:.2} per HMMA.SP, {} shared loads, {} cp.async",
                    l.instructions,
                    l.hmma_sp,
                    l.per_hmma_sp(),
                    l.shared_loads,
                    l.cp_async
                );
                assert_eq!(l.hmma_sp, mt * nt * 8, "{name}@{arch}: HMMA.SP per loop");
                assert!(
                    l.per_hmma_sp() <= 3.0,
                    "{name}@{arch}: {:.2} instructions per HMMA.SP",
                    l.per_hmma_sp()
                );
                assert!(l.cp_async > 0 && l.shared_loads > 0, "{name}@{arch}: {l:?}");
                assert_eq!(
                    l.global_loads, 0,
                    "{name}@{arch}: global loads into registers"
                );
            }
        }
    }
}

/// The sweep's tiles (feature `gemm-sweep`, the GPU bundle's): compiled for sm_80/86/
/// 89/90 without spills and within 255 registers; their main loops printed (the
/// 64 × 32-warp tile is in the sweep to be measured against the 64 × 64 ones, not held
/// to the 3 instructions per HMMA.SP of the shipped tiles).
#[cfg(feature = "gemm-sweep")]
#[test]
fn sweep_tiles_compile_without_spills() {
    if !kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return;
    }
    let m = kernels::module("sparse_gemm").expect("sparse_gemm module is embedded");
    let usage = kernels::parse_ptxas_report(m.ptxas_report);
    let text = sass(m.fatbin);
    for c in GemmConfig::SWEEP {
        for d in [DType::F16, DType::BF16] {
            let name = c.kernel(d).expect("the sweep is compiled with gemm-sweep");
            for arch in ["sm_80", "sm_86", "sm_89", "sm_90"] {
                let u = spill_free(&usage, name, arch);
                assert!(u.registers <= 255);
                let l = text
                    .as_deref()
                    .and_then(|t| sass_loop::function_sass(t, arch, name))
                    .and_then(sass_loop::main_loop);
                println!(
                    "{name}@{arch}: {} registers, 0 spills, {} B dynamic smem; main loop {}",
                    u.registers,
                    c.tile().dynamic_shared_bytes(),
                    l.map_or("-".into(), |l| format!(
                        "{} HMMA.SP, {:.2} instructions per HMMA.SP",
                        l.hmma_sp,
                        l.per_hmma_sp()
                    ))
                );
            }
        }
    }
}

/// The latency-hiding decode tiles (`GemmConfig::DECODE`, kernels/gemm/decode_*.cuh):
/// on every architecture no spills, within the registers of their `min_ctas_per_sm`
/// CTAs per SM (what their W register ring is sized for), X resident in static shared
/// memory, and the evict-first W loads in the SASS (LDG with no L1 allocation).
#[test]
fn decode_tiles_compile_without_spills_at_their_occupancy() {
    if !kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return;
    }
    let m = kernels::module("sparse_gemm").expect("sparse_gemm module is embedded");
    let usage = kernels::parse_ptxas_report(m.ptxas_report);
    for c in GemmConfig::DECODE {
        let tile = c.tile();
        for d in [DType::F16, DType::BF16] {
            let name = c.kernel(d).expect("f16/bf16 kernels exist");
            assert!(m.ptx.contains(&format!(".entry {name}(")), "{name} missing");
            assert!(
                m.ptx.contains("createpolicy.fractional.L2::evict_first"),
                "no evict-first policy in the PTX"
            );
            for arch in ["sm_80", "sm_86", "sm_89", "sm_90"] {
                let u = spill_free(&usage, name, arch);
                let max_regs = 65536 / (tile.threads * tile.min_ctas_per_sm) / 8 * 8;
                assert!(
                    u.registers as usize <= max_regs,
                    "{name}@{arch}: {} registers > {max_regs}",
                    u.registers
                );
                assert!(!tile.dynamic_shared);
                assert!(u.shared_bytes as usize >= tile.shared_bytes());
                assert!(u.shared_bytes <= 48 * 1024);
                println!(
                    "{name}@{arch}: {} threads, {} registers (<= {max_regs} for {} CTAs/SM), {} B smem, 0 spills; W in flight {} B per warp",
                    tile.threads,
                    u.registers,
                    tile.min_ctas_per_sm,
                    u.shared_bytes,
                    tile.w_bytes_in_flight_per_warp()
                );
            }
        }
    }
    let Some(text) = sass(m.fatbin) else {
        println!("skipped SASS checks: cuobjdump not found");
        return;
    };
    for c in GemmConfig::DECODE {
        let name = c.kernel(DType::BF16).expect("kernel");
        let body = first_listing(&text, name);
        let count = |op: &str| body.lines().filter(|l| l.contains(op)).count();
        println!(
            "{name} (first SASS listing): HMMA.SP {}, LDG.E.NA.128 {}, LDSM {}, BAR {}",
            count("HMMA.SP"),
            count("LDG.E.NA.128"),
            count("LDSM"),
            count("BAR.SYNC")
        );
        assert!(count("LDG.E.NA.128") >= 9, "{name}: no no-allocate W loads");
        assert!(count("HMMA.SP") >= 8, "{name}: no HMMA.SP");
    }
}

/// The sm_90 decode tile (kernels/sparse_decode_sm90.cu): sm_90 machine code only (its
/// PTX is compute_90, what ptxsim runs; never built for sm_80/86/89), within the
/// register budget of its CTAs per SM, no spills, and the SASS the design promises:
/// 1-D bulk copies (UBLKCP) completing on mbarriers (SYNCS), the cluster barrier, and
/// mma.sp (HMMA.SP, no wgmma needed).
#[test]
fn sm90_decode_tile_is_sm90_only_without_spills_and_uses_bulk_copies() {
    if !kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return;
    }
    let module = GemmConfig::DECODE_SM90[0].module();
    let m = kernels::module(module).expect("the sm_90 decode module is embedded");
    assert!(
        m.ptx.contains(".target sm_90\n") || m.ptx.contains(".target sm_90\r\n"),
        "{module}: its PTX is not compute_90"
    );
    let usage = kernels::parse_ptxas_report(m.ptxas_report);
    for c in GemmConfig::DECODE_SM90 {
        let tile = c.tile();
        for d in [DType::F16, DType::BF16] {
            let name = c.kernel(d).expect("f16/bf16 kernels exist");
            let archs: Vec<&str> = usage
                .iter()
                .filter(|u| u.kernel == name)
                .map(|u| u.arch.as_str())
                .collect();
            assert_eq!(archs, ["sm_90"], "{name}: compiled for {archs:?}");
            let u = spill_free(&usage, name, archs[0]);
            let max_regs = 65536 / tile.threads / tile.min_ctas_per_sm / 8 * 8;
            assert!(
                u.registers as usize <= max_regs,
                "{name}: {} registers",
                u.registers
            );
            println!(
                "{name}@sm_90: {} threads, {} registers, {} B dynamic smem ({} B W ring), 0 spills",
                tile.threads,
                u.registers,
                tile.dynamic_shared_bytes(),
                tile.w_ring_bytes()
            );
        }
    }
    let Some(text) = sass(m.fatbin) else {
        println!("skipped SASS checks: cuobjdump not found");
        return;
    };
    for c in GemmConfig::DECODE_SM90 {
        for d in [DType::F16, DType::BF16] {
            let name = c.kernel(d).expect("kernel");
            let body = first_listing(&text, name);
            let count = |op: &str| body.lines().filter(|l| l.contains(op)).count();
            println!(
                "{name}: UBLKCP {}, SYNCS {}, UCGABAR {}, HMMA.SP {}, HGMMA {}",
                count("UBLKCP"),
                count("SYNCS"),
                count("UCGABAR"),
                count("HMMA.SP"),
                count("HGMMA")
            );
            assert!(count("UBLKCP") >= 1, "{name}: no 1-D bulk copy");
            assert!(count("SYNCS") >= 1, "{name}: no mbarrier");
            assert!(count("UCGABAR") >= 1, "{name}: no cluster barrier");
            assert!(count("HMMA.SP") >= 1, "{name}: no mma.sp");
            assert_eq!(count("HGMMA"), 0, "{name}: wgmma in the sm_90 decode tile");
        }
    }
}

/// The Hopper tiles this build compiled: the RS tiles, and with the `hopper-ss` feature
/// the SS form's (the same checks: sm_90a only, no spills, HGMMA.SP in SASS).
fn hopper_tiles() -> Vec<GemmConfig> {
    let ss = GemmConfig::WGMMA_SS
        .into_iter()
        .filter(|c| c.kernel(DType::BF16).is_ok());
    GemmConfig::WGMMA.into_iter().chain(ss).collect()
}
