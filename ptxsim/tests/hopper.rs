//! sm_90 instructions (issue 17 stage a): mbarrier, 1-D cp.async.bulk and its groups,
//! elect.sync, the no-op prefetch / fence / griddepcontrol forms. Semantics from the PTX ISA
//! ("mbarrier", "cp.async.bulk", "elect.sync"), checked on random small integers; every
//! strict check has a planted-bug kernel that must be reported with its location and a
//! fixed twin that must pass. All kernels are small: the whole file runs in well under a
//! second.
mod common;
use common::*;
use ptxsim::{Device, ErrorKind, ExecError, LaunchConfig, LaunchStats, Module, Param, SimError};
use rand::{Rng, SeedableRng};

const HEAD: &str = ".version 8.0\n.target sm_90a\n.address_size 64\n";

/// A kernel `k` with the given params, the usual registers, a `.b64 bar` and a 512-byte
/// `buf` in shared memory; %r1 = %tid.x, %p1 = (%tid.x == 0).
fn kernel(params: &str, code: &str) -> String {
    format!(
        "{HEAD}.visible .entry k({params})\n{{\n\t.reg .pred %p<8>;\n\t.reg .b32 %r<24>;\n\t.reg .b64 %rd<16>;\n\t.shared .align 8 .b64 bar;\n\t.shared .align 8 .b64 bar2;\n\t.shared .align 8 .b64 bar3;\n\t.shared .align 128 .b8 buf[512];\n\tmov.u32 %r1, %tid.x;\n\tsetp.eq.u32 %p1, %r1, 0;\n{code}\n\tret;\n}}\n"
    )
}

fn launch(
    dev: &mut Device,
    src: &str,
    cfg: LaunchConfig,
    params: &[Param],
) -> Result<LaunchStats, SimError> {
    let m = Module::parse(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    assert!(m.unsupported().is_empty(), "{:?}", m.unsupported());
    dev.launch(&m, "k", &cfg, params)
}

/// Store predicate %pN as u32 at out[i].
fn store_pred(n: u32, i: u32) -> String {
    format!(
        "\tselp.u32 %r20, 1, 0, %p{n};\n\tst.global.u32 [%rd1+{}], %r20;\n",
        4 * i
    )
}

#[test]
fn mbarrier_instructions_need_an_sm_90_target() {
    let src = kernel("", "\tmbarrier.init.shared::cta.b64 [bar], 1; // HERE")
        .replace(".target sm_90a", ".target sm_80");
    let m = Module::parse(&src).unwrap();
    let u = m.unsupported();
    assert_eq!(u.len(), 1, "{u:?}");
    assert_eq!(u[0].0, line_of(&src, "HERE"));
    assert!(u[0].1.contains("needs `.target sm_90`"), "{u:?}");
}

// arrive with count, test_wait with a state token and with parity, expect_tx /
// complete_tx, arrive_drop, arrive.expect_tx: one thread walks a barrier of n arrivals
// through five phases and records what each wait returns.
#[test]
fn mbarrier_phases_arrivals_and_transaction_bytes() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let mut code = String::from(
        "\tld.param.u64 %rd1, [out];\n\tld.param.u32 %r2, [n];\n\tld.param.u32 %r3, [k1];\n\tld.param.u32 %r4, [tx];\n\tld.param.u32 %r5, [part];\n\tsub.u32 %r6, %r2, %r3;\n\tsub.u32 %r7, %r4, %r5;\n\tsub.u32 %r8, %r2, 1;\n\tsub.u32 %r9, %r2, 2;\n\tmbarrier.init.shared::cta.b64 [bar], %r2;\n",
    );
    // each step's last wait is recorded in out[step]
    let steps = [
        // phase 0: k1 then n - k1 arrivals
        "\tmbarrier.arrive.shared::cta.b64 %rd2, [bar], %r3;\n\tmbarrier.test_wait.shared::cta.b64 %p2, [bar], %rd2;\n",
        "\tmbarrier.arrive.release.cta.shared::cta.b64 %rd3, [bar], %r6;\n\tmbarrier.test_wait.acquire.cta.shared::cta.b64 %p2, [bar], %rd2;\n",
        "\tmbarrier.test_wait.parity.shared::cta.b64 %p2, [bar], 1;\n",
        // phase 1: tx bytes announced, all arrivals in, bytes delivered in two parts
        "\tmbarrier.expect_tx.relaxed.cta.shared::cta.b64 [bar], %r4;\n\tmbarrier.arrive.shared::cta.b64 %rd4, [bar], %r2;\n\tmbarrier.test_wait.parity.shared::cta.b64 %p2, [bar], 1;\n",
        "\tmbarrier.complete_tx.relaxed.cta.shared::cta.b64 [bar], %r5;\n\tmbarrier.test_wait.parity.shared::cta.b64 %p2, [bar], 1;\n",
        "\tmbarrier.complete_tx.shared::cta.b64 [bar], %r7;\n\tmbarrier.try_wait.parity.shared::cta.b64 %p2, [bar], 1;\n",
        // phase 2: arrive_drop of one and n - 1 arrivals complete it; phase 3 expects n - 1
        "\tmbarrier.arrive_drop.shared::cta.b64 %rd5, [bar];\n\tmbarrier.arrive.shared::cta.b64 %rd6, [bar], %r8;\n\tmbarrier.test_wait.shared::cta.b64 %p2, [bar], %rd5;\n",
        "\tmbarrier.arrive.shared::cta.b64 %rd7, [bar], %r8;\n\tmbarrier.test_wait.shared::cta.b64 %p2, [bar], %rd7;\n",
        // phase 4: arrive.expect_tx is one arrival; n - 2 more; then the bytes
        "\tmbarrier.arrive.expect_tx.shared::cta.b64 %rd8, [bar], %r4;\n\tmbarrier.arrive.shared::cta.b64 %rd9, [bar], %r9;\n\tmbarrier.test_wait.shared::cta.b64 %p2, [bar], %rd8;\n",
        "\tmbarrier.complete_tx.shared::cta.b64 [bar], %r4;\n\tmbarrier.test_wait.shared::cta.b64 %p2, [bar], %rd8;\n",
    ];
    for (i, step) in steps.iter().enumerate() {
        code += step;
        code += &store_pred(2, i as u32);
    }
    code += "\tmbarrier.inval.shared::cta.b64 [bar];\n";
    let src = kernel(
        ".param .u64 out, .param .u32 n, .param .u32 k1, .param .u32 tx, .param .u32 part",
        &code,
    );
    let mut dev = Device::new();
    for _ in 0..8 {
        let n: u32 = rng.gen_range(3..40);
        let k1: u32 = rng.gen_range(1..n);
        let tx: u32 = 16 * rng.gen_range(1..64);
        let part: u32 = rng.gen_range(1..tx);
        let out = dev.alloc(40).unwrap();
        let params = [n, k1, tx, part].map(Param::U32);
        let mut all = vec![Param::U64(out)];
        all.extend(params);
        let st = launch(&mut dev, &src, LaunchConfig::linear(1, 1), &all)
            .unwrap_or_else(|e| panic!("{e}"));
        let r = download::<u32>(&dev, out, 10);
        assert_eq!(r, [0, 1, 0, 0, 0, 1, 1, 1, 0, 1], "n={n} k1={k1} tx={tx}");
        assert_eq!(st.mbarrier_waits, 5);
        assert!(st.class(ptxsim::OpClass::Mbarrier) > 0);
    }
}

/// Run a one-CTA kernel with `out` and `src` params (512 bytes each); the error if any.
fn run_io(src: &str, block: u32) -> (Result<LaunchStats, SimError>, Device, u64, u64) {
    let mut dev = Device::new();
    dev.set_instruction_limit(Some(1_000_000));
    let out = dev.alloc(512).unwrap();
    let inp = dev.alloc(512).unwrap();
    let data: Vec<u32> = (0..128u32).map(|i| (i * 37 + 11) % 101).collect();
    dev.write(inp, &as_bytes(&data)).unwrap();
    let r = launch(
        &mut dev,
        src,
        LaunchConfig::linear(1, block),
        &[Param::U64(out), Param::U64(inp)],
    );
    (r, dev, out, inp)
}

const IO: &str = ".param .u64 out, .param .u64 in";
const LOAD: &str = "\tld.param.u64 %rd1, [out];\n\tld.param.u64 %rd2, [in];\n";

/// The error of the planted kernel, checked for kind, kernel, line, CTA, thread; and the
/// fixed twin runs clean.
fn planted(bad: &str, good: &str, block: u32, tid: u32) -> ExecError {
    let (r, ..) = run_io(good, block);
    r.unwrap_or_else(|e| panic!("the fixed twin fails: {e}\n{good}"));
    let e = expect_exec(run_io(bad, block).0);
    assert_eq!(e.kernel, "k");
    assert_eq!(e.line, line_of(bad, "BUG"), "{e}");
    assert_eq!(e.cta, [0, 0, 0]);
    assert_eq!(e.tid, [tid, 0, 0], "{e}");
    e
}

/// A one-thread mbarrier kernel `code` (the fixed twin) and its planted twin with `from`
/// replaced by `to`: the planted one fails at the line marked BUG with an mbarrier error
/// whose message holds every needle, at the address of `bar` (shared offset 0).
fn planted_mbar(code: &str, from: &str, to: &str, needles: &[&str]) -> ExecError {
    let good = kernel(IO, code);
    let bad = good.replace(from, to);
    assert_ne!(good, bad, "`{from}` is not in the kernel");
    let e = planted(&bad, &good, 1, 0);
    let ErrorKind::Mbarrier(msg) = &e.kind else {
        panic!("expected an mbarrier error: {e}")
    };
    for n in needles {
        assert!(msg.contains(n), "`{n}` not in: {msg}");
    }
    e
}

const INIT1: &str = "\tmbarrier.init.shared::cta.b64 [bar], 1;\n";

#[test]
fn mbarrier_used_before_init_is_reported() {
    let arrive = "\tmbarrier.arrive.shared::cta.b64 %rd3, [bar]; // BUG\n";
    let e = planted_mbar(
        &format!("{INIT1}{arrive}"),
        INIT1,
        "",
        &["before mbarrier.init"],
    );
    assert_eq!(e.addr, Some(0));
    // after inval, too
    let inval = "\tmbarrier.inval.shared::cta.b64 [bar];\n";
    planted_mbar(
        &format!("{INIT1}{arrive}"),
        arrive,
        &format!("{inval}{arrive}"),
        &["after mbarrier.inval"],
    );
}

#[test]
fn mbarrier_touched_by_plain_load_or_store_is_reported() {
    let wait = "mbarrier.test_wait.parity.shared::cta.b64 %p2, [bar], 0;";
    let code = format!("{INIT1}\t{wait} // BUG\n");
    let e = planted_mbar(&code, wait, "ld.shared.u64 %rd3, [bar];", &["plain load"]);
    assert_eq!(e.addr, Some(0));
    let e = planted_mbar(&code, wait, "st.shared.u32 [bar+4], %r1;", &["plain store"]);
    assert_eq!(e.addr, Some(4));
    // after mbarrier.inval the bytes are ordinary shared memory again
    let ok = kernel(
        IO,
        &format!("{INIT1}\tmbarrier.inval.shared::cta.b64 [bar];\n\tst.shared.u32 [bar+4], %r1;\n"),
    );
    run_io(&ok, 1).0.unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn mbarrier_over_arrival_is_reported() {
    // count 2: three arrivals in one arrive
    planted_mbar(
        "\tmbarrier.init.shared::cta.b64 [bar], 2;\n\tmbarrier.arrive.shared::cta.b64 %rd3, [bar], 2; // BUG\n",
        "[bar], 2; // BUG",
        "[bar], 3; // BUG",
        &["over-arrival", "2 of 2 arrivals pending"],
    );
    // an arrival while the phase waits for its bytes
    let complete = "\tmbarrier.complete_tx.shared::cta.b64 [bar], 64;\n";
    planted_mbar(
        &format!("{INIT1}\tmbarrier.arrive.expect_tx.shared::cta.b64 %rd3, [bar], 64;\n{complete}\tmbarrier.arrive.shared::cta.b64 %rd3, [bar]; // BUG\n"),
        complete,
        "",
        &["over-arrival", "64 transaction bytes pending"],
    );
}

#[test]
fn mbarrier_transaction_count_mismatch_is_reported() {
    // expect_tx announces 32 bytes, 48 arrive: reported when the last arrival comes in
    planted_mbar(
        &format!("{INIT1}\tmbarrier.expect_tx.shared::cta.b64 [bar], 48;\n\tmbarrier.complete_tx.shared::cta.b64 [bar], 48;\n\tmbarrier.arrive.shared::cta.b64 %rd3, [bar]; // BUG\n"),
        "expect_tx.shared::cta.b64 [bar], 48",
        "expect_tx.shared::cta.b64 [bar], 32",
        &["transaction count mismatch", "16 more bytes"],
    );
}

#[test]
fn mbarrier_parity_wait_two_phases_old_is_reported() {
    // the thread sees phase 0 complete, then phases 1 and 2 complete before it waits for
    // phase 1 with parity 1: the barrier is in phase 3 (parity 1), so on a GPU the wait
    // would wait for phase 3. The twin waits for phase 1 in time (then for phase 2).
    let arrive = "\tmbarrier.arrive.shared::cta.b64 %rd3, [bar];\n";
    let wait = |p: u32| format!("\tmbarrier.test_wait.parity.shared::cta.b64 %p2, [bar], {p};");
    let (w0, w1) = (wait(0), wait(1));
    planted_mbar(
        &format!("{INIT1}{arrive}{w0}\n{arrive}{w1}\n{arrive}{w0} // BUG\n"),
        &format!("{w1}\n{arrive}{w0} // BUG"),
        &format!("{arrive}{w1} // BUG"),
        &["two phases old", "in phase 3"],
    );
}

// try_wait sleeps: 3 warps wait on a barrier that warp 3 completes after a long loop; the
// waiting warps cost one instruction each per wake-up, not a spin through the budget. Two
// wait loops with the same label in sibling blocks (as nvcc inlines them).
#[test]
fn try_wait_sleeps_until_the_phase_completes() {
    let wait = |bar: &str| {
        format!("\t{{\n\t.reg .pred %w;\n$Lwait:\n\tmbarrier.try_wait.parity.shared::cta.b64 %w, [{bar}], 0;\n\t@!%w bra $Lwait;\n\t}}\n")
    };
    let code = format!(
        "{LOAD}\t@%p1 mbarrier.init.shared::cta.b64 [bar], 1;\n\t@%p1 mbarrier.init.shared::cta.b64 [bar2], 1;\n\t@%p1 mbarrier.init.shared::cta.b64 [bar3], 96;\n\tbar.sync 0;\n\tsetp.ge.u32 %p3, %r1, 96;\n\tsetp.eq.u32 %p5, %r1, 96;\n\t@!%p3 bra $Lconsumer;\n{}\tmov.u32 %r2, 0;\n$Lspin:\n\tadd.u32 %r2, %r2, 1;\n\tsetp.lt.u32 %p4, %r2, 2000;\n\t@%p4 bra $Lspin;\n\t@%p5 st.shared.u32 [buf], %r2;\n\t@%p5 mbarrier.arrive.shared::cta.b64 %rd3, [bar];\n\t@%p5 st.shared.u32 [buf+4], %r2;\n\t@%p5 mbarrier.arrive.shared::cta.b64 %rd3, [bar2];\n\tbra $Ldone;\n$Lconsumer:\n\tmbarrier.arrive.shared::cta.b64 %rd3, [bar3];\n{}\tld.shared.u32 %r3, [buf];\n{}\tld.shared.u32 %r4, [buf+4];\n\tadd.u32 %r3, %r3, %r4;\n\tmul.wide.u32 %rd4, %r1, 4;\n\tadd.s64 %rd5, %rd1, %rd4;\n\tst.global.u32 [%rd5], %r3;\n$Ldone:\n",
        wait("bar3"),
        wait("bar"),
        wait("bar2")
    );
    let src = kernel(IO, &code);
    let (r, dev, out, _) = run_io(&src, 128);
    let st = r.unwrap_or_else(|e| panic!("{e}"));
    let v = download::<u32>(&dev, out, 128);
    assert!(v[..96].iter().all(|&x| x == 4000), "{v:?}");
    // warp 3 waits for the 96 consumers to arrive on bar3 (32 waits), they wait for its
    // value on bar (96 waits) while it spins 2000 iterations (3 instructions each): a
    // handful of instructions per waiter, no spinning through the budget
    assert!(
        st.thread_instructions < 32 * 2000 * 3 + 128 * 40,
        "{}",
        st.summary()
    );
    // (and on bar2 too when warp 3 yields after completing bar's phase: 96 more)
    assert!((128..=224).contains(&st.mbarrier_waits), "{}", st.summary());
}

#[test]
fn mbarrier_deadlock_names_every_barrier() {
    let good = kernel(
        IO,
        "\tmbarrier.init.shared::cta.b64 [bar], 2;\n\tmbarrier.init.shared::cta.b64 [bar2], 1;\n\tmbarrier.arrive.expect_tx.shared::cta.b64 %rd3, [bar2], 16;\n\tmbarrier.arrive.shared::cta.b64 %rd3, [bar], 2;\n\t{\n\t.reg .pred %w;\n$Lw:\n\tmbarrier.try_wait.parity.shared::cta.b64 %w, [bar], 0; // BUG\n\t@!%w bra $Lw;\n\t}\n",
    );
    let bad = good.replace("[bar], 2;\n\t{", "[bar], 1;\n\t{");
    let e = planted(&bad, &good, 1, 0);
    let ErrorKind::BarrierDeadlock(msg) = &e.kind else {
        panic!("{e}")
    };
    assert!(
        msg.contains("offset 0x0: phase 0, 1 of 2 arrivals pending")
            && msg.contains(
                "offset 0x8: phase 0, 0 of 1 arrivals pending, 16 transaction bytes pending"
            ),
        "{msg}"
    );
}

/// The fix of a planted-bug kernel: `code` in the twin, nothing in the planted one.
fn fix(fixed: bool, code: &str) -> &str {
    if fixed {
        code
    } else {
        ""
    }
}

/// Run a 128-thread kernel that must write f(in[i]) to out[i]; its counters.
fn run_expecting(src: &str, f: impl Fn(u32) -> u32) -> LaunchStats {
    let (r, dev, out, inp) = run_io(src, 128);
    let st = r.unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<u32> = download::<u32>(&dev, inp, 128).into_iter().map(f).collect();
    assert_eq!(download::<u32>(&dev, out, 128), want);
    st
}

/// Thread 0 loads `in` (512 bytes) into `buf` with one bulk copy on `bar`; every thread
/// waits (the twin) and writes 3 * buf[tid] to out[tid].
fn bulk_load_kernel(wait: bool) -> String {
    let w = fix(
        wait,
        "\t{\n\t.reg .pred %w;\n$Lwait:\n\tmbarrier.try_wait.parity.shared::cta.b64 %w, [bar], 0;\n\t@!%w bra $Lwait;\n\t}\n",
    );
    kernel(
        IO,
        &format!(
            "{LOAD}\t@%p1 mbarrier.init.shared::cta.b64 [bar], 1;\n\t@%p1 fence.mbarrier_init.release.cluster;\n\tbar.sync 0;\n\t@%p1 mbarrier.arrive.expect_tx.shared::cta.b64 _, [bar], 512;\n\t@%p1 cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [buf], [%rd2], 512, [bar];\n{w}\tmov.u32 %r2, buf;\n\tshl.b32 %r3, %r1, 2;\n\tadd.u32 %r4, %r2, %r3;\n\tld.shared.u32 %r5, [%r4]; // BUG\n\tmul.lo.u32 %r5, %r5, 3;\n\tmul.wide.u32 %rd3, %r1, 4;\n\tadd.s64 %rd4, %rd1, %rd3;\n\tst.global.u32 [%rd4], %r5;\n"
        ),
    )
}

#[test]
fn bulk_copy_global_to_shared_completes_on_its_mbarrier() {
    let st = run_expecting(&bulk_load_kernel(true), |x| 3 * x);
    assert_eq!(st.bulk_bytes, 512, "{}", st.summary());
    assert!(st.class(ptxsim::OpClass::Bulk) > 0);
}

#[test]
fn bulk_copy_destination_read_before_its_phase_completed_is_reported() {
    // one warp: thread 0 issues the copy and the whole warp reads without waiting
    let e = planted(&bulk_load_kernel(false), &bulk_load_kernel(true), 32, 0);
    assert!(
        matches!(e.kind, ErrorKind::BulkAsync(ref s) if s.contains("has not seen its mbarrier phase complete")),
        "{e}"
    );
    assert_eq!(e.addr, Some(128)); // buf follows bar, bar2, bar3 at its 128-byte alignment
                                   // the phase still waits for bytes (expect_tx 1024, only 512 delivered): in flight
    let bad = bulk_load_kernel(false).replace("[bar], 512;", "[bar], 1024;");
    let e = expect_exec(run_io(&bad, 32).0);
    assert!(
        matches!(e.kind, ErrorKind::BulkAsync(ref s) if s.contains("before the mbarrier phase") && s.contains("512 transaction bytes pending")),
        "{e}"
    );
    assert_eq!((e.line, e.tid), (line_of(&bad, "BUG"), [0, 0, 0]));
    // four warps: warp 3 passes the CTA barrier last and reads before warp 0 has issued
    // the copy: an uninitialised read
    let e = expect_exec(run_io(&bulk_load_kernel(false), 128).0);
    assert_eq!(e.kind, ErrorKind::UninitShared { size: 4 });
    assert_eq!((e.tid, e.addr), ([96, 0, 0], Some(128 + 96 * 4)));
}

/// Every thread writes 7 * in[tid] + 1 to buf[tid]; thread 0 stores buf to out with a bulk
/// copy; then every thread overwrites its word. `wait`: the twin retires the store with
/// wait_group.read before the CTA barrier.
fn bulk_store_kernel(wait: bool) -> String {
    let w = fix(wait, "\t@%p1 cp.async.bulk.wait_group.read 0;\n");
    kernel(
        IO,
        &format!(
            "{LOAD}\tmul.wide.u32 %rd3, %r1, 4;\n\tadd.s64 %rd4, %rd2, %rd3;\n\tld.global.u32 %r5, [%rd4];\n\tmad.lo.u32 %r5, %r5, 7, 1;\n\tmov.u32 %r2, buf;\n\tshl.b32 %r3, %r1, 2;\n\tadd.u32 %r4, %r2, %r3;\n\tst.shared.u32 [%r4], %r5;\n\tfence.proxy.async.shared::cta;\n\tbar.sync 0;\n\t@%p1 cp.async.bulk.global.shared::cta.bulk_group [%rd1], [buf], 512;\n\t@%p1 cp.async.bulk.commit_group;\n{w}\tbar.sync 0;\n\tst.shared.u32 [%r4], 0; // BUG\n\t@%p1 cp.async.bulk.wait_group 0;\n"
        ),
    )
}

#[test]
fn bulk_store_shared_to_global_in_a_bulk_group() {
    let st = run_expecting(&bulk_store_kernel(true), |x| 7 * x + 1);
    assert_eq!(st.bulk_bytes, 512);
}

#[test]
fn bulk_store_source_changed_before_wait_group_read_is_reported() {
    // the last warp to reach the second CTA barrier (warp 2) overwrites first; this kernel
    // declares no mbarrier, so buf is at shared offset 0
    let e = planted(&bulk_store_kernel(false), &bulk_store_kernel(true), 128, 64);
    assert!(
        matches!(e.kind, ErrorKind::BulkAsync(ref s) if s.contains("before cp.async.bulk.wait_group.read")),
        "{e}"
    );
    assert_eq!(e.addr, Some(256));
    // wait_group 1 with two groups committed retires only the older one
    let two = bulk_store_kernel(false).replace(
        "\t@%p1 cp.async.bulk.commit_group;\n",
        "\t@%p1 cp.async.bulk.commit_group;\n\t@%p1 cp.async.bulk.global.shared::cta.bulk_group [%rd2], [buf+256], 256;\n\t@%p1 cp.async.bulk.commit_group;\n\t@%p1 cp.async.bulk.wait_group.read 1;\n",
    );
    let e = expect_exec(run_io(&two, 128).0);
    assert_eq!((e.tid, e.addr), ([64, 0, 0], Some(256)), "{e}");
    assert_eq!(e.line, line_of(&two, "BUG"));
}

#[test]
fn bulk_copy_operand_rules() {
    // size a multiple of 16, 16-byte aligned addresses, in bounds, an initialised mbarrier
    let good = bulk_load_kernel(true);
    let cases: [(&str, &str, &str); 8] = [
        ("[buf], [%rd2], 512", "[buf], [%rd2], 500", "multiple of 16"),
        // refused before any buffer of that size is allocated
        (
            "[buf], [%rd2], 512",
            "[buf], [%rd2], 0xfffffff0",
            "out-of-bounds shared",
        ),
        ("[bar], 1;", "[bar], 0;", "count 0"),
        ("[bar], 1;", "[bar], 1048576;", "count 1048576"),
        (
            "[buf], [%rd2], 512",
            "[buf+8], [%rd2], 496",
            "needs 16-byte alignment",
        ),
        (
            "[buf], [%rd2], 512",
            "[buf], [%rd2], 1024",
            "out-of-bounds shared",
        ),
        (
            "[buf], [%rd2], 512",
            "[buf], [%rd2+256], 512",
            "out-of-bounds global",
        ),
        ("512, [bar];", "512, [bar2];", "before mbarrier.init"),
    ];
    for (from, to, needle) in cases {
        let bad = good.replace(from, to);
        let e = expect_exec(run_io(&bad, 32).0);
        assert!(e.kind.to_string().contains(needle), "{needle}: {e}");
        let at = if needle.starts_with("count") {
            "mbarrier.init"
        } else {
            "cp.async.bulk"
        };
        assert_eq!((e.line, e.tid), (line_of(&bad, at), [0, 0, 0]));
    }
}

// elect.sync picks the lowest lane of its mask; the prefetch, griddepcontrol and fence forms
// are accepted and change nothing.
#[test]
fn elect_sync_and_no_op_forms() {
    let src = kernel(
        IO,
        &format!(
            "{LOAD}\tcp.async.bulk.prefetch.L2.global [%rd2], 512;\n\tgriddepcontrol.wait;\n\tgriddepcontrol.launch_dependents;\n\tfence.proxy.async;\n\tsetp.ge.u32 %p3, %r1, 5;\n\t@%p3 elect.sync %r6|%p4, 0xffffffe0;\n\t@!%p3 elect.sync %r6|%p4, 0x1f;\n\tselp.u32 %r7, 1000, 0, %p4;\n\tadd.u32 %r7, %r7, %r6;\n\tmul.wide.u32 %rd3, %r1, 4;\n\tadd.s64 %rd4, %rd1, %rd3;\n\tst.global.u32 [%rd4], %r7;\n\telect.sync _|%p5, 0xffffffff;\n"
        ),
    );
    let (r, dev, out, _) = run_io(&src, 32);
    r.unwrap_or_else(|e| panic!("{e}"));
    let v = download::<u32>(&dev, out, 32);
    let want: Vec<u32> = (0..32)
        .map(|l| match l {
            0 => 1000,
            1..=4 => 0,
            5 => 1005,
            _ => 5,
        })
        .collect();
    assert_eq!(v, want);
}

/// A two-stage ring on several CTAs: the elected lane of warp 0 loads tile k of its CTA into
/// stage k % 2 with a bulk copy on full[k % 2] after waiting on empty[k % 2]; warps 1 and 2
/// wait on full, read one word each, and arrive on empty. No false positive from the
/// checks, the sums right. `bug`: the consumers release a stage (arrive on empty) before
/// they read it, so the producer may refill it under them.
fn ring_kernel(tiles: u32, bug: bool) -> String {
    let empty_parity = "\tand.b32 %r11, %r10, 1;\n\txor.b32 %r11, %r11, 1;\n";
    let (early, late) = if bug {
        (
            "\tmbarrier.arrive.shared::cta.b64 _, [%r8]; // RELEASE\n",
            "",
        )
    } else {
        (
            "",
            "\tmbarrier.arrive.shared::cta.b64 _, [%r8]; // RELEASE\n",
        )
    };
    format!(
        "{HEAD}.visible .entry k(.param .u64 out, .param .u64 in)
{{
\t.reg .pred %p<8>;
\t.reg .b32 %r<32>;
\t.reg .b64 %rd<16>;
\t.shared .align 8 .b64 full[2];
\t.shared .align 8 .b64 empty[2];
\t.shared .align 128 .b8 buf[512];
\tld.param.u64 %rd1, [out];
\tld.param.u64 %rd2, [in];
\tmov.u32 %r1, %tid.x;
\tmov.u32 %r2, %ctaid.x;
\tmov.u32 %r3, full;
\tmov.u32 %r4, empty;
\tmov.u32 %r5, buf;
\tsetp.eq.u32 %p1, %r1, 0;
\t@%p1 mbarrier.init.shared::cta.b64 [full], 1;
\t@%p1 mbarrier.init.shared::cta.b64 [full+8], 1;
\t@%p1 mbarrier.init.shared::cta.b64 [empty], 64;
\t@%p1 mbarrier.init.shared::cta.b64 [empty+8], 64;
\t@%p1 fence.mbarrier_init.release.cluster;
\tbar.sync 0;
\tmov.u32 %r6, 0;
\tsetp.lt.u32 %p2, %r1, 32;
\t@!%p2 bra $Lconsumer;
\telect.sync _|%p3, 0xffffffff;
\t@!%p3 bra $Ldone;
$Lprod:
\tand.b32 %r7, %r6, 1;
\tshr.u32 %r10, %r6, 1;
{empty_parity}\tmad.lo.u32 %r8, %r7, 8, %r4;
\tmad.lo.u32 %r9, %r7, 8, %r3;
\t{{
\t.reg .pred %w;
$Lw:
\tmbarrier.try_wait.parity.shared::cta.b64 %w, [%r8], %r11; // EMPTY
\t@!%w bra $Lw;
\t}}
\tmbarrier.arrive.expect_tx.shared::cta.b64 _, [%r9], 256;
\tmad.lo.u32 %r12, %r2, {tiles}, %r6;
\tmul.wide.u32 %rd3, %r12, 256;
\tadd.s64 %rd4, %rd2, %rd3;
\tmad.lo.u32 %r13, %r7, 256, %r5;
\tcp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%r13], [%rd4], 256, [%r9]; // COPY
\tadd.u32 %r6, %r6, 1;
\tsetp.lt.u32 %p4, %r6, {tiles};
\t@%p4 bra $Lprod;
\tbra $Ldone;
$Lconsumer:
\tsetp.ge.u32 %p5, %r1, 96;
\t@%p5 bra $Ldone;
\tmov.u32 %r20, 0;
\tsub.u32 %r21, %r1, 32;
$Lcons:
\tand.b32 %r7, %r6, 1;
\tshr.u32 %r10, %r6, 1;
\tand.b32 %r11, %r10, 1;
\tmad.lo.u32 %r8, %r7, 8, %r4;
\tmad.lo.u32 %r9, %r7, 8, %r3;
\t{{
\t.reg .pred %w;
$Lw:
\tmbarrier.try_wait.parity.shared::cta.b64 %w, [%r9], %r11;
\t@!%w bra $Lw;
\t}}
{early}\tmad.lo.u32 %r13, %r7, 256, %r5;
\tmad.lo.u32 %r14, %r21, 4, %r13;
\tld.shared.u32 %r15, [%r14]; // READ
\tadd.u32 %r16, %r6, 1;
\tmad.lo.u32 %r20, %r15, %r16, %r20;
{late}\tadd.u32 %r6, %r6, 1;
\tsetp.lt.u32 %p4, %r6, {tiles};
\t@%p4 bra $Lcons;
\tmad.lo.u32 %r22, %r2, 64, %r21;
\tmul.wide.u32 %rd5, %r22, 4;
\tadd.s64 %rd6, %rd1, %rd5;
\tst.global.u32 [%rd6], %r20;
$Ldone:
\tret;
}}
"
    )
}

#[test]
fn two_stage_bulk_copy_ring_on_several_ctas() {
    let (ctas, tiles) = (4u32, 6u32);
    let mut rng = rand::rngs::StdRng::seed_from_u64(90);
    let data: Vec<u32> = (0..ctas * tiles * 64)
        .map(|_| rng.gen_range(0..100))
        .collect();
    let run = |src: &str| {
        let mut dev = Device::new();
        let inp = upload(&mut dev, &data);
        let out = dev.alloc((ctas * 64 * 4) as usize).unwrap();
        let m = Module::parse(src).unwrap_or_else(|e| panic!("{e}"));
        assert!(m.unsupported().is_empty(), "{:?}", m.unsupported());
        let r = dev.launch(
            &m,
            "k",
            &LaunchConfig::linear(ctas, 128),
            &[Param::U64(out), Param::U64(inp)],
        );
        (r, download::<u32>(&dev, out, (ctas * 64) as usize))
    };
    let src = ring_kernel(tiles, false);
    let (r, got) = run(&src);
    let st = r.unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<u32> = (0..ctas * 64)
        .map(|j| {
            let (c, i) = (j / 64, j % 64);
            (0..tiles)
                .map(|k| data[((c * tiles + k) * 64 + i) as usize] * (k + 1))
                .sum()
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        st.bulk_bytes,
        (ctas * tiles * 256) as u64,
        "{}",
        st.summary()
    );
    assert!(st.mbarrier_waits > 0, "{}", st.summary());
    // the planted bug: a consumer reads a stage the producer has refilled since
    let bad = ring_kernel(tiles, true);
    let e = match run(&bad).0 {
        Err(SimError::Exec(e)) => *e,
        other => panic!("expected an execution error, got {other:?}"),
    };
    println!("{e}");
    assert_eq!(e.line, line_of(&bad, "READ"));
    assert_eq!(e.cta, [0, 0, 0]);
    assert!(matches!(e.kind, ErrorKind::BulkAsync(_)), "{e}");
}

// Cache hints (sm_80 and later): createpolicy makes an opaque policy, `.L2::cache_hint`
// takes it as a trailing operand; accepted, counted, no effect on results.
#[test]
fn cache_hints_are_accepted_and_counted() {
    let code = format!(
        "{LOAD}\tcreatepolicy.fractional.L2::evict_last.b64 %rd5, 1.0;\n\tcreatepolicy.fractional.L2::evict_first.L2::evict_unchanged.b64 %rd6, 0.5;\n\tld.global.nc.L2::cache_hint.u32 %r5, [%rd2], %rd5;\n\tst.global.L2::cache_hint.u32 [%rd1], %r5, %rd6;\n\tred.global.add.L2::cache_hint.u32 [%rd1+4], %r5, %rd6;\n"
    );
    for target in ["sm_80", "sm_90a"] {
        let src = kernel(IO, &code).replace(".target sm_90a", &format!(".target {target}"));
        let (r, dev, out, inp) = run_io(&src, 1);
        let st = r.unwrap_or_else(|e| panic!("{e}"));
        let x = download::<u32>(&dev, inp, 1)[0];
        assert_eq!(download::<u32>(&dev, out, 2), [x, x]);
        assert_eq!(st.cache_hints, 5, "{}", st.summary());
    }
    // the policy operand is required
    let src = kernel(
        IO,
        &format!("{LOAD}\tld.global.L2::cache_hint.u32 %r5, [%rd2]; // BUG\n"),
    );
    let m = Module::parse(&src).unwrap();
    assert_eq!(m.unsupported()[0].0, line_of(&src, "BUG"));
}

// A bulk store (the async proxy) of bytes written with st.shared (the generic proxy) needs
// the writers' fence.proxy.async before the barrier that orders them.
#[test]
fn bulk_store_of_generic_writes_needs_fence_proxy_async() {
    let good = bulk_store_kernel(true);
    let bad = good.replace("\tfence.proxy.async.shared::cta;\n", "");
    let e = expect_exec(run_io(&bad, 128).0);
    assert!(
        matches!(e.kind, ErrorKind::BulkAsync(ref s) if s.contains("no fence.proxy.async")),
        "{e}"
    );
    let line = line_of(&bad, "cp.async.bulk.global.shared::cta.bulk_group");
    assert_eq!((e.line, e.tid, e.addr), (line, [0, 0, 0], Some(0)));
    run_io(&good, 128).0.unwrap_or_else(|e| panic!("{e}"));
}

// Clusters: every launch is the implicit cluster of one CTA. The cluster registers, a split
// cluster barrier ordering shared accesses like a CTA barrier, mapa to rank 0, getctarank,
// mbarrier and st on shared::cluster addresses; mapa to another rank and a wait without an
// arrive are reported, and a missing arrive deadlocks with the barrier's state.
#[test]
fn clusters_of_one_cta() {
    let code = format!(
        "{LOAD}\tmov.u32 %r2, %cluster_ctarank;\n\tmov.u32 %r3, %cluster_nctarank;\n\tmov.u32 %r4, %clusterid.x;\n\tmov.u32 %r5, %cluster_nctaid.x;\n\tmov.u32 %r6, %is_explicit_cluster;\n\tmov.u32 %r7, buf;\n\tmapa.shared::cluster.u32 %r8, %r7, %r2;\n\tgetctarank.shared::cluster.u32 %r9, %r8;\n\tmad.lo.u32 %r10, %r1, 4, %r8;\n\tst.shared::cluster.u32 [%r10], %r1;\n\tbarrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned; // WAIT\n\txor.b32 %r11, %r1, 1;\n\tmad.lo.u32 %r12, %r11, 4, %r8;\n\tld.shared::cluster.u32 %r13, [%r12];\n\tmad.lo.u32 %r14, %r2, 1000, %r13;\n\tmad.lo.u32 %r14, %r3, 100000, %r14;\n\tadd.u32 %r14, %r14, %r5;\n\tadd.u32 %r14, %r14, %r6;\n\tadd.u32 %r14, %r14, %r9;\n\tmad.lo.u32 %r14, %r4, 10000000, %r14;\n\tmul.wide.u32 %rd3, %r1, 4;\n\tadd.s64 %rd4, %rd1, %rd3;\n\tst.global.u32 [%rd4], %r14;\n"
    );
    let src = kernel(IO, &code);
    let (r, dev, out, _) = run_io(&src, 64);
    r.unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<u32> = (0..64u32).map(|t| 100_000 + (t ^ 1) + 1).collect();
    assert_eq!(download::<u32>(&dev, out, 64), want);
    // the barrier orders: without it the exchange is a race
    let bad = src.replace(
        "\tbarrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned; // WAIT\n",
        "",
    );
    let e = expect_exec(run_io(&bad, 64).0);
    assert!(matches!(e.kind, ErrorKind::SharedRace(_)), "{e}");
    // mapa to rank 1
    let bad = src.replace("%r8, %r7, %r2;", "%r8, %r7, 1;");
    let e = expect_exec(run_io(&bad, 64).0);
    assert!(e.to_string().contains("mapa to CTA rank 1"), "{e}");
    // a wait with no arrive; an arrive missing in one warp: a deadlock naming the barrier
    let bad = src.replace("\tbarrier.cluster.arrive.release.aligned;\n", "");
    let e = expect_exec(run_io(&bad, 64).0);
    assert!(e.to_string().contains("no barrier.cluster.arrive"), "{e}");
    assert_eq!(e.line, line_of(&bad, "WAIT"));
    let bad = src.replace(
        "\tbarrier.cluster.arrive.release.aligned;\n",
        "\tsetp.lt.u32 %p3, %r1, 32;\n\t@%p3 barrier.cluster.arrive.release.aligned;\n\t@!%p3 bra $Lout;\n",
    ).replace("\tst.global.u32 [%rd4], %r14;\n", "\tst.global.u32 [%rd4], %r14;\n$Lout:\n");
    let e = expect_exec(run_io(&bad, 64).0);
    assert!(
        matches!(e.kind, ErrorKind::BarrierDeadlock(ref s) if s.contains("barrier.cluster: 32 of 64 threads arrived")),
        "{e}"
    );
    // the cluster registers need sm_90
    let m = Module::parse(&src.replace(".target sm_90a", ".target sm_80")).unwrap();
    assert!(m
        .unsupported()
        .iter()
        .any(|(_, s)| s.contains("%cluster_ctarank")));
}

// nvcc's own sm_90a PTX (tests/kernels/tma.cu, libcu++'s cuda::ptx wrappers): the same
// two-stage bulk-copy ring, from the compiler rather than by hand.
#[test]
fn nvcc_built_bulk_copy_ring() {
    let m = module("tma.ptx");
    assert!(m.unsupported().is_empty(), "{:?}", m.unsupported());
    let (ctas, tiles) = (3u32, 7u32);
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let data: Vec<i32> = (0..ctas * tiles * 64)
        .map(|_| rng.gen_range(-50..50))
        .collect();
    let mut dev = Device::new();
    let inp = upload(&mut dev, &data);
    let out = dev.alloc((ctas * 64 * 4) as usize).unwrap();
    let st = dev
        .launch(
            &m,
            "ring",
            &LaunchConfig::linear(ctas, 128),
            &[Param::U64(inp), Param::U64(out), Param::I32(tiles as i32)],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<i32> = (0..ctas * 64)
        .map(|j| {
            let (c, i) = (j / 64, j % 64);
            (0..tiles)
                .map(|k| data[((c * tiles + k) * 64 + i) as usize] * (k as i32 + 1))
                .sum()
        })
        .collect();
    assert_eq!(download::<i32>(&dev, out, want.len()), want);
    assert_eq!(st.bulk_bytes, (ctas * tiles * 256) as u64);
}
