//! Stage-2 strictness: uninitialised shared reads, shared-memory races, reads of in-flight
//! cp.async destinations — and the orderings that make the same accesses legal.
mod common;
use ptxsim::{Device, ErrorKind, LaunchConfig, Module, Param, SimError};

fn kernel(code: &str) -> String {
    format!(
        ".version 9.0\n.target sm_80\n.address_size 64\n.visible .entry k(.param .u64 p0)\n{{\n\t.reg .pred %p<4>;\n\t.reg .b32 %r<16>;\n\t.reg .b64 %rd<16>;\n\t.shared .align 16 .b8 sm[4096];\n\tld.param.u64 %rd1, [p0];\n\tmov.u32 %r1, %tid.x;\n\tmov.u32 %r2, sm;\n\tshl.b32 %r3, %r1, 2;\n\tadd.s32 %r4, %r2, %r3;\n{code}\n\tret;\n}}\n"
    )
}

fn line_of(src: &str, marker: &str) -> u32 {
    src.lines()
        .position(|l| l.contains(marker))
        .expect("marker") as u32
        + 1
}

fn run(src: &str, threads: u32) -> Result<(), SimError> {
    let m = Module::parse(src).unwrap_or_else(|e| panic!("{e}"));
    let mut dev = Device::new();
    let buf = dev.alloc(4096).unwrap();
    dev.launch(
        &m,
        "k",
        &LaunchConfig::linear(1, threads),
        &[Param::U64(buf)],
    )
    .map(|_| ())
}

fn err_kind(src: &str, threads: u32) -> (ErrorKind, u32, [u32; 3]) {
    match run(src, threads) {
        Err(SimError::Exec(e)) => {
            println!("{e}");
            (e.kind, e.line, e.tid)
        }
        other => panic!("expected an execution error, got {other:?}"),
    }
}

// each thread writes its word, then reads its neighbour's word (thread + 32: another warp)
const NEIGHBOUR: &str = "\tst.shared.u32 [%r4], %r1;\n\tBARRIER\n\tadd.s32 %r5, %r1, 32;\n\trem.u32 %r5, %r5, 64;\n\tshl.b32 %r5, %r5, 2;\n\tadd.s32 %r5, %r2, %r5;\n\tld.shared.u32 %r6, [%r5]; // READ\n";

#[test]
fn read_of_uninitialised_shared_memory() {
    let src = kernel("\tld.shared.u32 %r5, [%r4+256]; // READ\n");
    let (k, line, tid) = err_kind(&src, 32);
    assert_eq!(k, ErrorKind::UninitShared { size: 4 });
    assert_eq!(line, line_of(&src, "READ"));
    assert_eq!(tid, [0, 0, 0]);
}

#[test]
fn race_between_warps_without_a_barrier() {
    let src = kernel(&NEIGHBOUR.replace("BARRIER", "// no barrier"));
    // warp 0 runs first: its reads hit words warp 1 has not written (uninitialised); with
    // warp 1 first the same bug would be a race. Either is reported at the read.
    let (k, line, _) = err_kind(&src, 64);
    assert!(
        matches!(k, ErrorKind::UninitShared { .. } | ErrorKind::SharedRace(_)),
        "{k:?}"
    );
    assert_eq!(line, line_of(&src, "READ"));
}

#[test]
fn write_after_read_race_between_warps() {
    // everyone writes, barrier, everyone reads the neighbour word, then overwrites its own word
    // without a second barrier: warp 1's write races with warp 0's earlier read
    let code =
        NEIGHBOUR.replace("BARRIER", "bar.sync 0;") + "\tst.shared.u32 [%r4], %r6; // WRITE\n";
    let src = kernel(&code);
    // warp 0 runs ahead: its overwrite is seen either as a write racing with warp 1's read
    // (WAR) or, when warp 1 reads later, as warp 1's read racing with that write (RAW)
    let (k, line, _) = err_kind(&src, 64);
    assert!(matches!(k, ErrorKind::SharedRace(_)), "{k:?}");
    assert!(line == line_of(&src, "WRITE") || line == line_of(&src, "READ"));
    // with the second barrier it is fine
    let code = NEIGHBOUR.replace("BARRIER", "bar.sync 0;")
        + "\tbar.sync 0;\n\tst.shared.u32 [%r4], %r6;\n";
    run(&kernel(&code), 64).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn barrier_orders_the_same_accesses() {
    run(&kernel(&NEIGHBOUR.replace("BARRIER", "bar.sync 0;")), 64)
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn intra_warp_exchange_needs_a_warp_sync() {
    // lanes exchange words inside one warp: a race without bar.warp.sync, fine with it
    let code = "\tst.shared.u32 [%r4], %r1;\n\tSYNC\n\txor.b32 %r5, %r1, 1;\n\tshl.b32 %r5, %r5, 2;\n\tadd.s32 %r5, %r2, %r5;\n\tld.shared.u32 %r6, [%r5]; // READ\n";
    let src = kernel(&code.replace("SYNC", "// none"));
    let (k, line, tid) = err_kind(&src, 32);
    assert!(
        matches!(k, ErrorKind::SharedRace(ref s) if s.contains("written by")),
        "{k:?}"
    );
    assert_eq!(line, line_of(&src, "READ"));
    assert_eq!(tid, [0, 0, 0]);
    run(&kernel(&code.replace("SYNC", "bar.warp.sync -1;")), 32).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn same_word_written_by_every_thread_is_a_race() {
    let src = kernel("\tst.shared.u32 [%r2], %r1; // WRITE\n");
    let (k, line, tid) = err_kind(&src, 2);
    assert!(
        matches!(k, ErrorKind::SharedRace(ref s) if s.contains("also written")),
        "{k:?}"
    );
    assert_eq!(line, line_of(&src, "WRITE"));
    assert_eq!(tid, [1, 0, 0]);
}

#[test]
fn atomics_do_not_race_with_atomics_but_do_with_plain_accesses() {
    let code = "\tsetp.eq.u32 %p1, %r1, 0;\n\t@%p1 st.shared.u32 [%r2], 0;\n\tbar.sync 0;\n\tatom.shared.add.u32 %r5, [%r2], 1;\n\tbar.sync 0;\n\tld.shared.u32 %r6, [%r2];\n\t@%p1 st.global.u32 [%rd1], %r6;\n";
    run(&kernel(code), 64).unwrap_or_else(|e| panic!("{e}"));
    let code = "\tsetp.eq.u32 %p1, %r1, 0;\n\t@%p1 st.shared.u32 [%r2], 0;\n\tbar.sync 0;\n\tatom.shared.add.u32 %r5, [%r2], 1;\n\tld.shared.u32 %r6, [%r2]; // READ\n";
    let src = kernel(code);
    let (k, line, _) = err_kind(&src, 64);
    assert!(matches!(k, ErrorKind::SharedRace(_)), "{k:?}");
    assert_eq!(line, line_of(&src, "READ"));
}

#[test]
fn read_of_own_cp_async_destination_before_wait() {
    let code = "\tcp.async.ca.shared.global [%r4], [%rd1], 4;\n\tcp.async.commit_group;\n\tld.shared.u32 %r5, [%r4]; // READ\n\tcp.async.wait_group 0;\n";
    let src = kernel(code);
    let (k, line, _) = err_kind(&src, 32);
    assert!(matches!(k, ErrorKind::CpAsyncInFlight(_)), "{k:?}");
    assert_eq!(line, line_of(&src, "READ"));
    // wait_group 1 leaves the newest group in flight
    let code = "\tcp.async.ca.shared.global [%r4], [%rd1], 4;\n\tcp.async.commit_group;\n\tcp.async.ca.shared.global [%r4+512], [%rd1], 4;\n\tcp.async.commit_group;\n\tcp.async.wait_group 1;\n\tld.shared.u32 %r5, [%r4];\n\tld.shared.u32 %r6, [%r4+512]; // READ\n";
    let src = kernel(code);
    let (k, line, _) = err_kind(&src, 32);
    assert!(matches!(k, ErrorKind::CpAsyncInFlight(_)), "{k:?}");
    assert_eq!(line, line_of(&src, "READ"));
    // after wait_all it is fine
    let code = "\tcp.async.ca.shared.global [%r4], [%rd1], 4;\n\tcp.async.wait_all;\n\tld.shared.u32 %r5, [%r4];\n";
    run(&kernel(code), 32).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn other_threads_need_a_barrier_after_the_wait() {
    // thread t copies word t; thread t reads word t^1 after its own wait but without a barrier
    let code = "\tcp.async.ca.shared.global [%r4], [%rd1], 4;\n\tcp.async.wait_all;\n\tSYNC\n\txor.b32 %r5, %r1, 1;\n\tshl.b32 %r5, %r5, 2;\n\tadd.s32 %r5, %r2, %r5;\n\tld.shared.u32 %r6, [%r5]; // READ\n";
    let src = kernel(&code.replace("SYNC", "// none"));
    let (k, line, _) = err_kind(&src, 32);
    assert!(matches!(k, ErrorKind::SharedRace(_)), "{k:?}");
    assert_eq!(line, line_of(&src, "READ"));
    run(&kernel(&code.replace("SYNC", "bar.sync 0;")), 32).unwrap_or_else(|e| panic!("{e}"));
}
