//! The command line.

use super::error::{BenchError, Res};
use std::path::PathBuf;

pub struct Args {
    pub quick: bool,
    pub out: Option<PathBuf>,
    pub only: Option<String>,
    pub reps: usize,
    pub host_only: bool,
    pub prefill_tiles: bool,
    pub decode_splits: bool,
    pub token_sweep: bool,
    pub full_sweep: bool,
}

impl Args {
    /// Whether a case labelled `label` is selected by `--only`.
    pub fn selects(&self, label: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| label.contains(o.as_str()))
    }
}

pub const USAGE: &str = "usage: gpu-bench [--quick] [--out DIR] [--only TEXT] [--reps N]
  --quick      the short set (< 2 minutes on an H100): LLM layers at 1, 16, 2048
               tokens in bf16 plus one f16 decode row, copy and prune bandwidth
  --out DIR    write bench.json and bench.md there
  --only TEXT  run only cases whose label contains TEXT (e.g. 4096x14336)
  --reps N     timed repetitions per measurement (default 7, quick 5)
  --host-only  no device: time and check the CPU side (random data, prune, f64
               reference, fragment order) of the selected cases
  --prefill-tiles
               for every case with >= 256 tokens, also time sparse24 with each prefill
               tile (64, 128x128, 128x128a2, 256x64, 256x64w16) and print a table
               of them
  --decode-splits
               for every decode case (<= 16 tokens), also time the decode tile with
               each split-K count the shape allows (1, 2, 3, 4, 6, 8, 12, 16), in the
               same table; the decode tiles decode8 and decode16 at half, one and
               two times their plan's split count
  --token-sweep
               instead of the benchmark set: the five LLM layers (bf16) at 1, 2, 4,
               8, 16, 32 tokens (and f16 14336x4096 at 1, 16) with every kernel
               that runs the shape (plan, decode, decode8, decode16, prefill tiles,
               wg256x128 on sm_90) against cuBLASLt and cuSPARSELt; writes
               sweep.md, sweep.json, sweep.svg (speed-up against tokens)
  --full-sweep the token sweep at 1, 2, 4, ..., 512, 2048, 8192 tokens";

/// Reads the process's arguments.
pub fn parse_args() -> Res<Args> {
    parse(std::env::args().skip(1))
}

fn parse(mut it: impl Iterator<Item = String>) -> Res<Args> {
    let mut a = Args {
        quick: false,
        out: None,
        only: None,
        reps: 0,
        host_only: false,
        prefill_tiles: false,
        decode_splits: false,
        token_sweep: false,
        full_sweep: false,
    };
    let missing = |flag, what| BenchError::MissingValue { flag, what };
    while let Some(s) = it.next() {
        match s.as_str() {
            "--quick" => a.quick = true,
            "--out" => {
                a.out = Some(PathBuf::from(
                    it.next().ok_or(missing("--out", "a directory"))?,
                ))
            }
            "--only" => a.only = Some(it.next().ok_or(missing("--only", "a text"))?),
            "--reps" => {
                let v = it.next().ok_or(missing("--reps", "a number"))?;
                a.reps = v.parse().map_err(|_| BenchError::NotANumber {
                    flag: "--reps",
                    value: v.clone(),
                })?;
            }
            // `cargo bench` passes --bench to harness = false targets.
            "--bench" => {}
            "--host-only" => a.host_only = true,
            "--prefill-tiles" => a.prefill_tiles = true,
            "--decode-splits" => a.decode_splits = true,
            "--token-sweep" => a.token_sweep = true,
            "--full-sweep" => {
                a.token_sweep = true;
                a.full_sweep = true;
            }
            "-h" | "--help" => return Err(BenchError::Help),
            other => return Err(BenchError::UnknownArgument(other.to_string())),
        }
    }
    if a.reps == 0 {
        a.reps = if a.quick { 5 } else { 7 };
    }
    Ok(a)
}
