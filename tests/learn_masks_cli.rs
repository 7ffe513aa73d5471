//! learn-masks' command line and output files (examples/learn-masks): every argument
//! is refused before the model is read (a huge --steps used to abort the process on a
//! 206 GB allocation), and what it writes is a sparse24 file that `io::load` reads.

#[allow(dead_code)]
#[path = "../examples/learn-masks/args.rs"]
mod args;
#[allow(dead_code)]
#[path = "../examples/learn-masks/output.rs"]
mod output;

use sparse24::methods::{Method, ProximalConfig};
use sparse24::{prune, Sparse24};

fn parse(v: &[&str]) -> Result<args::Args, String> {
    let mut all = vec!["--model", "/nonexistent/model"];
    all.extend_from_slice(v);
    args::parse(all.into_iter().map(String::from))
}

#[test]
fn bad_settings_are_refused_before_anything_is_read() {
    for (argv, what) in [
        (&["--steps", "4294967295"][..], "steps"),
        (&["--steps", "0"][..], "steps"),
        (&["--lr", "-1"][..], "lr"),
        (&["--lr", "NaN"][..], "lr"),
        (&["--eval-every", "0"][..], "eval_every"),
        (&["--damping", "-0.5"][..], "damping"),
        (&["--damping", "inf"][..], "damping"),
        (&["--proximal-growth", "1"][..], "strength_growth"),
        (&["--proximal-growth", "NaN"][..], "strength_growth"),
        (&["--proximal-steps", "0"][..], "max_steps"),
    ] {
        let a = parse(argv).unwrap();
        let e = a.config().unwrap_err();
        assert!(e.contains(what), "{argv:?}: {e}");
    }
    assert!(parse(&["--steps", "-3"]).is_err());
    let ok = parse(&["--steps", "50", "--lr", "0.05", "--damping", "0.1"]).unwrap();
    assert_eq!(ok.config().unwrap().steps, 50);
}

#[test]
fn the_masks_file_is_a_sparse24_file() {
    let dir = std::env::temp_dir().join(format!("sparse24-learn-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let w: Vec<f32> = (0..32 * 64)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
        .collect();
    let mask = prune::magnitude_mask(&w, 32, 64).unwrap();
    let s = Sparse24::compress_masked(&w, &mask).unwrap();
    let mut m = output::Method::default();
    output::add_layer(
        &mut m,
        "encoder.layer.0.attention.self.query.weight",
        &s,
        &mask,
    );
    let path = dir.join("masks.safetensors");
    output::write(&path, &m, "learned").unwrap();
    let layers = sparse24::io::load(&path).unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].0, "encoder.layer.0.attention.self.query");
    assert_eq!(layers[0].1, s.clone().into());
    let bytes = std::fs::read(&path).unwrap();
    let file = sparse24::io::SparseFile::parse(&bytes).unwrap();
    assert_eq!(file.metadata()["method"], "learned");
    let (_, shape, bits) = file
        .tensor("encoder.layer.0.attention.self.query.keep_bits")
        .unwrap();
    assert_eq!(shape, [32, 16]);
    assert_eq!(bits.len(), 32 * 16);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--methods` takes every method of `sparse24::methods`, with or without `+refit`;
/// unknown or repeated names are refused before anything is read, and each method
/// gets its own output file (the learned masks `--out`, the others a sibling).
#[test]
fn methods_are_chosen_and_checked_before_anything_is_read() {
    let a = parse(&[]).unwrap();
    let cfg = a.config().unwrap();
    let labels: Vec<String> = a.recipes(&cfg).unwrap().iter().map(|r| r.label()).collect();
    assert_eq!(labels, ["magnitude", "wanda", "learned"]);
    let a = parse(&[
        "--methods",
        "sparsegpt,wanda+refit,learned+refit,magnitude",
        "--out",
        "/tmp/x/m.safetensors",
    ])
    .unwrap();
    let recipes = a.recipes(&cfg).unwrap();
    let labels: Vec<String> = recipes.iter().map(|r| r.label()).collect();
    assert_eq!(
        labels,
        ["sparsegpt", "wanda+refit", "learned+refit", "magnitude"]
    );
    let outs = a.outputs(&recipes);
    assert_eq!(outs.len(), 5);
    // No plain `learned`: the first method takes --out.
    assert_eq!(outs[0].to_str().unwrap(), "/tmp/x/m.safetensors");
    assert_eq!(
        outs[1].to_str().unwrap(),
        "/tmp/x/m-wanda+refit.safetensors"
    );
    // Issue 20's methods by their names, with their papers' settings.
    let a = parse(&["--methods", "proximal,step,sr-ste,step+refit"]).unwrap();
    let recipes = a.recipes(&cfg).unwrap();
    let labels: Vec<String> = recipes.iter().map(|r| r.label()).collect();
    assert_eq!(labels, ["proximal", "step", "sr-ste", "step+refit"]);
    assert!(matches!(recipes[0].method, Method::Proximal(p) if p == ProximalConfig::default()));
    // The proximal schedule from the command line.
    let a = parse(&[
        "--methods",
        "proximal+refit",
        "--proximal-growth",
        "1.02",
        "--proximal-steps",
        "900",
    ])
    .unwrap();
    let want = ProximalConfig {
        strength_growth: 1.02,
        max_steps: 900,
        ..Default::default()
    };
    let got = a.recipes(&cfg).unwrap();
    assert!(matches!(got[0].method, Method::Proximal(p) if p == want));
    assert_eq!(got[0].label(), "proximal+refit");
    assert!(recipes.iter().all(|r| r.needs_calibration()));
    for bad in ["obs", "wanda,wanda", "sparsegpt+refit+refit", ""] {
        let a = parse(&["--method", bad]).unwrap();
        assert!(a.recipes(&cfg).is_err(), "{bad:?}");
    }
}

#[test]
fn held_out_activations_are_optional_and_named_by_flag() {
    assert_eq!(parse(&[]).unwrap().held_out, None);
    let a = parse(&["--held-out", "h.safetensors", "--acts", "c.safetensors"]).unwrap();
    assert_eq!(
        a.held_out.as_deref(),
        Some(std::path::Path::new("h.safetensors"))
    );
    assert_eq!(a.acts, std::path::PathBuf::from("c.safetensors"));
    assert!(parse(&["--held-out"]).is_err());
}
