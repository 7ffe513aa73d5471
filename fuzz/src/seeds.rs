//! Valid files written by the crate's own writers: libFuzzer starts from these, so its
//! mutations begin past the container checks. They are written at run time (by
//! scripts/toolchain/fuzz.sh) so they always follow the current format.
//!
//! A target binary writes them from libFuzzer's init hook when
//! `SPARSE24_FUZZ_WRITE_SEEDS=<dir>` is set, then exits: a separate seed program would
//! cost a second, uninstrumented build of the crate.

use half::{bf16, f16};
use sparse24::io::{self, AnySparse24, FileElement};
use sparse24::prune::prune_magnitude;
use sparse24::{Element, Sparse24};
use std::path::Path;

/// Deterministic weights (no zero, no NaN), pruned to 2:4 by magnitude.
fn layer<T: Element>(rows: usize, cols: usize, seed: u32) -> Sparse24<T> {
    let dense: Vec<T> = (0..rows * cols)
        .map(|i| {
            let h = (i as u32 ^ seed).wrapping_mul(0x9E37_79B9).rotate_left(13);
            T::from_f32((h % 2001) as f32 / 1000.0 - 1.0 + 1e-3)
        })
        .collect();
    prune_magnitude(&dense, rows, cols).expect("valid shape")
}

/// sparse24 files: one layer per dtype and shape, and one file with several layers.
pub fn sparse24_files() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, &(r, c)) in [(1, 16), (2, 32), (4, 64)].iter().enumerate() {
        let s = i as u32;
        let layers: [(&str, AnySparse24); 3] = [
            ("f32", layer::<f32>(r, c, s).into()),
            ("f16", layer::<f16>(r, c, s).into()),
            ("bf16", layer::<bf16>(r, c, s).into()),
        ];
        for (dt, l) in &layers {
            let bytes = io::to_bytes(&[("w", l)]).expect("write");
            out.push((format!("{dt}-{r}x{c}.sparse24"), bytes));
        }
    }
    let a: AnySparse24 = layer::<f16>(2, 16, 7).into();
    let b: AnySparse24 = layer::<bf16>(1, 32, 8).into();
    let c: AnySparse24 = layer::<f32>(3, 16, 9).into();
    let bytes =
        io::to_bytes(&[("enc.0.q", &a), ("enc.0.k", &b), ("enc.1.out", &c)]).expect("write");
    out.push(("three-layers.sparse24".into(), bytes));
    out
}

fn pair<T: FileElement>(rows: usize, cols: usize, seed: u32) -> Vec<u8> {
    io::torch::pair_to_bytes(&layer::<T>(rows, cols, seed), "w.packed", "w.meta").expect("write")
}

/// PyTorch packed/meta pairs (shapes are multiples of 32, as PyTorch's format needs).
pub fn torch_pairs() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, &(r, c)) in [(32, 32), (32, 64), (64, 32)].iter().enumerate() {
        let s = i as u32;
        out.push((format!("f32-{r}x{c}.pair"), pair::<f32>(r, c, s)));
        out.push((format!("f16-{r}x{c}.pair"), pair::<f16>(r, c, s)));
        out.push((format!("bf16-{r}x{c}.pair"), pair::<bf16>(r, c, s)));
    }
    out
}

/// libFuzzer init hook: with `SPARSE24_FUZZ_WRITE_SEEDS=<dir>`, writes `make()`'s files
/// into `dir` and exits; otherwise does nothing.
pub fn write_if_asked(make: fn() -> Vec<(String, Vec<u8>)>) {
    let Some(dir) = std::env::var_os("SPARSE24_FUZZ_WRITE_SEEDS") else {
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("create the seed folder");
    for (name, bytes) in make() {
        std::fs::write(dir.join(name), bytes).expect("write a seed");
    }
    std::process::exit(0);
}
