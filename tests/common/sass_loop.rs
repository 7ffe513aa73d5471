// Shared by tests/gemm_build.rs and examples/kernel-report (staged.rs): the main loop
// of a kernel in cuobjdump's SASS text, found as the backward branch whose body holds
// the most HMMA.SP, and its instruction count per HMMA.SP.
#![allow(dead_code)]

/// The main loop of one kernel on one architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SassLoop {
    /// Instructions between the loop's head and its backward branch (both included).
    pub instructions: usize,
    /// HMMA.SP among them.
    pub hmma_sp: usize,
    /// Shared-memory loads among them (LDS*, LDSM*).
    pub shared_loads: usize,
    /// cp.async copies among them (LDGSTS).
    pub cp_async: usize,
    /// Global loads into registers among them (LDG).
    pub global_loads: usize,
}

impl SassLoop {
    /// Instructions per HMMA.SP (the goal: at most 3).
    pub fn per_hmma_sp(&self) -> f64 {
        self.instructions as f64 / self.hmma_sp.max(1) as f64
    }
}

/// The SASS of `kernel` compiled for `arch` (`sm_80` ...) in `cuobjdump -sass` text.
pub fn function_sass<'a>(text: &'a str, arch: &str, kernel: &str) -> Option<&'a str> {
    let section = text
        .split("code for ")
        .find(|s| s.starts_with(arch) && s[arch.len()..].starts_with(char::is_whitespace))?;
    let header = format!("Function : {kernel}\n");
    let start = section.find(&header)? + header.len();
    let body = &section[start..];
    Some(match body.find("Function : ") {
        Some(end) => &body[..end],
        None => body,
    })
}

/// (address, instruction text) of each SASS line (`/*0a40*/  @!P1 BRA 0x800 ;`).
fn instructions(body: &str) -> Vec<(u64, &str)> {
    body.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l.strip_prefix("/*")?;
            let (addr, rest) = rest.split_once("*/")?;
            let addr = u64::from_str_radix(addr, 16).ok()?;
            let inst = rest.split(';').next()?.trim();
            (!inst.is_empty()).then_some((addr, inst))
        })
        .collect()
}

/// The loop of `body` (one function's SASS) with the most HMMA.SP: the backward
/// branch `BRA target` (target below it) whose range holds the most.
pub fn main_loop(body: &str) -> Option<SassLoop> {
    let ins = instructions(body);
    let mut best: Option<SassLoop> = None;
    for &(addr, inst) in &ins {
        let Some(target) = inst
            .split_whitespace()
            .skip_while(|w| !w.starts_with("BRA"))
            .nth(1)
            .and_then(|t| u64::from_str_radix(t.trim_start_matches("0x"), 16).ok())
        else {
            continue;
        };
        if target >= addr {
            continue;
        }
        let range: Vec<&str> = ins
            .iter()
            .filter(|(a, _)| (target..=addr).contains(a))
            .map(|(_, i)| *i)
            .collect();
        let has = |i: &&&str, op: &str| i.split_whitespace().any(|w| w.starts_with(op));
        let l = SassLoop {
            instructions: range.len(),
            hmma_sp: range.iter().filter(|i| has(i, "HMMA.SP")).count(),
            shared_loads: range
                .iter()
                .filter(|i| has(i, "LDS") || has(i, "LDSM"))
                .count(),
            cp_async: range.iter().filter(|i| has(i, "LDGSTS")).count(),
            global_loads: range
                .iter()
                .filter(|i| has(i, "LDG") && !has(i, "LDGSTS") && !has(i, "LDGDEPBAR"))
                .count(),
        };
        if best.is_none_or(|b| l.hmma_sp > b.hmma_sp) {
            best = Some(l);
        }
    }
    best.filter(|l| l.hmma_sp > 0)
}
