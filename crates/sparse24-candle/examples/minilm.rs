//! all-MiniLM-L6-v2 sentence embeddings in candle with the 36 linear layers of its
//! encoder replaced by sparse24 2:4-sparse layers, beside the dense model.
//!
//! ```sh
//! model=$(scripts/minilm/fetch-minilm.sh)
//! cargo run --release -p sparse24-candle --example minilm -- --model $model
//! # layers from a sparse24 file written by the prune tool:
//! cargo run --release --example prune -- $model/model.safetensors /tmp/minilm-2of4.safetensors --method magnitude
//! cargo run --release -p sparse24-candle --example minilm -- --model $model \
//!     --sparse /tmp/minilm-2of4.safetensors "A sentence." "Another one."
//! # on a GPU (bf16 layers, sparse24's kernels on candle's stream):
//! cargo run --release -p sparse24-candle --features cuda --example minilm -- --model $model --cuda
//! ```
//!
//! Without `--sparse`, the layers are pruned in memory by magnitude. Prints, per
//! sentence, the cosine between the sparse model's embedding and the unpruned
//! model's, the sparse model's similarity matrix, and the forward times.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use sparse24::linear::Pruning;
use sparse24_candle::bert::{Bert, BertConfig, LinearLayer};
use sparse24_candle::{SparseCheckpoint, SparseLinear, WordPiece};

type Error = Box<dyn std::error::Error>;

struct Args {
    model: PathBuf,
    sparse: Option<PathBuf>,
    cuda: bool,
    sentences: Vec<String>,
}

const USAGE: &str = "usage: minilm --model DIR [--sparse FILE] [--cuda] [SENTENCE...]";

fn parse_args() -> Result<Args, Error> {
    let mut model = std::env::var_os("SPARSE24_MINILM_DIR").map(|d| PathBuf::from(d).join("model"));
    let (mut sparse, mut cuda, mut sentences) = (None, false, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = Some(args.next().ok_or(USAGE)?.into()),
            "--sparse" => sparse = Some(args.next().ok_or(USAGE)?.into()),
            "--cuda" => cuda = true,
            "-h" | "--help" => return Err(USAGE.into()),
            _ if a.starts_with("--") => return Err(format!("unknown option {a}\n{USAGE}").into()),
            _ => sentences.push(a),
        }
    }
    if sentences.is_empty() {
        sentences = [
            "A man is playing a guitar.",
            "Someone plays an acoustic guitar on stage.",
            "The stock market fell sharply on Monday.",
            "Share prices dropped steeply at the start of the week.",
            "Two dogs run through a snowy field.",
        ]
        .map(String::from)
        .to_vec();
    }
    Ok(Args {
        model: model.ok_or(USAGE)?,
        sparse,
        cuda,
        sentences,
    })
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let (device, dtype) = if args.cuda {
        // The kernels take f16/bf16 layers; the whole model runs in bf16.
        (Device::new_cuda(0)?, DType::BF16)
    } else {
        (Device::Cpu, DType::F32)
    };
    let cfg = BertConfig::from_json(&std::fs::read_to_string(args.model.join("config.json"))?)?;
    let tok = WordPiece::from_file(args.model.join("tokenizer.json"))?;
    let to = |m: HashMap<String, Tensor>| -> candle_core::Result<HashMap<String, Tensor>> {
        m.into_iter()
            .map(|(n, t)| {
                let t = if t.dtype().is_float() {
                    t.to_dtype(dtype)?
                } else {
                    t
                };
                Ok((n, t.to_device(&device)?))
            })
            .collect()
    };
    let tensors = to(candle_core::safetensors::load(
        args.model.join("model.safetensors"),
        &Device::Cpu,
    )?)?;

    let t = Instant::now();
    let sparse = match &args.sparse {
        Some(file) => {
            let ckpt = SparseCheckpoint::load(file, &Device::Cpu)?;
            let dense = to(ckpt.tensors().clone())?;
            Bert::new(cfg.clone(), &dense, &mut |name, act| {
                Ok(Box::new(ckpt.linear(name, act)?.to_dtype(dtype)?) as LinearLayer)
            })?
        }
        None => Bert::new(cfg.clone(), &tensors, &mut |name, act| {
            let w = &tensors[&format!("{name}.weight")];
            let b = tensors.get(&format!("{name}.bias"));
            Ok(Box::new(SparseLinear::prune(w, b, Pruning::Magnitude, act)?) as LinearLayer)
        })?,
    };
    println!(
        "sparse model built in {:.0} ms ({} layers {})",
        t.elapsed().as_secs_f64() * 1e3,
        cfg.linear_layers().len(),
        match &args.sparse {
            Some(f) => format!("from {}", f.display()),
            None => "pruned by magnitude".into(),
        }
    );
    let dense = Bert::dense(cfg, &tensors)?;

    let ids: Vec<Vec<u32>> = args.sentences.iter().map(|s| tok.encode(s)).collect();
    let run = |m: &Bert, what: &str| -> candle_core::Result<Tensor> {
        m.embed(&ids)?; // warm-up (on a GPU: uploads, kernel loads)
        let t = Instant::now();
        let e = m.embed(&ids)?;
        println!(
            "{what}: {:.1} ms per batch of {}",
            t.elapsed().as_secs_f64() * 1e3,
            ids.len()
        );
        Ok(e)
    };
    let e_sparse = run(&sparse, "sparse24 layers")?;
    let e_dense = run(&dense, "candle dense (unpruned)")?;

    let agree = (&e_sparse * &e_dense)?.sum(1)?.to_vec1::<f32>()?;
    println!("\ncosine(sparse, unpruned) per sentence:");
    for (s, c) in args.sentences.iter().zip(&agree) {
        println!("  {c:.4}  {s}");
    }
    println!("\nsimilarity matrix, sparse model:");
    let sim: Vec<Vec<f32>> = e_sparse.matmul(&e_sparse.t()?)?.to_vec2()?;
    for row in sim {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:6.3}")).collect();
        println!("  {}", cells.join(" "));
    }
    Ok(())
}
