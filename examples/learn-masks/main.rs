//! Learns 2:4 masks (MaskLLM) for the linear layers of all-MiniLM-L6-v2 on the
//! committed calibration activations, and compares them with magnitude and Wanda.
//!
//!   scripts/minilm/fetch-minilm.sh
//!   cargo run --release --example learn-masks -- [--layers REGEX] [--steps N]
//!       [--out masks.safetensors] [--plot loss.svg]
//!   scripts/minilm/minilm.sh eval target/learn-masks/masks*.safetensors
//!
//! Prints progress and a per-layer table (relative squared reconstruction error
//! ‖X·Wᵀ − X·(W⊙M)ᵀ‖²/‖X·Wᵀ‖² on the calibration tokens), writes the compressed
//! layers of each method in the sparse24 format (`sparse24::io::load` reads them; the
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
use sparse24::learn::{self, Calibration, LearnConfig, Learned, MaskLearner};
use sparse24::{prune, Mask24, Sparse24};
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
    magnitude: f64,
    wanda: f64,
    learned: Learned,
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
    for p in a.outputs() {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        check_target(&p, &[&a.model.join("model.safetensors"), &a.acts])
            .map_err(|e| e.to_string())?;
    }
    let model_path = a.model.join("model.safetensors");
    let model =
        read(&model_path).map_err(|e| format!("{e}\n(run scripts/minilm/fetch-minilm.sh)"))?;
    let acts = read(&a.acts)?;
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
    let mut rows = Vec::new();
    let (mut t_mag, mut t_wanda, mut t_learned) = (
        output::Method::default(),
        output::Method::default(),
        output::Method::default(),
    );
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
        let calib = &calibs[act];
        let err = |e: sparse24::Error| format!("{name}: {e}");
        let damped = calib.damped(a.damping).map_err(err)?;
        let learner = MaskLearner::new(&w.data, w.rows, w.cols, &damped, cfg.clone())
            .map_err(err)?
            .with_label(
                name.trim_start_matches("encoder.")
                    .trim_end_matches(".weight"),
            );
        let mag_mask = prune::magnitude_mask(&w.data, w.rows, w.cols).map_err(err)?;
        let wanda_mask = prune::wanda_mask(&w.data, w.rows, w.cols, calib.norms()).map_err(err)?;
        // Errors are always reported on the undamped calibration statistics.
        let judge = MaskLearner::new(&w.data, w.rows, w.cols, calib, cfg.clone()).map_err(err)?;
        let magnitude = judge.mask_loss(&mag_mask).map_err(err)?;
        let wanda = judge.mask_loss(&wanda_mask).map_err(err)?;
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
        let mut learned = match &gpu {
            Some((exec, _)) => learner.run_on(exec, progress),
            None => learner.run(progress),
        }
        .map_err(err)?;
        learned.best_loss = judge.mask_loss(&learned.mask).map_err(err)?;
        learned.prior_loss = judge.mask_loss(learner.prior_mask()).map_err(err)?;
        println!(
            "{name}: magnitude {magnitude:.5}  Wanda {wanda:.5}  learned {:.5}  ({:+.1}% vs Wanda, {:.2} s)",
            learned.best_loss,
            100.0 * (learned.best_loss / wanda - 1.0),
            learned.seconds
        );
        let s = |m: &Mask24| Sparse24::compress_masked(&w.data, m).map_err(err);
        output::add_layer(&mut t_mag, name, &s(&mag_mask)?, &mag_mask);
        output::add_layer(&mut t_wanda, name, &s(&wanda_mask)?, &wanda_mask);
        output::add_layer(
            &mut t_learned,
            name,
            &learned.compress(&w.data).map_err(err)?,
            &learned.mask,
        );
        rows.push(Row {
            name: name.clone(),
            shape: (w.rows, w.cols),
            magnitude,
            wanda,
            learned,
        });
    }
    output::write(&a.out, &t_learned, "learned")?;
    output::write(&output::sibling(&a.out, "magnitude"), &t_mag, "magnitude")?;
    output::write(&output::sibling(&a.out, "wanda"), &t_wanda, "wanda")?;
    print_table(&rows, &cfg);
    let curves: Vec<svg::Curve> = rows
        .iter()
        .map(|r| svg::Curve {
            label: r
                .name
                .trim_start_matches("encoder.")
                .trim_end_matches(".weight")
                .into(),
            points: r
                .learned
                .curve
                .iter()
                .map(|p| (p.step, p.soft_loss / r.wanda))
                .collect(),
        })
        .collect();
    let title = format!(
        "MaskLLM on all-MiniLM-L6-v2: soft loss / Wanda loss ({} steps, {path})",
        cfg.steps
    );
    sparse24::io::atomic::write_file(&a.plot, svg::render(&title, &curves).as_bytes())
        .map_err(|e| format!("{}: {e}", a.plot.display()))?;
    println!(
        "wrote {} (+ -magnitude, -wanda) and {}; total {:.1} s",
        a.out.display(),
        a.plot.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn print_table(rows: &[Row], cfg: &LearnConfig) {
    println!(
        "\nrelative squared reconstruction error ‖XWᵀ − X(W⊙M)ᵀ‖²/‖XWᵀ‖² on the calibration tokens"
    );
    println!("| layer | shape | magnitude | Wanda | learned | learned vs Wanda | best step | steps | s | ms/step |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let (mut sm, mut sw, mut sl) = (0.0, 0.0, 0.0);
    for r in rows {
        let best = r
            .learned
            .best_step
            .map_or("prior".into(), |s| (s + 1).to_string());
        println!(
            "| {} | {}×{} | {:.4} | {:.4} | {:.4} | {:+.1}% | {} | {} | {:.2} | {:.2} |",
            r.name
                .trim_start_matches("encoder.")
                .trim_end_matches(".weight"),
            r.shape.0,
            r.shape.1,
            r.magnitude,
            r.wanda,
            r.learned.best_loss,
            100.0 * (r.learned.best_loss / r.wanda - 1.0),
            best,
            cfg.steps,
            r.learned.seconds,
            1e3 * r.learned.secs_per_step()
        );
        sm += r.magnitude;
        sw += r.wanda;
        sl += r.learned.best_loss;
    }
    let n = rows.len() as f64;
    println!(
        "| mean of {} layers | | {:.4} | {:.4} | {:.4} | {:+.1}% | | | | |",
        rows.len(),
        sm / n,
        sw / n,
        sl / n,
        100.0 * (sl / sw - 1.0)
    );
}
