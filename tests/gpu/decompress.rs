use super::GpuTest;
use libtest_mimic::Failed;
use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::cuda::{CodeChoice, CudaExecutor};
use sparse24::{bf16, f16, ops, prune, Element};

pub fn tests() -> Vec<(&'static str, GpuTest)> {
    vec![
        ("decompress_f32_fatbin", || run::<f32>(CodeChoice::Fatbin)),
        ("decompress_f16_fatbin", || run::<f16>(CodeChoice::Fatbin)),
        ("decompress_bf16_fatbin", || run::<bf16>(CodeChoice::Fatbin)),
        ("decompress_bf16_compute80_ptx", || {
            run::<bf16>(CodeChoice::Ptx)
        }),
    ]
}

fn run<T: Element>(code: CodeChoice) -> Result<(), Failed> {
    let exec = CudaExecutor::new(code)?;
    let mut rng = StdRng::seed_from_u64(7);
    for &(rows, cols) in &[(1, 16), (37, 48), (256, 4096)] {
        let w: Vec<T> = (0..rows * cols)
            .map(|_| T::from_f32(rng.gen_range(-2.0..2.0)))
            .collect();
        let s = prune::prune_magnitude(&w, rows, cols)?;
        let got = ops::decompress::decompress_on(&exec, &s)?;
        if got != s.decompress() {
            return Err(format!("{rows}x{cols}: GPU decompress differs from the CPU's").into());
        }
    }
    Ok(())
}
