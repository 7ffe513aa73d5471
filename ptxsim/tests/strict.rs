#![allow(
    clippy::needless_range_loop,
    clippy::approx_constant,
    clippy::excessive_precision
)]
//! One test per strictness rule: a kernel that violates it, and a check of the reported error
//! and its location (kernel, PTX line, CTA, thread, address).
mod common;
use common::*;
use ptxsim::{Device, ErrorKind, ExecError, LaunchConfig, Module, Param, SimError};

const HEAD: &str = ".version 9.0\n.target sm_80\n.address_size 64\n";

/// Line (1-based) of the first line containing `marker`.
fn line_of(src: &str, marker: &str) -> u32 {
    src.lines()
        .position(|l| l.contains(marker))
        .expect("marker") as u32
        + 1
}

fn run(src: &str, cfg: LaunchConfig, params: &[Param]) -> Result<ptxsim::LaunchStats, SimError> {
    let m = Module::parse(src).unwrap_or_else(|e| panic!("{e}"));
    let mut dev = Device::new();
    dev.launch(&m, "k", &cfg, params)
}

fn expect_exec(r: Result<ptxsim::LaunchStats, SimError>) -> ExecError {
    match r {
        Err(SimError::Exec(e)) => {
            println!("{e}");
            *e
        }
        Err(e) => panic!("expected an execution error, got {e}"),
        Ok(_) => panic!("expected an execution error, the launch succeeded"),
    }
}

fn body(decls: &str, code: &str) -> String {
    format!(
        "{HEAD}.visible .entry k(.param .u64 p0)\n{{\n\t.reg .pred %p<4>;\n\t.reg .b32 %r<16>;\n\t.reg .b64 %rd<16>;\n\t.reg .f32 %f<4>;\n{decls}\tld.param.u64 %rd1, [p0];\n\tmov.u32 %r1, %tid.x;\n{code}\n\tret;\n}}\n"
    )
}

#[test]
fn unknown_instruction_is_an_error_with_location() {
    let src = body(
        "",
        "\tadd.s32 %r2, %r1, 1;\n\tfrobnicate.b32 %r3, %r2; // FAULT\n",
    );
    let e = expect_exec(run(&src, LaunchConfig::linear(2, 4), &[Param::U64(0)]));
    assert!(matches!(e.kind, ErrorKind::Unsupported(ref s) if s.contains("frobnicate")));
    assert_eq!(e.line, line_of(&src, "FAULT"));
    assert_eq!(e.cta, [0, 0, 0]);
    assert_eq!(e.tid, [0, 0, 0]);
    assert_eq!(e.kernel, "k");
}

#[test]
fn unknown_modifier_is_an_error() {
    let src = body("", "\tadd.wrap.s32 %r2, %r1, 1; // FAULT\n");
    let e = expect_exec(run(&src, LaunchConfig::linear(1, 1), &[Param::U64(0)]));
    assert!(
        matches!(e.kind, ErrorKind::Unsupported(ref s) if s.contains(".wrap")),
        "{:?}",
        e.kind
    );
    assert_eq!(e.line, line_of(&src, "FAULT"));
}

#[test]
fn hopper_instructions_are_not_supported_yet() {
    // tcgen05 (sm_100) is still refused; setmaxnreg and wgmma execute (tests/wgmma.rs),
    // and are warpgroup collectives: a 32-thread block has no complete warpgroup
    let src = ".version 9.0\n.target sm_90a\n.address_size 64\n.visible .entry k(.param .u64 p0)\n{\n\t.reg .b32 %r<4>;\n\ttcgen05.fence::before_thread_sync; // FAULT\n\tret;\n}\n".to_string();
    let e = expect_exec(run(&src, LaunchConfig::linear(1, 32), &[Param::U64(0)]));
    let msg = e.to_string();
    assert!(
        msg.contains("not supported yet") && msg.contains("tcgen05"),
        "{msg}"
    );
    assert_eq!(e.line, line_of(&src, "FAULT"));
    for op in [
        "setmaxnreg.inc.sync.aligned.u32 240;",
        "wgmma.fence.sync.aligned;",
    ] {
        let src2 = src.replace("tcgen05.fence::before_thread_sync;", op);
        let e = expect_exec(run(&src2, LaunchConfig::linear(1, 32), &[Param::U64(0)]));
        assert!(e.to_string().contains("warpgroup"), "{e}");
        assert_eq!(e.line, line_of(&src2, "FAULT"));
    }
}

#[test]
fn global_store_past_the_end_of_an_allocation() {
    // thread i stores u32 at p0 + 4*i; allocation holds 10 u32s, block has 16 threads
    let src = body(
        "",
        "\tmul.wide.u32 %rd2, %r1, 4;\n\tadd.s64 %rd3, %rd1, %rd2;\n\tst.global.u32 [%rd3], %r1; // FAULT\n",
    );
    let m = Module::parse(&src).unwrap();
    let mut dev = Device::new();
    let buf = dev.alloc(40).unwrap();
    let e = expect_exec(dev.launch(&m, "k", &LaunchConfig::linear(3, 16), &[Param::U64(buf)]));
    assert!(
        matches!(
            e.kind,
            ErrorKind::OutOfBounds {
                space: "global",
                size: 4,
                ..
            }
        ),
        "{:?}",
        e.kind
    );
    assert_eq!(e.tid, [10, 0, 0]);
    assert_eq!(e.cta, [0, 0, 0]);
    assert_eq!(e.addr, Some(buf + 40));
    assert_eq!(e.line, line_of(&src, "FAULT"));
    // earlier threads' stores happened
    let ok: Vec<u32> = download(&dev, buf, 10);
    assert_eq!(ok, (0..10).collect::<Vec<u32>>());
}

#[test]
fn global_load_outside_any_allocation() {
    let src = body("", "\tld.global.u32 %r2, [%rd1+4096]; // FAULT\n");
    let m = Module::parse(&src).unwrap();
    let mut dev = Device::new();
    let buf = dev.alloc(64).unwrap();
    let e = expect_exec(dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[Param::U64(buf)]));
    assert!(matches!(
        e.kind,
        ErrorKind::OutOfBounds {
            space: "global",
            ..
        }
    ));
    assert_eq!(e.addr, Some(buf + 4096));
    // a null pointer
    let e = expect_exec(dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[Param::U64(0)]));
    assert_eq!(e.addr, Some(4096));
}

#[test]
fn shared_access_outside_the_window() {
    let src = body(
        "\t.shared .align 4 .b8 sm[64];\n",
        "\tmov.u32 %r2, sm;\n\tshl.b32 %r3, %r1, 2;\n\tadd.s32 %r4, %r2, %r3;\n\tst.shared.u32 [%r4], %r1;\n\tld.shared.u32 %r5, [%r4+64]; // FAULT\n",
    );
    // 16 threads: the store fits (64 bytes), the load at +64 is outside for every thread
    let mut cfg = LaunchConfig::linear(1, 16);
    let e = expect_exec(run(&src, cfg.clone(), &[Param::U64(0)]));
    assert!(
        matches!(
            e.kind,
            ErrorKind::OutOfBounds {
                space: "shared",
                ..
            }
        ),
        "{:?}",
        e.kind
    );
    assert_eq!(e.line, line_of(&src, "FAULT"));
    assert_eq!(e.addr, Some(64));
    // dynamic shared memory extends the window: now in bounds, but never written
    cfg.dynamic_shared_bytes = 64;
    let e = expect_exec(run(&src, cfg, &[Param::U64(0)]));
    assert!(
        matches!(e.kind, ErrorKind::UninitShared { size: 4 }),
        "{:?}",
        e.kind
    );
}

#[test]
fn misaligned_vector_access() {
    let src = body(
        "",
        "\tld.global.v4.u32 {%r2, %r3, %r4, %r5}, [%rd1+4]; // FAULT\n",
    );
    let m = Module::parse(&src).unwrap();
    let mut dev = Device::new();
    let buf = dev.alloc(64).unwrap();
    let e = expect_exec(dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[Param::U64(buf)]));
    assert!(
        matches!(
            e.kind,
            ErrorKind::Misaligned {
                size: 16,
                align: 16,
                ..
            }
        ),
        "{:?}",
        e.kind
    );
    assert_eq!(e.addr, Some(buf + 4));
    assert_eq!(e.line, line_of(&src, "FAULT"));
}

#[test]
fn misaligned_ldmatrix_row_address() {
    let src = body(
        "\t.shared .align 16 .b8 sm[1024];\n",
        "\tmov.u32 %r2, sm;\n\tshl.b32 %r3, %r1, 4;\n\tadd.s32 %r4, %r2, %r3;\n\tst.shared.v4.u32 [%r4], {%r1, %r1, %r1, %r1};\n\tbar.sync 0;\n\tsetp.eq.u32 %p1, %r1, 3;\n\t@%p1 add.s32 %r4, %r4, 8;\n\tldmatrix.sync.aligned.m8n8.x4.shared.b16 {%r5, %r6, %r7, %r8}, [%r4]; // FAULT\n",
    );
    let e = expect_exec(run(&src, LaunchConfig::linear(1, 32), &[Param::U64(0)]));
    assert!(
        matches!(e.kind, ErrorKind::Misaligned { align: 16, .. }),
        "{:?}",
        e.kind
    );
    assert_eq!(e.tid, [3, 0, 0]);
    assert_eq!(e.addr, Some(3 * 16 + 8));
    assert_eq!(e.line, line_of(&src, "FAULT"));
}

#[test]
fn misaligned_cp_async() {
    let src = body(
        "\t.shared .align 16 .b8 sm[1024];\n",
        "\tmov.u32 %r2, sm;\n\tcp.async.cg.shared.global [%r2+8], [%rd1], 16; // FAULT\n\tcp.async.wait_all;\n",
    );
    let m = Module::parse(&src).unwrap();
    let mut dev = Device::new();
    let buf = dev.alloc(64).unwrap();
    let e = expect_exec(dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[Param::U64(buf)]));
    assert!(
        matches!(
            e.kind,
            ErrorKind::Misaligned {
                size: 16,
                align: 16,
                ..
            }
        ),
        "{:?}",
        e.kind
    );
    assert_eq!(e.line, line_of(&src, "FAULT"));
}

#[test]
fn shfl_reached_by_half_a_warp() {
    // lanes >= 16 exit, then a full-mask shfl: a partial collective
    let src = body(
        "",
        "\tsetp.ge.u32 %p1, %r1, 16;\n\t@%p1 bra $L_end;\n\tshfl.sync.bfly.b32 %r2, %r1, 1, 31, -1; // FAULT\n$L_end:\n",
    );
    let e = expect_exec(run(&src, LaunchConfig::linear(1, 32), &[Param::U64(0)]));
    assert!(
        matches!(e.kind, ErrorKind::PartialCollective(_)),
        "{:?}",
        e.kind
    );
    assert_eq!(e.line, line_of(&src, "FAULT"));
    assert!(e.to_string().contains("lane 16"), "{e}");
}

#[test]
fn collective_waiting_on_lanes_at_a_barrier_is_reported() {
    // lanes < 16 go to a barrier, the others to a full-mask vote: neither can complete
    let src = body(
        "",
        "\tsetp.lt.u32 %p1, %r1, 16;\n\t@%p1 bra $L_bar;\n\tvote.sync.all.pred %p2, %p1, -1; // FAULT\n\tbra $L_end;\n$L_bar:\n\tbar.sync 0;\n$L_end:\n",
    );
    let e = expect_exec(run(&src, LaunchConfig::linear(1, 32), &[Param::U64(0)]));
    assert!(
        matches!(e.kind, ErrorKind::PartialCollective(_)),
        "{:?}",
        e.kind
    );
    assert_eq!(e.line, line_of(&src, "FAULT"));
    assert!(e.to_string().contains("barrier"), "{e}");
}

#[test]
fn shfl_with_a_partial_mask_is_fine() {
    // lanes 0..15 shuffle among themselves with mask 0xffff; the others skip it
    let src = body(
        "",
        "\tsetp.ge.u32 %p1, %r1, 16;\n\t@%p1 bra $L_end;\n\tshfl.sync.idx.b32 %r2, %r1, 3, 31, 0xffff;\n\tmul.wide.u32 %rd2, %r1, 4;\n\tadd.s64 %rd3, %rd1, %rd2;\n\tst.global.u32 [%rd3], %r2;\n$L_end:\n",
    );
    let m = Module::parse(&src).unwrap();
    let mut dev = Device::new();
    let buf = dev.alloc(64).unwrap();
    dev.launch(&m, "k", &LaunchConfig::linear(1, 32), &[Param::U64(buf)])
        .unwrap_or_else(|e| panic!("{e}"));
    let v: Vec<u32> = download(&dev, buf, 16);
    assert_eq!(v, vec![3u32; 16]);
}

#[test]
fn barrier_deadlock_is_reported() {
    // only the first warp reaches the barrier; the second warp exits
    let src = body(
        "",
        "\tsetp.ge.u32 %p1, %r1, 32;\n\t@%p1 bra $L_end;\n\tbar.sync 0; // FAULT\n$L_end:\n",
    );
    let e = expect_exec(run(&src, LaunchConfig::linear(1, 64), &[Param::U64(0)]));
    assert!(
        matches!(e.kind, ErrorKind::BarrierDeadlock(_)),
        "{:?}",
        e.kind
    );
    assert_eq!(e.line, line_of(&src, "FAULT"));
    let s = e.to_string();
    assert!(
        s.contains("32 of 64") && s.contains("32 threads exited"),
        "{s}"
    );
}

#[test]
fn barrier_with_a_thread_count_completes() {
    let src = body(
        "",
        "\tsetp.ge.u32 %p1, %r1, 32;\n\t@%p1 bra $L_end;\n\tbar.sync 1, 32;\n$L_end:\n",
    );
    run(&src, LaunchConfig::linear(1, 64), &[Param::U64(0)]).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn integer_division_by_zero_is_defined() {
    let src = body(
        "",
        "\tdiv.u32 %r2, %r1, 0;\n\trem.u32 %r3, %r1, 0;\n\tdiv.s32 %r4, %r1, 0;\n\tst.global.v2.u32 [%rd1], {%r2, %r3};\n\tst.global.u32 [%rd1+8], %r4;\n",
    );
    let m = Module::parse(&src).unwrap();
    let mut dev = Device::new();
    let buf = dev.alloc(16).unwrap();
    dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[Param::U64(buf)])
        .unwrap_or_else(|e| panic!("{e}"));
    let v: Vec<u32> = download(&dev, buf, 3);
    assert_eq!(v, vec![u32::MAX, 0, u32::MAX]);
}

#[test]
fn params_must_match_count_and_size() {
    let src = body("", "");
    let m = Module::parse(&src).unwrap();
    let mut dev = Device::new();
    assert!(matches!(
        dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[]),
        Err(SimError::Api(_))
    ));
    assert!(matches!(
        dev.launch(&m, "k", &LaunchConfig::linear(1, 1), &[Param::U32(0)]),
        Err(SimError::Api(_))
    ));
    assert!(matches!(
        dev.launch(&m, "nope", &LaunchConfig::linear(1, 1), &[Param::U64(0)]),
        Err(SimError::Api(_))
    ));
}

#[test]
fn infinite_loop_hits_the_instruction_limit() {
    let src = body("", "$L_top:\n\tbra $L_top; // FAULT\n");
    let m = Module::parse(&src).unwrap();
    let mut dev = Device::new();
    dev.set_instruction_limit(Some(100_000));
    let e = expect_exec(dev.launch(&m, "k", &LaunchConfig::linear(1, 32), &[Param::U64(0)]));
    assert!(matches!(e.kind, ErrorKind::InstructionLimit(_)));
}

#[test]
fn errors_name_the_cta() {
    // CTA (1,2,0), thread (3,1,0) stores out of bounds
    let src = body(
        "",
        "\tmov.u32 %r2, %ctaid.x;\n\tmov.u32 %r3, %ctaid.y;\n\tmov.u32 %r4, %tid.y;\n\tsetp.eq.u32 %p1, %r2, 1;\n\tsetp.eq.and.u32 %p1, %r3, 2, %p1;\n\tsetp.eq.and.u32 %p1, %r1, 3, %p1;\n\tsetp.eq.and.u32 %p1, %r4, 1, %p1;\n\t@%p1 st.global.u32 [%rd1+64], %r1; // FAULT\n",
    );
    let m = Module::parse(&src).unwrap();
    let mut dev = Device::new();
    let buf = dev.alloc(64).unwrap();
    let cfg = LaunchConfig {
        grid: [2, 3, 1],
        block: [4, 2, 1],
        dynamic_shared_bytes: 0,
        only_ctas: None,
        cluster: None,
    };
    let e = expect_exec(dev.launch(&m, "k", &cfg, &[Param::U64(buf)]));
    assert_eq!(e.cta, [1, 2, 0]);
    assert_eq!(e.tid, [3, 1, 0]);
    assert_eq!(e.line, line_of(&src, "FAULT"));
    // only_ctas skips it
    let cfg = LaunchConfig {
        grid: [2, 3, 1],
        block: [4, 2, 1],
        dynamic_shared_bytes: 0,
        only_ctas: Some(vec![[0, 0, 0], [1, 1, 0]]),
        cluster: None,
    };
    let st = dev.launch(&m, "k", &cfg, &[Param::U64(buf)]).unwrap();
    assert_eq!(st.ctas, 2);
}
