//! Learns 2:4 masks (MaskLLM) for the linear layers of all-MiniLM-L6-v2 on the
//! committed calibration activations, and compares them with the other methods of
//! `sparse24::methods` (magnitude, Wanda, SparseGPT, proximal, SR-STE, STEP, each
//! optionally refit).
//!
//!   scripts/minilm/fetch-minilm.sh
//!   cargo run --release --features learn --example learn-masks -- [--methods LIST]
//!       [--layers REGEX] [--steps N] [--out masks.safetensors] [--plot loss.svg]
//!   scripts/minilm/minilm.sh eval target/learn-masks/masks*.safetensors
//!
//! Prints progress and a per-layer table (relative squared reconstruction error
//! ‖X·Wᵀ − X·W₂:₄ᵀ‖²/‖X·Wᵀ‖² on the calibration tokens and, with `--held-out`, on
//! held-out tokens; W₂:₄ the method's pruned and,
//! for SparseGPT and refits, updated weights; the best method per layer; time per
//! layer), writes the compressed layers of each method in the sparse24 format (`sparse24::io::load` reads them; the
//! keep bits per group ride along as `<module>.keep_bits`) and an SVG of the loss
//! curves. Every argument is checked before the model is read; files are written
//! atomically.

mod args;
mod output;
mod svg;

use args::Device;
use regex::Regex;
use sparse24::cuda::{CodeChoice, CudaExecutor};
use sparse24::io::atomic::check_target;
use sparse24::launch::Executor;
use sparse24::learn::{self, Calibration, Learned, MaskLearner};
use sparse24::methods::{self, Method, Pruned, Recipe};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// The linear layers of a block and the activation that feeds each (bert.py).
const LINEARS: [(&str, &str); 6] = [
    ("attention.self.query", "attn_in"),
    ("attention.self.key", "attn_in"),
    ("attention.self.value", "attn_in"),
    ("attention.output.dense", "attn_out_in"),
    ("intermediate.dense", "inter_in"),
    ("output.dense", "out_in"),
];

type Res<T> = Result<T, String>;

fn read(path: &Path) -> Res<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

struct Row {
    name: String,
    shape: (usize, usize),
    /// Per recipe, in `--methods` order: the error on the calibration tokens, on
    /// the held-out tokens (empty without `--held-out`), and the seconds the method
    /// took on this layer.
    errors: Vec<f64>,
    held_out: Vec<f64>,
    seconds: Vec<f64>,
    /// The learner's run, when `learned` is among the methods.
    learned: Option<Learned>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("learn-masks: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let a = args::parse(std::env::args().skip(1))?;
    let filter = Regex::new(&a.layers).map_err(|e| format!("--layers: {e}"))?;
    // Every argument is checked before the model is read or a device is opened.
    let cfg = a.config()?;
    let recipes = a.recipes(&cfg)?;
    let learns = recipes
        .iter()
        .any(|r| matches!(r.method, Method::Learned(_)));
    for p in a.outputs(&recipes) {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mut inputs = vec![a.model.join("model.safetensors"), a.acts.clone()];
        inputs.extend(a.held_out.clone());
        let inputs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
        check_target(&p, &inputs).map_err(|e| e.to_string())?;
    }
    let model_path = a.model.join("model.safetensors");
    let model =
        read(&model_path).map_err(|e| format!("{e}\n(run scripts/minilm/fetch-minilm.sh)"))?;
    let acts = read(&a.acts).map_err(|e| format!("{e}\n(run scripts/minilm/minilm.sh capture)"))?;
    let held_acts = a.held_out.as_deref().map(read).transpose()?;
    let gpu = match (a.device, sparse24::cuda::context()) {
        (Device::Cpu, _) => None,
        (_, Ok(ctx)) => Some((
            CudaExecutor::new(CodeChoice::Fatbin).map_err(|e| e.to_string())?,
            ctx,
        )),
        (Device::Gpu, Err(e)) => return Err(format!("--device gpu: {e}")),
        (Device::Auto, Err(_)) => None,
    };
    let path = match &gpu {
        Some((exec, ctx)) => {
            let name = ctx.name().unwrap_or_else(|_| "CUDA device".into());
            let gram = if exec.dense_f32_gemm().is_some() {
                "cuBLASLt"
            } else {
                sparse24::kernels::learn::LEARN_GRAM_PRODUCT.name
            };
            println!("learn-masks: GPU path on {name} (D·G on {gram}, fused mask kernels)");
            "GPU"
        }
        None => {
            let why = if a.device == Device::Cpu {
                "--device cpu"
            } else {
                "no CUDA device"
            };
            println!(
                "learn-masks: CPU path ({why}); {} rayon threads",
                rayon::current_num_threads()
            );
            "CPU"
        }
    };
    println!("Gram damping {} (0 = plain MaskLLM objective)", a.damping);
    println!(
        "steps {}, tau {}→{}, kappa {}→{}, prior {:?} ×{}, lambda {}, Adam lr {}, seed {:#x}, eval every {}",
        cfg.steps,
        cfg.tau.start,
        cfg.tau.end,
        cfg.kappa.start,
        cfg.kappa.end,
        cfg.prior,
        cfg.prior_strength,
        cfg.lambda,
        cfg.adam.lr,
        cfg.seed,
        cfg.eval_every
    );
    let names: Vec<(String, String)> = (0..6)
        .flat_map(|b| {
            LINEARS.iter().map(move |(l, act)| {
                (
                    format!("encoder.layer.{b}.{l}.weight"),
                    format!("{b}.{act}"),
                )
            })
        })
        .filter(|(n, _)| filter.is_match(n))
        .collect();
    if names.is_empty() {
        return Err(format!("no layer matches {:?}", a.layers));
    }
    let mut calibs: HashMap<String, Calibration> = HashMap::new();
    let mut held_calibs: HashMap<String, Calibration> = HashMap::new();
    let mut rows = Vec::new();
    let mut files: Vec<output::Method> = recipes.iter().map(|_| Default::default()).collect();
    let start = Instant::now();
    let report = (a.steps / 10).max(1);
    for (name, act) in &names {
        let w = learn::read_matrix(&model, name).map_err(|e| e.to_string())?;
        if !calibs.contains_key(act) {
            let x = learn::read_matrix(&acts, act).map_err(|e| e.to_string())?;
            let c = Calibration::from_activations(&x.data, x.rows, x.cols)
                .map_err(|e| format!("{act}: {e}"))?;
            calibs.insert(act.clone(), c);
        }
        if let Some(bytes) = &held_acts {
            if !held_calibs.contains_key(act) {
                let x = learn::read_matrix(bytes, act).map_err(|e| format!("--held-out: {e}"))?;
                let c = Calibration::from_activations(&x.data, x.rows, x.cols)
                    .map_err(|e| format!("--held-out {act}: {e}"))?;
                held_calibs.insert(act.clone(), c);
            }
        }
        let calib = &calibs[act];
        let held = held_calibs.get(act);
        let err = |e: sparse24::Error| format!("{name}: {e}");
        let learned = if learns {
            Some(learn_layer(
                &a,
                &cfg,
                name,
                &w,
                calib,
                gpu.as_ref().map(|g| &g.0),
                report,
            )?)
        } else {
            None
        };
        let mut row = Row {
            name: name.clone(),
            shape: (w.rows, w.cols),
            errors: Vec::new(),
            held_out: Vec::new(),
            seconds: Vec::new(),
            learned,
        };
        for (k, recipe) in recipes.iter().enumerate() {
            let t = Instant::now();
            // Errors are always reported on the undamped calibration statistics.
            let pruned = match (&recipe.method, &row.learned) {
                (Method::Learned(_), Some(l)) => {
                    let p = Pruned::masked(l.mask.clone(), &w.data).map_err(err)?;
                    match &recipe.refit {
                        Some(rc) => methods::refit(&w.data, &p.mask, calib, rc, |_| {}),
                        None => Ok(p),
                    }
                }
                // SparseGPT's row sweep on the GPU where there is one.
                _ => match &gpu {
                    Some((exec, _)) => methods::prune_layer_on(
                        exec,
                        recipe,
                        &w.data,
                        w.rows,
                        w.cols,
                        Some(calib),
                        |_| {},
                    ),
                    None => {
                        methods::prune_layer(recipe, &w.data, w.rows, w.cols, Some(calib), |_| {})
                    }
                },
            }
            .map_err(err)?;
            let mut secs = t.elapsed().as_secs_f64();
            if let (Method::Learned(_), Some(l)) = (&recipe.method, &row.learned) {
                secs += l.seconds;
            }
            row.errors.push(pruned.error(&w.data, calib).map_err(err)?);
            if let Some(h) = held {
                row.held_out.push(pruned.error(&w.data, h).map_err(err)?);
            }
            row.seconds.push(secs);
            let s = pruned.compress::<f32>().map_err(err)?;
            output::add_layer(&mut files[k], name, &s, &pruned.mask);
        }
        println!(
            "{name}: {}",
            recipes
                .iter()
                .enumerate()
                .map(|(k, r)| match row.held_out.get(k) {
                    Some(h) => format!("{} {:.5}/{h:.5}", r.label(), row.errors[k]),
                    None => format!("{} {:.5}", r.label(), row.errors[k]),
                })
                .collect::<Vec<_>>()
                .join("  ")
        );
        rows.push(row);
    }
    for (recipe, file) in recipes.iter().zip(&files) {
        output::write(
            &a.output_of(&recipes, &recipe.label()),
            file,
            &recipe.label(),
        )?;
    }
    print_table(&rows, &recipes);
    if !learns {
        println!(
            "wrote {} method file(s) beside {}; total {:.1} s",
            recipes.len(),
            a.out.display(),
            start.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let curves: Vec<svg::Curve> = rows
        .iter()
        .filter_map(|r| r.learned.as_ref().map(|l| (r, l)))
        .map(|(r, l)| svg::Curve {
            label: r
                .name
                .trim_start_matches("encoder.")
                .trim_end_matches(".weight")
                .into(),
            points: l
                .curve
                .iter()
                .map(|p| (p.step, p.soft_loss / l.prior_loss))
                .collect(),
        })
        .collect();
    let title = format!(
        "MaskLLM on all-MiniLM-L6-v2: soft loss / prior mask's loss ({} steps, {path})",
        cfg.steps
    );
    sparse24::io::atomic::write_file(&a.plot, svg::render(&title, &curves).as_bytes())
        .map_err(|e| format!("{}: {e}", a.plot.display()))?;
    println!(
        "wrote {} (+ one sibling per other method) and {}; total {:.1} s",
        a.out.display(),
        a.plot.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The learner on one layer (on the GPU when there is one), with progress; its
/// losses are re-evaluated on the undamped statistics.
fn learn_layer(
    a: &args::Args,
    cfg: &sparse24::learn::LearnConfig,
    name: &str,
    w: &learn::Matrix,
    calib: &Calibration,
    gpu: Option<&CudaExecutor>,
    report: usize,
) -> Res<Learned> {
    let err = |e: sparse24::Error| format!("{name}: {e}");
    let damped = calib.damped(a.damping).map_err(err)?;
    let learner = MaskLearner::new(&w.data, w.rows, w.cols, &damped, cfg.clone())
        .map_err(err)?
        .with_label(
            name.trim_start_matches("encoder.")
                .trim_end_matches(".weight"),
        );
    let progress = |p: &learn::Progress| {
        if !a.quiet && ((p.step + 1).is_multiple_of(report) || p.step == 0) {
            println!(
                "  {:<32} step {:>4}/{} loss {:.5} tau {:.3} kappa {:.0} best hard {:.5} ({:.1} ms/step)",
                p.layer,
                p.step + 1,
                p.steps,
                p.point.soft_loss,
                p.point.tau,
                p.point.kappa,
                p.best_loss,
                1e3 * p.secs_per_step
            );
        }
    };
    let mut learned = match gpu {
        Some(exec) => learner.run_on(exec, progress),
        None => learner.run(progress),
    }
    .map_err(err)?;
    let judge = MaskLearner::new(&w.data, w.rows, w.cols, calib, cfg.clone()).map_err(err)?;
    learned.best_loss = judge.mask_loss(&learned.mask).map_err(err)?;
    learned.prior_loss = judge.mask_loss(learner.prior_mask()).map_err(err)?;
    Ok(learned)
}

/// The index of the smallest error (the first on a tie).
fn best_of(errors: &[f64]) -> usize {
    (0..errors.len())
        .min_by(|&i, &j| errors[i].total_cmp(&errors[j]))
        .unwrap_or(0)
}

/// One markdown table: per layer and recipe the in-sample error (and, with
/// `--held-out`, "in-sample / held-out"), the best recipe; then the means, the
/// number of layers each recipe is best on, and the seconds per layer.
fn print_table(rows: &[Row], recipes: &[Recipe]) {
    let held = rows.iter().all(|r| r.held_out.len() == recipes.len()) && !rows.is_empty();
    if held {
        println!(
            "\nrelative squared error ‖XWᵀ − XW₂:₄ᵀ‖²/‖XWᵀ‖², in-sample (calibration tokens) / \
             held-out (--held-out tokens); best = lowest held-out"
        );
    } else {
        println!(
            "\nrelative squared reconstruction error ‖XWᵀ − XW₂:₄ᵀ‖²/‖XWᵀ‖² on the calibration tokens"
        );
    }
    let labels: Vec<String> = recipes.iter().map(|r| r.label()).collect();
    println!("| layer | shape | {} | best |", labels.join(" | "));
    println!("|---|---|{}---|", "---|".repeat(labels.len()));
    let n = recipes.len();
    let (mut sum, mut sum_held, mut secs) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let (mut wins, mut wins_held) = (vec![0usize; n], vec![0usize; n]);
    for r in rows {
        wins[best_of(&r.errors)] += 1;
        let best = if held {
            let b = best_of(&r.held_out);
            wins_held[b] += 1;
            b
        } else {
            best_of(&r.errors)
        };
        for k in 0..n {
            sum[k] += r.errors[k];
            secs[k] += r.seconds[k];
            if held {
                sum_held[k] += r.held_out[k];
            }
        }
        let cells: Vec<String> = (0..n)
            .map(|k| match held {
                true => format!("{:.4} / {:.4}", r.errors[k], r.held_out[k]),
                false => format!("{:.4}", r.errors[k]),
            })
            .collect();
        println!(
            "| {} | {}×{} | {} | {} |",
            r.name
                .trim_start_matches("encoder.")
                .trim_end_matches(".weight"),
            r.shape.0,
            r.shape.1,
            cells.join(" | "),
            labels[best]
        );
    }
    let m = rows.len().max(1) as f64;
    let row = |what: String, cells: Vec<String>| println!("| {what} | | {} | |", cells.join(" | "));
    row(
        format!("mean of {} layers", rows.len()),
        (0..n)
            .map(|k| match held {
                true => format!("{:.4} / {:.4}", sum[k] / m, sum_held[k] / m),
                false => format!("{:.4}", sum[k] / m),
            })
            .collect(),
    );
    row(
        "best in-sample on (layers)".into(),
        wins.iter().map(|w| w.to_string()).collect(),
    );
    if held {
        row(
            "best held-out on (layers)".into(),
            wins_held.iter().map(|w| w.to_string()).collect(),
        );
    }
    row(
        "seconds per layer".into(),
        secs.iter().map(|s| format!("{:.2}", s / m)).collect(),
    );
}
