//! The decompress kernel's real PTX, run on ptxsim, against the CPU `decompress`:
//! bit-exact on random shapes and all three dtypes, with coalesced accesses.

use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::ops::decompress::{decompress_launch, decompress_on};
use sparse24::sim::SimExecutor;
use sparse24::{bf16, f16, kernels, prune, DType, Element, Error};

fn random_sparse<T: Element>(rows: usize, cols: usize, seed: u64) -> sparse24::Sparse24<T> {
    let mut rng = StdRng::seed_from_u64(seed);
    let w: Vec<T> = (0..rows * cols)
        .map(|_| T::from_f32(rng.gen_range(0.1f32..2.0) * if rng.gen() { 1.0 } else { -1.0 }))
        .collect();
    prune::prune_magnitude(&w, rows, cols).expect("valid shape")
}

fn check<T: Element>(rows: usize, cols: usize, seed: u64) -> Result<(), TestCaseError> {
    let s = random_sparse::<T>(rows, cols, seed);
    let exec = SimExecutor::new();
    let got = decompress_on(&exec, &s).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(
        got == s.decompress(),
        "{rows}x{cols} {:?}: ptxsim decompress differs",
        T::DTYPE
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn decompress_on_ptxsim_matches_cpu(rows in 1usize..70, c16 in 1usize..20, seed in any::<u64>()) {
        if !kernels::compiled() { return Ok(()); }
        check::<f32>(rows, c16 * 16, seed)?;
        check::<f16>(rows, c16 * 16, seed)?;
        check::<bf16>(rows, c16 * 16, seed)?;
    }
}

#[test]
fn decompress_accesses_are_coalesced() {
    if !kernels::compiled() {
        println!("skipped: built without nvcc");
        return;
    }
    let s = random_sparse::<bf16>(64, 512, 3);
    let exec = SimExecutor::new();
    let got = decompress_on(&exec, &s).unwrap();
    assert_eq!(got, s.decompress());
    let st = exec.last_stats().expect("stats of the launch");
    // Minimum traffic: values (0.5 of dense) + metadata (1/16 of dense elements × 2 B)
    // read, dense written.
    let dense_bytes = (64 * 512 * 2) as u64;
    assert_eq!(st.global_bytes_written, dense_bytes);
    // Two lanes read each metadata word: thread-level bytes count it twice, sectors once.
    assert_eq!(st.global_bytes_read, dense_bytes / 2 + dense_bytes / 8);
    println!("decompress bf16 64x512 on ptxsim: {}", st.summary());
    println!("  sectors per request: {:.2}", st.sectors_per_request());
    // Per warp: 8-byte value loads (256 B = 8 sectors), metadata words shared by two
    // lanes (32 B = 1 sector), 16-byte stores (512 B = 16 sectors): 25 sectors over
    // 3 requests, the minimum for these bytes.
    assert_eq!(
        st.global_sectors * 32,
        dense_bytes / 2 + dense_bytes / 16 + dense_bytes,
        "{}",
        st.summary()
    );
    assert_eq!(
        st.global_sectors,
        25 * st.global_requests / 3,
        "{}",
        st.summary()
    );
}

#[test]
fn misaligned_pointers_are_refused_before_launch() {
    let e = decompress_launch(DType::BF16, 0x1004, 0x2000, 0x3000, 4, 32).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Misaligned {
                what: "values",
                align: 8,
                ..
            }
        ),
        "{e}"
    );
    let e = decompress_launch(DType::BF16, 0x1000, 0x2000, 0x3008, 4, 32).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Misaligned {
                what: "dense output",
                align: 16,
                ..
            }
        ),
        "{e}"
    );
    let e = decompress_launch(DType::BF16, 0x1000, 0x2001, 0x3000, 4, 32).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Misaligned {
                what: "metadata",
                ..
            }
        ),
        "{e}"
    );
    let e = decompress_launch(DType::F32, 0x1000, 0x2000, 0x3000, 4, 24).unwrap_err();
    assert!(matches!(e, Error::Shape { what: "cols", .. }), "{e}");
}
