//! Hostile input: each test is a small PTX text or host call that once hung, aborted,
//! panicked, wrapped a size or was silently accepted, and must now be a typed error (or,
//! for scoped labels, run correctly). Every test here must stay fast.
use std::time::{Duration, Instant};

use ptxsim::{Device, ErrorKind, LaunchConfig, Limit, Limits, Module, Param, SimError};

const HEAD: &str = ".version 9.0\n.target sm_80\n.address_size 64\n";

fn kernel(decls: &str, code: &str) -> String {
    format!("{HEAD}.visible .entry k(.param .u64 out)\n{{\n{decls}\n{code}\n\tret;\n}}\n")
}

/// The limit error of `r`, as (limit, requested, cap).
fn limit_err<T: std::fmt::Debug>(r: Result<T, SimError>) -> (Limit, u64, u64) {
    match r {
        Err(SimError::Limit {
            limit,
            requested,
            cap,
            ..
        }) => (limit, requested, cap),
        other => panic!("expected a limit error, got {other:?}"),
    }
}

/// The line and message of a parse error.
fn parse_err(src: &str) -> (u32, String) {
    match Module::parse(src) {
        Err(SimError::Parse { line, msg }) => (line, msg),
        Err(e) => panic!("expected a parse error, got {e}"),
        Ok(_) => panic!("expected a parse error, the module loaded"),
    }
}

fn line_of(src: &str, marker: &str) -> u32 {
    src.lines()
        .position(|l| l.contains(marker))
        .expect("marker") as u32
        + 1
}

/// The kind of the execution error a launch of `k` (one thread) ends with.
fn exec_kind(dev: &mut Device, src: &str) -> ErrorKind {
    let m = Module::parse(src).unwrap_or_else(|e| panic!("{e}"));
    let out = dev.alloc(64).unwrap();
    match dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[Param::U64(out)]) {
        Err(SimError::Exec(e)) => e.kind,
        other => panic!("expected an execution error, got {other:?}"),
    }
}

// Defect 1: a 97-byte `.reg` declaration took 12 s and 1.8 GB.
#[test]
fn huge_register_declaration_is_refused_fast() {
    let src = kernel(".reg .b32 %r<10000000>;", "");
    let t = Instant::now();
    let r = Module::parse(&src);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let (limit, requested, cap) = limit_err(r);
    assert_eq!(limit, Limit::RegistersPerFunction);
    assert_eq!(requested, 10_000_000);
    assert_eq!(cap, Limits::default().registers_per_function);
}

#[test]
fn registers_per_module_add_up_over_functions() {
    let limits = Limits {
        registers_per_function: 100,
        registers_per_module: 150,
        ..Limits::default()
    };
    let f = |n: &str| format!(".func {n}()\n{{\n.reg .b32 %r<80>;\nret;\n}}\n");
    let src = format!("{HEAD}{}{}", f("a"), f("b"));
    let (limit, requested, cap) = limit_err(Module::parse_with_limits(&src, &limits));
    assert_eq!(
        (limit, requested, cap),
        (Limit::RegistersPerModule, 160, 150)
    );
}

#[test]
fn register_file_is_checked_at_launch() {
    let src = kernel(".reg .b32 %r<1000>;", "");
    let m = Module::parse(&src).unwrap();
    let mut dev = Device::with_limits(Limits {
        register_file_bytes: 1 << 20,
        ..Limits::default()
    });
    let out = dev.alloc(64).unwrap();
    let r = dev.launch(&m, "k", &LaunchConfig::linear(1, 1024), &[Param::U64(out)]);
    let (limit, requested, _) = limit_err(r);
    assert_eq!(limit, Limit::RegisterFileBytes);
    assert!(requested > 1 << 20);
}

// Defect 2: a 1 TiB module array and `alloc(1 << 40)` aborted; `read(p, usize::MAX)` panicked.
#[test]
fn terabyte_module_array_is_refused() {
    let src = format!("{HEAD}.global .align 1 .b8 g[1099511627776];\n");
    let (limit, requested, cap) = limit_err(Module::parse(&src));
    assert_eq!(limit, Limit::ModuleBytes);
    assert_eq!(requested, 1 << 40);
    assert_eq!(cap, Limits::default().module_bytes);
    // an element count whose byte size overflows u64
    let src = format!("{HEAD}.const .align 8 .u64 c[4611686018427387904];\n");
    let (limit, requested, _) = limit_err(Module::parse(&src));
    assert_eq!((limit, requested), (Limit::ModuleBytes, u64::MAX));
}

#[test]
fn terabyte_alloc_and_device_total_are_refused() {
    let mut dev = Device::new();
    let (limit, requested, cap) = limit_err(dev.alloc(1 << 40));
    assert_eq!((limit, requested), (Limit::AllocBytes, 1 << 40));
    assert_eq!(cap, Limits::default().alloc_bytes);
    let mut dev = Device::with_limits(Limits {
        device_bytes: 1 << 20,
        ..Limits::default()
    });
    let a = dev.alloc(600 << 10).unwrap();
    let (limit, requested, cap) = limit_err(dev.alloc(600 << 10));
    assert_eq!(
        (limit, requested, cap),
        (Limit::DeviceBytes, 1200 << 10, 1 << 20)
    );
    // freeing gives the bytes back
    dev.free(a).unwrap();
    dev.alloc(600 << 10).unwrap();
}

#[test]
fn module_globals_count_towards_device_memory() {
    let src = format!("{HEAD}.global .align 4 .b8 g[4096];\n.visible .entry k()\n{{\n\tret;\n}}\n");
    let m = Module::parse(&src).unwrap();
    let mut dev = Device::with_limits(Limits {
        device_bytes: 1024,
        ..Limits::default()
    });
    let r = dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[]);
    let (limit, requested, _) = limit_err(r);
    assert_eq!((limit, requested), (Limit::DeviceBytes, 4096));
}

#[test]
fn read_of_usize_max_is_an_error() {
    let mut dev = Device::new();
    let p = dev.alloc(16).unwrap();
    match dev.read(p, usize::MAX) {
        Err(SimError::Api(msg)) => assert!(msg.contains("out of bounds"), "{msg}"),
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_eq!(dev.read(p, 16).unwrap(), vec![0u8; 16]);
}

// Defect 3: unbounded recursion grew memory until the process died.
#[test]
fn unbounded_recursion_hits_the_call_depth() {
    let src = format!(
        "{HEAD}.func f()\n{{\n\tcall.uni f, ();\n\tret;\n}}\n.visible .entry k(.param .u64 out)\n{{\n\tcall.uni f, ();\n\tret;\n}}\n"
    );
    let t = Instant::now();
    let kind = exec_kind(&mut Device::new(), &src);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let cap = Limits::default().call_depth;
    assert_eq!(
        kind,
        ErrorKind::LimitExceeded {
            limit: Limit::CallDepth,
            requested: cap + 1,
            cap
        }
    );
}

#[test]
fn recursion_with_frames_hits_the_local_limit() {
    // each call takes a 4 KiB parameter frame and saves f's registers
    let src = format!(
        "{HEAD}.func f(.param .align 4 .b8 big[4096])\n{{\n\t.reg .b32 %r<4>;\n\t{{\n\t.param .align 4 .b8 a[4096];\n\tcall.uni f, (a);\n\t}}\n\tret;\n}}\n\
         .visible .entry k(.param .u64 out)\n{{\n\t{{\n\t.param .align 4 .b8 a[4096];\n\tcall.uni f, (a);\n\t}}\n\tret;\n}}\n"
    );
    let mut dev = Device::with_limits(Limits {
        local_bytes_per_thread: 64 << 10,
        ..Limits::default()
    });
    match exec_kind(&mut dev, &src) {
        ErrorKind::LimitExceeded {
            limit: Limit::LocalBytesPerThread,
            requested,
            cap,
        } => {
            assert_eq!(cap, 64 << 10);
            assert!(requested > cap);
        }
        k => panic!("expected the local-memory limit, got {k:?}"),
    }
}

// Defect 4: `.local .b8 l[8589934608]` became a 16-byte frame (u32 truncation).
#[test]
fn local_array_size_does_not_wrap() {
    let src = kernel(".local .align 1 .b8 l[8589934608];", "");
    let (limit, requested, cap) = limit_err(Module::parse(&src));
    assert_eq!(limit, Limit::LocalBytesPerThread);
    assert_eq!(requested, 8589934608);
    assert_eq!(cap, Limits::default().local_bytes_per_thread);
    // with a cap beyond 4 GiB the 32-bit frame is what refuses it, still without wrapping
    let limits = Limits {
        local_bytes_per_thread: u64::MAX,
        ..Limits::default()
    };
    let (limit, requested, cap) = limit_err(Module::parse_with_limits(&src, &limits));
    assert_eq!(
        (limit, requested, cap),
        (Limit::LocalBytesPerThread, 8589934608, u32::MAX as u64)
    );
}

#[test]
fn shared_and_param_sizes_do_not_wrap() {
    let src = kernel(".shared .align 4 .b8 s[4294967312];", "");
    let (limit, requested, _) = limit_err(Module::parse(&src));
    assert_eq!((limit, requested), (Limit::SharedBytesPerCta, 4294967312));
    let src =
        format!("{HEAD}.visible .entry k(.param .align 8 .b8 p[4294967304])\n{{\n\tret;\n}}\n");
    let (limit, requested, cap) = limit_err(Module::parse(&src));
    assert_eq!((limit, requested), (Limit::ParamBytes, 4294967304));
    assert_eq!(cap, 32764);
    // dynamic shared memory at launch
    let m = Module::parse(&kernel("", "")).unwrap();
    let mut dev = Device::new();
    let out = dev.alloc(4).unwrap();
    let cfg = LaunchConfig {
        dynamic_shared_bytes: u32::MAX,
        ..LaunchConfig::linear(1, 1)
    };
    let (limit, requested, _) = limit_err(dev.launch(&m, "k", &cfg, &[Param::U64(out)]));
    assert_eq!(
        (limit, requested),
        (Limit::SharedBytesPerCta, u32::MAX as u64)
    );
}

#[test]
fn device_limits_apply_to_modules_parsed_with_defaults() {
    let src = kernel(".local .align 4 .b8 l[8192];", "");
    let m = Module::parse(&src).unwrap();
    let mut dev = Device::with_limits(Limits {
        local_bytes_per_thread: 4096,
        ..Limits::default()
    });
    let out = dev.alloc(4).unwrap();
    let r = dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[Param::U64(out)]);
    let (limit, requested, cap) = limit_err(r);
    assert_eq!(
        (limit, requested, cap),
        (Limit::LocalBytesPerThread, 8192, 4096)
    );
}

// Defect 5: PTX that ptxas rejects was accepted.
#[test]
fn duplicate_label_in_one_block_is_an_error() {
    let src = kernel("", "$L_a:\n\tbra $L_a;\n$L_a:\n");
    let (line, msg) = parse_err(&src);
    assert_eq!(line, line_of(&src, "$L_a:") + 2);
    assert!(msg.contains("$L_a") && msg.contains("twice"), "{msg}");
}

#[test]
fn duplicate_reg_in_one_block_is_an_error() {
    let src = kernel(".reg .b32 %r<4>;\n.reg .b32 %r2;", "");
    let (line, msg) = parse_err(&src);
    assert_eq!(line, line_of(&src, ".reg .b32 %r2;"));
    assert!(msg.contains("%r2") && msg.contains("twice"), "{msg}");
    // the same names in nested and sibling blocks are legal (nvcc's inlined blocks)
    let src = kernel(
        ".reg .b32 %r<4>;",
        "{\n.reg .b32 %r1;\n}\n{\n.reg .b32 %r1;\n{\n.reg .b32 %r1;\n}\n}",
    );
    Module::parse(&src).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn immediate_that_overflows_its_type_is_an_error() {
    for (code, marker) in [
        ("add.u32 %r1, %r1, 4294967296;", "4294967296"),
        ("mov.b16 %rs1, 65536;", "65536"),
        ("add.s32 %r1, %r1, -2147483649;", "-2147483649"),
    ] {
        let src = kernel(".reg .b32 %r<4>;\n.reg .b16 %rs<4>;", code);
        let (line, msg) = parse_err(&src);
        assert_eq!(line, line_of(&src, marker), "{code}");
        assert!(msg.contains("does not fit"), "{code}: {msg}");
    }
    // what does fit, as signed or unsigned, still loads
    let src = kernel(
        ".reg .b32 %r<4>;\n.reg .b16 %rs<4>;",
        "add.u32 %r1, %r1, 4294967295;\nadd.u32 %r1, %r1, -1;\nmov.b16 %rs1, -32768;",
    );
    Module::parse(&src).unwrap_or_else(|e| panic!("{e}"));
    // a literal beyond 64 bits
    let src = kernel(".reg .b64 %rd<4>;", "mov.u64 %rd1, 0x10000000000000000;");
    let (line, msg) = parse_err(&src);
    assert_eq!(line, line_of(&src, "0x1000"));
    assert!(msg.contains("64 bits"), "{msg}");
}

#[test]
fn initialiser_longer_than_its_array_is_an_error() {
    let src = format!("{HEAD}.global .align 4 .u32 a[2] = {{1, 2, 3}};\n");
    let (line, msg) = parse_err(&src);
    assert_eq!(line, 4);
    assert!(msg.contains("3 elements"), "{msg}");
    let src = format!("{HEAD}.global .align 1 .u8 b[4] = {{1, 256}};\n");
    let (_, msg) = parse_err(&src);
    assert!(msg.contains("does not fit"), "{msg}");
    // an unsized array takes its length from the initialiser
    let src = format!(
        "{HEAD}.global .align 4 .u32 c[] = {{5, 6, 7}};\n.visible .entry k(.param .u64 out)\n{{\n\t.reg .b32 %r<2>;\n\t.reg .b64 %rd<3>;\n\tld.param.u64 %rd1, [out];\n\tmov.u64 %rd2, c;\n\tld.global.u32 %r1, [%rd2+8];\n\tst.global.u32 [%rd1], %r1;\n\tret;\n}}\n"
    );
    let m = Module::parse(&src).unwrap_or_else(|e| panic!("{e}"));
    let mut dev = Device::new();
    let out = dev.alloc(4).unwrap();
    dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[Param::U64(out)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dev.read(out, 4).unwrap(), 7u32.to_le_bytes());
}

// Labels are scoped by block: two inlined wait loops with the same label.
#[test]
fn same_label_in_sibling_blocks_branches_within_its_block() {
    let lp = |reg: &str, n: u32| {
        format!(
            "\t{{\n\t.reg .pred %p;\n\t.reg .b32 %c;\n\tmov.u32 %c, {n};\n$Lwait:\n\tadd.u32 {reg}, {reg}, 1;\n\tsub.u32 %c, %c, 1;\n\tsetp.ne.u32 %p, %c, 0;\n\t@%p bra $Lwait;\n\t}}\n"
        )
    };
    let code = format!(
        "\tld.param.u64 %rd1, [out];\n\tmov.u32 %r1, 0;\n\tmov.u32 %r2, 0;\n{}{}\tst.global.u32 [%rd1], %r1;\n\tst.global.u32 [%rd1+4], %r2;",
        lp("%r1", 3),
        lp("%r2", 5)
    );
    let src = kernel(".reg .b32 %r<3>;\n.reg .b64 %rd<2>;", &code);
    let m = Module::parse(&src).unwrap_or_else(|e| panic!("{e}"));
    let mut dev = Device::new();
    dev.set_instruction_limit(Some(10_000));
    let out = dev.alloc(8).unwrap();
    dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[Param::U64(out)])
        .unwrap_or_else(|e| panic!("{e}"));
    let b = dev.read(out, 8).unwrap();
    assert_eq!(&b[..4], 3u32.to_le_bytes());
    assert_eq!(&b[4..], 5u32.to_le_bytes());
}

#[test]
fn label_of_an_enclosing_block_is_visible_and_inner_labels_are_not() {
    // a branch from an inner block to the body's label is fine
    let code = "\tmov.u32 %r1, 0;\n$Lout:\n\t{\n\tsetp.eq.u32 %p1, %r1, 0;\n\tadd.u32 %r1, %r1, 1;\n\t@%p1 bra $Lout;\n\t}\n\tld.param.u64 %rd1, [out];\n\tst.global.u32 [%rd1], %r1;";
    let src = kernel(".reg .pred %p1;\n.reg .b32 %r<2>;\n.reg .b64 %rd<2>;", code);
    let m = Module::parse(&src).unwrap_or_else(|e| panic!("{e}"));
    let mut dev = Device::new();
    let out = dev.alloc(4).unwrap();
    dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[Param::U64(out)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dev.read(out, 4).unwrap(), 2u32.to_le_bytes());
    // a branch into a block from outside it does not resolve
    let src = kernel("", "\tbra $Lin;\n\t{\n$Lin:\n\t}");
    let m = Module::parse(&src).unwrap_or_else(|e| panic!("{e}"));
    let u = m.unsupported();
    assert_eq!(u.len(), 1, "{u:?}");
    assert!(u[0].1.contains("unknown label `$Lin`"), "{u:?}");
}

// Defect 6: a wrong-size parameter printed the whole argument (megabytes of text).
#[test]
fn wrong_size_parameter_message_is_bounded() {
    let m = Module::parse(&kernel("", "")).unwrap();
    let mut dev = Device::new();
    let big = Param::Bytes(vec![0xab; 3 << 20]);
    match dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[big]) {
        Err(SimError::Api(msg)) => {
            assert!(msg.len() < 200, "{} bytes", msg.len());
            assert!(
                msg.contains("8 bytes") && msg.contains(&format!("{}", 3 << 20)),
                "{msg}"
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

// Addresses at the top of the 64-bit space must not wrap past the bounds checks.
#[test]
fn access_at_the_top_of_the_address_space_is_out_of_bounds() {
    for space in ["shared", "local", "global", "const"] {
        let src = kernel(
            ".reg .b32 %r<2>;",
            &format!("ld.{space}.u32 %r1, [0xfffffffffffffffc];"),
        );
        match exec_kind(&mut Device::new(), &src) {
            ErrorKind::OutOfBounds { size: 4, .. } => {}
            k => panic!("{space}: expected out-of-bounds, got {k:?}"),
        }
    }
}

/// The project's kernel PTX as built by the workspace (`target/*/build/sparse24-*/out`, or
/// the folder in `PTXSIM_PTX_DIR`): every file must still load under the default limits and
/// the new validation. None found (ptxsim built on its own): nothing to check.
#[test]
fn project_kernels_load_under_default_limits() {
    let mut dirs = Vec::new();
    if let Ok(d) = std::env::var("PTXSIM_PTX_DIR") {
        dirs.push(std::path::PathBuf::from(d));
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    for profile in ["debug", "release"] {
        if let Ok(rd) = std::fs::read_dir(target.join(profile).join("build")) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with("sparse24-") {
                    dirs.push(e.path().join("out"));
                }
            }
        }
    }
    let mut loaded = 0;
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "ptx") {
                let src = std::fs::read_to_string(&p).unwrap();
                let m = Module::parse(&src).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                assert!(!m.kernel_names().is_empty(), "{}", p.display());
                let u = m.unsupported();
                assert!(
                    !u.iter().any(|(_, why)| why.contains("unknown label")),
                    "{}: {u:?}",
                    p.display()
                );
                loaded += 1;
            }
        }
    }
    println!("{loaded} project PTX files loaded");
}

#[test]
fn empty_vector_operand_is_unsupported_not_a_panic() {
    let src = kernel(
        ".reg .b32 %r<2>;\n.reg .b64 %rd<2>;",
        "mov.b32 {}, %r1;\nmov.b64 %rd1, {};",
    );
    let m = Module::parse(&src).unwrap_or_else(|e| panic!("{e}"));
    let u = m.unsupported();
    assert_eq!(u.len(), 2, "{u:?}");
    assert!(u[0].1.contains("0 parts"), "{u:?}");
}

#[test]
fn grid_is_checked_and_never_materialised() {
    let m = Module::parse(&kernel("", "")).unwrap();
    let mut dev = Device::new();
    let out = dev.alloc(4).unwrap();
    let cfg = LaunchConfig {
        grid: [u32::MAX, u32::MAX, u32::MAX],
        ..LaunchConfig::linear(1, 1)
    };
    match dev.launch(&m, "k", &cfg, &[Param::U64(out)]) {
        Err(SimError::Api(msg)) => assert!(msg.contains("exceeds"), "{msg}"),
        other => panic!("expected an API error, got {other:?}"),
    }
    // the largest legal grid: only the CTAs asked for run, and no list of the grid is built
    let cfg = LaunchConfig {
        grid: [i32::MAX as u32, 65535, 65535],
        only_ctas: Some(vec![[i32::MAX as u32 - 1, 65534, 65534]]),
        ..LaunchConfig::linear(1, 1)
    };
    let st = dev.launch(&m, "k", &cfg, &[Param::U64(out)]).unwrap();
    assert_eq!(st.ctas, 1);
}
