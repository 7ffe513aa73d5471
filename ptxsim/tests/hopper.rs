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

fn line_of(src: &str, marker: &str) -> u32 {
    src.lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("marker {marker}")) as u32
        + 1
}

/// A kernel `k` with the given params, the usual registers, a `.b64 bar` and a 512-byte
/// `buf` in shared memory; %r1 = %tid.x, %p1 = (%tid.x == 0).
fn kernel(params: &str, code: &str) -> String {
    format!(
        "{HEAD}.visible .entry k({params})\n{{\n\t.reg .pred %p<8>;\n\t.reg .b32 %r<24>;\n\t.reg .b64 %rd<16>;\n\t.shared .align 8 .b64 bar;\n\t.shared .align 8 .b64 bar2;\n\t.shared .align 128 .b8 buf[512];\n\tmov.u32 %r1, %tid.x;\n\tsetp.eq.u32 %p1, %r1, 0;\n{code}\n\tret;\n}}\n"
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

fn expect_exec(r: Result<LaunchStats, SimError>) -> ExecError {
    match r {
        Err(SimError::Exec(e)) => {
            println!("{e}");
            *e
        }
        Err(e) => panic!("expected an execution error, got {e}"),
        Ok(_) => panic!("expected an execution error, the launch succeeded"),
    }
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
    // phase 0: k1 then n - k1 arrivals
    code += "\tmbarrier.arrive.shared::cta.b64 %rd2, [bar], %r3;\n\tmbarrier.test_wait.shared::cta.b64 %p2, [bar], %rd2;\n";
    code += &store_pred(2, 0);
    code += "\tmbarrier.arrive.release.cta.shared::cta.b64 %rd3, [bar], %r6;\n\tmbarrier.test_wait.acquire.cta.shared::cta.b64 %p2, [bar], %rd2;\n";
    code += &store_pred(2, 1);
    code += "\tmbarrier.test_wait.parity.shared::cta.b64 %p2, [bar], 1;\n";
    code += &store_pred(2, 2);
    // phase 1: tx bytes announced, all arrivals in, bytes delivered in two parts
    code += "\tmbarrier.expect_tx.relaxed.cta.shared::cta.b64 [bar], %r4;\n\tmbarrier.arrive.shared::cta.b64 %rd4, [bar], %r2;\n\tmbarrier.test_wait.parity.shared::cta.b64 %p2, [bar], 1;\n";
    code += &store_pred(2, 3);
    code += "\tmbarrier.complete_tx.relaxed.cta.shared::cta.b64 [bar], %r5;\n\tmbarrier.test_wait.parity.shared::cta.b64 %p2, [bar], 1;\n";
    code += &store_pred(2, 4);
    code += "\tmbarrier.complete_tx.shared::cta.b64 [bar], %r7;\n\tmbarrier.try_wait.parity.shared::cta.b64 %p2, [bar], 1;\n";
    code += &store_pred(2, 5);
    // phase 2: arrive_drop of one and n - 1 arrivals complete it; phase 3 expects n - 1
    code += "\tmbarrier.arrive_drop.shared::cta.b64 %rd5, [bar];\n\tmbarrier.arrive.shared::cta.b64 %rd6, [bar], %r8;\n\tmbarrier.test_wait.shared::cta.b64 %p2, [bar], %rd5;\n";
    code += &store_pred(2, 6);
    code += "\tmbarrier.arrive.shared::cta.b64 %rd7, [bar], %r8;\n\tmbarrier.test_wait.shared::cta.b64 %p2, [bar], %rd7;\n";
    code += &store_pred(2, 7);
    // phase 4: arrive.expect_tx is one arrival; n - 2 more; then the bytes
    code += "\tmbarrier.arrive.expect_tx.shared::cta.b64 %rd8, [bar], %r4;\n\tmbarrier.arrive.shared::cta.b64 %rd9, [bar], %r9;\n\tmbarrier.test_wait.shared::cta.b64 %p2, [bar], %rd8;\n";
    code += &store_pred(2, 8);
    code += "\tmbarrier.complete_tx.shared::cta.b64 [bar], %r4;\n\tmbarrier.test_wait.shared::cta.b64 %p2, [bar], %rd8;\n";
    code += &store_pred(2, 9);
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
