//! Tensor-parallel shards of `Sparse24` and `SparseLinear` on random shapes, values
//! and masks (CPU path): the column-parallel shards' outputs, concatenated, are the
//! whole layer's output (bit for bit, and within the DESIGN.md tolerance of the f64
//! reference); the row-parallel shards' f32 outputs sum to the whole layer within
//! the f32-output tolerance (1e-4); every shard is a valid 2:4 matrix that
//! round-trips through a sparse24 file; hostile bounds are typed errors.

use proptest::prelude::*;
use sparse24::io::{self, AnySparse24, FileElement, SparseFile};
use sparse24::linear::shard::{IN_SHARD_MULTIPLE, OUT_SHARD_MULTIPLE};
use sparse24::linear::{Pruning, SparseLinear};
use sparse24::pattern::Pattern;
use sparse24::reference::rel_error;
use sparse24::shape::{check_bounds, even_bounds};
use sparse24::{bf16, f16, Activation, DType, Element, Error, Mask24, Sparse24};

/// xorshift64: values in [-1, 1) and pattern choices from one seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn vec<T: Element>(&mut self, n: usize) -> Vec<T> {
        (0..n).map(|_| T::from_f32(self.unit())).collect()
    }
}

/// A random dense weight pruned with a random 2:4 mask (not the magnitude mask, so
/// every pattern occurs whatever the values).
fn random_weight<T: Element>(rng: &mut Rng, out: usize, inn: usize) -> Sparse24<T> {
    let patterns = (0..out * inn / 4)
        .map(|_| Pattern::ALL[(rng.next() % 6) as usize])
        .collect();
    let mask = Mask24::new(out, inn, patterns).unwrap();
    let w: Vec<T> = rng.vec(out * inn);
    Sparse24::compress_masked(&w, &mask).unwrap()
}

fn activation(i: u8) -> Activation {
    [
        Activation::None,
        Activation::Relu,
        Activation::Gelu,
        Activation::Silu,
        Activation::GeluErf,
    ][i as usize % 5]
}

fn output(i: u8) -> DType {
    [DType::F32, DType::F16, DType::BF16][i as usize % 3]
}

/// DESIGN.md "Tolerances", by output dtype.
fn tolerance(out: DType) -> f64 {
    match out {
        DType::BF16 => 1e-2,
        DType::F16 => 2e-3,
        DType::F32 => 1e-4,
    }
}

/// The layer's CPU forward, whatever its output dtype, widened to f64.
fn forward<T: Element>(l: &SparseLinear<T>, x: &[T], tokens: usize, c: Option<&[T]>) -> Vec<f64> {
    fn run<T: Element, O: Element>(
        l: &SparseLinear<T>,
        x: &[T],
        t: usize,
        c: Option<&[T]>,
    ) -> Vec<f64> {
        let y: Vec<O> = l.forward_cpu_with(x, t, c).unwrap();
        y.iter().map(|v| v.to_f64()).collect()
    }
    match l.output_dtype() {
        DType::F32 => run::<T, f32>(l, x, tokens, c),
        DType::F16 => run::<T, f16>(l, x, tokens, c),
        DType::BF16 => run::<T, bf16>(l, x, tokens, c),
    }
}

/// Columns `cols` of a row-major [rows, width] matrix.
fn columns<T: Copy>(m: &[T], width: usize, cols: std::ops::Range<usize>) -> Vec<T> {
    m.chunks_exact(width)
        .flat_map(|row| row[cols.clone()].iter().copied())
        .collect()
}

/// Fences 0 < … < len from a set of candidate inner fences.
fn fences(len: usize, inner: &[usize], multiple: usize) -> Vec<usize> {
    let mut b: Vec<usize> = inner
        .iter()
        .map(|&f| f * multiple)
        .filter(|&f| f > 0 && f < len)
        .collect();
    b.push(0);
    b.push(len);
    b.sort_unstable();
    b.dedup();
    b
}

/// Every shard validates, round-trips through a sparse24 file, and the shards
/// reassemble the whole matrix (rows stacked, or columns side by side).
fn check_shards<T: FileElement>(
    whole: &Sparse24<T>,
    shards: &[&Sparse24<T>],
    by_rows: bool,
) -> Result<(), TestCaseError> {
    let names: Vec<String> = (0..shards.len()).map(|i| format!("shard{i}")).collect();
    let any: Vec<AnySparse24> = shards.iter().map(|s| T::wrap((*s).clone())).collect();
    let refs: Vec<(&str, &AnySparse24)> = names.iter().map(String::as_str).zip(&any).collect();
    let bytes = io::to_bytes(&refs).unwrap();
    let file = SparseFile::parse(&bytes).unwrap();
    for (name, s) in names.iter().zip(shards) {
        prop_assert!(s.validate().is_ok());
        prop_assert_eq!(&file.layer_as::<T>(name).unwrap(), *s);
    }
    let dense = whole.decompress();
    let mut rebuilt = vec![T::default(); dense.len()];
    let (mut row0, mut col0) = (0, 0);
    for s in shards {
        let part = s.decompress();
        for r in 0..s.rows() {
            let at = (row0 + r) * whole.cols() + col0;
            rebuilt[at..at + s.cols()].copy_from_slice(&part[r * s.cols()..(r + 1) * s.cols()]);
        }
        if by_rows {
            row0 += s.rows();
        } else {
            col0 += s.cols();
        }
    }
    prop_assert_eq!(rebuilt, dense);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn column_parallel_case<T: FileElement>(
    out: usize,
    inn: usize,
    tokens: usize,
    inner: &[usize],
    act: u8,
    out_dtype: u8,
    with_residual: bool,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed | 1);
    let mut layer = SparseLinear::from_sparse(random_weight::<T>(&mut rng, out, inn))
        .with_bias(rng.vec(out))
        .unwrap()
        .with_activation(activation(act))
        .with_alpha(0.5 + rng.unit().abs())
        .with_output_dtype(output(out_dtype));
    if with_residual {
        layer = layer.with_residual(rng.unit());
    }
    let bounds = fences(out, inner, 1);
    let shards = layer.column_parallel_at(&bounds).unwrap();
    let x: Vec<T> = rng.vec(tokens * inn);
    let c: Vec<T> = rng.vec(tokens * out);
    let c = with_residual.then_some(c.as_slice());
    let whole = forward(&layer, &x, tokens, c);
    let mut joined = vec![0f64; tokens * out];
    for (shard, f) in shards.iter().zip(bounds.windows(2)) {
        prop_assert_eq!(shard.epilogue(), layer.epilogue());
        prop_assert_eq!(shard.in_features(), inn);
        let cs = c.map(|c| columns(c, out, f[0]..f[1]));
        let y = forward(shard, &x, tokens, cs.as_deref());
        let width = f[1] - f[0];
        for t in 0..tokens {
            joined[t * out + f[0]..t * out + f[1]].copy_from_slice(&y[t * width..(t + 1) * width]);
        }
    }
    // The CPU path accumulates each output on its own: the concatenation is exact.
    prop_assert_eq!(&joined, &whole);
    let reference = layer.forward_f64_with(&x, tokens, c).unwrap();
    let tol = tolerance(layer.output_dtype());
    let err = rel_error(&joined, &reference);
    prop_assert!(err <= tol, "rel error {} > {}", err, tol);
    let weights: Vec<&Sparse24<T>> = shards.iter().map(|s| s.weight()).collect();
    check_shards(layer.weight(), &weights, true)
}

#[allow(clippy::too_many_arguments)]
fn row_parallel_case<T: FileElement>(
    out: usize,
    inn: usize,
    tokens: usize,
    inner: &[usize],
    with_residual: bool,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed | 1);
    let mut layer = SparseLinear::from_sparse(random_weight::<T>(&mut rng, out, inn))
        .with_bias(rng.vec(out))
        .unwrap()
        .with_alpha(0.5 + rng.unit().abs())
        .with_output_dtype(DType::F32);
    if with_residual {
        layer = layer.with_residual(rng.unit());
    }
    let bounds = fences(inn, inner, IN_SHARD_MULTIPLE);
    let shards = layer.row_parallel_at(&bounds).unwrap();
    let x: Vec<T> = rng.vec(tokens * inn);
    let c: Vec<T> = rng.vec(tokens * out);
    let c = with_residual.then_some(c.as_slice());
    let mut sum = vec![0f64; tokens * out];
    for (i, (shard, f)) in shards.iter().zip(bounds.windows(2)).enumerate() {
        // Bias and residual on shard 0 only, alpha everywhere.
        prop_assert_eq!(shard.bias().is_some(), i == 0);
        let beta = if i == 0 { layer.epilogue().beta } else { 0.0 };
        prop_assert_eq!(shard.epilogue().beta, beta);
        prop_assert_eq!(shard.epilogue().alpha, layer.epilogue().alpha);
        prop_assert_eq!(shard.out_features(), out);
        let xs = columns(&x, inn, f[0]..f[1]);
        let y = forward(shard, &xs, tokens, if i == 0 { c } else { None });
        for (s, v) in sum.iter_mut().zip(y) {
            *s += v;
        }
    }
    let reference = layer.forward_f64_with(&x, tokens, c).unwrap();
    let err = rel_error(&sum, &reference);
    prop_assert!(err <= 1e-4, "rel error {} > 1e-4", err);
    let weights: Vec<&Sparse24<T>> = shards.iter().map(|s| s.weight()).collect();
    check_shards(layer.weight(), &weights, false)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn column_parallel_shards_concatenate_to_the_layer(
        out in 1usize..48,
        in16 in 1usize..24,
        tokens in 1usize..5,
        inner in proptest::collection::vec(0usize..48, 0..5),
        act in any::<u8>(),
        out_dtype in any::<u8>(),
        with_residual in any::<bool>(),
        seed in any::<u64>(),
    ) {
        column_parallel_case::<bf16>(out, in16 * 16, tokens, &inner, act, out_dtype, with_residual, seed)?;
        column_parallel_case::<f16>(out, in16 * 16, tokens, &inner, act, out_dtype, with_residual, seed)?;
    }

    #[test]
    fn row_parallel_shards_sum_to_the_layer(
        out in 1usize..24,
        blocks in 1usize..5,
        tail16 in 0usize..16,
        tokens in 1usize..4,
        inner in proptest::collection::vec(0usize..5, 0..4),
        with_residual in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let inn = blocks * IN_SHARD_MULTIPLE + tail16 * 16;
        row_parallel_case::<bf16>(out, inn, tokens, &inner, with_residual, seed)?;
        row_parallel_case::<f16>(out, inn, tokens, &inner, with_residual, seed)?;
    }

    /// Any bounds at all: either a typed ShardBounds error or a partition whose
    /// shards have the promised sizes; never a panic.
    #[test]
    fn arbitrary_bounds_are_a_partition_or_a_typed_error(
        rows in 1usize..20,
        in16 in 1usize..20,
        bounds in proptest::collection::vec(prop_oneof![0usize..400, any::<usize>()], 0..6),
        seed in any::<u64>(),
    ) {
        let w = random_weight::<bf16>(&mut Rng(seed | 1), rows, in16 * 16);
        for (by_rows, len, multiple) in [(true, rows, 1), (false, in16 * 16, 16)] {
            let split = if by_rows { w.split_rows(&bounds) } else { w.split_cols(&bounds) };
            prop_assert_eq!(split.is_ok(), check_bounds("x", len, &bounds, multiple).is_ok());
            match split {
                Ok(shards) => {
                    prop_assert_eq!(shards.len(), bounds.len() - 1);
                    for (s, f) in shards.iter().zip(bounds.windows(2)) {
                        let size = if by_rows { s.rows() } else { s.cols() };
                        prop_assert_eq!(size, f[1] - f[0]);
                    }
                }
                Err(e) => {
                    let typed = matches!(e, Error::ShardBounds { .. });
                    prop_assert!(typed, "{:?}", e);
                }
            }
        }
    }

    /// The even helpers' fences: valid, near-equal (in whole units), `shards` of them.
    #[test]
    fn even_bounds_are_valid_and_balanced(
        len in 1usize..5000,
        shards in 1usize..9,
        multiple in prop_oneof![Just(1usize), Just(OUT_SHARD_MULTIPLE), Just(IN_SHARD_MULTIPLE)],
    ) {
        match even_bounds("len", len, shards, multiple) {
            Ok(b) => {
                prop_assert_eq!(b.len(), shards + 1);
                prop_assert!(check_bounds("len", len, &b, multiple).is_ok());
                let units: Vec<usize> = b.windows(2).map(|w| (w[1] - w[0]).div_ceil(multiple)).collect();
                let (lo, hi) = (units.iter().min().unwrap(), units.iter().max().unwrap());
                prop_assert!(hi - lo <= 1, "{:?}", b);
            }
            Err(e) => {
                prop_assert!(shards > len.div_ceil(multiple));
                let typed = matches!(e, Error::InvalidArgument { what: "shards", .. });
                prop_assert!(typed, "{:?}", e);
            }
        }
    }
}

fn layer(out: usize, inn: usize) -> SparseLinear<bf16> {
    let w: Vec<bf16> = Rng(7).vec(out * inn);
    SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude).unwrap()
}

fn is_shard_bounds<T>(r: sparse24::Result<T>) -> bool {
    matches!(r, Err(Error::ShardBounds { .. }))
}

#[test]
fn hostile_bounds_are_typed_errors() {
    let l = layer(40, 768);
    let w = l.weight();
    for bad in [
        &[][..],              // no fences
        &[0],                 // a single fence
        &[40],                // no 0
        &[1, 40],             // not starting at 0
        &[0, 39],             // not ending at rows
        &[0, 41],             // past the end
        &[0, 20, 10, 40],     // unsorted
        &[0, 20, 20, 40],     // an empty shard
        &[0, 0, 40],          // an empty first shard
        &[0, usize::MAX, 40], // out of range, unsorted
        &[0, 40, usize::MAX], // out of range at the end
    ] {
        assert!(is_shard_bounds(w.split_rows(bad)), "{bad:?}");
        assert!(is_shard_bounds(l.column_parallel_at(bad)), "{bad:?}");
    }
    // Columns: multiples of 16 for the matrix, of 256 for the layer.
    for bad in [
        &[0, 8, 768][..],
        &[0, 100, 768],
        &[0, 768, 512],
        &[0, 256],
        &[0, 512, 512, 768],
    ] {
        assert!(is_shard_bounds(w.split_cols(bad)), "{bad:?}");
        assert!(is_shard_bounds(l.row_parallel_at(bad)), "{bad:?}");
    }
    assert!(w.split_cols(&[0, 16, 768]).is_ok());
    assert!(is_shard_bounds(l.row_parallel_at(&[0, 16, 768])));
    assert!(is_shard_bounds(l.row_parallel_at(&[0, 272, 768])));
    assert_eq!(l.row_parallel_at(&[0, 512, 768]).unwrap().len(), 2);
    // The error names the dimension and the first violation.
    let e = l.row_parallel_at(&[0, 300, 768]).unwrap_err().to_string();
    assert!(
        e.contains("in = 768") && e.contains("300") && e.contains("256"),
        "{e}"
    );
}

#[test]
fn even_helpers_refuse_zero_or_too_many_shards() {
    let l = layer(40, 768); // 3 row tiles of 16, 3 blocks of 256
    for n in [0, 4, usize::MAX] {
        assert!(matches!(
            l.column_parallel(n),
            Err(Error::InvalidArgument { what: "shards", .. })
        ));
        assert!(matches!(
            l.row_parallel(n),
            Err(Error::InvalidArgument { what: "shards", .. })
        ));
    }
    let out: Vec<usize> = l
        .column_parallel(3)
        .unwrap()
        .iter()
        .map(|s| s.out_features())
        .collect();
    assert_eq!(out, [16, 16, 8]);
    let inn: Vec<usize> = l
        .row_parallel(2)
        .unwrap()
        .iter()
        .map(|s| s.in_features())
        .collect();
    assert_eq!(inn, [512, 256]);
    assert_eq!(l.row_parallel(1).unwrap()[0].weight(), l.weight());
}

/// The activation applies to the sum of the partial products: a row-parallel split
/// of a layer with one is refused, the same layer without it splits.
#[test]
fn row_parallel_refuses_an_activation() {
    for act in [
        Activation::Relu,
        Activation::Gelu,
        Activation::Silu,
        Activation::GeluErf,
    ] {
        let l = layer(16, 512).with_activation(act);
        let e = l.row_parallel(2).unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidArgument {
                    what: "activation",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(l.column_parallel(1).is_ok());
        assert!(l.with_activation(Activation::None).row_parallel(2).is_ok());
    }
}
