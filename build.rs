//! Compiles kernels/*.cu with nvcc into (a) a fatbin with machine code for sm_80,
//! sm_86, sm_89 and sm_90 plus compute_80 PTX as the JIT fallback, and (b) plain PTX
//! text (ISA 9.0, what ptxsim runs); keeps ptxas's resource report; and generates a
//! table that embeds all three. Without nvcc it builds the CPU path only, says so in
//! one cargo warning, and sets `cfg(sparse24_no_kernels)`; with the `require-kernels`
//! feature a missing nvcc is a build error instead.
//!
//! Re-runs when the compiler it found changes (the file, or NVCC/CUDA_HOME/CUDA_PATH/
//! PATH), and, when it found none, when a place it looked in changes (so installing
//! nvcc later rebuilds the kernels). A re-run with the same compiler and sources
//! reuses the compiled kernels (a stamp in OUT_DIR), so a PATH change costs no nvcc.
//!
//! A kernel file whose first lines contain `// sparse24-arch: sm_90a` uses Hopper-only
//! instructions: it gets sm_90a machine code only (that code runs on that chip only).
//! One marked `// sparse24-arch: sm_90` uses sm_90 baseline instructions (bulk copies,
//! clusters, griddepcontrol): sm_90 machine code and compute_90 PTX (what ptxsim runs),
//! never built for sm_80/86/89.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;
use std::{env, fs, thread};

/// The codes and parameter structs shared with the kernels (src/abi.rs), written into
/// a header nvcc includes. Their host-side parts (struct methods, field writers) are
/// the crate's: here only the header is written, hence `dead_code` allowed.
#[path = "src/abi.rs"]
#[allow(dead_code)]
mod abi;

/// The parser of ptxas's resource report (src/ptxas_report.rs), shared with the crate;
/// here only the spill total is used.
#[path = "src/ptxas_report.rs"]
#[allow(dead_code)]
mod ptxas_report;

/// The tiles of the sparse GEMM (src/ops/gemm/tiles.rs), shared with the crate: the
/// kernels of kernels/sparse_gemm.cu and their handles are generated from them.
#[path = "src/ops/gemm/tiles.rs"]
#[allow(dead_code)]
mod tiles;

/// Every other kernel, by the rule that names it (src/kernel_table.rs): their typed
/// handles are generated from it, and the PTX is checked against it.
#[path = "src/kernel_table.rs"]
mod kernel_table;

const GENERIC_ARCHS: [&str; 4] = ["sm_80", "sm_86", "sm_89", "sm_90"];

/// The mma.sp tiles this build compiles: every tile of `ALL`, and with the `gemm-sweep`
/// feature (the GPU bundle's) the rest of the staged pipeline's sweep.
fn gemm_tiles() -> Vec<tiles::GemmConfig> {
    let mut v = tiles::GemmConfig::ALL.to_vec();
    if env::var_os("CARGO_FEATURE_GEMM_SWEEP").is_some() {
        v.extend(tiles::GemmConfig::SWEEP);
    }
    v
}

/// The Hopper tiles this build compiles: every tile of `WGMMA`, and with the
/// `hopper-ss` feature (the GPU bundle's) the SS form's.
fn gemm90_tiles() -> Vec<tiles::GemmConfig> {
    let mut v = tiles::GemmConfig::WGMMA.to_vec();
    if env::var_os("CARGO_FEATURE_HOPPER_SS").is_some() {
        v.extend(tiles::GemmConfig::WGMMA_SS);
    }
    v
}

/// Where nvcc is looked for, in order.
fn nvcc_candidates(root: &Path) -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = env::var_os("NVCC") {
        candidates.push(PathBuf::from(p));
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(p) = env::var_os(var) {
            candidates.push(PathBuf::from(p).join("bin/nvcc"));
        }
    }
    if let Some(paths) = env::var_os("PATH") {
        candidates.extend(env::split_paths(&paths).map(|p| p.join("nvcc")));
    }
    candidates.push(PathBuf::from("/usr/local/cuda/bin/nvcc"));
    candidates.push(root.join(".cuda/nvidia/cu13/bin/nvcc"));
    candidates
}

/// Tells cargo what to watch so that a compiler installed later is picked up. A
/// missing path would make cargo re-run the script on every build, and a directory
/// is scanned recursively, so only existing, absolute directories are named: the PATH
/// folders, each toolkit's bin/ (or the toolkit folder while bin/ is missing), and
/// the in-repository .cuda/ that scripts/toolchain/install-cuda-compiler.sh fills.
fn watch_places(root: &Path) {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(paths) = env::var_os("PATH") {
        dirs.extend(env::split_paths(&paths));
    }
    let mut toolkits: Vec<PathBuf> = ["CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(|v| env::var_os(v).map(PathBuf::from))
        .collect();
    toolkits.push(PathBuf::from("/usr/local/cuda"));
    for t in toolkits {
        let bin = t.join("bin");
        dirs.push(if bin.is_dir() { bin } else { t });
    }
    dirs.push(root.join(".cuda"));
    dirs.retain(|d| d.is_absolute() && d.is_dir() && !root.starts_with(d));
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        println!("cargo:rerun-if-changed={}", d.display());
    }
}

/// A fingerprint of the compiler (path, size, mtime), the generated headers and every
/// kernel source file: equal fingerprints mean the kernels in OUT_DIR are current.
fn stamp(nvcc: &Path, sources: &[PathBuf], kernels: &Path, generated: &str) -> String {
    let mut h = DefaultHasher::new();
    // The generated headers (and the kernel names they stand for).
    generated.hash(&mut h);
    // This script's nvcc flags are part of what the kernels were built with.
    include_bytes!("build.rs").hash(&mut h);
    nvcc.hash(&mut h);
    if let Ok(m) = fs::metadata(nvcc) {
        m.len().hash(&mut h);
        m.modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .hash(&mut h);
    }
    // Headers count too: every file under kernels/ (kernels/gemm/ included), in name
    // order.
    let mut files = files_under(kernels);
    files.extend(sources.iter().cloned());
    files.sort();
    files.dedup();
    for f in files {
        f.hash(&mut h);
        fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// Every file under `dir`, recursively (an unreadable directory counts as empty).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
    {
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The build cannot go on: the message goes to cargo's error output.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

struct Compiled {
    stem: String,
    report: String,
}

fn compile(nvcc: &Path, src: &Path, out: &Path, includes: &[&Path]) -> Result<Compiled, String> {
    let stem = src
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or("bad kernel file name")?
        .to_string();
    let text = fs::read_to_string(src).map_err(|e| format!("{}: {e}", src.display()))?;
    let arch = text
        .lines()
        .take(20)
        .find_map(|l| l.split("sparse24-arch:").nth(1))
        .map(str::trim);
    let hopper_only = arch == Some("sm_90a");
    let sm90_only = arch == Some("sm_90");
    let common = |cmd: &mut Command| {
        cmd.arg("-std=c++17").arg("-O3");
        for dir in includes {
            cmd.arg("-I").arg(dir);
        }
        cmd.arg("-lineinfo").arg(src);
    };
    // PTX text for the emulator (and as readable build output).
    let ptx_path = out.join(format!("{stem}.ptx"));
    let ptx_arch = if hopper_only {
        "compute_90a"
    } else if sm90_only {
        "compute_90"
    } else {
        "compute_80"
    };
    let mut cmd = Command::new(nvcc);
    cmd.arg("-ptx").arg(format!("-arch={ptx_arch}"));
    common(&mut cmd);
    cmd.arg("-o").arg(&ptx_path);
    run(cmd, &stem)?;
    // The fatbin, with ptxas's resource report.
    let fatbin_path = out.join(format!("{stem}.fatbin"));
    let mut cmd = Command::new(nvcc);
    cmd.arg("-fatbin").arg("-Xptxas").arg("-v");
    if hopper_only {
        cmd.arg("-gencode=arch=compute_90a,code=sm_90a");
    } else if sm90_only {
        cmd.arg("-gencode=arch=compute_90,code=sm_90");
        cmd.arg("-gencode=arch=compute_90,code=compute_90");
    } else {
        for arch in GENERIC_ARCHS {
            let num = &arch[3..];
            cmd.arg(format!("-gencode=arch=compute_{num},code=sm_{num}"));
        }
        cmd.arg("-gencode=arch=compute_80,code=compute_80");
    }
    common(&mut cmd);
    cmd.arg("-o").arg(&fatbin_path);
    let report = run(cmd, &stem)?;
    // ptxas serialises wgmma (a pipeline that waits after every instruction) when it
    // cannot prove the accumulators untouched between issue and wait, and says so only
    // in a warning (C7510..C7520 class): that kernel would run at a fraction of its
    // speed, so it is a build error here.
    if let Some(line) = report.lines().find(|l| {
        (7510..=7520).any(|c| l.contains(&format!("C{c}")))
            || (l.contains("wgmma") && l.to_ascii_lowercase().contains("serializ"))
    }) {
        return Err(format!("{stem}: ptxas serialised wgmma: {line}"));
    }
    fs::write(out.join(format!("{stem}.ptxas.txt")), &report).map_err(|e| e.to_string())?;
    Ok(Compiled { stem, report })
}

fn run(mut cmd: Command, stem: &str) -> Result<String, String> {
    let output = cmd
        .output()
        .map_err(|e| format!("{stem}: cannot run nvcc: {e}"))?;
    let text = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("{stem}: nvcc failed:\n{text}"));
    }
    Ok(text)
}

/// The compile-time check that kernel type `ty` (symbol `sym`) has the shape the host
/// launches `t` with: rows, tokens, threads and shared memory.
fn tile_assert(ty: &str, sym: &str, t: &tiles::TileShape) -> String {
    format!(
        "static_assert({ty}::Tile::BM == {} && {ty}::Tile::BN == {} && {ty}::THREADS == {} \
         && {ty}::Tile::SMEM_BYTES == {}, \"{sym}: the kernel's tile differs from \
         src/ops/gemm/tiles.rs\");\n",
        t.rows,
        t.tokens,
        t.threads,
        t.shared_bytes()
    )
}

/// The CUDA instantiation of every tile × input dtype of the sparse GEMM, included by
/// kernels/sparse_gemm.cu: each tile's parts (kernels/gemm/) from its `TileShape`,
/// with the shapes the host launches with asserted at compile time.
fn gemm_instances() -> String {
    let mut h = String::from(
        "// Generated by build.rs from src/ops/gemm/tiles.rs: one kernel per tile and input\n\
         // dtype, sgemm_<tile>_<dtype>. Do not edit.\n#pragma once\n\n",
    );
    for c in gemm_tiles() {
        let t = c.tile();
        let [wm, wn] = t.warps;
        let [mt, nt] = t.mma_tiles_per_warp();
        let consistent = wm * mt * 16 == t.rows
            && wn * nt * 8 == t.tokens
            && wm * wn * 32 == t.threads
            && t.a_prefetch == t.main_loop.a_prefetch();
        if !consistent {
            fail(&format!(
                "src/ops/gemm/tiles.rs: tile {} is inconsistent: {t:?}",
                c.tile_name()
            ));
        }
        h.push_str(&format!(
            "// Tile {}: {} rows x {} tokens, {} x {} warps of {} x {} MMA tiles, k = {} per \
             stage, {} stages, {:?} main loop.\n",
            c.tile_name(),
            t.rows,
            t.tokens,
            wm,
            wn,
            mt,
            nt,
            t.steps_per_stage * 32,
            t.stages,
            t.main_loop
        ));
        for (elem, suffix) in kernel_table::GEMM_DTYPES {
            let sym = kernel_table::gemm_symbol(c.tile_name(), suffix);
            let ty = format!("S24Gemm_{sym}");
            if t.main_loop == tiles::MainLoop::SmemStaged {
                h.push_str(&format!(
                    "using {ty} = s24::gemm::SmemGemm<s24::gemm::SmemTile<{wm}, {wn}, {mt}, {nt}, {}, {}>, \
                     s24::{elem}, s24::gemm::{}>;\n",
                    t.steps_per_stage,
                    t.stages,
                    if t.tokens_fast { "TokFast" } else { "RowFast" },
                ));
            } else {
                h.push_str(&format!(
                "using {ty} = s24::gemm::SparseGemm<s24::gemm::Tile<{wm}, {wn}, {mt}, {nt}, {}, {}>, \
                 s24::{elem}, {}, s24::gemm::{}, s24::gemm::{}>;\n",
                t.steps_per_stage,
                t.stages,
                t.main_loop.cuda_type(),
                if t.tokens_fast { "TokFast" } else { "RowFast" },
                if t.dynamic_shared {
                    "DynamicSmem"
                } else {
                    "StaticSmem"
                },
            ));
            }
            h.push_str(&tile_assert(&ty, &sym, &t));
            h.push_str(&format!(
                "S24_SPARSE_GEMM_KERNEL({sym}, {ty}, {})\n",
                t.min_ctas_per_sm
            ));
        }
        h.push('\n');
    }
    h.push_str(&gemm_decode_instances());
    h
}

/// The CUDA instantiation of the latency-hiding decode tiles (`GemmConfig::DECODE`):
/// kernels/gemm/decode_kernel.cuh from the tile's `TileShape` (`stages` = 8-step stages
/// of X resident per CTA, `a_prefetch` = W stages in flight), shapes asserted at
/// compile time.
fn gemm_decode_instances() -> String {
    let mut h = String::new();
    for c in tiles::GemmConfig::DECODE {
        let t = c.tile();
        let [wm, wn] = t.warps;
        let [mt, nt] = t.mma_tiles_per_warp();
        let consistent = wn == 1
            && wm * mt * 16 == t.rows
            && nt * 8 == t.tokens
            && wm * 32 == t.threads
            && t.steps_per_stage == 8
            && t.main_loop == tiles::MainLoop::DecodeRing
            && t.a_prefetch == t.main_loop.a_prefetch()
            && !t.dynamic_shared
            && !t.tokens_fast;
        if !consistent {
            fail(&format!(
                "src/ops/gemm/tiles.rs: decode tile {} is inconsistent: {t:?}",
                c.tile_name()
            ));
        }
        h.push_str(&format!(
            "// Decode tile {}: {} rows x {} tokens, {wm} warps of {mt} x {nt} MMA tiles, X of {} \
             k32 steps resident, W {} stages of 8 steps ahead.\n",
            c.tile_name(),
            t.rows,
            t.tokens,
            t.stages * 8,
            t.a_prefetch
        ));
        for (elem, suffix) in kernel_table::GEMM_DTYPES {
            let sym = kernel_table::gemm_symbol(c.tile_name(), suffix);
            let ty = format!("S24Gemm_{sym}");
            h.push_str(&format!(
                "using {ty} = s24::gemm::DecodeGemm<s24::gemm::Tile<{wm}, 1, {mt}, {nt}, 8, {}>, \
                 s24::{elem}, {}>;\n",
                t.stages,
                t.main_loop.cuda_type(),
            ));
            h.push_str(&tile_assert(&ty, &sym, &t));
            h.push_str(&format!(
                "S24_SPARSE_GEMM_KERNEL({sym}, {ty}, {})\n",
                t.min_ctas_per_sm
            ));
        }
        h.push('\n');
    }
    h
}

/// The CUDA instantiation of every Hopper tile × input dtype (kernels/sparse_gemm_sm90.cu):
/// the warp-specialised wgmma.sp kernel (kernels/gemm/sm90_kernel.cuh) from the tile's
/// `TileShape`, its shapes asserted at compile time.
fn gemm90_instances() -> String {
    let mut h = String::from(
        "// Generated by build.rs from src/ops/gemm/tiles.rs: one Hopper kernel per tile and\n\
         // input dtype, sgemm_<tile>_<dtype>. Do not edit.\n#pragma once\n\n",
    );
    for c in gemm90_tiles() {
        let t = c.tile();
        let consumers = (t.threads - t.producer_threads) / 128;
        let mb = t.rows / (64 * consumers.max(1));
        let consistent = t.sm90a_only()
            && t.producer_threads == 128
            && consumers >= 1
            && consumers * 128 + 128 == t.threads
            && mb * 64 * consumers == t.rows
            && t.steps_per_stage == 2;
        if !consistent {
            fail(&format!(
                "src/ops/gemm/tiles.rs: Hopper tile {} is inconsistent: {t:?}",
                c.tile_name()
            ));
        }
        h.push_str(&format!(
            "// Tile {}: {} rows x {} tokens, {consumers} consumer warpgroups of {mb} x m64, \
             {} stages of k 64, W {} stages ahead.\n",
            c.tile_name(),
            t.rows,
            t.tokens,
            t.stages,
            t.a_prefetch
        ));
        for (elem, suffix) in kernel_table::GEMM_DTYPES {
            let sym = kernel_table::gemm_symbol(c.tile_name(), suffix);
            let ty = format!("S24Gemm_{sym}");
            h.push_str(&format!(
                "using {ty} = s24::gemm::SparseGemm90<s24::gemm::Tile90<{consumers}, {mb}, {}, {}, {}, {}>, \
                 s24::{elem}>;\n",
                t.tokens, t.stages, t.a_prefetch, t.w_by_bulk_copy()
            ));
            h.push_str(&tile_assert(&ty, &sym, &t));
            h.push_str(&format!("S24_SPARSE_GEMM90_KERNEL({sym}, {ty})\n"));
        }
        h.push('\n');
    }
    h
}

/// The CUDA instantiation of the sm_90 decode tiles (`GemmConfig::DECODE_SM90`,
/// kernels/sparse_decode_sm90.cu): kernels/gemm/decode90_kernel.cuh from the tile's
/// `TileShape` (`stages` = 8-step stages of X resident, `a_prefetch` = W ring slots),
/// shapes asserted at compile time.
fn decode90_instances() -> String {
    let mut h = String::from(
        "// Generated by build.rs from src/ops/gemm/tiles.rs: one sm_90 decode kernel per tile\n\
         // and input dtype, sgemm_<tile>_<dtype>. Do not edit.\n#pragma once\n\n",
    );
    for c in tiles::GemmConfig::DECODE_SM90 {
        let t = c.tile();
        let [wm, wn] = t.warps;
        let [mt, nt] = t.mma_tiles_per_warp();
        let consistent = wn == 1
            && wm * mt * 16 == t.rows
            && nt * 8 == t.tokens
            && wm * 32 == t.threads
            && t.steps_per_stage == 8
            && t.main_loop == tiles::MainLoop::DecodeBulk
            && t.a_prefetch == t.main_loop.a_prefetch()
            && t.dynamic_shared
            && !t.tokens_fast
            && t.sm90_only();
        if !consistent {
            fail(&format!(
                "src/ops/gemm/tiles.rs: sm_90 decode tile {} is inconsistent: {t:?}",
                c.tile_name()
            ));
        }
        h.push_str(&format!(
            "// Decode tile {}: {} rows x {} tokens, {wm} warps of {mt} x {nt} MMA tiles, X of {} \
             k32 steps resident, W in a {}-slot bulk-copy ring, split-K across a cluster.\n",
            c.tile_name(),
            t.rows,
            t.tokens,
            t.stages * 8,
            t.a_prefetch
        ));
        for (elem, suffix) in kernel_table::GEMM_DTYPES {
            let sym = kernel_table::gemm_symbol(c.tile_name(), suffix);
            let ty = format!("S24Gemm_{sym}");
            h.push_str(&format!(
                "using {ty} = s24::gemm::DecodeGemm90<s24::gemm::Tile<{wm}, 1, {mt}, {nt}, 8, {}>, \
                 s24::{elem}, {}>;\n",
                t.stages, t.a_prefetch,
            ));
            h.push_str(&format!(
                "static_assert({ty}::Tile::BM == {} && {ty}::Tile::BN == {} && {ty}::THREADS == {} \
                 && {ty}::SMEM_BYTES == {} && s24::gemm::kMaxClusterSplits == {}, \"{sym}: the \
                 kernel's tile differs from src/ops/gemm/tiles.rs\");\n",
                t.rows,
                t.tokens,
                t.threads,
                t.shared_bytes(),
                tiles::MAX_CLUSTER_SPLITS
            ));
            h.push_str(&format!(
                "S24_DECODE90_KERNEL({sym}, {ty}, {})\n",
                t.min_ctas_per_sm
            ));
        }
        h.push('\n');
    }
    h
}

/// Every kernel each module must define, by module name: the sparse GEMM's from the
/// tiles, the others' from src/kernel_table.rs.
fn declared_kernels() -> Vec<(&'static str, Vec<String>)> {
    let gemm = |configs: &[tiles::GemmConfig]| -> Vec<String> {
        configs
            .iter()
            .flat_map(|c| {
                kernel_table::GEMM_DTYPES
                    .iter()
                    .map(|(_, s)| kernel_table::gemm_symbol(c.tile_name(), s))
            })
            .collect()
    };
    let mut out = vec![
        (
            kernel_table::SPARSE_GEMM,
            gemm(&[gemm_tiles(), tiles::GemmConfig::DECODE.to_vec()].concat()),
        ),
        (tiles::GemmConfig::WGMMA[0].module(), gemm(&gemm90_tiles())),
        (
            tiles::GemmConfig::DECODE_SM90[0].module(),
            gemm(&tiles::GemmConfig::DECODE_SM90),
        ),
    ];
    for m in kernel_table::MODULES {
        let names = m
            .kernels
            .iter()
            .flat_map(|r| r.names().into_iter().map(|(_, n)| n))
            .collect();
        out.push((m.module, names));
    }
    out
}

/// The typed kernel handles (`crate::kernels::<module>::...`), one per declared
/// kernel, each built by the rule that also names the CUDA kernel.
fn handles_rs() -> String {
    let mut r = String::from(
        "// Generated by build.rs from src/ops/gemm/tiles.rs and src/kernel_table.rs.\n\n",
    );
    let gemm = kernel_table::SPARSE_GEMM;
    r.push_str(&format!(
        "/// The sparse GEMM's kernels (kernels/{gemm}.cu): `sgemm_<tile>_<dtype>` for every \
         tile of\n/// [`GemmConfig`](crate::ops::gemm::GemmConfig) and input dtype f16, bf16.\n\
         pub mod {gemm} {{\n    use super::Kernel;\n    use crate::dtype::DType;\n    \
         use crate::ops::gemm::GemmConfig;\n\n    /// The module's name.\n    pub const MODULE: &str = {gemm:?};\n\n    \
         /// The kernel of `config` for inputs of `dtype`; `None` for f32 (tensor cores \
         have\n    /// no 2:4 form for it).\n    pub fn kernel(config: GemmConfig, dtype: \
         DType) -> Option<Kernel> {{\n        Some(match (config, dtype) {{\n"
    ));
    let all = gemm_tiles();
    let hopper = gemm90_tiles();
    let sweep_left_out = all.len() < tiles::GemmConfig::ALL.len() + tiles::GemmConfig::SWEEP.len()
        || hopper.len() < tiles::GemmConfig::WGMMA.len() + tiles::GemmConfig::WGMMA_SS.len();
    for c in all
        .into_iter()
        .chain(tiles::GemmConfig::DECODE)
        .chain(hopper)
        .chain(tiles::GemmConfig::DECODE_SM90)
    {
        for (elem, suffix) in kernel_table::GEMM_DTYPES {
            r.push_str(&format!(
                "            (GemmConfig::{c:?}, DType::{elem}) => Kernel {{ module: {:?}, name: \
                 {:?} }},\n",
                c.module(),
                kernel_table::gemm_symbol(c.tile_name(), suffix)
            ));
        }
    }
    r.push_str("            (_, DType::F32) => return None,\n");
    if sweep_left_out {
        // The sweep's tiles, built only with the `gemm-sweep` feature, and the
        // Hopper SS tiles, only with `hopper-ss`.
        r.push_str("            _ => return None,\n");
    }
    r.push_str("        })\n    }\n}\n\n");
    for m in kernel_table::MODULES {
        r.push_str(&format!(
            "/// The kernels of kernels/{0}.cu.\npub mod {0} {{\n    use super::Kernel;\n    \
             #[allow(unused_imports)]\n    use crate::dtype::DType;\n\n    \
             /// The module's name.\n    pub const MODULE: &str = {0:?};\n",
            m.module
        ));
        for rule in m.kernels {
            let names = rule.names();
            match rule {
                kernel_table::Rule::One(n) => r.push_str(&format!(
                    "\n    /// `{n}`.\n    pub const {}: Kernel = Kernel {{ module: MODULE, name: \
                     {n:?} }};\n",
                    n.to_uppercase()
                )),
                kernel_table::Rule::PerDType(stem) | kernel_table::Rule::PerWidth(stem) => {
                    r.push_str(&format!(
                        "\n    /// `{stem}_*` for elements of `dtype`.\n    pub fn {stem}(dtype: \
                         DType) -> Kernel {{\n        match dtype {{\n"
                    ));
                    for (variants, n) in names {
                        let pat: Vec<String> =
                            variants.iter().map(|v| format!("DType::{v}")).collect();
                        r.push_str(&format!(
                            "            {} => Kernel {{ module: MODULE, name: {n:?} }},\n",
                            pat.join(" | ")
                        ));
                    }
                    r.push_str("        }\n    }\n");
                }
            }
        }
        r.push_str("}\n\n");
    }
    r
}

/// The `.entry` names of a PTX text.
fn ptx_entries(ptx: &str) -> Vec<String> {
    ptx.lines()
        .filter_map(|l| l.split(".entry ").nth(1))
        .map(|rest| {
            rest.split(|c: char| c == '(' || c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// Each compiled module defines exactly the kernels declared for it.
fn check_entries(out: &Path, stems: &[String]) -> Result<(), String> {
    let declared = declared_kernels();
    let mut problems = Vec::new();
    for stem in stems {
        let ptx = fs::read_to_string(out.join(format!("{stem}.ptx"))).unwrap_or_default();
        let mut found = ptx_entries(&ptx);
        found.sort();
        let Some((_, want)) = declared.iter().find(|(m, _)| m == stem) else {
            problems.push(format!(
                "kernels/{stem}.cu is declared neither in src/kernel_table.rs nor as the GEMM"
            ));
            continue;
        };
        let mut want = want.clone();
        want.sort();
        for k in want.iter().filter(|k| !found.contains(k)) {
            problems.push(format!("{stem}: kernel {k} is declared but not defined"));
        }
        for k in found.iter().filter(|k| !want.contains(k)) {
            problems.push(format!(
                "{stem}: kernel {k} is defined but not declared in src/kernel_table.rs"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let kernels = root.join("kernels");
    println!("cargo:rerun-if-changed=kernels");
    println!("cargo:rerun-if-changed=src/abi.rs");
    println!("cargo:rerun-if-changed=src/ptxas_report.rs");
    println!("cargo:rerun-if-changed=src/ops/gemm/tiles.rs");
    println!("cargo:rerun-if-changed=src/kernel_table.rs");
    for var in ["NVCC", "CUDA_HOME", "CUDA_PATH", "PATH", "SPARSE24_NO_NVCC"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let require = env::var_os("CARGO_FEATURE_REQUIRE_KERNELS").is_some();
    println!("cargo::rustc-check-cfg=cfg(sparse24_no_kernels)");

    let mut sources: Vec<PathBuf> = fs::read_dir(&kernels)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    sources.retain(|p| p.extension().is_some_and(|e| e == "cu"));
    sources.sort();

    // The typed handles: the same with or without nvcc.
    fs::write(out.join("kernel_handles.rs"), handles_rs()).expect("write kernel_handles.rs");

    let candidates = nvcc_candidates(&root);
    let nvcc = if env::var_os("SPARSE24_NO_NVCC").is_some() {
        None
    } else {
        candidates.iter().find(|p| p.is_file()).cloned()
    };
    let Some(nvcc) = nvcc else {
        let looked = "NVCC, CUDA_HOME/bin, CUDA_PATH/bin, PATH, /usr/local/cuda/bin, .cuda/";
        if require {
            fail(&format!(
                "sparse24: the `require-kernels` feature is on, but nvcc was not found \
                 (looked in: {looked}{}). Set NVCC to the nvcc binary or CUDA_HOME to \
                 the CUDA toolkit (the kernels are built and tested with nvcc 13.0).",
                if env::var_os("SPARSE24_NO_NVCC").is_some() {
                    "; SPARSE24_NO_NVCC is set"
                } else {
                    ""
                }
            ));
        }
        watch_places(&root);
        // The kernels of an earlier build are gone: a later compiler must rebuild them.
        let _ = fs::remove_file(out.join("kernels.stamp"));
        // In the repository, point at its installer; a dependent does not have it.
        let script = root.join("scripts/toolchain/install-cuda-compiler.sh");
        let hint = if script.is_file() {
            " (in the sparse24 repository: scripts/toolchain/install-cuda-compiler.sh)"
        } else {
            ""
        };
        println!(
            "cargo:warning=sparse24: nvcc not found ({looked}): building the CPU path \
             only; GPU calls will return Error::KernelsNotCompiled. Set NVCC or CUDA_HOME \
             and rebuild{hint}; enable the `require-kernels` feature to make this an error."
        );
        println!("cargo:rustc-cfg=sparse24_no_kernels");
        fs::write(
            out.join("kernels.rs"),
            "/// Every kernel module this build embeds (none: built without nvcc).\npub static MODULES: &[EmbeddedModule] = &[];\n",
        )
        .expect("write kernels.rs");
        return;
    };

    println!("cargo:rerun-if-changed={}", nvcc.display());
    // The codes shared with Rust (src/abi.rs): written before the stamp check, which
    // covers them through the header's text.
    let abi_header = abi::c_header();
    fs::write(out.join("sparse24_abi.cuh"), &abi_header).expect("write sparse24_abi.cuh");
    // The GEMM's instantiations, generated from the tiles; the stamp covers them and
    // the declared kernel names through their text.
    let instances = gemm_instances();
    fs::write(out.join("sparse_gemm_instances.cuh"), &instances)
        .expect("write sparse_gemm_instances.cuh");
    let instances90 = gemm90_instances();
    fs::write(out.join("sparse_gemm_sm90_instances.cuh"), &instances90)
        .expect("write sparse_gemm_sm90_instances.cuh");
    let instances_decode90 = decode90_instances();
    fs::write(
        out.join("sparse_decode_sm90_instances.cuh"),
        &instances_decode90,
    )
    .expect("write sparse_decode_sm90_instances.cuh");
    let generated = format!(
        "{abi_header}{instances}{instances90}{instances_decode90}{:?}",
        declared_kernels()
    );
    let fingerprint = stamp(&nvcc, &sources, &kernels, &generated);
    let stamp_path = out.join("kernels.stamp");
    if fs::read_to_string(&stamp_path).is_ok_and(|s| s == fingerprint)
        && out.join("kernels.rs").is_file()
    {
        // Same compiler, same sources: keep the kernels, repeat their warnings.
        for src in &sources {
            let stem = src.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let report =
                fs::read_to_string(out.join(format!("{stem}.ptxas.txt"))).unwrap_or_default();
            warn_spills(stem, &report);
        }
        return;
    }

    // Compile the files in parallel: each nvcc call is single-threaded.
    let results: Vec<Result<Compiled, String>> = thread::scope(|s| {
        let handles: Vec<_> = sources
            .iter()
            .map(|src| {
                let (nvcc, out, kernels) = (&nvcc, &out, &kernels);
                s.spawn(move || compile(nvcc, src, out, &[kernels, out]))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("nvcc thread panicked".into()))
            })
            .collect()
    });
    let mut table = String::from(
        "/// Every kernel module this build embeds.\npub static MODULES: &[EmbeddedModule] = &[\n",
    );
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(c) => {
                warn_spills(&c.stem, &c.report);
                let p = |ext: &str| out.join(format!("{}.{ext}", c.stem)).display().to_string();
                table.push_str(&format!(
                    "    EmbeddedModule {{ name: {:?}, ptx: include_str!({:?}), fatbin: include_bytes!({:?}), ptxas_report: include_str!({:?}) }},\n",
                    c.stem, p("ptx"), p("fatbin"), p("ptxas.txt")
                ));
            }
            Err(e) => failures.push(e),
        }
    }
    if !failures.is_empty() {
        fail(&format!(
            "kernel compilation failed:\n{}",
            failures.join("\n")
        ));
    }
    let stems: Vec<String> = sources
        .iter()
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string))
        .collect();
    if let Err(e) = check_entries(&out, &stems) {
        fail(&format!(
            "the kernels differ from their declarations (src/kernel_table.rs, \
             src/ops/gemm/tiles.rs):\n{e}"
        ));
    }
    table.push_str("];\n");
    fs::write(out.join("kernels.rs"), table).expect("write kernels.rs");
    fs::write(&stamp_path, fingerprint).expect("write kernels.stamp");
}

fn warn_spills(stem: &str, report: &str) {
    // Every frame line's spill stores: entries' and the device functions they call.
    let spills = ptxas_report::spill_store_bytes(report);
    if spills > 0 {
        println!("cargo:warning=sparse24: kernel module {stem} spills {spills} bytes (ptxas -v)");
    }
}
