//! CPU benchmarks (criterion): compress, decompress, prune (magnitude, score) and the
//! reference GEMMs at LLM layer sizes, with throughput in elements or FLOP/s.
//! `cargo bench --bench cpu` (add `-- --quick` for a short run).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::reference;
use sparse24::Epilogue;
use sparse24::{bf16, prune, Sparse24};

fn weights(out: usize, inn: usize) -> Vec<bf16> {
    let mut rng = StdRng::seed_from_u64(out as u64 ^ inn as u64);
    (0..out * inn)
        .map(|_| bf16::from_f32(rng.gen_range(-1.0..1.0)))
        .collect()
}

/// Layer shapes (out, in): the 4096-wide LLM layers of REFERENCES.md.
const SHAPES: [(usize, usize); 3] = [(4096, 4096), (14336, 4096), (4096, 14336)];

fn formats(c: &mut Criterion) {
    let mut g = c.benchmark_group("format");
    g.sample_size(10);
    for &(out, inn) in &SHAPES {
        let w = weights(out, inn);
        let id = format!("{out}x{inn}");
        g.throughput(Throughput::Elements((out * inn) as u64));
        g.bench_with_input(BenchmarkId::new("magnitude_mask", &id), &w, |b, w| {
            b.iter(|| prune::magnitude_mask(black_box(w), out, inn))
        });
        let scores: Vec<f32> = w.iter().map(|v| v.to_f32().abs()).collect();
        g.bench_with_input(BenchmarkId::new("score_mask", &id), &scores, |b, s| {
            b.iter(|| prune::score_mask(black_box(s), out, inn))
        });
        let mask = prune::magnitude_mask(&w, out, inn).expect("valid shape");
        g.bench_with_input(BenchmarkId::new("compress_masked", &id), &w, |b, w| {
            b.iter(|| Sparse24::compress_masked(black_box(w), &mask))
        });
        let pruned = mask.apply(&w).expect("valid shape");
        g.bench_with_input(BenchmarkId::new("compress_detect", &id), &pruned, |b, p| {
            b.iter(|| Sparse24::compress(black_box(p), out, inn))
        });
        let s = Sparse24::compress_masked(&w, &mask).expect("valid shape");
        g.bench_with_input(BenchmarkId::new("decompress", &id), &s, |b, s| {
            b.iter(|| black_box(s).decompress())
        });
    }
    g.finish();
}

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("linear");
    g.sample_size(10);
    for &(out, inn) in &SHAPES[..1] {
        let w = weights(out, inn);
        let s = prune::prune_magnitude(&w, out, inn).expect("valid shape");
        let dense = s.decompress();
        for tokens in [1usize, 16, 64] {
            let x = weights(tokens, inn);
            let id = format!("{out}x{inn}x{tokens}");
            g.throughput(Throughput::Elements((2 * out * inn * tokens) as u64));
            g.bench_with_input(BenchmarkId::new("sparse_f32acc", &id), &x, |b, x| {
                b.iter(|| reference::linear_sparse(black_box(x), tokens, &s, &Epilogue::default()))
            });
            g.bench_with_input(BenchmarkId::new("dense_f32acc", &id), &x, |b, x| {
                b.iter(|| {
                    reference::linear_dense(
                        black_box(x),
                        tokens,
                        &dense,
                        out,
                        inn,
                        &Epilogue::default(),
                    )
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, formats, gemm);
criterion_main!(benches);
