//! The token sweep (`--token-sweep`; `--full-sweep` for every token count): per layer
//! and token count, sparse24 with every registered kernel that runs the shape (the
//! plan's choice, the decode tiles, the prefill tiles, the Hopper tile on compute
//! capability 9.0) against dense cuBLASLt and cuSPARSELt's searched plan, so the
//! crossovers between the decode and prefill kernels, which `SparseGemmPlan` takes as
//! its dispatch thresholds (`DECODE8_MAX_TOKENS`, `DECODE_MAX_TOKENS`,
//! `WGMMA_MIN_TOKENS`, ...), are visible. Written as sweep.md, sweep.json and
//! sweep.svg (speed-up over dense and over cuSPARSELt against tokens, one line per
//! kernel, one panel pair per layer).

use super::bench::Outcome;
use super::cases::Shape;
use super::error::{BenchError, Res};
use serde_json::{json, Value};
use sparse24::ops::gemm::{GemmConfig, GemmDevice, SparseGemmPlan, DECODE_MAX_TOKENS};
use sparse24::DType;
use std::fmt::Write as _;
use std::path::Path;

/// Every token count of the full sweep.
pub const FULL_TOKENS: [usize; 12] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 2048, 8192];
/// The quick sweep: the decode range and its first prefill point.
pub const QUICK_TOKENS: [usize; 6] = [1, 2, 4, 8, 16, 32];
/// The decode tiles run up to this many tokens in the sweep (beyond it they only
/// repeat token tiles).
const DECODE_SWEEP_MAX_TOKENS: usize = 64;

/// The sweep's cases: the five LLM layers in bf16 over the token counts, and the f16
/// decode row of the issue (14336 × 4096).
pub fn shapes(full: bool) -> Vec<(DType, Shape)> {
    let tokens: Vec<usize> = if full {
        FULL_TOKENS.to_vec()
    } else {
        QUICK_TOKENS.to_vec()
    };
    let mut v: Vec<(DType, Shape)> = [
        ("4096x4096", 4096, 4096),
        ("14336x4096", 14336, 4096),
        ("4096x14336", 4096, 14336),
        ("28672x8192", 28672, 8192),
        ("8192x28672", 8192, 28672),
    ]
    .into_iter()
    .map(|(label, out, inn)| {
        (
            DType::BF16,
            Shape {
                label,
                out,
                inn,
                tokens: tokens.clone(),
            },
        )
    })
    .collect();
    v.push((
        DType::F16,
        Shape {
            label: "14336x4096",
            out: 14336,
            inn: 4096,
            tokens: vec![1, 16],
        },
    ));
    v
}

/// The kernels the sweep times at one shape besides the plan's choice: (line name,
/// configuration, split count). Decode tiles at their heuristic's split count (the
/// original `decode` tile at its plan's, about one CTA per SM) up to 64 tokens; past
/// the decode range every prefill tile and the Hopper tile on 9.0 (`full`, from 16
/// tokens), or only the first prefill tile and the Hopper tile (the quick sweep, which
/// must fit the GPU check's 90-second decode phase).
pub fn kernels(
    tokens: usize,
    out: usize,
    inn: usize,
    dev: GemmDevice,
    full: bool,
) -> Vec<(String, GemmConfig, usize)> {
    let mut v = Vec::new();
    if tokens <= DECODE_SWEEP_MAX_TOKENS {
        let legacy = GemmConfig::Decode;
        if let Ok(p) = SparseGemmPlan::one_cta_per_sm(legacy, tokens, out, inn, dev.sm_count) {
            v.push((legacy.tile_name().to_string(), legacy, p.splits));
        }
        for c in GemmConfig::DECODE {
            if let Ok(p) = SparseGemmPlan::decode(c, tokens, out, inn, dev.sm_count) {
                v.push((c.tile_name().to_string(), c, p.splits));
            }
        }
        // The bulk-copy decode tile (sm_90 code: compute capability 9.x only).
        if dev.runs_sm90() {
            for c in GemmConfig::DECODE_SM90 {
                if let Ok(p) = SparseGemmPlan::decode(c, tokens, out, inn, dev.sm_count) {
                    v.push((c.tile_name().to_string(), c, p.splits));
                }
            }
        }
    }
    if (full && tokens > DECODE_MAX_TOKENS / 2) || tokens > DECODE_MAX_TOKENS {
        let n = if full { GemmConfig::PREFILL.len() } else { 1 };
        for c in GemmConfig::PREFILL.into_iter().take(n) {
            v.push((c.tile_name().to_string(), c, 1));
        }
        if dev.runs_sm90a() {
            for c in GemmConfig::WGMMA {
                if let Ok(p) = SparseGemmPlan::one_cta_per_sm(c, tokens, out, inn, dev.sm_count) {
                    v.push((c.tile_name().to_string(), c, p.splits));
                }
            }
        }
    }
    v
}

/// One timed point of the sweep.
pub struct Point {
    pub layer: String,
    pub dtype: DType,
    pub tokens: usize,
    pub kernel: String,
    pub us: Option<f64>,
    pub dense_us: Option<f64>,
    pub lt_us: Option<f64>,
}

impl Point {
    pub fn new(
        layer: &str,
        dtype: DType,
        tokens: usize,
        kernel: &str,
        ours: &Outcome,
        dense: &Outcome,
        lt: &Outcome,
    ) -> Point {
        Point {
            layer: layer.to_string(),
            dtype,
            tokens,
            kernel: kernel.to_string(),
            us: ours.us(),
            dense_us: dense.us(),
            lt_us: lt.us(),
        }
    }
    fn vs(&self, base: Option<f64>) -> Option<f64> {
        Some(base? / self.us?)
    }
    fn json(&self) -> Value {
        json!({"layer": self.layer, "dtype": self.dtype.name(), "tokens": self.tokens,
               "kernel": self.kernel, "us": self.us, "cublaslt_us": self.dense_us,
               "cusparselt_searched_us": self.lt_us,
               "speedup_vs_cublaslt": self.vs(self.dense_us),
               "speedup_vs_cusparselt": self.vs(self.lt_us)})
    }
}

/// sweep.md, sweep.json and sweep.svg in `dir`; `lt_version` names the cuSPARSELt the
/// comparison used.
pub fn write(dir: &Path, points: &[Point], lt_version: &str) -> Res<()> {
    let w = |file: &'static str, text: String| {
        sparse24::io::atomic::write_file(dir.join(file), text.as_bytes())
            .map_err(|source| BenchError::Write { file, source })
    };
    w("sweep.md", markdown(points, lt_version))?;
    let j = json!({"cusparselt": lt_version, "points": points.iter().map(Point::json).collect::<Vec<_>>()});
    w("sweep.json", serde_json::to_string_pretty(&j)?)?;
    w("sweep.svg", svg(points, lt_version))
}

fn cell(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.2}×")).unwrap_or_else(|| "-".into())
}

/// One table per layer: rows = tokens, columns = kernels, cells = speed-up over
/// cuBLASLt / over cuSPARSELt searched.
pub fn markdown(points: &[Point], lt_version: &str) -> String {
    let mut s = format!(
        "\ntoken sweep: speed-up of each sparse24 kernel over dense cuBLASLt / over cuSPARSELt {lt_version} \
         (searched plan; 0.8.1 fixed H100 regressions of 0.8.0, so on an H100 the 0.8.0 column may flatter us):\n"
    );
    for ((layer, dtype), pts) in by_layer(points) {
        let kernels = kernel_names(&pts);
        let _ = writeln!(s, "\n{layer} {}:\n", dtype.name());
        let _ = writeln!(s, "| tokens | {} |", kernels.join(" | "));
        let _ = writeln!(s, "|---|{}", "---|".repeat(kernels.len()));
        let mut tokens: Vec<usize> = pts.iter().map(|p| p.tokens).collect();
        tokens.dedup();
        for t in tokens {
            let cells: Vec<String> = kernels
                .iter()
                .map(|k| {
                    pts.iter()
                        .find(|p| p.tokens == t && &p.kernel == k)
                        .map(|p| format!("{} / {}", cell(p.vs(p.dense_us)), cell(p.vs(p.lt_us))))
                        .unwrap_or_else(|| "".into())
                })
                .collect();
            let _ = writeln!(s, "| {t} | {} |", cells.join(" | "));
        }
    }
    s
}

/// The points of each (layer, dtype), in order of first appearance.
fn by_layer(points: &[Point]) -> Vec<((String, DType), Vec<&Point>)> {
    let mut m: Vec<((String, DType), Vec<&Point>)> = Vec::new();
    for p in points {
        match m.iter_mut().find(|(k, _)| k.0 == p.layer && k.1 == p.dtype) {
            Some((_, v)) => v.push(p),
            None => m.push(((p.layer.clone(), p.dtype), vec![p])),
        }
    }
    m
}

/// Kernel names in order of first appearance.
fn kernel_names(pts: &[&Point]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for p in pts {
        if !v.contains(&p.kernel) {
            v.push(p.kernel.clone());
        }
    }
    v
}

const PALETTE: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Two panels per layer (speed-up over cuBLASLt, over cuSPARSELt searched) against
/// log2(tokens), one polyline per kernel, a dashed line at 1×.
pub fn svg(points: &[Point], lt_version: &str) -> String {
    let layers = by_layer(points);
    let (pw, ph, pad) = (420.0_f64, 240.0_f64, 50.0_f64);
    let width = 2.0 * (pw + pad) + pad;
    let height = layers.len() as f64 * (ph + pad + 20.0) + pad;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (row, ((layer, dtype), pts)) in layers.iter().enumerate() {
        let kernels = kernel_names(pts);
        let tmax = pts.iter().map(|p| p.tokens).max().unwrap_or(1).max(2) as f64;
        for (col, (what, base)) in [("cuBLASLt", 0usize), ("cuSPARSELt", 1)]
            .into_iter()
            .enumerate()
        {
            let speed = |p: &Point| {
                if base == 0 {
                    p.vs(p.dense_us)
                } else {
                    p.vs(p.lt_us)
                }
            };
            let ymax = pts
                .iter()
                .filter_map(|p| speed(p))
                .fold(2.0_f64, f64::max)
                .min(8.0)
                .ceil();
            let x0 = pad + col as f64 * (pw + pad);
            let y0 = pad + row as f64 * (ph + pad + 20.0);
            let xs = |t: usize| x0 + (t.max(1) as f64).log2() / tmax.log2() * pw;
            let ys = |v: f64| y0 + ph - v.min(ymax) / ymax * ph;
            let title = if base == 0 {
                format!("{layer} {}: speed-up over dense {what}", dtype.name())
            } else {
                format!(
                    "{layer} {}: over {what} {lt_version} (searched)",
                    dtype.name()
                )
            };
            let _ = writeln!(s, "<text x=\"{x0}\" y=\"{}\">{title}</text>", y0 - 8.0);
            let _ = writeln!(
                s,
                "<rect x=\"{x0}\" y=\"{y0}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#888\"/>"
            );
            let _ = writeln!(
                s,
                "<line x1=\"{x0}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y1}\" stroke=\"#444\" stroke-dasharray=\"4 3\"/>",
                y1 = ys(1.0),
                x2 = x0 + pw
            );
            for v in 0..=(ymax as usize) {
                let _ = writeln!(
                    s,
                    "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{v}×</text>",
                    x0 - 4.0,
                    ys(v as f64) + 4.0
                );
            }
            let mut tokens: Vec<usize> = pts.iter().map(|p| p.tokens).collect();
            tokens.sort_unstable();
            tokens.dedup();
            for t in &tokens {
                let _ = writeln!(
                    s,
                    "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{t}</text>",
                    xs(*t),
                    y0 + ph + 14.0
                );
            }
            for (k, name) in kernels.iter().enumerate() {
                let color = PALETTE[k % PALETTE.len()];
                let line: Vec<String> = tokens
                    .iter()
                    .filter_map(|t| {
                        let p = pts.iter().find(|p| p.tokens == *t && &p.kernel == name)?;
                        Some(format!("{:.1},{:.1}", xs(*t), ys(speed(p)?)))
                    })
                    .collect();
                if !line.is_empty() {
                    let _ = writeln!(
                        s,
                        "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"/>",
                        line.join(" ")
                    );
                }
                if col == 1 {
                    let _ = writeln!(
                        s,
                        "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{name}</text>",
                        x0 + pw + 6.0,
                        y0 + 12.0 + 13.0 * k as f64
                    );
                }
            }
        }
    }
    s.push_str("</svg>\n");
    s
}
