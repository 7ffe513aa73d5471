//! Warpgroup instructions (issue 17 stage b): wgmma.fence / commit_group / wait_group,
//! wgmma.mma_async (dense m64nNk16) and wgmma.mma_async.sp (m64nNk32), setmaxnreg.
//!
//! Each case runs one warpgroup (128 threads): the host lays A and B out in shared memory
//! as the PTX ISA's canonical layouts say (see the layout notes in src/exec/wgmma.rs and
//! `Layout::addr` below), the kernel copies that image to shared memory, loads C and the A
//! fragment / metadata registers, runs one wgmma and stores D. Values are random small
//! integers, so every product and sum is exact in f32 and D must match bit for bit. Each
//! axis (N, swizzle mode, transposes, A from registers or shared memory, selector, scales)
//! is covered separately, not their product.
//!
//! Confirmed on hardware (HARDWARE.md, H200): the register-A and metadata layouts and the
//! unswizzled K-major B with LBO = K-direction stride (for .sp m64n8k32). Everything else
//! here (swizzles, MN-major, A from shared memory, N > 8 accumulator layout) is from the
//! PTX ISA and CUTLASS, and is what the GPU probes of tests/kernels/wgmma.cu will confirm.
mod common;
use common::*;
use ptxsim::{Device, ErrorKind, ExecError, LaunchConfig, LaunchStats, Module, Param, SimError};
use rand::{rngs::StdRng, Rng, SeedableRng};
#[path = "common/wgmma_case.rs"]
mod wgmma_case;
use wgmma_case::*;

struct Prepared {
    src: String,
    img: Vec<u8>,
    adesc: u64,
    bdesc: u64,
    areg: Vec<u32>,
    meta: Vec<u32>,
    cin: Vec<f32>,
    want: Vec<f32>,
}

/// A case's operands and the test kernel around its wgmma.
fn prepare(c: Case, rng: &mut StdRng) -> Prepared {
    let h = host_data(c, rng);
    let src = wg_kernel(h.img.len().max(16), c.n as usize / 2, &h.wgmma);
    Prepared {
        src,
        img: h.img,
        adesc: h.adesc,
        bdesc: h.bdesc,
        areg: h.areg,
        meta: h.meta,
        cin: h.cin,
        want: h.want,
    }
}

/// The one-warpgroup kernel around `body` (the wgmma instructions between the fence and
/// the commit): copy the image to shared memory, fence.proxy.async, barrier; descriptors
/// %rd5 (A) and %rd6 (B) get the buffer's address; A registers %r10..%r13, metadata %r14,
/// accumulators %f0.. loaded; scale-d in %p2.
fn wg_kernel(smem: usize, nd: usize, body: &str) -> String {
    wg_kernel_with(
        smem,
        nd,
        "\twgmma.fence.sync.aligned;\n",
        body,
        "\twgmma.commit_group.sync.aligned;\n\twgmma.wait_group.sync.aligned 0;\n",
    )
}

fn wg_kernel_with(smem: usize, nd: usize, pre: &str, body: &str, post: &str) -> String {
    let mut s = format!(
        ".version 8.0\n.target sm_90a\n.address_size 64\n.visible .entry k(.param .u64 img, .param .u32 nwords, .param .u64 adesc, .param .u64 bdesc, .param .u64 areg, .param .u64 meta, .param .u64 cin, .param .u64 out, .param .u32 scd)\n{{\n\t.reg .pred %p<8>;\n\t.reg .b32 %r<32>;\n\t.reg .b64 %rd<32>;\n\t.reg .f32 %f<130>;\n\t.shared .align 1024 .b8 smem[{smem}];\n"
    );
    s += "\tmov.u32 %r1, %tid.x;\n\tld.param.u64 %rd1, [img];\n\tld.param.u32 %r2, [nwords];\n\tmov.u32 %r3, smem;\n\tmov.u32 %r4, %r1;\n$L_copy:\n\tsetp.ge.u32 %p1, %r4, %r2;\n\t@%p1 bra $L_done;\n\tmul.wide.u32 %rd2, %r4, 4;\n\tadd.s64 %rd3, %rd1, %rd2;\n\tld.global.u32 %r5, [%rd3];\n\tshl.b32 %r6, %r4, 2;\n\tadd.u32 %r7, %r3, %r6;\n\tst.shared.u32 [%r7], %r5;\n\tmov.u32 %r9, %ntid.x;\n\tadd.u32 %r4, %r4, %r9;\n\tbra $L_copy;\n$L_done:\n\tfence.proxy.async.shared::cta; // FENCE\n\tbar.sync 0;\n";
    s += "\tshr.u32 %r8, %r3, 4;\n\tcvt.u64.u32 %rd4, %r8;\n\tld.param.u64 %rd5, [adesc];\n\tadd.s64 %rd5, %rd5, %rd4;\n\tld.param.u64 %rd6, [bdesc];\n\tadd.s64 %rd6, %rd6, %rd4;\n";
    s += "\tld.param.u64 %rd7, [areg];\n\tmul.wide.u32 %rd8, %r1, 16;\n\tadd.s64 %rd9, %rd7, %rd8;\n\tld.global.v4.u32 {%r10, %r11, %r12, %r13}, [%rd9];\n\tld.param.u64 %rd10, [meta];\n\tmul.wide.u32 %rd11, %r1, 4;\n\tadd.s64 %rd12, %rd10, %rd11;\n\tld.global.u32 %r14, [%rd12];\n";
    s += &format!(
        "\tld.param.u64 %rd13, [cin];\n\tmul.wide.u32 %rd14, %r1, {};\n\tadd.s64 %rd15, %rd13, %rd14;\n",
        4 * nd
    );
    for i in 0..nd {
        s += &format!("\tld.global.f32 %f{i}, [%rd15+{}];\n", 4 * i);
    }
    s += "\tld.param.u32 %r15, [scd];\n\tsetp.ne.u32 %p2, %r15, 0;\n";
    s += pre;
    s += body;
    s += post;
    s += "\tld.param.u64 %rd16, [out];\n\tadd.s64 %rd17, %rd16, %rd14;\n";
    for i in 0..nd {
        s += &format!("\tst.global.f32 [%rd17+{}], %f{i};\n", 4 * i);
    }
    s += "\tret;\n}\n";
    s
}

fn run_prepared(p: &Prepared, scale_d: bool) -> (Result<LaunchStats, SimError>, Vec<f32>) {
    run_block(p, scale_d, 128)
}

/// Run the kernel of `p` on one CTA of `block` threads; D as the buffer holds it after.
fn run_block(p: &Prepared, scale_d: bool, block: u32) -> (Result<LaunchStats, SimError>, Vec<f32>) {
    let mut dev = Device::new();
    let m = Module::parse(&p.src).unwrap_or_else(|e| panic!("{e}\n{}", p.src));
    assert!(m.unsupported().is_empty(), "{:?}", m.unsupported());
    let img = upload(&mut dev, &p.img);
    let areg = upload(&mut dev, &p.areg);
    let meta = upload(&mut dev, &p.meta);
    let cin = upload(&mut dev, &p.cin);
    let out = dev.alloc(4 * p.want.len()).unwrap();
    let params = [
        Param::U64(img),
        Param::U32(p.img.len() as u32 / 4),
        Param::U64(p.adesc),
        Param::U64(p.bdesc),
        Param::U64(areg),
        Param::U64(meta),
        Param::U64(cin),
        Param::U64(out),
        Param::U32(scale_d as u32),
    ];
    let r = dev.launch(&m, "k", &LaunchConfig::linear(1, block), &params);
    let got = download::<f32>(&dev, out, p.want.len());
    (r, got)
}

fn check(c: Case, seed: u64) -> LaunchStats {
    let mut rng = StdRng::seed_from_u64(seed);
    let p = prepare(c, &mut rng);
    let (r, got) = run_prepared(&p, c.scale_d);
    let st = r.unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert_eq!(got, p.want, "{c:?}");
    st
}

#[test]
fn dense_a_from_registers_each_n() {
    for (i, n) in [8u64, 24, 64, 128, 256].into_iter().enumerate() {
        let st = check(Case { n, ..BASE }, i as u64);
        assert_eq!(st.wgmma[n as usize / 8 - 1], 1);
        assert_eq!(st.wgmma_instructions(), 1);
        assert_eq!(st.wgmma_desc_bytes, 2 * 16 * n);
    }
}

#[test]
fn dense_f16_inputs() {
    check(
        Case {
            bf16: false,
            n: 32,
            ..BASE
        },
        1,
    );
}

#[test]
fn dense_b_swizzle_modes() {
    for (i, swz) in [32u64, 64, 128].into_iter().enumerate() {
        for s in 0..2 {
            check(
                Case {
                    b: (swz, false),
                    n: 32,
                    ..BASE
                },
                10 * i as u64 + s,
            );
        }
    }
}

#[test]
fn dense_b_transposed() {
    for (i, swz) in [0u64, 32, 64, 128].into_iter().enumerate() {
        check(
            Case {
                b: (swz, true),
                n: if swz == 128 { 128 } else { 64 },
                ..BASE
            },
            20 + i as u64,
        );
    }
}

#[test]
fn dense_a_from_shared_memory() {
    for (i, swz) in [0u64, 32, 64, 128].into_iter().enumerate() {
        for mnm in [false, true] {
            let st = check(
                Case {
                    a_smem: Some((swz, mnm)),
                    ..BASE
                },
                30 + i as u64,
            );
            assert_eq!(st.wgmma_desc_bytes, 2 * 16 * 64 + 2 * 16 * 16);
        }
    }
}

#[test]
fn dense_scale_d_and_negated_operands() {
    check(
        Case {
            scale_d: false,
            ..BASE
        },
        40,
    );
    check(
        Case {
            neg_a: true,
            ..BASE
        },
        41,
    );
    check(
        Case {
            neg_b: true,
            ..BASE
        },
        42,
    );
    check(
        Case {
            neg_a: true,
            neg_b: true,
            a_smem: Some((0, false)),
            ..BASE
        },
        43,
    );
}

#[test]
fn sparse_selectors_and_shapes() {
    for sel in [0, 1] {
        for (i, n) in [8u64, 64, 256].into_iter().enumerate() {
            let st = check(
                Case {
                    sp: Some(sel),
                    n,
                    ..BASE
                },
                50 + 3 * sel as u64 + i as u64,
            );
            assert_eq!(st.wgmma_sp[n as usize / 8 - 1], 1);
        }
    }
}

#[test]
fn sparse_operand_forms() {
    let sp = Case {
        sp: Some(0),
        n: 32,
        ..BASE
    };
    check(
        Case {
            a_smem: Some((0, false)),
            ..sp
        },
        60,
    );
    check(
        Case {
            a_smem: Some((128, false)),
            ..sp
        },
        61,
    );
    check(
        Case {
            b: (128, false),
            ..sp
        },
        62,
    );
    check(
        Case {
            b: (64, false),
            ..sp
        },
        63,
    );
    check(Case { b: (0, true), ..sp }, 64);
    check(
        Case {
            bf16: false,
            scale_d: false,
            ..sp
        },
        65,
    );
}

// ---- strict checks: each planted bug is reported at its line; its fixed twin passes ----

/// The end of the wgmma line of the generated kernels, and the same with a marker.
const WG_LINE_END: &str = ", 1, 1, 0;\n";
const WG_LINE_BUG: &str = ", 1, 1, 0; // BUG\n";

/// The base case with its kernel text edited by `f`.
fn edited(c: Case, seed: u64, f: impl Fn(&str) -> String) -> (Prepared, String) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut p = prepare(c, &mut rng);
    p.src = f(&p.src);
    let src = p.src.clone();
    (p, src)
}

/// Insert `text` before the first line containing `at`.
fn insert_before(src: &str, at: &str, text: &str) -> String {
    let i = src.find(at).unwrap_or_else(|| panic!("{at}"));
    let i = src[..i].rfind('\n').map_or(0, |j| j + 1);
    format!("{}{text}{}", &src[..i], &src[i..])
}

fn wg_error(c: Case, f: impl Fn(&str) -> String, marker: &str, what: &str) -> ExecError {
    let (p, src) = edited(c, 7, f);
    let e = expect_exec(run_prepared(&p, c.scale_d).0);
    assert_eq!(e.line, line_of(&src, marker), "{e}");
    assert_eq!(e.kernel, "k");
    assert!(e.to_string().contains(what), "{e}");
    e
}

fn wg_ok(c: Case, f: impl Fn(&str) -> String) {
    let (p, _) = edited(c, 7, f);
    let (r, got) = run_prepared(&p, c.scale_d);
    r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, p.want);
}

#[test]
fn accumulator_read_before_wait_group() {
    let bug = |s: &str| insert_before(s, "wgmma.commit_group", "\tmov.f32 %f100, %f3; // BUG\n");
    let e = wg_error(BASE, bug, "BUG", "%f3");
    assert!(matches!(e.kind, ErrorKind::Wgmma(_)));
    assert!(e.to_string().contains("not yet") || e.to_string().contains("no wgmma.wait_group"));
    // fixed: after the wait_group
    wg_ok(BASE, |s| {
        insert_before(s, "ld.param.u64 %rd16", "\tmov.f32 %f100, %f3;\n")
    });
}

#[test]
fn a_fragment_and_metadata_written_before_wait_group() {
    let bug = |s: &str| insert_before(s, "wgmma.wait_group", "\tmov.b32 %r12, 0; // BUG\n");
    wg_error(BASE, bug, "BUG", "%r12");
    let sp = Case {
        sp: Some(1),
        ..BASE
    };
    let bug = |s: &str| insert_before(s, "wgmma.wait_group", "\tmov.b32 %r14, 0; // BUG\n");
    wg_error(sp, bug, "BUG", "%r14");
    wg_ok(sp, |s| {
        insert_before(
            s,
            "ld.param.u64 %rd16",
            "\tmov.b32 %r14, 0;\n\tmov.b32 %r12, 0;\n",
        )
    });
}

#[test]
fn missing_wgmma_fence() {
    // no fence at all
    let bug = |s: &str| {
        s.replace("\twgmma.fence.sync.aligned;\n", "")
            .replace(WG_LINE_END, WG_LINE_BUG)
    };
    wg_error(BASE, bug, "BUG", "no wgmma.fence");
    // an accumulator written after the fence
    let bug = |s: &str| {
        insert_before(
            s,
            "wgmma.mma_async",
            "\tadd.f32 %f2, %f2, 0f00000000; // WRITE\n",
        )
        .replace(WG_LINE_END, WG_LINE_BUG)
    };
    let e = wg_error(BASE, bug, "BUG", "%f2");
    assert!(
        e.to_string().contains(&format!(
            "line {}",
            line_of(
                &bug(&prepare(BASE, &mut StdRng::seed_from_u64(7)).src),
                "WRITE"
            )
        )),
        "{e}"
    );
    // an A register loaded after the fence
    let bug = |s: &str| {
        insert_before(s, "wgmma.mma_async", "\tmov.b32 %r11, %r11;\n")
            .replace(WG_LINE_END, WG_LINE_BUG)
    };
    wg_error(BASE, bug, "BUG", "A-fragment register %r11");
    // fixed: the write before the fence
    wg_ok(BASE, |s| {
        insert_before(
            s,
            "wgmma.fence",
            "\tadd.f32 %f2, %f2, 0f00000000;\n\tmov.b32 %r11, %r11;\n",
        )
    });
}

#[test]
fn warps_of_a_warpgroup_disagree() {
    // warp 1 gives another B descriptor
    let bug = |s: &str| {
        insert_before(
            s,
            "wgmma.fence",
            "\tshr.u32 %r20, %r1, 5;\n\tsetp.eq.u32 %p3, %r20, 1;\n\t@%p3 add.s64 %rd6, %rd6, 8;\n",
        )
        .replace(WG_LINE_END, WG_LINE_BUG)
    };
    wg_error(BASE, bug, "BUG", "disagree on the B matrix descriptor");
    // warp 2 waits for another count
    let bug = |s: &str| {
        insert_before(
            s,
            "wgmma.wait_group",
            "\tshr.u32 %r20, %r1, 5;\n\tsetp.eq.u32 %p3, %r20, 2;\n\t@%p3 bra $L_other;\n",
        )
        .replace(
            "\twgmma.wait_group.sync.aligned 0;\n",
            "\twgmma.wait_group.sync.aligned 0;\n\tbra $L_join;\n$L_other:\n\twgmma.wait_group.sync.aligned 1; // BUG\n$L_join:\n",
        )
    };
    wg_error(BASE, bug, "BUG", "disagree");
    // the same twin with equal counts passes
    wg_ok(BASE, |s| {
        insert_before(
            s,
            "wgmma.wait_group",
            "\tshr.u32 %r20, %r1, 5;\n\tsetp.eq.u32 %p3, %r20, 2;\n\t@%p3 bra $L_other;\n",
        )
        .replace(
            "\twgmma.wait_group.sync.aligned 0;\n",
            "\twgmma.wait_group.sync.aligned 0;\n\tbra $L_join;\n$L_other:\n\twgmma.wait_group.sync.aligned 0;\n$L_join:\n",
        )
    });
}

#[test]
fn exit_with_groups_pending() {
    let no_stores = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("st.global.f32"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let bug = |s: &str| {
        no_stores(
            &s.replace("\twgmma.wait_group.sync.aligned 0;\n", "")
                .replace("\tret;", "\tret; // BUG"),
        )
    };
    wg_error(BASE, bug, "BUG", "not retired");
    // uncommitted too
    let bug = |s: &str| {
        no_stores(
            &s.replace("\twgmma.wait_group.sync.aligned 0;\n", "")
                .replace("\twgmma.commit_group.sync.aligned;\n", "")
                .replace("\tret;", "\tret; // BUG"),
        )
    };
    wg_error(BASE, bug, "BUG", "1 uncommitted");
    // wait_group 1 leaves the only group in flight
    let bug = |s: &str| {
        s.replace("aligned 0;", "aligned 1;")
            .replace("[%rd17+0], %f0;", "[%rd17+0], %f0; // BUG")
    };
    wg_error(BASE, bug, "BUG", "no wgmma.wait_group has retired");
}

#[test]
fn descriptors_outside_shared_memory_or_misaligned() {
    // B descriptor's start moved past the end of the buffer
    let bug = |s: &str| {
        insert_before(s, "wgmma.fence", "\tadd.s64 %rd6, %rd6, 4096;\n")
            .replace(WG_LINE_END, WG_LINE_BUG)
    };
    wg_error(BASE, bug, "BUG", "outside the CTA's");
    // a 128B-swizzled B moved by one 128-byte row: not 1024-aligned
    let c = Case {
        b: (128, false),
        ..BASE
    };
    let bug = |s: &str| {
        insert_before(s, "wgmma.fence", "\tadd.s64 %rd6, %rd6, 8;\n")
            .replace(WG_LINE_END, WG_LINE_BUG)
    };
    wg_error(c, bug, "BUG", "must be aligned to 1024 bytes");
    wg_ok(c, |s| s.to_string());
}

#[test]
fn descriptor_reads_unfenced_or_uninitialised_shared_memory() {
    // generic-proxy writes consumed by the wgmma with no fence.proxy.async
    let bug = |s: &str| {
        s.replace("\tfence.proxy.async.shared::cta; // FENCE\n", "")
            .replace(WG_LINE_END, WG_LINE_BUG)
    };
    wg_error(BASE, bug, "BUG", "fence.proxy.async");
    // the last 16 bytes of B never written
    let bug = |s: &str| {
        s.replace(
            "ld.param.u32 %r2, [nwords];",
            "ld.param.u32 %r2, [nwords];\n\tsub.u32 %r2, %r2, 4;",
        )
        .replace(WG_LINE_END, WG_LINE_BUG)
    };
    let e = wg_error(BASE, bug, "BUG", "uninitialised");
    assert!(matches!(e.kind, ErrorKind::UninitShared { .. }));
}

#[test]
fn shared_memory_written_while_a_wgmma_reads_it() {
    // thread 40 (warp 1) overwrites a word of B before the wait_group retires the wgmma
    let write = "\tsetp.eq.u32 %p3, %r1, 40;\n\t@%p3 st.shared.u32 [%r3+16], %r5;";
    let bug = |s: &str| insert_before(s, "wgmma.wait_group", &format!("{write} // BUG\n"));
    wg_error(BASE, bug, "BUG", "no wgmma.wait_group has retired");
    // after the wait_group the same write is ordered after the wgmma's reads
    let mut rng = StdRng::seed_from_u64(7);
    let p = prepare(BASE, &mut rng);
    let src = insert_before(&p.src, "ld.param.u64 %rd16", &format!("{write}\n"));
    let q = Prepared { src, ..p };
    let (r, got) = run_prepared(&q, true);
    r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, q.want);
}

#[test]
fn illegal_metadata_on_the_selected_lanes_only() {
    let sp = Case {
        sp: Some(0),
        ..BASE
    };
    // lane 5 (t = 1, selected by sel 0) gives code 0x5 in its low nibble
    let bug = |s: &str| {
        insert_before(
            s,
            "wgmma.fence",
            "\tsetp.eq.u32 %p3, %r1, 5;\n\t@%p3 and.b32 %r14, %r14, 0xfffffff0;\n\t@%p3 or.b32 %r14, %r14, 0x5;\n",
        )
        .replace(WG_LINE_END, WG_LINE_BUG)
    };
    let e = wg_error(sp, bug, "BUG", "code 0x5");
    assert!(matches!(e.kind, ErrorKind::IllegalMetadata(_)));
    assert_eq!(e.tid, [5, 0, 0]);
    // the same garbage on a lane the selector does not name (t = 2) is ignored
    wg_ok(sp, |s| {
        insert_before(
            s,
            "wgmma.fence",
            "\tsetp.eq.u32 %p3, %r1, 6;\n\t@%p3 mov.b32 %r14, 0;\n",
        )
    });
}

#[test]
fn chained_accumulators_and_groups_retire_in_order() {
    // two wgmmas on the same accumulators in one group (no fence between: allowed), then
    // a second group on other accumulators; wait_group 1 retires the first only
    let mut rng = StdRng::seed_from_u64(99);
    let p = prepare(BASE, &mut rng);
    let wg = p
        .src
        .lines()
        .find(|l| l.contains("wgmma.mma_async"))
        .unwrap()
        .to_string();
    let other = wg.replace(
        "{%f0, %f1, %f2, %f3, %f4, %f5, %f6, %f7}",
        "{%f64, %f65, %f66, %f67, %f68, %f69, %f70, %f71}",
    );
    let src = p.src.replace(
        &format!("{wg}\n\twgmma.commit_group.sync.aligned;\n\twgmma.wait_group.sync.aligned 0;\n"),
        &format!("{wg}\n{wg}\n\twgmma.commit_group.sync.aligned;\n{other}\n\twgmma.commit_group.sync.aligned;\n\twgmma.wait_group.sync.aligned 1;\n\tmov.f32 %f100, %f0;\n\twgmma.wait_group.sync.aligned 0;\n\tadd.f32 %f0, %f100, %f64; // SUM\n"),
    );
    let src = insert_before(&src, "wgmma.fence", "\tmov.f32 %f64, 0f00000000;\n\tmov.f32 %f65, 0f00000000;\n\tmov.f32 %f66, 0f00000000;\n\tmov.f32 %f67, 0f00000000;\n\tmov.f32 %f68, 0f00000000;\n\tmov.f32 %f69, 0f00000000;\n\tmov.f32 %f70, 0f00000000;\n\tmov.f32 %f71, 0f00000000;\n");
    let q = Prepared { src, ..p };
    let (r, got) = run_prepared(&q, true);
    let st = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st.wgmma[1], 3);
    // register 0 of each thread: C + 2·AB (chain) + AB (second group, from zero)
    let mut rng = StdRng::seed_from_u64(99);
    let p0 = prepare(
        Case {
            scale_d: false,
            ..BASE
        },
        &mut rng,
    );
    for t in 0..128 {
        let ab = p0.want[t * 8];
        let c = q.cin[t * 8];
        assert_eq!(got[t * 8], c + 3.0 * ab, "thread {t}");
        assert_eq!(
            got[t * 8 + 1],
            q.want[t * 8 + 1] + p0.want[t * 8 + 1],
            "thread {t}"
        );
    }
}

#[test]
fn setmaxnreg_rules() {
    let ok = |s: &str| {
        insert_before(
            s,
            "wgmma.fence",
            "\tsetmaxnreg.dec.sync.aligned.u32 40;\n\tsetmaxnreg.inc.sync.aligned.u32 232;\n",
        )
    };
    wg_ok(BASE, ok);
    // not uniform in the warpgroup
    let bug = |s: &str| {
        insert_before(
            s,
            "wgmma.fence",
            "\tshr.u32 %r20, %r1, 5;\n\tsetp.eq.u32 %p3, %r20, 3;\n\t@%p3 bra $L_b;\n\tsetmaxnreg.inc.sync.aligned.u32 232;\n\tbra $L_j;\n$L_b:\n\tsetmaxnreg.inc.sync.aligned.u32 240; // BUG\n$L_j:\n",
        )
    };
    wg_error(BASE, bug, "BUG", "disagree");
    // counts outside the rules are refused at decode
    for n in ["20", "100", "264"] {
        let src = prepare(BASE, &mut StdRng::seed_from_u64(1)).src;
        let src = insert_before(
            &src,
            "wgmma.fence",
            &format!("\tsetmaxnreg.inc.sync.aligned.u32 {n};\n"),
        );
        let m = Module::parse(&src).unwrap();
        let u = m.unsupported();
        assert_eq!(u.len(), 1, "{u:?}");
        assert!(u[0].1.contains("multiple of 8"), "{u:?}");
    }
}

// ---- nvcc's PTX: the one-warpgroup probes of tests/kernels/wgmma.cu ----

/// Run probe `name` of wgmma.ptx on the operands of case `c` (host layouts as above) and
/// compare with the CPU reference. These kernels are the GPU probes: on a GPU the same PTX
/// and inputs confirm or refute each layout fact.
fn probe(pr: &Probe) -> LaunchStats {
    let (name, c) = (pr.kernel, pr.case);
    let mut rng = StdRng::seed_from_u64(pr.seed);
    let p = prepare(c, &mut rng);
    assert!(p.img.len() <= 32768, "{} bytes", p.img.len());
    let m = module("wgmma.ptx");
    assert!(m.unsupported().is_empty(), "{:?}", m.unsupported());
    let mut dev = Device::new();
    let img = upload(&mut dev, &p.img);
    let areg = upload(&mut dev, &p.areg);
    let meta = upload(&mut dev, &p.meta);
    let out = upload(&mut dev, &p.cin);
    let params = [
        Param::U64(img),
        Param::U32(p.img.len() as u32 / 16),
        Param::U64(p.adesc),
        Param::U64(p.bdesc),
        Param::U64(areg),
        Param::U64(meta),
        Param::U64(out),
        Param::I32(pr.last_param()),
    ];
    let st = dev
        .launch(&m, name, &LaunchConfig::linear(1, 128), &params)
        .unwrap_or_else(|e| panic!("{name} {c:?}: {e}"));
    let got = download::<f32>(&dev, out, p.want.len());
    assert_eq!(got, pr.expected(&p.want, &p.cin), "{name} {c:?}");
    st
}

#[test]
fn probes_every_case() {
    for p in probes() {
        let st = probe(&p);
        let i = p.case.n as usize / 8 - 1;
        let count = if p.case.sp.is_some() {
            st.wgmma_sp[i]
        } else {
            st.wgmma[i]
        };
        assert_eq!(count, p.repeat as u64, "{}", p.kernel);
    }
}

// ---- a TMA box with 128B swizzle feeds wgmma: two independent implementations agree ----

/// A 64 (N) × 64 (K) bf16 B tile is loaded by `cp.async.bulk.tensor` with a 128B swizzle
/// (tensormap.rs writes the swizzle), then read by four chained m64n64k16 wgmmas whose
/// descriptors step 32 bytes along K inside the swizzle atom (exec/wgmma.rs reads it):
/// D = A · B over K = 64 with A from registers.
#[test]
fn tma_swizzled_tile_feeds_chained_wgmmas() {
    use ptxsim::{Interleave, L2Promotion, OobFill, Swizzle, TensorMap, TmapDtype};
    let mut rng = StdRng::seed_from_u64(123);
    let (n, k) = (64usize, 64usize);
    let a: Vec<Vec<i32>> = (0..64)
        .map(|_| (0..k).map(|_| rng.gen_range(-3..=3)).collect())
        .collect();
    let bt: Vec<Vec<i32>> = (0..n)
        .map(|_| (0..k).map(|_| rng.gen_range(-3..=3)).collect())
        .collect();
    let bt_bits: Vec<u16> = bt.iter().flatten().map(|&v| bf16_bits(v)).collect();
    let mut areg = vec![0u32; 128 * 16];
    for t in 0..128usize {
        let (w, l) = (t / 32, t % 32);
        let (g, q) = (l / 4, l % 4);
        for s in 0..4 {
            for i in 0..4 {
                let row = 16 * w + g + 8 * (i & 1);
                let col = 16 * s + 2 * q + 8 * (i >> 1);
                areg[16 * t + 4 * s + i] =
                    bf16_bits(a[row][col]) as u32 | (bf16_bits(a[row][col + 1]) as u32) << 16;
            }
        }
    }
    let mut dev = Device::new();
    let gb = upload(&mut dev, &bt_bits);
    let ga = upload(&mut dev, &areg);
    let out = dev.alloc(4 * 128 * 32).unwrap();
    let map = TensorMap {
        dtype: TmapDtype::BF16,
        global_address: gb,
        dims: vec![k as u64, n as u64],
        strides: vec![2 * k as u64],
        box_dims: vec![k as u32, n as u32],
        element_strides: vec![1, 1],
        interleave: Interleave::None,
        swizzle: Swizzle::B128,
        l2_promotion: L2Promotion::None,
        oob_fill: OobFill::None,
    };
    let acc: Vec<String> = (0..32).map(|i| format!("%f{i}")).collect();
    let acc = acc.join(", ");
    let mut s = String::from(".version 8.0\n.target sm_90a\n.address_size 64\n.visible .entry k(.param .align 64 .b8 tmap[128], .param .u64 areg, .param .u64 out)\n{\n\t.reg .pred %p<8>;\n\t.reg .b32 %r<80>;\n\t.reg .b64 %rd<16>;\n\t.reg .f32 %f<40>;\n\t.shared .align 8 .b64 bar;\n\t.shared .align 1024 .b8 tile[8192];\n\tmov.u32 %r1, %tid.x;\n\tsetp.eq.u32 %p1, %r1, 0;\n\tmov.u32 %r10, tile;\n\tmov.u32 %r20, 0;\n\t@%p1 mbarrier.init.shared::cta.b64 [bar], 1;\n\tbar.sync 0;\n\t@!%p1 bra $Lskip;\n\tmbarrier.arrive.expect_tx.shared::cta.b64 _, [bar], 8192;\n\tcp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%r10], [tmap, {%r20, %r20}], [bar];\n$Lskip:\n\t{\n\t.reg .pred %w;\n$Lw:\n\tmbarrier.try_wait.parity.shared::cta.b64 %w, [bar], 0;\n\t@!%w bra $Lw;\n\t}\n");
    // B descriptor: start = tile, LBO 16 (unused), SBO 1024, 128B swizzle
    s += "\tshr.u32 %r11, %r10, 4;\n\tcvt.u64.u32 %rd5, %r11;\n\tor.b64 %rd5, %rd5, 0x4000004000010000;\n";
    s += "\tld.param.u64 %rd1, [areg];\n\tmul.wide.u32 %rd2, %r1, 64;\n\tadd.s64 %rd3, %rd1, %rd2;\n";
    for i in 0..4 {
        s += &format!(
            "\tld.global.v4.u32 {{%r{}, %r{}, %r{}, %r{}}}, [%rd3+{}];\n",
            40 + 4 * i,
            41 + 4 * i,
            42 + 4 * i,
            43 + 4 * i,
            16 * i
        );
    }
    s += "\tsetp.ne.u32 %p2, %r20, 0;\n\tsetp.eq.u32 %p3, %r20, 0;\n\twgmma.fence.sync.aligned;\n";
    for st in 0..4 {
        let p = if st == 0 { "%p2" } else { "%p3" };
        s += &format!("\tadd.s64 %rd6, %rd5, {};\n", 2 * st);
        s += &format!(
            "\twgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{{acc}}}, {{%r{}, %r{}, %r{}, %r{}}}, %rd6, {p}, 1, 1, 0;\n",
            40 + 4 * st, 41 + 4 * st, 42 + 4 * st, 43 + 4 * st
        );
    }
    s += "\twgmma.commit_group.sync.aligned;\n\twgmma.wait_group.sync.aligned 0;\n\tld.param.u64 %rd7, [out];\n\tmul.wide.u32 %rd8, %r1, 128;\n\tadd.s64 %rd9, %rd7, %rd8;\n";
    for i in 0..32 {
        s += &format!("\tst.global.f32 [%rd9+{}], %f{i};\n", 4 * i);
    }
    s += "\tret;\n}\n";
    let m = Module::parse(&s).unwrap_or_else(|e| panic!("{e}\n{s}"));
    assert!(m.unsupported().is_empty(), "{:?}", m.unsupported());
    let params = [
        Param::Bytes(map.encode().unwrap().to_vec()),
        Param::U64(ga),
        Param::U64(out),
    ];
    let st = dev
        .launch(&m, "k", &LaunchConfig::linear(1, 128), &params)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st.wgmma[7], 4);
    assert_eq!(st.wgmma_desc_bytes, 4 * 64 * 16 * 2);
    let got = download::<f32>(&dev, out, 128 * 32);
    for t in 0..128usize {
        let (w, l) = (t / 32, t % 32);
        let (g, q) = (l / 4, l % 4);
        for i in 0..32 {
            let row = 16 * w + g + 8 * ((i >> 1) & 1);
            let col = 8 * (i >> 2) + 2 * q + (i & 1);
            let want: i32 = (0..k).map(|kk| a[row][kk] * bt[col][kk]).sum();
            assert_eq!(got[32 * t + i], want as f32, "thread {t} reg {i}");
        }
    }
}

#[test]
fn two_warpgroups_run_independently() {
    // 256 threads: warpgroup 1 runs the same wgmma on its own copy of the operands
    let mut rng = StdRng::seed_from_u64(5);
    let p = prepare(
        Case {
            sp: Some(1),
            n: 24,
            ..BASE
        },
        &mut rng,
    );
    let twice = |v: &Vec<u32>| [v.clone(), v.clone()].concat();
    let q = Prepared {
        areg: twice(&p.areg),
        meta: twice(&p.meta),
        cin: [p.cin.clone(), p.cin.clone()].concat(),
        want: [p.want.clone(), p.want.clone()].concat(),
        ..p
    };
    let (r, got) = run_block(&q, true, 256);
    let st = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st.wgmma_sp[2], 2);
    assert_eq!(got, q.want);
    // a block of 160 threads: the second warpgroup is incomplete
    let e = expect_exec(run_block(&q, true, 160).0);
    assert!(e.to_string().contains("warpgroup 1"), "{e}");
}

#[test]
fn a_warp_that_leaves_the_warpgroup_is_reported() {
    // warp 3 exits before the fence: the others wait for it in vain
    let bug = |s: &str| {
        insert_before(
            s,
            "wgmma.fence",
            "\tshr.u32 %r20, %r1, 5;\n\tsetp.eq.u32 %p3, %r20, 3;\n\t@%p3 ret;\n",
        )
        .replace(
            "\twgmma.fence.sync.aligned;",
            "\twgmma.fence.sync.aligned; // BUG",
        )
    };
    wg_error(BASE, bug, "BUG", "has exited");
    // warp 2 waits at a barrier the others never reach
    let bug = |s: &str| {
        insert_before(
            s,
            "wgmma.fence",
            "\tshr.u32 %r20, %r1, 5;\n\tsetp.eq.u32 %p3, %r20, 2;\n\t@%p3 bar.sync 1;\n",
        )
        .replace(
            "\twgmma.fence.sync.aligned;",
            "\twgmma.fence.sync.aligned; // BUG",
        )
    };
    let e = wg_error(BASE, bug, "BUG", "never completes");
    assert!(e.to_string().contains("barrier 1"), "{e}");
}

#[test]
fn warps_disagreeing_on_shape_or_selector() {
    // warp 1 branches to another wgmma instruction: `alt` rewrites the original line
    let diverge = |s: &str, alt: &dyn Fn(&str) -> String| {
        let line = s.lines().find(|l| l.contains("wgmma.mma_async")).unwrap();
        s.replace(
            &format!("{line}\n"),
            &format!(
                "\tshr.u32 %r20, %r1, 5;\n\tsetp.eq.u32 %p3, %r20, 1;\n\t@%p3 bra $L_alt;\n{line}\n\tbra $L_j;\n$L_alt:\n{} // BUG\n$L_j:\n",
                alt(line)
            ),
        )
    };
    // shape: m64n8k16 on the first four accumulators
    let shape = |s: &str| {
        diverge(s, &|l: &str| {
            l.replace("m64n16k16", "m64n8k16").replace(
                "%f0, %f1, %f2, %f3, %f4, %f5, %f6, %f7",
                "%f0, %f1, %f2, %f3",
            )
        })
    };
    wg_error(BASE, shape, "BUG", "disagree");
    // selector: 1 instead of 0
    let sp = Case {
        sp: Some(0),
        ..BASE
    };
    let sel = |s: &str| diverge(s, &|l: &str| l.replace("%r14, 0,", "%r14, 1,"));
    wg_error(sp, sel, "BUG", "disagree");
    // the same instruction on both paths is fine
    wg_ok(sp, |s| diverge(s, &|l: &str| l.to_string()));
}
