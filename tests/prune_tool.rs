//! The checkpoint pruning tool (examples/prune.rs) on generated checkpoints: which
//! tensors it prunes, skips and copies; that its output loads and equals the CPU
//! pruning of each layer; its numbers; Wanda with calibration norms; errors.

#[allow(dead_code)]
#[path = "../examples/prune.rs"]
mod tool;

use rand::{rngs::StdRng, Rng, SeedableRng};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use sparse24::io::{AnySparse24, SparseFile};
use sparse24::{bf16, f16, prune, Sparse24};
use std::path::{Path, PathBuf};

struct Dir(PathBuf);
impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("sparse24-prune-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_f32(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// (name, dtype, shape, bytes) of a small transformer-like checkpoint.
fn checkpoint() -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let mut rng = StdRng::seed_from_u64(42);
    let mut t = Vec::new();
    let f32t = |name: &str, shape: Vec<usize>, rng: &mut StdRng| {
        let n = shape.iter().product();
        let v = rand_f32(rng, n);
        (
            name.to_string(),
            Dtype::F32,
            shape,
            bytemuck::cast_slice(&v).to_vec(),
        )
    };
    t.push(f32t(
        "embeddings.word_embeddings.weight",
        vec![50, 32],
        &mut rng,
    ));
    t.push(f32t(
        "encoder.layer.0.attention.query.weight",
        vec![32, 32],
        &mut rng,
    ));
    t.push(f32t(
        "encoder.layer.0.attention.query.bias",
        vec![32],
        &mut rng,
    ));
    t.push(f32t("encoder.layer.0.LayerNorm.weight", vec![32], &mut rng));
    t.push(f32t(
        "encoder.layer.0.intermediate.dense.weight",
        vec![64, 32],
        &mut rng,
    ));
    t.push(f32t(
        "encoder.layer.0.output.dense.weight",
        vec![32, 64],
        &mut rng,
    ));
    t.push(f32t("odd.weight", vec![8, 20], &mut rng));
    t.push(f32t("lm_head.weight", vec![50, 32], &mut rng));
    let h: Vec<f16> = rand_f32(&mut rng, 24 * 48)
        .into_iter()
        .map(f16::from_f32)
        .collect();
    t.push((
        "half.proj.weight".into(),
        Dtype::F16,
        vec![24, 48],
        bytemuck::cast_slice(&h).to_vec(),
    ));
    let b: Vec<bf16> = rand_f32(&mut rng, 16 * 16)
        .into_iter()
        .map(bf16::from_f32)
        .collect();
    t.push((
        "brain.proj.weight".into(),
        Dtype::BF16,
        vec![16, 16],
        bytemuck::cast_slice(&b).to_vec(),
    ));
    let ids: Vec<i64> = (0..7).collect();
    t.push((
        "position_ids".into(),
        Dtype::I64,
        vec![1, 7],
        bytemuck::cast_slice(&ids).to_vec(),
    ));
    t
}

fn write_st(path: &Path, tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(views, Some(meta), path).unwrap();
}

const PRUNED: [&str; 5] = [
    "encoder.layer.0.attention.query.weight",
    "encoder.layer.0.intermediate.dense.weight",
    "encoder.layer.0.output.dense.weight",
    "half.proj.weight",
    "brain.proj.weight",
];

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn expected_layer(t: &(String, Dtype, Vec<usize>, Vec<u8>), norms: Option<&[f32]>) -> AnySparse24 {
    let (rows, cols) = (t.2[0], t.2[1]);
    fn go<T: sparse24::Element>(b: &[u8], r: usize, c: usize, n: Option<&[f32]>) -> Sparse24<T> {
        let w: Vec<T> = bytemuck::pod_collect_to_vec(b);
        let mask = match n {
            Some(n) => prune::wanda_mask(&w, r, c, n).unwrap(),
            None => prune::magnitude_mask(&w, r, c).unwrap(),
        };
        Sparse24::compress_masked(&w, &mask).unwrap()
    }
    match t.1 {
        Dtype::F32 => go::<f32>(&t.3, rows, cols, norms).into(),
        Dtype::F16 => go::<f16>(&t.3, rows, cols, norms).into(),
        Dtype::BF16 => go::<bf16>(&t.3, rows, cols, norms).into(),
        _ => unreachable!(),
    }
}

#[test]
fn magnitude_prunes_linear_weights_and_copies_the_rest() {
    let dir = Dir::new("mag");
    let ck = checkpoint();
    write_st(&dir.path("in.safetensors"), &ck);
    let a = tool::parse_args(&args(&[
        dir.path("in.safetensors").to_str().unwrap(),
        dir.path("out.safetensors").to_str().unwrap(),
        "--method",
        "magnitude",
        "--quiet",
    ]))
    .unwrap();
    let summary = tool::run(&a).unwrap();
    tool::print_summary(&summary);

    let mut pruned: Vec<&str> = summary.layers.iter().map(|l| l.name.as_str()).collect();
    pruned.sort();
    let mut want = PRUNED.to_vec();
    want.sort();
    assert_eq!(pruned, want);
    assert_eq!(summary.copied.len(), ck.len() - PRUNED.len());
    assert!(summary.bytes_out < summary.bytes_in);

    let out = std::fs::read(dir.path("out.safetensors")).unwrap();
    let file = SparseFile::parse(&out).unwrap();
    assert_eq!(file.metadata()["format"], "pt");
    assert_eq!(file.metadata()["sparse24.pruning"], "magnitude");
    for t in &ck {
        if PRUNED.contains(&t.0.as_str()) {
            let got = file.layer(&t.0).unwrap();
            assert_eq!(got, expected_layer(t, None), "{}", t.0);
            // The report's numbers, recomputed from the dense and pruned weights.
            let r = summary.layers.iter().find(|l| l.name == t.0).unwrap();
            let dense: Vec<f64> = sparse24::io::reader::dense_to_f32(&t.0, t.1, &t.3)
                .unwrap()
                .into_iter()
                .map(f64::from)
                .collect();
            let kept: Vec<f64> = match &got {
                AnySparse24::F32(s) => s.decompress().iter().map(|v| *v as f64).collect(),
                AnySparse24::F16(s) => s.decompress().iter().map(|v| v.to_f64()).collect(),
                AnySparse24::BF16(s) => s.decompress().iter().map(|v| v.to_f64()).collect(),
            };
            let err = sparse24::reference::rel_error(&kept, &dense);
            assert!((r.rel_frobenius_error - err).abs() < 1e-9, "{} {err}", t.0);
            let frac = kept.iter().map(|v| v.abs()).sum::<f64>()
                / dense.iter().map(|v| v.abs()).sum::<f64>();
            assert!((r.kept_magnitude - frac).abs() < 1e-9);
            assert!(r.kept_magnitude > 0.5 && r.rel_frobenius_error < 0.7);
            assert_eq!(r.compressed_bytes, got.bytes());
        } else {
            let (dtype, shape, bytes) = file.tensor(&t.0).unwrap();
            assert_eq!((dtype, shape, bytes), (t.1, &t.2[..], &t.3[..]), "{}", t.0);
        }
    }
    // The plain safetensors reader accepts the output too.
    assert!(SafeTensors::deserialize(&out).is_ok());
}

#[test]
fn wanda_uses_calibration_norms_and_skip_patterns() {
    let dir = Dir::new("wanda");
    let ck = checkpoint();
    write_st(&dir.path("in.safetensors"), &ck);
    let mut rng = StdRng::seed_from_u64(7);
    let skip = "intermediate";
    let mut norms = Vec::new();
    let mut calib = Vec::new();
    for name in PRUNED.iter().filter(|n| !n.contains(skip)) {
        let t = ck.iter().find(|t| t.0 == *name).unwrap();
        let n: Vec<f32> = (0..t.2[1]).map(|_| rng.gen_range(0.1f32..10.0)).collect();
        // Name by module for one layer, by weight for the others.
        let key = if name.starts_with("half") {
            name.strip_suffix(".weight").unwrap().to_string()
        } else {
            name.to_string()
        };
        calib.push((
            key,
            Dtype::F32,
            vec![n.len()],
            bytemuck::cast_slice(&n).to_vec(),
        ));
        norms.push((name.to_string(), n));
    }
    write_st(&dir.path("norms.safetensors"), &calib);
    let a = tool::parse_args(&args(&[
        dir.path("in.safetensors").to_str().unwrap(),
        dir.path("out.safetensors").to_str().unwrap(),
        "--method",
        "wanda",
        "--calib",
        dir.path("norms.safetensors").to_str().unwrap(),
        "--skip",
        skip,
        "--quiet",
    ]))
    .unwrap();
    let summary = tool::run(&a).unwrap();
    assert_eq!(summary.layers.len(), PRUNED.len() - 1);
    let out = std::fs::read(dir.path("out.safetensors")).unwrap();
    let file = SparseFile::parse(&out).unwrap();
    for (name, n) in &norms {
        let t = ck.iter().find(|t| &t.0 == name).unwrap();
        assert_eq!(
            file.layer(name).unwrap(),
            expected_layer(t, Some(n)),
            "{name}"
        );
    }
    let skipped = ck.iter().find(|t| t.0.contains(skip)).unwrap();
    assert_eq!(file.tensor(&skipped.0).unwrap().2, &skipped.3[..]);

    // Missing norms for a layer: an error naming it, and no output written.
    let a = tool::parse_args(&args(&[
        dir.path("in.safetensors").to_str().unwrap(),
        dir.path("out2.safetensors").to_str().unwrap(),
        "--method",
        "wanda",
        "--calib",
        dir.path("norms.safetensors").to_str().unwrap(),
    ]))
    .unwrap();
    let e = tool::run(&a).unwrap_err().to_string();
    assert!(e.contains("intermediate.dense.weight"), "{e}");
    assert!(!dir.path("out2.safetensors").exists());
}

#[test]
fn dtype_flag_converts_the_compressed_layers() {
    let dir = Dir::new("dtype");
    let ck = checkpoint();
    write_st(&dir.path("in.safetensors"), &ck);
    let a = tool::parse_args(&args(&[
        dir.path("in.safetensors").to_str().unwrap(),
        dir.path("out.safetensors").to_str().unwrap(),
        "--method",
        "magnitude",
        "--dtype",
        "bf16",
        "--quiet",
    ]))
    .unwrap();
    let summary = tool::run(&a).unwrap();
    let out = std::fs::read(dir.path("out.safetensors")).unwrap();
    let file = SparseFile::parse(&out).unwrap();
    for t in ck.iter().filter(|t| PRUNED.contains(&t.0.as_str())) {
        let dense: Vec<bf16> = sparse24::io::reader::dense_to_f32(&t.0, t.1, &t.3)
            .unwrap()
            .into_iter()
            .map(bf16::from_f32)
            .collect();
        let want = prune::prune_magnitude(&dense, t.2[0], t.2[1]).unwrap();
        assert_eq!(file.layer_as::<bf16>(&t.0).unwrap(), want, "{}", t.0);
        let r = summary.layers.iter().find(|l| l.name == t.0).unwrap();
        // Rounding to bf16 adds a little to the pruning error, never much.
        assert!(r.rel_frobenius_error > 0.2 && r.rel_frobenius_error < 0.7);
    }
    // Copied tensors keep their own type.
    assert_eq!(file.tensor("lm_head.weight").unwrap().0, Dtype::F32);
    assert!(
        tool::parse_args(&args(&["a", "b", "--method", "magnitude", "--dtype", "f8"])).is_err()
    );
}

#[test]
fn bad_arguments_and_inputs_are_errors() {
    assert!(tool::parse_args(&args(&["a", "b"])).is_err());
    assert!(tool::parse_args(&args(&["a", "--method", "magnitude"])).is_err());
    assert!(tool::parse_args(&args(&["a", "b", "--method", "random"])).is_err());
    assert!(tool::parse_args(&args(&["a", "b", "--method", "wanda"])).is_err());
    assert!(tool::parse_args(&args(&["a", "b", "--method", "magnitude", "--skip", "("])).is_err());
    let dir = Dir::new("bad");
    let a = tool::parse_args(&args(&[
        dir.path("missing.safetensors").to_str().unwrap(),
        dir.path("out.safetensors").to_str().unwrap(),
        "--method",
        "magnitude",
    ]))
    .unwrap();
    assert!(tool::run(&a)
        .unwrap_err()
        .to_string()
        .contains("missing.safetensors"));
    std::fs::write(
        dir.path("junk.safetensors"),
        b"\x10\0\0\0\0\0\0\0{not json}",
    )
    .unwrap();
    let a = tool::parse_args(&args(&[
        dir.path("junk.safetensors").to_str().unwrap(),
        dir.path("out.safetensors").to_str().unwrap(),
        "--method",
        "magnitude",
    ]))
    .unwrap();
    assert!(tool::run(&a).is_err());
}

fn run_tool(input: &Path, output: &Path, extra: &[&str]) -> Result<tool::Summary, String> {
    let mut v = vec![
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "--method",
        "magnitude",
        "--quiet",
    ];
    v.extend_from_slice(extra);
    let a = tool::parse_args(&args(&v)).map_err(|e| e.to_string())?;
    tool::run(&a).map_err(|e| e.to_string())
}

fn entries(dir: &Dir) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn an_output_named_like_a_temporary_file_never_touches_the_input() {
    // The tool's temporary file used to be `<OUT stem>.safetensors.partial`: pruning
    // `m.safetensors.partial` into `m.safetensors` truncated the input.
    let dir = Dir::new("partial");
    let input = dir.path("m.safetensors.partial");
    write_st(&input, &checkpoint());
    let before = std::fs::read(&input).unwrap();
    run_tool(&input, &dir.path("m.safetensors"), &[]).unwrap();
    assert_eq!(std::fs::read(&input).unwrap(), before);
    assert_eq!(
        sparse24::io::load(dir.path("m.safetensors")).unwrap().len(),
        PRUNED.len()
    );
    assert_eq!(entries(&dir), ["m.safetensors", "m.safetensors.partial"]);
}

#[test]
fn an_output_that_is_an_input_or_a_directory_is_refused_before_work() {
    let dir = Dir::new("self");
    let input = dir.path("in.safetensors");
    write_st(&input, &checkpoint());
    let before = std::fs::read(&input).unwrap();
    let e = run_tool(&input, &input, &[]).unwrap_err();
    assert!(e.contains("is the input"), "{e}");
    // The same file through a hard link.
    std::fs::hard_link(&input, dir.path("alias.safetensors")).unwrap();
    assert!(run_tool(&input, &dir.path("alias.safetensors"), &[]).is_err());
    let e = run_tool(&input, &dir.0, &[]).unwrap_err();
    assert!(e.contains("directory"), "{e}");
    assert!(run_tool(&input, &dir.path("no/such/folder.safetensors"), &[]).is_err());
    assert_eq!(std::fs::read(&input).unwrap(), before);
    assert_eq!(entries(&dir), ["alias.safetensors", "in.safetensors"]);
}

#[test]
fn concurrent_runs_never_share_a_temporary_file() {
    // `pruned.f16` and `pruned.bf16` used to share `pruned.safetensors.partial`.
    let dir = Dir::new("concurrent");
    let input = dir.path("in.safetensors");
    write_st(&input, &checkpoint());
    let clean = Dir::new("concurrent-clean");
    for d in ["f16", "bf16"] {
        run_tool(&input, &clean.path(&format!("pruned.{d}")), &["--dtype", d]).unwrap();
    }
    std::thread::scope(|s| {
        for d in ["f16", "bf16"] {
            let (input, out) = (&input, dir.path(&format!("pruned.{d}")));
            s.spawn(move || {
                for _ in 0..3 {
                    run_tool(input, &out, &["--dtype", d]).unwrap();
                }
            });
        }
    });
    for d in ["f16", "bf16"] {
        let name = format!("pruned.{d}");
        assert_eq!(
            std::fs::read(dir.path(&name)).unwrap(),
            std::fs::read(clean.path(&name)).unwrap(),
            "{name} differs from a clean run"
        );
    }
    assert_eq!(
        entries(&dir),
        ["in.safetensors", "pruned.bf16", "pruned.f16"]
    );
}

#[test]
fn repruning_the_tools_output_keeps_every_layer() {
    let dir = Dir::new("reprune");
    let ck = checkpoint();
    write_st(&dir.path("in.safetensors"), &ck);
    let first = run_tool(
        &dir.path("in.safetensors"),
        &dir.path("a.safetensors"),
        &["--skip", "intermediate"],
    )
    .unwrap();
    assert_eq!(first.layers.len(), PRUNED.len() - 1);
    let second = run_tool(&dir.path("a.safetensors"), &dir.path("b.safetensors"), &[]).unwrap();
    assert_eq!(
        second
            .layers
            .iter()
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>(),
        ["encoder.layer.0.intermediate.dense.weight"]
    );
    assert_eq!(second.kept_layers.len(), PRUNED.len() - 1);
    let a = sparse24::io::load(dir.path("a.safetensors")).unwrap();
    let b = sparse24::io::load(dir.path("b.safetensors")).unwrap();
    assert_eq!(b.len(), PRUNED.len());
    for (name, layer) in &a {
        assert_eq!(
            b.iter().find(|(n, _)| n == name).map(|(_, l)| l),
            Some(layer),
            "{name}"
        );
    }
    // A corrupted compressed layer in the input is refused, not copied under a
    // fresh checksum.
    let mut bytes = std::fs::read(dir.path("a.safetensors")).unwrap();
    let n = bytes.len();
    let file = SparseFile::parse(&bytes).unwrap();
    let (_, _, v) = file.tensor("half.proj.weight.values").unwrap();
    let at = v.as_ptr() as usize - bytes.as_ptr() as usize;
    assert!(at < n);
    bytes[at] ^= 1;
    std::fs::write(dir.path("bad.safetensors"), &bytes).unwrap();
    let e = run_tool(
        &dir.path("bad.safetensors"),
        &dir.path("c.safetensors"),
        &[],
    )
    .unwrap_err();
    assert!(
        e.contains("half.proj.weight") && e.contains("checksum"),
        "{e}"
    );
    assert!(!dir.path("c.safetensors").exists());
}

#[test]
fn overflow_to_inf_is_refused_unless_saturating_and_non_finite_weights_always() {
    let dir = Dir::new("overflow");
    let mut ck = checkpoint();
    // ±1e6 in every fourth weight of one layer: beyond f16's 65504.
    let t = ck.iter_mut().find(|t| t.0 == PRUNED[0]).unwrap();
    let mut w: Vec<f32> = bytemuck::pod_collect_to_vec(&t.3);
    let mut big = 0;
    for (i, v) in w.iter_mut().enumerate().filter(|(i, _)| i % 4 == 1) {
        *v = if i % 8 == 1 { 1e6 } else { -1e6 };
        big += 1;
    }
    t.3 = bytemuck::cast_slice(&w).to_vec();
    write_st(&dir.path("in.safetensors"), &ck);
    let out = dir.path("out.safetensors");
    let e = run_tool(&dir.path("in.safetensors"), &out, &["--dtype", "f16"]).unwrap_err();
    assert!(
        e.contains(PRUNED[0]) && e.contains(&format!("{big} of")),
        "{e}"
    );
    assert!(!out.exists());
    // bf16 holds ±1e6: no refusal.
    run_tool(&dir.path("in.safetensors"), &out, &["--dtype", "bf16"]).unwrap();
    let s = run_tool(
        &dir.path("in.safetensors"),
        &out,
        &["--dtype", "f16", "--saturate"],
    )
    .unwrap();
    let r = s.layers.iter().find(|l| l.name == PRUNED[0]).unwrap();
    assert_eq!(r.saturated, big);
    let layer = SparseFile::parse(&std::fs::read(&out).unwrap())
        .unwrap()
        .layer_as::<f16>(PRUNED[0])
        .unwrap();
    let max = layer
        .values()
        .iter()
        .map(|v| v.to_f32().abs())
        .fold(0f32, f32::max);
    assert_eq!(
        max, 65504.0,
        "the big weights are kept, clamped to f16's max"
    );
    assert!(layer.values().iter().all(|v| v.is_finite()));

    // An Inf and a NaN weight: refused with or without --saturate.
    for bad in [f32::INFINITY, f32::NAN] {
        let mut ck = checkpoint();
        let t = ck.iter_mut().find(|t| t.0 == PRUNED[1]).unwrap();
        let mut w: Vec<f32> = bytemuck::pod_collect_to_vec(&t.3);
        w[5] = bad;
        t.3 = bytemuck::cast_slice(&w).to_vec();
        write_st(&dir.path("bad.safetensors"), &ck);
        let e = run_tool(
            &dir.path("bad.safetensors"),
            &dir.path("x.safetensors"),
            &["--saturate"],
        )
        .unwrap_err();
        assert!(e.contains(PRUNED[1]) && e.contains("NaN or ±Inf"), "{e}");
        assert!(!dir.path("x.safetensors").exists());
    }
}

/// SparseGPT and a refit from the prune tool, on activations [tokens, in] per layer:
/// every written layer is legal 2:4 and equals what `sparse24::methods` gives for it,
/// the table reports each layer's error on the activations, and SparseGPT's error is
/// below magnitude pruning's on every layer. Norms alone are refused for them.
#[cfg(feature = "learn")]
#[test]
fn sparsegpt_and_refit_use_calibration_activations() {
    use sparse24::learn::Calibration;
    use sparse24::methods::{prune_layer, Method, Recipe, RefitConfig, SparseGptConfig};
    let dir = Dir::new("sparsegpt");
    let ck = checkpoint();
    write_st(&dir.path("in.safetensors"), &ck);
    let mut rng = StdRng::seed_from_u64(9);
    let tokens = 96;
    let mut calib = Vec::new();
    let mut acts = Vec::new();
    for name in PRUNED {
        let t = ck.iter().find(|t| t.0 == name).unwrap();
        let cols = t.2[1];
        // Correlated channels: a shared component plus the channel's own.
        let x: Vec<f32> = (0..tokens)
            .flat_map(|_| {
                let s: f32 = rng.gen_range(-1.0..1.0);
                (0..cols)
                    .map(|j| (rng.gen_range(-1.0f32..1.0) + s) * (1.0 + (j % 5) as f32))
                    .collect::<Vec<_>>()
            })
            .collect();
        calib.push((
            name.to_string(),
            Dtype::F32,
            vec![tokens, cols],
            bytemuck::cast_slice(&x).to_vec(),
        ));
        acts.push((name, x));
    }
    write_st(&dir.path("acts.safetensors"), &calib);
    let run = |method: &str, refit: bool, out: &str| {
        let mut v = vec![
            dir.path("in.safetensors").to_str().unwrap().to_string(),
            dir.path(out).to_str().unwrap().to_string(),
            "--method".into(),
            method.into(),
            "--calib".into(),
            dir.path("acts.safetensors").to_str().unwrap().to_string(),
            "--quiet".into(),
        ];
        if refit {
            v.push("--refit".into());
        }
        tool::run(&tool::parse_args(&v).unwrap()).unwrap()
    };
    let magnitude = run("magnitude", false, "mag.safetensors");
    let sgpt = run("sparsegpt", false, "sgpt.safetensors");
    let refit = run("wanda", true, "refit.safetensors");
    // Magnitude alone reads no activations: no calibration error in its table.
    assert!(magnitude.layers.iter().all(|l| l.calib_error.is_none()));
    for (name, x) in &acts {
        let err = |s: &tool::Summary| {
            s.layers
                .iter()
                .find(|l| l.name == *name)
                .unwrap()
                .calib_error
                .unwrap()
        };
        let t = ck.iter().find(|t| t.0 == *name).unwrap();
        let (rows, cols) = (t.2[0], t.2[1]);
        let w = sparse24::io::reader::dense_to_f32(name, t.1, &t.3).unwrap();
        let c = Calibration::from_activations(x, tokens, cols).unwrap();
        let mag_err =
            sparse24::methods::Pruned::masked(prune::magnitude_mask(&w, rows, cols).unwrap(), &w)
                .unwrap()
                .error(&w, &c)
                .unwrap();
        assert!(err(&sgpt) < mag_err, "{name}: {} vs {mag_err}", err(&sgpt));
        // The written layers are exactly the library's (same element type).
        for (file, recipe) in [
            (
                "sgpt.safetensors",
                Recipe::new(Method::SparseGpt(SparseGptConfig::default())),
            ),
            (
                "refit.safetensors",
                Recipe::new(Method::Wanda).with_refit(RefitConfig::default()),
            ),
        ] {
            let bytes = std::fs::read(dir.path(file)).unwrap();
            let f = SparseFile::parse(&bytes).unwrap();
            let got = f.layer(name).unwrap();
            let want: AnySparse24 = match t.1 {
                Dtype::F32 => {
                    let p = prune_layer(&recipe, &w, rows, cols, Some(&c), |_| {}).unwrap();
                    p.compress::<f32>().unwrap().into()
                }
                Dtype::F16 => {
                    let wt: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
                    let p = prune_layer(&recipe, &wt, rows, cols, Some(&c), |_| {}).unwrap();
                    p.compress::<f16>().unwrap().into()
                }
                _ => {
                    let wt: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
                    let p = prune_layer(&recipe, &wt, rows, cols, Some(&c), |_| {}).unwrap();
                    p.compress::<bf16>().unwrap().into()
                }
            };
            assert_eq!(got, want, "{file} {name}");
        }
        assert!(err(&refit).is_finite());
    }
    // SparseGPT on norms only: refused before anything is written.
    let norms: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = calib
        .iter()
        .map(|(n, _, s, _)| {
            let v = vec![1.0f32; s[1]];
            (
                n.clone(),
                Dtype::F32,
                vec![s[1]],
                bytemuck::cast_slice(&v).to_vec(),
            )
        })
        .collect();
    write_st(&dir.path("norms.safetensors"), &norms);
    let a = tool::parse_args(&args(&[
        dir.path("in.safetensors").to_str().unwrap(),
        dir.path("bad.safetensors").to_str().unwrap(),
        "--method",
        "sparsegpt",
        "--calib",
        dir.path("norms.safetensors").to_str().unwrap(),
    ]))
    .unwrap();
    let e = tool::run(&a).unwrap_err().to_string();
    assert!(e.contains("activations"), "{e}");
    assert!(!dir.path("bad.safetensors").exists());
    // Without --calib: a usage error.
    assert!(tool::parse_args(&args(&["a", "b", "--method", "sparsegpt"])).is_err());
    for m in ["proximal", "sr-ste", "step"] {
        assert!(
            tool::parse_args(&args(&["a", "b", "--method", m])).is_err(),
            "{m}"
        );
    }
    assert!(tool::parse_args(&args(&["a", "b", "--method", "magnitude", "--refit"])).is_err());
}
