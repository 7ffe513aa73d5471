//! Safetensors save/load of compressed layers: round trips, every validation error
//! (typed, naming the tensor), and proptest-generated corruptions (truncation, byte
//! flips, header edits) that must give Err or a valid result, never a panic.

use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use safetensors::Dtype;
use sparse24::io::header::{FileHeader, LayerHeader, METADATA_KEY};
use sparse24::io::{self, AnySparse24, SparseFile, StreamWriter, TensorSpec};
use sparse24::{bf16, f16, prune, Error, Sparse24};
use std::collections::BTreeMap;

fn random_dense(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-2.0f32..2.0)).collect()
}

fn layer_f32(seed: u64, rows: usize, cols: usize) -> Sparse24<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    prune::prune_magnitude(&random_dense(&mut rng, rows * cols), rows, cols).unwrap()
}

fn layer_f16(seed: u64, rows: usize, cols: usize) -> Sparse24<f16> {
    let mut rng = StdRng::seed_from_u64(seed);
    let w: Vec<f16> = random_dense(&mut rng, rows * cols)
        .into_iter()
        .map(f16::from_f32)
        .collect();
    prune::prune_magnitude(&w, rows, cols).unwrap()
}

fn layer_bf16(seed: u64, rows: usize, cols: usize) -> Sparse24<bf16> {
    let mut rng = StdRng::seed_from_u64(seed);
    let w: Vec<bf16> = random_dense(&mut rng, rows * cols)
        .into_iter()
        .map(bf16::from_f32)
        .collect();
    prune::prune_magnitude(&w, rows, cols).unwrap()
}

fn sample_layers() -> Vec<(String, AnySparse24)> {
    vec![
        ("enc.0.q.weight".into(), layer_f32(1, 8, 48).into()),
        ("enc.0.k.weight".into(), layer_f16(2, 5, 32).into()),
        ("enc.1.ffn.weight".into(), layer_bf16(3, 3, 16).into()),
    ]
}

fn sample_bytes() -> Vec<u8> {
    let layers = sample_layers();
    let refs: Vec<(&str, &AnySparse24)> = layers.iter().map(|(n, l)| (n.as_str(), l)).collect();
    io::to_bytes(&refs).unwrap()
}

#[test]
fn round_trip_bytes_and_file() {
    let layers = sample_layers();
    let bytes = sample_bytes();
    let file = SparseFile::parse(&bytes).unwrap();
    assert_eq!(file.header().format_version, 2);
    let mut back = file.layers().unwrap();
    let mut want = layers.clone();
    back.sort_by(|a, b| a.0.cmp(&b.0));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(back, want);
    // Typed access.
    let q: Sparse24<f32> = file.layer_as("enc.0.q.weight").unwrap();
    assert_eq!(AnySparse24::from(q), layers[0].1);

    let dir = std::env::temp_dir().join(format!("sparse24-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("layers.safetensors");
    let refs: Vec<(&str, &AnySparse24)> = layers.iter().map(|(n, l)| (n.as_str(), l)).collect();
    io::save(&path, &refs).unwrap();
    let mut loaded = io::load(&path).unwrap();
    loaded.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(loaded, want);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_safetensors_crate_reads_our_files() {
    let bytes = sample_bytes();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let v = st.tensor("enc.0.k.weight.values").unwrap();
    assert_eq!((v.dtype(), v.shape()), (Dtype::F16, &[5usize, 16][..]));
    let m = st.tensor("enc.0.k.weight.meta").unwrap();
    assert_eq!((m.dtype(), m.shape()), (Dtype::U16, &[5usize, 2][..]));
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let json = &meta.metadata().as_ref().unwrap()[METADATA_KEY];
    let h: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(h["format_version"], 2);
    assert_eq!(
        h["layers"]["enc.0.k.weight"]["checksum"]["algorithm"],
        "xxh3-64"
    );
    assert_eq!(h["layers"]["enc.0.k.weight"]["dtype"], "f16");
    assert_eq!(
        h["layers"]["enc.0.k.weight"]["shape"],
        serde_json::json!([5, 32])
    );
    assert_eq!(h["layers"]["enc.0.k.weight"]["meta_layout"], "logical");
    // Every tensor aligned to its element size.
    for (name, info) in meta.tensors() {
        let size = info.dtype.bitsize() / 8;
        assert_eq!(info.data_offsets.0 % size, 0, "{name}");
    }
}

/// A file with one layer whose header and tensors are given explicitly.
fn custom_file(header: &FileHeader, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let specs = tensors
        .iter()
        .map(|(n, d, s, _)| TensorSpec::new(*n, *d, s.clone()))
        .collect();
    let meta = BTreeMap::from([(METADATA_KEY.to_string(), header.to_json().unwrap())]);
    let mut w = StreamWriter::new(Vec::new(), specs, meta).unwrap();
    let order: Vec<String> = w.order().map(str::to_string).collect();
    for name in order {
        let t = tensors.iter().find(|t| t.0 == name).unwrap();
        w.write(&name, &t.3).unwrap();
    }
    w.finish().unwrap()
}

/// A version 1 header (no checksums: still read), so hand-made tensors reach the
/// per-tensor validation.
fn one_layer_header(dtype: &str, shape: Vec<usize>) -> FileHeader {
    let mut h = FileHeader::new();
    h.format_version = 1;
    h.layers.insert(
        "w".into(),
        LayerHeader {
            dtype: dtype.into(),
            shape,
            meta_layout: "logical".into(),
            checksum: None,
        },
    );
    h
}

fn parts(s: &Sparse24<f16>) -> (Vec<u8>, Vec<u8>) {
    (
        bytemuck::cast_slice(s.values()).to_vec(),
        bytemuck::cast_slice(s.metadata()).to_vec(),
    )
}

fn expect_tensor_err(bytes: &[u8], tensor: &str) -> Error {
    let file = SparseFile::parse(bytes).unwrap();
    match file.layer("w") {
        Err(Error::Tensor { tensor: t, source }) => {
            assert_eq!(t, tensor, "{source}");
            *source
        }
        other => panic!("expected an error naming {tensor}, got {other:?}"),
    }
}

#[test]
fn validation_errors_name_the_tensor() {
    let s = layer_f16(7, 4, 32);
    let (v, m) = parts(&s);
    let good = custom_file(
        &one_layer_header("f16", vec![4, 32]),
        &[
            ("w.values", Dtype::F16, vec![4, 16], v.clone()),
            ("w.meta", Dtype::U16, vec![4, 2], m.clone()),
        ],
    );
    assert_eq!(
        SparseFile::parse(&good).unwrap().layer("w").unwrap(),
        AnySparse24::F16(s.clone())
    );

    // An illegal code (0x0 in group 1 of row 2's first word).
    let mut bad_meta = s.metadata().to_vec();
    bad_meta[4] &= 0xff0f;
    let f = custom_file(
        &one_layer_header("f16", vec![4, 32]),
        &[
            ("w.values", Dtype::F16, vec![4, 16], v.clone()),
            (
                "w.meta",
                Dtype::U16,
                vec![4, 2],
                bytemuck::cast_slice(&bad_meta).to_vec(),
            ),
        ],
    );
    assert!(matches!(
        expect_tensor_err(&f, "w.meta"),
        Error::IllegalCode {
            row: 2,
            group: 1,
            code: 0
        }
    ));

    // Values shape disagrees with the header.
    let f = custom_file(
        &one_layer_header("f16", vec![4, 32]),
        &[
            ("w.values", Dtype::F16, vec![8, 8], v.clone()),
            ("w.meta", Dtype::U16, vec![4, 2], m.clone()),
        ],
    );
    assert!(matches!(
        expect_tensor_err(&f, "w.values"),
        Error::InvalidArgument { what: "shape", .. }
    ));

    // Values stored as bf16 while the header says f16.
    let f = custom_file(
        &one_layer_header("f16", vec![4, 32]),
        &[
            ("w.values", Dtype::BF16, vec![4, 16], v.clone()),
            ("w.meta", Dtype::U16, vec![4, 2], m.clone()),
        ],
    );
    assert!(matches!(
        expect_tensor_err(&f, "w.values"),
        Error::InvalidArgument { what: "dtype", .. }
    ));

    // Metadata tensor missing.
    let f = custom_file(
        &one_layer_header("f16", vec![4, 32]),
        &[("w.values", Dtype::F16, vec![4, 16], v.clone())],
    );
    assert!(matches!(expect_tensor_err(&f, "w.meta"), Error::Format(_)));

    // Header shape not a multiple of 16, unknown dtype, unknown layout.
    let f = custom_file(
        &one_layer_header("f16", vec![4, 24]),
        &[
            ("w.values", Dtype::F16, vec![4, 12], v[..96].to_vec()),
            ("w.meta", Dtype::U16, vec![4, 1], m[..8].to_vec()),
        ],
    );
    assert!(matches!(
        expect_tensor_err(&f, "w"),
        Error::Shape { what: "cols", .. }
    ));
    let f = custom_file(&one_layer_header("f8", vec![4, 32]), &[]);
    assert!(matches!(
        expect_tensor_err(&f, "w"),
        Error::InvalidArgument { what: "dtype", .. }
    ));
    let mut h = one_layer_header("f16", vec![4, 32]);
    h.layers.get_mut("w").unwrap().meta_layout = "cutlass".into();
    let f = custom_file(&h, &[]);
    assert!(matches!(
        expect_tensor_err(&f, "w"),
        Error::InvalidArgument {
            what: "meta_layout",
            ..
        }
    ));

    // A NaN among the values.
    let mut nan_v = s.values().to_vec();
    nan_v[21] = f16::NAN;
    let f = custom_file(
        &one_layer_header("f16", vec![4, 32]),
        &[
            (
                "w.values",
                Dtype::F16,
                vec![4, 16],
                bytemuck::cast_slice(&nan_v).to_vec(),
            ),
            ("w.meta", Dtype::U16, vec![4, 2], m.clone()),
        ],
    );
    assert!(matches!(
        expect_tensor_err(&f, "w.values"),
        Error::NonFinite { row: 1, col: 5, .. }
    ));

    // Typed access with the wrong type.
    let file = SparseFile::parse(&good).unwrap();
    assert!(matches!(
        file.layer_as::<bf16>("w"),
        Err(Error::Tensor { ref tensor, .. }) if tensor == "w"
    ));
    assert!(matches!(
        file.layer("nope"),
        Err(Error::Tensor { ref tensor, .. }) if tensor == "nope"
    ));

    // Unsupported version; no header at all.
    let mut h = one_layer_header("f16", vec![4, 32]);
    h.format_version = 3;
    let f = custom_file(&h, &[]);
    assert!(matches!(SparseFile::parse(&f), Err(Error::Format(_))));
    let plain = safetensors::serialize(
        [(
            "x",
            safetensors::tensor::TensorView::new(Dtype::U16, vec![2], &m[..4]).unwrap(),
        )],
        None,
    )
    .unwrap();
    assert!(matches!(SparseFile::parse(&plain), Err(Error::Format(_))));
    assert!(matches!(
        io::load("/nonexistent/x.safetensors"),
        Err(Error::Io(_))
    ));
}

#[test]
fn writer_checks_order_and_sizes() {
    let specs = vec![
        TensorSpec::new("a", Dtype::F32, vec![2, 2]),
        TensorSpec::new("b", Dtype::U16, vec![3]),
    ];
    let mut w = StreamWriter::new(Vec::new(), specs.clone(), BTreeMap::new()).unwrap();
    assert_eq!(w.order().collect::<Vec<_>>(), ["a", "b"]);
    assert!(matches!(w.write("b", &[0; 6]), Err(Error::Tensor { .. })));
    assert!(matches!(w.write("a", &[0; 15]), Err(Error::Tensor { .. })));
    w.write("a", &[1; 16]).unwrap();
    let w2 = StreamWriter::new(Vec::new(), specs.clone(), BTreeMap::new()).unwrap();
    assert!(w2.finish().is_err());
    w.write("b", &[2; 6]).unwrap();
    let bytes = w.finish().unwrap();
    assert!(safetensors::SafeTensors::deserialize(&bytes).is_ok());
    let dup = vec![specs[0].clone(), specs[0].clone()];
    assert!(StreamWriter::new(Vec::new(), dup, BTreeMap::new()).is_err());
}

/// Loads everything the file claims to hold; a panic fails the property.
fn load_all(bytes: &[u8]) -> Result<usize, Error> {
    let f = SparseFile::parse(bytes)?;
    let layers = f.layers()?;
    for (_, l) in &layers {
        // A valid result is fully valid: shapes agree and codes are legal.
        let (rows, cols) = l.shape();
        assert_eq!(l.values_bytes().len(), rows * cols / 2 * l.dtype().size());
        match l {
            AnySparse24::F32(s) => s.validate()?,
            AnySparse24::F16(s) => s.validate()?,
            AnySparse24::BF16(s) => s.validate()?,
        }
    }
    Ok(layers.len())
}

/// JSON pointers of every value of a document.
fn json_paths(v: &serde_json::Value, prefix: String, out: &mut Vec<String>) {
    out.push(prefix.clone());
    match v {
        serde_json::Value::Object(m) => {
            for (k, c) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                json_paths(c, format!("{prefix}/{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                json_paths(c, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn header_len(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn truncated_files_are_errors(cut in 0usize..10_000) {
        let bytes = sample_bytes();
        let cut = cut % bytes.len();
        prop_assert!(load_all(&bytes[..cut]).is_err());
    }

    #[test]
    fn byte_flips_never_panic(flips in prop::collection::vec((any::<usize>(), 1u8..=255), 1..6)) {
        let mut bytes = sample_bytes();
        for (pos, x) in flips {
            let n = bytes.len();
            bytes[pos % n] ^= x;
        }
        let _ = load_all(&bytes);
    }

    #[test]
    fn data_flips_never_panic(flips in prop::collection::vec((any::<usize>(), 1u8..=255), 1..6)) {
        // Flips confined to the data section: the container stays valid, so these
        // reach the per-tensor validation (codes, NaN).
        let mut bytes = sample_bytes();
        let start = 8 + header_len(&bytes);
        for (pos, x) in flips {
            let n = bytes.len() - start;
            bytes[start + pos % n] ^= x;
        }
        let _ = load_all(&bytes);
    }

    #[test]
    fn header_edits_never_panic(
        edits in prop::collection::vec((any::<usize>(), prop::sample::select(
            b"0123456789\"{}[],:. -eE\\afuxnlst_".to_vec())), 1..4)
    ) {
        let mut bytes = sample_bytes();
        let n = header_len(&bytes);
        for (pos, c) in edits {
            bytes[8 + pos % n] = c;
        }
        let _ = load_all(&bytes);
    }

    #[test]
    fn json_value_edits_never_panic(which in any::<usize>(), value in prop_oneof![
        Just(serde_json::json!(0)), Just(serde_json::json!(-1)),
        Just(serde_json::json!(u64::MAX)), Just(serde_json::json!(1u64 << 62)),
        Just(serde_json::json!("bf16")), Just(serde_json::json!("F8_E4M3")),
        Just(serde_json::json!([])), Just(serde_json::json!([1, 2, 3])),
        Just(serde_json::json!([usize::MAX, 16])), Just(serde_json::json!(null)),
        Just(serde_json::json!({})), (0u64..100_000).prop_map(|v| serde_json::json!(v)),
    ]) {
        // Replace one JSON value (container header or the sparse24 header) and
        // rewrite the header length, so the edit reaches the deeper checks.
        let bytes = sample_bytes();
        let n = header_len(&bytes);
        let mut outer: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        let mut inner: serde_json::Value =
            serde_json::from_str(outer["__metadata__"][METADATA_KEY].as_str().unwrap()).unwrap();
        let edit_inner = which % 2 == 0;
        let target = if edit_inner { &mut inner } else { &mut outer };
        let mut paths = Vec::new();
        json_paths(target, String::new(), &mut paths);
        let p = &paths[(which / 2) % paths.len()];
        if let Some(slot) = target.pointer_mut(p) {
            *slot = value;
        }
        if edit_inner {
            outer["__metadata__"][METADATA_KEY] = serde_json::Value::String(inner.to_string());
        }
        let mut h = serde_json::to_vec(&outer).unwrap();
        h.resize(h.len().next_multiple_of(8), b' ');
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend(h);
        out.extend(&bytes[8 + n..]);
        let _ = load_all(&out);
    }
}
