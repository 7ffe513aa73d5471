//! The embedded kernels: compiled for every target architecture, without spills.

use sparse24::kernels;

#[test]
fn every_kernel_compiled_for_sm80_to_sm90_without_spills() {
    if !kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return;
    }
    for m in kernels::MODULES {
        let usage = kernels::parse_ptxas_report(m.ptxas_report);
        assert!(!usage.is_empty(), "{}: empty ptxas report", m.name);
        // A Hopper module (`// sparse24-arch: sm_90a` or `sm_90`) has that code alone.
        let hopper_only = ["sm_90a", "sm_90"]
            .into_iter()
            .find(|a| usage.iter().all(|u| u.arch == *a));
        for u in &usage {
            assert_eq!(
                (u.spill_store_bytes, u.spill_load_bytes),
                (0, 0),
                "{}::{} spills on {}",
                m.name,
                u.kernel,
                u.arch
            );
        }
        let hopper = hopper_only.map(|a| [a]);
        let archs: &[&str] = match &hopper {
            Some(a) => a,
            None => &["sm_80", "sm_86", "sm_89", "sm_90"],
        };
        for arch in archs {
            assert!(
                usage.iter().any(|u| u.arch == *arch),
                "{}: no code for {arch}",
                m.name
            );
        }
        assert!(m.ptx.contains(".entry"), "{}: PTX has no entry", m.name);
        println!(
            "{}: {}",
            m.name,
            usage
                .iter()
                .map(|u| format!("{}@{} {} regs", u.kernel, u.arch, u.registers))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    assert!(kernels::module("decompress").is_ok());
}
