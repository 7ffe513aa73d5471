//! The sparse GEMM kernels: compiled for sm_80/86/89/90 without spills, and their
//! register / shared-memory use printed (the figures the closing note reports).

use sparse24::kernels;
use sparse24::ops::gemm::GemmConfig;
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
            let u = usage
                .iter()
                .find(|u| u.kernel == **name && u.arch == arch)
                .unwrap_or_else(|| panic!("{name}: no ptxas report for {arch}"));
            assert_eq!(
                (u.spill_store_bytes, u.spill_load_bytes, u.stack_bytes),
                (0, 0, 0),
                "{name} spills on {arch}"
            );
            // 256 threads per CTA: at most 255 registers; 512 (the 16-warp tile):
            // at most 128, so that one CTA fits the 64 K registers of an SM.
            assert!(
                tile.threads == 256 || tile.threads == 512,
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
