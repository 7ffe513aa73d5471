//! The report: the per-case rows, the `--prefill-tiles`/`--decode-splits` table, the
//! markdown printed last and the bench.json / bench.md written after every case.

use super::bench::Outcome;
use super::device::Device;
use super::error::{BenchError, Res};
use serde_json::{json, Value};
use sparse24::cusparselt;
use sparse24::ops::gemm::GemmConfig;
use sparse24::DType;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// sparse24 with one prefill tile in one case (`--prefill-tiles`).
pub struct TileRow {
    pub label: String,
    pub dtype: DType,
    pub tokens: usize,
    pub out: usize,
    pub inn: usize,
    pub config: GemmConfig,
    /// Split-K count (1 for the prefill tiles).
    pub splits: usize,
    pub ours: Outcome,
    /// cuBLASLt's median time in the same case.
    pub dense_us: Option<f64>,
}

impl TileRow {
    /// The tile's name, with the split count for the decode tile.
    fn tile(&self) -> String {
        match self.config {
            c if c == GemmConfig::Decode
                || GemmConfig::DECODE.contains(&c)
                || GemmConfig::DECODE_SM90.contains(&c) =>
            {
                format!("{} s={}", c.tile_name(), self.splits)
            }
            c => c.tile_name().to_string(),
        }
    }
    pub fn flops(&self) -> f64 {
        2.0 * self.tokens as f64 * self.out as f64 * self.inn as f64
    }
    pub fn json(&self) -> Value {
        json!({"shape": self.label, "dtype": self.dtype.name(), "tokens": self.tokens,
        "out": self.out, "in": self.inn, "tile": self.tile(), "splits": self.splits,
        "config": self.config.name(), "sparse24": self.ours.json(self.flops()),
        "speedup_vs_cublaslt": match (self.dense_us, self.ours.us()) {
            (Some(d), Some(o)) => json!(d / o),
            _ => Value::Null,
        }})
    }
}

/// The `--prefill-tiles` table; the fastest tile of each case is marked.
fn tiles_markdown(tiles: &[TileRow]) -> String {
    let mut s = String::new();
    if tiles.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "\ntiles and split counts (sparse24, each checked against the f64 reference first; * = fastest of its case):\n"
    );
    let _ = writeln!(
        s,
        "| shape (out×in) | dtype | tokens | tile | µs | TFLOP/s | vs cuBLAS | rel err |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    let key = |r: &TileRow| (r.label.clone(), r.dtype.name(), r.tokens);
    let mut best: BTreeMap<(String, &'static str, usize), f64> = BTreeMap::new();
    for r in tiles {
        if let Some(us) = r.ours.us() {
            let e = best.entry(key(r)).or_insert(us);
            *e = e.min(us);
        }
    }
    for r in tiles {
        let f = r.flops();
        let (us, tf, err) = match &r.ours {
            Outcome::Timed { t, rel_err, .. } => (
                format!("{:.1} ±{:.0}%", t.median_us, t.spread_pct() / 2.0),
                format!("{:.0}", f / t.median_us * 1e-6),
                format!("{rel_err:.1e}"),
            ),
            Outcome::NotAvailable(w) => (format!("not available: {w}"), "–".into(), "–".into()),
            Outcome::Failed(w) => (format!("FAILED: {w}"), "–".into(), "–".into()),
        };
        let vs = match (r.dense_us, r.ours.us()) {
            (Some(d), Some(o)) => format!("{:.2}×", d / o),
            _ => "–".into(),
        };
        let mark = match (r.ours.us(), best.get(&key(r))) {
            (Some(u), Some(&b)) if u == b => " *",
            _ => "",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {}{mark} | {us} | {tf} | {vs} | {err} |",
            r.label,
            r.dtype.name(),
            r.tokens,
            r.tile()
        );
    }
    s
}

pub struct Row {
    pub label: String,
    pub dtype: DType,
    pub tokens: usize,
    pub out: usize,
    pub inn: usize,
    pub ours: Outcome,
    pub dense: Outcome,
    pub lt_default: Outcome,
    pub lt_searched: Outcome,
}

impl Row {
    pub fn flops(&self) -> f64 {
        2.0 * self.tokens as f64 * self.out as f64 * self.inn as f64
    }
    pub fn json(&self) -> Value {
        let f = self.flops();
        let ratio = |b: &Outcome| match (b.us(), self.ours.us()) {
            (Some(b), Some(o)) => json!(b / o),
            _ => Value::Null,
        };
        json!({"shape": self.label, "dtype": self.dtype.name(), "tokens": self.tokens,
               "out": self.out, "in": self.inn, "flops": f,
               "sparse24": self.ours.json(f), "cublaslt": self.dense.json(f),
               "cusparselt_default": self.lt_default.json(f),
               "cusparselt_searched": self.lt_searched.json(f),
               "speedup_vs_cublaslt": ratio(&self.dense),
               "speedup_vs_cusparselt_default": ratio(&self.lt_default),
               "speedup_vs_cusparselt_searched": ratio(&self.lt_searched)})
    }
}

pub fn cell(o: &Outcome, flops: f64) -> String {
    match o {
        Outcome::Timed { t, .. } => format!(
            "{:.1} µs {:.0} TF/s ±{:.0}%",
            t.median_us,
            flops / t.median_us * 1e-6,
            t.spread_pct() / 2.0
        ),
        Outcome::NotAvailable(_) => "not available".into(),
        Outcome::Failed(_) => "FAILED".into(),
    }
}

pub fn ratio(b: &Outcome, o: &Outcome) -> String {
    match (b.us(), o.us()) {
        (Some(b), Some(o)) => format!("{:.2}×", b / o),
        _ => "–".into(),
    }
}

pub fn markdown(
    dev: &Device,
    cmd: &str,
    rows: &[Row],
    tiles: &[TileRow],
    extra: &[(String, String)],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "device: {} (sm_{}{}, {} SMs, L2 {} MiB, {} GiB), driver {}.{}\ncommand: {cmd}\n",
        dev.name,
        dev.cc.0,
        dev.cc.1,
        dev.sms,
        dev.l2 >> 20,
        dev.mem >> 30,
        dev.driver / 1000,
        (dev.driver % 1000) / 10
    );
    let _ = writeln!(
        s,
        "| shape (out×in) | dtype | tokens | sparse24 | GB/s | cuBLASLt | cuSPARSELt default | cuSPARSELt searched | vs cuBLAS | vs cSLt def | vs cSLt srch | rel err |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let f = r.flops();
        let gbps = match &r.ours {
            Outcome::Timed { t, bytes, .. } => format!("{:.0}", *bytes as f64 / t.median_us * 1e-3),
            _ => "–".into(),
        };
        let err = match &r.ours {
            Outcome::Timed { rel_err, .. } => format!("{rel_err:.1e}"),
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.dtype.name(),
            r.tokens,
            cell(&r.ours, f),
            gbps,
            cell(&r.dense, f),
            cell(&r.lt_default, f),
            cell(&r.lt_searched, f),
            ratio(&r.dense, &r.ours),
            ratio(&r.lt_default, &r.ours),
            ratio(&r.lt_searched, &r.ours),
            err
        );
    }
    let failures: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            [
                ("sparse24", &r.ours),
                ("cuBLASLt", &r.dense),
                ("cuSPARSELt default", &r.lt_default),
                ("cuSPARSELt searched", &r.lt_searched),
            ]
            .into_iter()
            .filter_map(move |(m, o)| match o {
                Outcome::Failed(w) | Outcome::NotAvailable(w) => Some(format!(
                    "- {} {} t={} {m}: {w}",
                    r.label,
                    r.dtype.name(),
                    r.tokens
                )),
                _ => None,
            })
        })
        .collect();
    s.push_str(&tiles_markdown(tiles));
    if !extra.is_empty() {
        let _ = writeln!(s, "\n| memory-bound | result |\n|---|---|");
        for (k, v) in extra {
            let _ = writeln!(s, "| {k} | {v} |");
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(s, "\nnot timed:");
        // Same reason repeated for every row (e.g. library absent): print it once.
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for f in failures {
            let reason = f
                .split_once(": ")
                .map(|(_, w)| w.to_string())
                .unwrap_or_default();
            seen.entry(reason).or_insert(f);
        }
        for first in seen.values() {
            let _ = writeln!(s, "{first}");
        }
    }
    s
}

pub fn write_results(
    dir: &Option<PathBuf>,
    dev: &Device,
    cmd: &str,
    rows: &[Row],
    tiles: &[TileRow],
    extra: &[(String, String)],
    extra_json: &Value,
) -> Res<()> {
    let Some(dir) = dir else { return Ok(()) };
    std::fs::create_dir_all(dir).map_err(|source| BenchError::CreateDir {
        dir: dir.clone(),
        source,
    })?;
    let j = json!({
        "device": {"name": dev.name, "compute_capability": format!("{}.{}", dev.cc.0, dev.cc.1),
                   "sms": dev.sms, "l2_bytes": dev.l2, "memory_bytes": dev.mem, "driver": dev.driver},
        "command": cmd,
        "cusparselt": match cusparselt::library() {
            Ok(l) => json!({"path": l.path, "version": format!("{}.{}.{}", l.version.0, l.version.1, l.version.2)}),
            Err(e) => json!({"not_available": e}),
        },
        "gemm": rows.iter().map(Row::json).collect::<Vec<_>>(),
        "tile_variants": tiles.iter().map(TileRow::json).collect::<Vec<_>>(),
        "memory_bound": extra_json,
    });
    let text = serde_json::to_string_pretty(&j)?;
    // Atomic: an interrupted run leaves the previous results, never half a file.
    sparse24::io::atomic::write_file(dir.join("bench.json"), text.as_bytes()).map_err(
        |source| BenchError::Write {
            file: "bench.json",
            source,
        },
    )?;
    sparse24::io::atomic::write_file(
        dir.join("bench.md"),
        markdown(dev, cmd, rows, tiles, extra).as_bytes(),
    )
    .map_err(|source| BenchError::Write {
        file: "bench.md",
        source,
    })
}
