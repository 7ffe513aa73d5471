//! Prunes every 2-D linear weight of a safetensors checkpoint to 2:4 and writes the
//! compressed layers (sparse24 format, src/io) with every other tensor copied through.
//!
//! ```text
//! cargo run --release --example prune -- IN.safetensors OUT.safetensors \
//!     --method magnitude|wanda|sparsegpt|learned|proximal|sr-ste|step [--refit] [--calib calib.safetensors] \
//!     [--skip REGEX] [--dtype f32|f16|bf16] [--saturate] [--no-default-skip] [--quiet]
//! ```
//! - Methods ([`sparse24::methods`]): `magnitude`, `wanda` (|w|·‖x‖), `sparsegpt`
//!   (SparseGPT's mask and weight update, the paper's settings), `learned` (the
//!   MaskLLM-style learner, default settings, on the CPU), `proximal` (Kübler et al.'s
//!   2:4 proximal operator, then its refit), `sr-ste` and `step` (STEP's Adam-aware
//!   mask learning), each with its defaults; `--refit` re-solves the kept
//!   weights of any method's mask by least squares on the calibration activations.
//!   Every method but `magnitude`/`wanda`, and `--refit`, needs the `learn` feature
//!   (`cargo run --release --features learn --example prune -- ...`).
//! - `--dtype`: write the compressed layers in this element type (the GPU GEMM takes
//!   f16/bf16); default: each layer's stored type. The statistics compare the written
//!   2:4 weights with the stored dense ones, so they include the rounding. A weight
//!   beyond the type's range (|w| > 65504 for f16) would become ±Inf: the run is refused
//!   before anything is written, naming every such layer and its count, unless
//!   `--saturate` clamps those weights to the type's largest finite value (counted in
//!   the table). NaN or ±Inf in a weight is always refused.
//! - Safe writes: the output is written to a fresh temporary file beside it, fsynced
//!   and renamed over OUT only when complete ([`sparse24::io::atomic`]); OUT may not be
//!   the input or the calibration file, nor a directory (checked before any work).
//! - Re-pruning a file the tool wrote keeps its compressed layers (validated, checksums
//!   verified) and lists them in the new header next to the newly pruned ones.
//! - Pruned: 2-D f32/f16/bf16 tensors whose name ends in `weight`, with `in` a
//!   multiple of 16, unless the name matches the default skip pattern
//!   ([`DEFAULT_SKIP`]: embeddings, LM head) or `--skip REGEX`.
//! - Every method but `magnitude` needs `--calib`: a safetensors file with, per layer,
//!   a tensor named like the weight (`...q.weight`) or its module (`...q`): 2-D
//!   activations [tokens, in] (any method), or, for `wanda` alone, a 1-D tensor of
//!   `in` activation norms ‖x_j‖₂. With activations the table adds each layer's
//!   relative output error on them (`calib.err`: ‖X·Wᵀ − X·W₂:₄ᵀ‖² / ‖X·Wᵀ‖²).
//! - Streams: the input is memory-mapped, the output's header is written first and
//!   each tensor after it, so only one dense layer (plus the small metadata of the
//!   layers done) is in memory at a time.
//! - Prints a per-layer table (shape, method, fraction of Σ|W| kept, relative
//!   Frobenius error ‖W − W₂:₄‖/‖W‖, error on the calibration activations, time) and
//!   totals (bytes before/after); long methods show their progress per layer.

use indicatif::{ProgressBar, ProgressStyle};
use regex::Regex;
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::SafeTensors;
use sparse24::io::atomic::{check_target, AtomicFile};
use sparse24::io::header::{LayerHeader, METADATA_KEY};
use sparse24::io::reader::dense_to_f32;
use sparse24::io::{dtype_of, meta_name, values_name, SparseFile, SparseFileWriter, TensorSpec};
use sparse24::{bf16, f16, prune, DType, Element, Mask24, Sparse24};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::error::Error;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Names skipped by default: embeddings and the LM head.
pub const DEFAULT_SKIP: &str = r"(?i)(embed|lm_head|wte|wpe)";

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Magnitude,
    Wanda,
    SparseGpt,
    Learned,
    Proximal,
    SrSte,
    Step,
}

impl Method {
    const NAMES: &'static str = "magnitude|wanda|sparsegpt|learned|proximal|sr-ste|step";

    fn name(self) -> &'static str {
        match self {
            Method::Magnitude => "magnitude",
            Method::Wanda => "wanda",
            Method::SparseGpt => "sparsegpt",
            Method::Learned => "learned",
            Method::Proximal => "proximal",
            Method::SrSte => "sr-ste",
            Method::Step => "step",
        }
    }

    fn from_name(name: &str) -> Option<Method> {
        [
            Method::Magnitude,
            Method::Wanda,
            Method::SparseGpt,
            Method::Learned,
            Method::Proximal,
            Method::SrSte,
            Method::Step,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }

    /// Whether the method reads activations (not norms alone).
    fn needs_activations(self) -> bool {
        !matches!(self, Method::Magnitude | Method::Wanda)
    }
}

/// `method` or `method+refit`.
fn label(method: Method, refit: bool) -> String {
    if refit {
        format!("{}+refit", method.name())
    } else {
        method.name().to_string()
    }
}

#[derive(Debug)]
pub struct Args {
    pub input: PathBuf,
    pub output: PathBuf,
    pub method: Method,
    /// Refit the kept weights by least squares on the calibration activations.
    pub refit: bool,
    pub calib: Option<PathBuf>,
    /// Element type of the compressed layers (default: each layer's own).
    pub dtype: Option<DType>,
    pub skip: Vec<Regex>,
    /// Clamp weights beyond the output type's range instead of refusing the run.
    pub saturate: bool,
    pub quiet: bool,
}

const USAGE: &str = "usage: prune IN.safetensors OUT.safetensors \
                     --method magnitude|wanda|sparsegpt|learned|proximal|sr-ste|step [--refit] \
                     [--calib calib.safetensors] [--dtype f32|f16|bf16] [--saturate] \
                     [--skip REGEX] [--no-default-skip] [--quiet]";

pub fn parse_args(args: &[String]) -> Result<Args, Box<dyn Error>> {
    let mut files = Vec::new();
    let mut method = None;
    let mut calib = None;
    let mut dtype = None;
    let mut skip = Vec::new();
    let mut default_skip = true;
    let mut quiet = false;
    let mut saturate = false;
    let mut refit = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--method" => {
                let v = value("--method")?;
                method = Some(Method::from_name(&v).ok_or_else(|| {
                    format!("unknown method {v:?} (expected {})\n{USAGE}", Method::NAMES)
                })?)
            }
            "--refit" => refit = true,
            "--calib" => calib = Some(PathBuf::from(value("--calib")?)),
            "--dtype" => {
                dtype = Some(match value("--dtype")?.as_str() {
                    "f32" => DType::F32,
                    "f16" => DType::F16,
                    "bf16" => DType::BF16,
                    other => return Err(format!("unknown dtype {other:?}\n{USAGE}").into()),
                })
            }
            "--skip" => {
                let r = value("--skip")?;
                skip.push(Regex::new(&r).map_err(|e| format!("--skip {r:?}: {e}"))?);
            }
            "--no-default-skip" => default_skip = false,
            "--quiet" => quiet = true,
            "--saturate" => saturate = true,
            "-h" | "--help" => return Err(USAGE.into()),
            f if f.starts_with("--") => return Err(format!("unknown flag {f}\n{USAGE}").into()),
            f => files.push(PathBuf::from(f)),
        }
    }
    let [input, output]: [PathBuf; 2] = files
        .try_into()
        .map_err(|_| format!("expected IN and OUT files\n{USAGE}"))?;
    let method = method.ok_or_else(|| format!("--method is required\n{USAGE}"))?;
    if method == Method::Wanda && calib.is_none() {
        return Err("--method wanda needs --calib norms.safetensors".into());
    }
    if (method.needs_activations() || refit) && calib.is_none() {
        return Err(format!(
            "{} needs --calib with activations [tokens, in] per layer",
            label(method, refit)
        )
        .into());
    }
    if (method.needs_activations() || refit) && !cfg!(feature = "learn") {
        return Err(format!(
            "{} needs the `learn` feature: cargo run --release --features learn --example prune",
            label(method, refit)
        )
        .into());
    }
    if default_skip {
        skip.push(Regex::new(DEFAULT_SKIP)?);
    }
    Ok(Args {
        input,
        output,
        method,
        refit,
        calib,
        dtype,
        skip,
        saturate,
        quiet,
    })
}

/// One pruned layer's numbers.
#[derive(Clone, Debug)]
pub struct LayerReport {
    pub name: String,
    pub shape: (usize, usize),
    pub dtype: DType,
    pub method: Method,
    /// The kept weights were refit (`--refit`).
    pub refit: bool,
    /// Σ|kept w| / Σ|w|.
    pub kept_magnitude: f64,
    /// ‖W − pruned W‖_F / ‖W‖_F.
    pub rel_frobenius_error: f64,
    /// ‖X·Wᵀ − X·W₂:₄ᵀ‖² / ‖X·Wᵀ‖² on the calibration activations (when given).
    pub calib_error: Option<f64>,
    pub dense_bytes: usize,
    pub compressed_bytes: usize,
    /// Weights clamped to the output type's largest finite value (`--saturate`).
    pub saturated: usize,
    pub seconds: f64,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Summary {
    pub layers: Vec<LayerReport>,
    /// Compressed layers of the input kept as they were (re-pruning the tool's output).
    pub kept_layers: Vec<String>,
    /// Tensors copied unchanged (skipped or not linear weights).
    pub copied: Vec<String>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub seconds: f64,
}

fn map_file(path: &Path) -> Result<memmap2::Mmap, Box<dyn Error>> {
    let file = File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    // SAFETY: the file is only read; the tool's documentation asks not to modify
    // the input while it runs (the usual caveat of memory-mapped reading).
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| format!("memory-mapping {}: {e}", path.display()))?;
    Ok(map)
}

fn read_header(path: &Path, bytes: &[u8]) -> Result<(usize, Metadata), Box<dyn Error>> {
    SafeTensors::read_metadata(bytes)
        .map_err(|e| format!("{} is not a valid safetensors file: {e}", path.display()).into())
}

/// Whether a tensor is a linear weight the tool prunes.
fn prunable(name: &str, info: &TensorInfo, skip: &[Regex]) -> bool {
    name.ends_with("weight")
        && info.shape.len() == 2
        && info.shape[0] > 0
        && info.shape[1] > 0
        && info.shape[1].is_multiple_of(16)
        && dtype_of(info.dtype).is_some()
        && !skip.iter().any(|r| r.is_match(name))
}

/// What the calibration file holds for one layer.
pub enum CalibData {
    /// ‖x_j‖₂ per input channel (Wanda only).
    Norms(Vec<f32>),
    /// Activations [tokens, in].
    Activations { x: Vec<f32>, tokens: usize },
}

/// The calibration file, memory-mapped: each layer's entry is read when the layer is
/// pruned (activations of every layer of a large model need not fit in memory).
pub struct CalibFile {
    path: PathBuf,
    map: memmap2::Mmap,
}

impl CalibFile {
    /// Opens the file and checks, before any work, that every layer has an entry of
    /// a shape the method can use.
    fn open(
        path: &Path,
        layers: &[(String, usize)],
        needs_activations: bool,
    ) -> Result<CalibFile, Box<dyn Error>> {
        let calib = CalibFile {
            path: path.to_path_buf(),
            map: map_file(path)?,
        };
        let st = calib.tensors()?;
        for (name, cols) in layers {
            let (_, t) = calib.entry(&st, name)?;
            let ok = match t.shape() {
                [c] => *c == *cols && !needs_activations,
                [tokens, c] => *c == *cols && *tokens > 0,
                _ => false,
            };
            if !ok {
                let want = if needs_activations {
                    format!("[tokens, {cols}] activations")
                } else {
                    format!("[{cols}] norms or [tokens, {cols}] activations")
                };
                return Err(format!(
                    "{}: calibration for {name} has shape {:?}, expected {want}",
                    path.display(),
                    t.shape()
                )
                .into());
            }
        }
        Ok(calib)
    }

    fn tensors(&self) -> Result<SafeTensors<'_>, Box<dyn Error>> {
        SafeTensors::deserialize(&self.map).map_err(|e| {
            format!(
                "{} is not a valid safetensors file: {e}",
                self.path.display()
            )
            .into()
        })
    }

    fn entry<'a>(
        &self,
        st: &SafeTensors<'a>,
        name: &str,
    ) -> Result<(String, safetensors::tensor::TensorView<'a>), Box<dyn Error>> {
        let module = name.strip_suffix(".weight").unwrap_or(name);
        for key in [name, module] {
            if let Ok(t) = st.tensor(key) {
                return Ok((key.to_string(), t));
            }
        }
        Err(format!(
            "{}: no calibration for layer {name} (expected a tensor named {name:?} or \
             {module:?})",
            self.path.display()
        )
        .into())
    }

    /// The layer's entry, widened to f32 (shape checked by [`CalibFile::open`]).
    fn layer(&self, name: &str) -> Result<CalibData, Box<dyn Error>> {
        let st = self.tensors()?;
        let (key, t) = self.entry(&st, name)?;
        let data = dense_to_f32(&key, t.dtype(), t.data())?;
        Ok(match t.shape() {
            [_] => CalibData::Norms(data),
            shape => CalibData::Activations {
                x: data,
                tokens: shape[0],
            },
        })
    }
}

/// The compressed bytes of one layer and its report.
struct PrunedLayer {
    values: Vec<u8>,
    meta: Vec<u8>,
    report: LayerReport,
}

/// How one layer is pruned.
#[derive(Copy, Clone)]
struct Choice<'a> {
    method: Method,
    refit: bool,
    calib: Option<&'a CalibData>,
}

/// The mask and compressed layer of the chosen method, and the relative output
/// error on the calibration activations when there are any.
type Selected<T> = (Sparse24<T>, Option<f64>);

/// Magnitude or Wanda on norms: no calibration statistics needed.
fn select_simple<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    choice: Choice,
) -> sparse24::Result<Selected<T>> {
    let mask: Mask24 = match (choice.method, choice.calib) {
        (Method::Wanda, Some(CalibData::Norms(n))) => prune::wanda_mask(w, rows, cols, n)?,
        (Method::Wanda, Some(CalibData::Activations { x, tokens })) => {
            let n = prune::activation_norms(x, *tokens, cols)?;
            prune::wanda_mask(w, rows, cols, &n)?
        }
        _ => prune::magnitude_mask(w, rows, cols)?,
    };
    Ok((Sparse24::compress_masked(w, &mask)?, None))
}

/// Any method of [`sparse24::methods`]; with activations, also the output error.
#[cfg(feature = "learn")]
fn select<T: Element>(
    orig: &[f32],
    w: &[T],
    rows: usize,
    cols: usize,
    choice: Choice,
    on_progress: &dyn Fn(&str),
) -> sparse24::Result<Selected<T>> {
    use sparse24::learn::Calibration;
    use sparse24::methods::{self, Recipe, RefitConfig};
    let Some(CalibData::Activations { x, tokens }) = choice.calib else {
        return select_simple(w, rows, cols, choice);
    };
    let calib = Calibration::from_activations(x, *tokens, cols)?;
    let method = methods::Method::from_name(choice.method.name())?;
    let mut recipe = Recipe::new(method);
    if choice.refit {
        recipe = recipe.with_refit(RefitConfig::default());
    }
    let pruned = methods::prune_layer(&recipe, w, rows, cols, Some(&calib), |p| {
        on_progress(&format!("{} {}/{} {}", p.method, p.done, p.total, p.unit))
    })?;
    let err = pruned.error(orig, &calib)?;
    Ok((pruned.compress()?, Some(err)))
}

#[cfg(not(feature = "learn"))]
fn select<T: Element>(
    _orig: &[f32],
    w: &[T],
    rows: usize,
    cols: usize,
    choice: Choice,
    _on_progress: &dyn Fn(&str),
) -> sparse24::Result<Selected<T>> {
    select_simple(w, rows, cols, choice)
}

/// Prunes one layer of element type `T`.
fn prune_typed<T: Element>(
    name: &str,
    info: &TensorInfo,
    bytes: &[u8],
    choice: Choice,
    on_progress: &dyn Fn(&str),
) -> Result<PrunedLayer, Box<dyn Error>> {
    let start = Instant::now();
    let (rows, cols) = (info.shape[0], info.shape[1]);
    // The stored weights (exact for every source type) and, with --dtype, their
    // rounding to the output type; the statistics compare against the stored ones.
    let orig = dense_to_f32(name, info.dtype, bytes)?;
    let (w, saturated) = convert::<T>(&orig);
    let (s, calib_error) =
        select(&orig, &w, rows, cols, choice, on_progress).map_err(|e| format!("{name}: {e}"))?;
    let written = s.decompress();
    let (mut abs_all, mut abs_kept, mut sq_all, mut sq_err) = (0f64, 0f64, 0f64, 0f64);
    for (&o, k) in orig.iter().zip(&written) {
        let (o, k) = (o as f64, k.to_f64());
        abs_all += o.abs();
        abs_kept += k.abs();
        sq_all += o * o;
        sq_err += (o - k) * (o - k);
    }
    drop((orig, w, written));
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let report = LayerReport {
        name: name.to_string(),
        shape: (rows, cols),
        dtype: T::DTYPE,
        method: choice.method,
        refit: choice.refit,
        kept_magnitude: ratio(abs_kept, abs_all),
        rel_frobenius_error: ratio(sq_err, sq_all).sqrt(),
        calib_error,
        dense_bytes: bytes.len(),
        compressed_bytes: s.bytes(),
        saturated,
        seconds: start.elapsed().as_secs_f64(),
    };
    let values = bytemuck::cast_slice(s.values()).to_vec();
    let meta = bytemuck::cast_slice(s.metadata()).to_vec();
    Ok(PrunedLayer {
        values,
        meta,
        report,
    })
}

/// The largest finite value of an element type.
fn max_finite(d: DType) -> f32 {
    match d {
        DType::F32 => f32::MAX,
        DType::F16 => f16::MAX.to_f32(),
        DType::BF16 => bf16::MAX.to_f32(),
    }
}

/// Converts finite weights to `T`, clamping those beyond its range to ±max (only
/// reached with `--saturate`: [`scan_layers`] refuses such layers otherwise); returns
/// how many were clamped.
fn convert<T: Element>(orig: &[f32]) -> (Vec<T>, usize) {
    let max = T::from_f32(max_finite(T::DTYPE));
    let mut clamped = 0;
    let w = orig
        .iter()
        .map(|&v| {
            let t = T::from_f32(v);
            if t.to_f32().is_infinite() && v.is_finite() {
                clamped += 1;
                if v < 0.0 {
                    T::from_f32(-max.to_f32())
                } else {
                    max
                }
            } else {
                t
            }
        })
        .collect();
    (w, clamped)
}

/// Per layer: weights that are not finite, and finite ones that the output type
/// cannot hold (they would round to ±Inf).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeScan {
    pub non_finite: usize,
    pub overflow: usize,
}

fn scan_layer(orig: &[f32], out: DType) -> RangeScan {
    let limit = max_finite(out);
    let mut r = RangeScan::default();
    for &v in orig {
        if !v.is_finite() {
            r.non_finite += 1;
        } else if v.abs() > limit {
            // Some values just above max still round down to it; test the rounding.
            let rounded = match out {
                DType::F32 => v,
                DType::F16 => f16::from_f32(v).to_f32(),
                DType::BF16 => bf16::from_f32(v).to_f32(),
            };
            r.overflow += usize::from(rounded.is_infinite());
        }
    }
    r
}

/// Scans every layer to be pruned before any work: NaN/±Inf weights are refused, and
/// so are weights the output type would turn into ±Inf unless `saturate`. The error
/// lists every such layer with its counts.
fn scan_layers(
    layers: &[(String, usize)],
    infos: &HashMap<String, &TensorInfo>,
    data: &[u8],
    target: Option<DType>,
    saturate: bool,
) -> Result<(), Box<dyn Error>> {
    let mut non_finite = Vec::new();
    let mut overflow = Vec::new();
    for (name, _) in layers {
        let info = infos[name];
        let out = output_dtype(info, target);
        let orig = dense_to_f32(name, info.dtype, tensor_data(data, infos, name)?)?;
        let r = scan_layer(&orig, out);
        if r.non_finite > 0 {
            non_finite.push(format!("  {name}: {} of {}", r.non_finite, orig.len()));
        }
        if r.overflow > 0 {
            overflow.push(format!(
                "  {name}: {} of {} beyond ±{} ({})",
                r.overflow,
                orig.len(),
                max_finite(out),
                out.name()
            ));
        }
    }
    if !non_finite.is_empty() {
        return Err(format!(
            "{} layer(s) hold NaN or ±Inf weights (sparse24 stores finite weights only); \
             nothing was written:\n{}",
            non_finite.len(),
            non_finite.join("\n")
        )
        .into());
    }
    if !overflow.is_empty() && !saturate {
        return Err(format!(
            "{} layer(s) hold weights the output type cannot represent (they would become \
             ±Inf); nothing was written. Pass --saturate to clamp them to the largest \
             finite value, or choose another --dtype:\n{}",
            overflow.len(),
            overflow.join("\n")
        )
        .into());
    }
    Ok(())
}

/// The element type a layer is written in: `--dtype`, else its stored type.
fn output_dtype(info: &TensorInfo, target: Option<DType>) -> DType {
    target.or(dtype_of(info.dtype)).unwrap_or(DType::F32)
}

fn prune_layer(
    name: &str,
    info: &TensorInfo,
    bytes: &[u8],
    target: Option<DType>,
    choice: Choice,
    on_progress: &dyn Fn(&str),
) -> Result<PrunedLayer, Box<dyn Error>> {
    match output_dtype(info, target) {
        DType::F32 => prune_typed::<f32>(name, info, bytes, choice, on_progress),
        DType::F16 => prune_typed::<f16>(name, info, bytes, choice, on_progress),
        DType::BF16 => prune_typed::<bf16>(name, info, bytes, choice, on_progress),
    }
}

fn tensor_data<'d>(
    data: &'d [u8],
    infos: &HashMap<String, &TensorInfo>,
    name: &str,
) -> Result<&'d [u8], Box<dyn Error>> {
    let info = infos
        .get(name)
        .ok_or_else(|| format!("{name}: not in the input"))?;
    let (s, e) = info.data_offsets;
    Ok(data
        .get(s..e)
        .ok_or_else(|| format!("{name}: data out of bounds"))?)
}

enum Slot {
    Copy(String),
    Values(String),
    Meta(String),
}

/// The compressed layers already in the input (a file this tool wrote), validated and
/// checksum-verified, so a corrupted one is not copied under a fresh checksum.
fn input_layers(
    path: &Path,
    bytes: &[u8],
    meta: &Metadata,
) -> Result<BTreeMap<String, LayerHeader>, Box<dyn Error>> {
    let has_header = meta
        .metadata()
        .as_ref()
        .is_some_and(|m| m.contains_key(METADATA_KEY));
    if !has_header {
        return Ok(BTreeMap::new());
    }
    let file = SparseFile::parse(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    for (name, l) in &file.header().layers {
        file.layer(name)
            .map_err(|e| format!("{}: compressed layer {name}: {e}", path.display()))?;
        out.insert(
            name.clone(),
            LayerHeader {
                checksum: None,
                ..l.clone()
            },
        );
    }
    Ok(out)
}

pub fn run(args: &Args) -> Result<Summary, Box<dyn Error>> {
    let start = Instant::now();
    // Before any work: an output that is a directory, in a missing folder, or one of
    // the inputs (writing it would destroy the memory-mapped input) is refused.
    let mut inputs = vec![args.input.as_path()];
    inputs.extend(args.calib.as_deref());
    check_target(&args.output, &inputs).map_err(|e| e.to_string())?;
    let input = map_file(&args.input)?;
    let (n, meta) = read_header(&args.input, &input)?;
    let data = &input[8 + n..];
    let infos = meta.tensors();
    let mut names: Vec<&String> = infos.keys().collect();
    names.sort_by_key(|name| infos[*name].data_offsets);

    let mut headers = input_layers(&args.input, &input, &meta)?;
    let kept_layers: Vec<String> = headers.keys().cloned().collect();
    let kept_tensors: HashSet<String> = kept_layers
        .iter()
        .flat_map(|l| [values_name(l), meta_name(l)])
        .collect();

    let mut layers = Vec::new();
    let mut specs = Vec::new();
    let mut slots = HashMap::new();
    for name in &names {
        let info = infos[*name];
        if !kept_tensors.contains(*name) && prunable(name, info, &args.skip) {
            let (rows, cols) = (info.shape[0], info.shape[1]);
            let dtype = output_dtype(info, args.dtype);
            if headers.contains_key(*name) || infos.contains_key(&values_name(name)) {
                return Err(format!(
                    "{name}: the input already holds a compressed layer of that name"
                )
                .into());
            }
            layers.push(((*name).clone(), cols));
            headers.insert((*name).clone(), LayerHeader::new(dtype, rows, cols));
            for (spec, slot) in TensorSpec::layer(name, dtype, rows, cols)
                .into_iter()
                .zip([Slot::Values((*name).clone()), Slot::Meta((*name).clone())])
            {
                slots.insert(spec.name.clone(), slot);
                specs.push(spec);
            }
        } else {
            slots.insert((*name).clone(), Slot::Copy((*name).clone()));
            specs.push(TensorSpec::new(
                (*name).clone(),
                info.dtype,
                info.shape.clone(),
            ));
        }
    }
    // Magnitude alone reads no calibration (a --calib given with it is not opened).
    let calib = match (&args.calib, args.method, args.refit) {
        (Some(path), m, refit) if m != Method::Magnitude || refit => Some(CalibFile::open(
            path,
            &layers,
            m.needs_activations() || refit,
        )?),
        _ => None,
    };
    scan_layers(&layers, &infos, data, args.dtype, args.saturate)?;

    let mut file_meta: BTreeMap<String, String> = meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != METADATA_KEY)
        .collect();
    file_meta.insert("sparse24.pruning".into(), label(args.method, args.refit));

    let out = AtomicFile::create(&args.output, &inputs).map_err(|e| e.to_string())?;
    let mut writer = SparseFileWriter::new(out, specs, headers, file_meta)?;

    let layer_bytes: u64 = layers
        .iter()
        .map(|(name, _)| {
            let (s, e) = infos[name].data_offsets;
            (e - s) as u64
        })
        .sum();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(layer_bytes)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {elapsed} {wide_msg}",
        )?
        .progress_chars("=> "),
    );

    let order: Vec<String> = writer.order().map(str::to_string).collect();
    let mut stash: HashMap<String, Vec<u8>> = HashMap::new();
    let mut reports = Vec::new();
    let mut copied = Vec::new();
    let tensor_bytes = |name: &str| tensor_data(data, &infos, name);
    for tname in order {
        let slot = slots.get(&tname).ok_or("unplanned tensor")?;
        match slot {
            Slot::Copy(name) => {
                writer.write(&tname, tensor_bytes(name)?)?;
                if !kept_tensors.contains(name) {
                    copied.push(name.clone());
                }
            }
            Slot::Values(layer) | Slot::Meta(layer) => {
                if let Some(bytes) = stash.remove(&tname) {
                    writer.write(&tname, &bytes)?;
                    continue;
                }
                bar.set_message(layer.clone());
                let info = infos[layer];
                let data = match &calib {
                    Some(c) => Some(c.layer(layer)?),
                    None => None,
                };
                let choice = Choice {
                    method: args.method,
                    refit: args.refit,
                    calib: data.as_ref(),
                };
                let progress = |p: &str| bar.set_message(format!("{layer}: {p}"));
                let PrunedLayer {
                    values,
                    meta: meta_bytes,
                    report,
                } = prune_layer(
                    layer,
                    info,
                    tensor_bytes(layer)?,
                    args.dtype,
                    choice,
                    &progress,
                )?;
                bar.inc(report.dense_bytes as u64);
                reports.push(report);
                let (now, later) = match slot {
                    Slot::Values(_) => ((values, meta_bytes), meta_name(layer)),
                    _ => ((meta_bytes, values), values_name(layer)),
                };
                writer.write(&tname, &now.0)?;
                stash.insert(later, now.1);
            }
        }
    }
    writer.finish()?.commit()?;
    bar.finish_and_clear();
    let bytes_out = std::fs::metadata(&args.output)?.len();
    Ok(Summary {
        layers: reports,
        kept_layers,
        copied,
        bytes_in: input.len() as u64,
        bytes_out,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

pub fn print_summary(s: &Summary) {
    let w = s
        .layers
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "{:<w$}  {:>11}  {:>5}  {:>15}  {:>8}  {:>10}  {:>10}  {:>9}  {:>8}",
        "layer", "shape", "dtype", "method", "kept|W|", "rel.err_F", "calib.err", "saturated", "ms"
    );
    for l in &s.layers {
        println!(
            "{:<w$}  {:>11}  {:>5}  {:>15}  {:>7.2}%  {:>10.4}  {:>10}  {:>9}  {:>8.1}",
            l.name,
            format!("{}x{}", l.shape.0, l.shape.1),
            l.dtype.name(),
            label(l.method, l.refit),
            100.0 * l.kept_magnitude,
            l.rel_frobenius_error,
            l.calib_error.map_or("-".to_string(), |e| format!("{e:.4}")),
            l.saturated,
            1e3 * l.seconds
        );
    }
    if !s.kept_layers.is_empty() {
        println!(
            "kept {} compressed layers of the input as they were",
            s.kept_layers.len()
        );
    }
    let dense: usize = s.layers.iter().map(|l| l.dense_bytes).sum();
    let comp: usize = s.layers.iter().map(|l| l.compressed_bytes).sum();
    let n = s.layers.len().max(1) as f64;
    let mean_err = s.layers.iter().map(|l| l.rel_frobenius_error).sum::<f64>() / n;
    let mean_kept = s.layers.iter().map(|l| l.kept_magnitude).sum::<f64>() / n;
    println!(
        "pruned {} layers (mean kept |W| {:.2}%, mean rel. Frobenius error {:.4}): {:.2} MiB \
         dense -> {:.2} MiB compressed ({:.1}%)",
        s.layers.len(),
        100.0 * mean_kept,
        mean_err,
        mib(dense as u64),
        mib(comp as u64),
        100.0 * comp as f64 / dense.max(1) as f64
    );
    println!(
        "copied {} other tensors; file {:.2} MiB -> {:.2} MiB ({:.1}%) in {:.2} s",
        s.copied.len(),
        mib(s.bytes_in),
        mib(s.bytes_out),
        100.0 * s.bytes_out as f64 / s.bytes_in.max(1) as f64,
        s.seconds
    );
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_args(&argv).and_then(|a| run(&a));
    match result {
        Ok(summary) => print_summary(&summary),
        Err(e) => {
            eprintln!("prune: {e}");
            std::process::exit(1);
        }
    }
}
