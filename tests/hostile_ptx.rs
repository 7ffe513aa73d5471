//! The project's own PTX, mutated the ways a broken toolchain or a hostile file would
//! (lines dropped, repeated, swapped, numbers replaced by huge or negative ones,
//! declarations inflated, text cut short): ptxsim's parser and loader must answer each
//! with a module or a typed error, never a panic, an abort or a hang.

use rand::{rngs::StdRng, Rng, SeedableRng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Numbers that overflow u32, u64, i64 or a size computation.
const HOSTILE_NUMBERS: [&str; 8] = [
    "0",
    "-1",
    "4294967296",
    "8589934608",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "10000000",
];

fn mutate(text: &str, rng: &mut StdRng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len();
    let i = rng.gen_range(0..n);
    match rng.gen_range(0..6) {
        0 => {
            lines.remove(i);
        }
        1 => {
            let l = lines[i].clone();
            lines.insert(i, l);
        }
        2 => lines.swap(i, rng.gen_range(0..n)),
        3 => {
            // Replace one run of digits on a line that has one.
            let (j, l) = (0..n)
                .map(|k| (i + k) % n)
                .map(|k| (k, &lines[k]))
                .find(|(_, l)| l.bytes().any(|b| b.is_ascii_digit()))
                .unwrap();
            let start = l.find(|c: char| c.is_ascii_digit()).unwrap();
            let end = l[start..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(l.len(), |e| start + e);
            let num = HOSTILE_NUMBERS[rng.gen_range(0..HOSTILE_NUMBERS.len())];
            lines[j] = format!("{}{num}{}", &l[..start], &l[end..]);
        }
        4 => {
            // Inflate a declaration: registers, arrays.
            let l = &lines[i];
            let num = HOSTILE_NUMBERS[rng.gen_range(0..HOSTILE_NUMBERS.len())];
            lines[i] = if l.contains(".reg") && l.contains('<') {
                format!("{}<{num}>;", &l[..l.find('<').unwrap()])
            } else {
                format!("{l}\n.global .align 4 .b8 hostile_{i}[{num}];")
            };
        }
        _ => {
            let cut = rng.gen_range(0..text.len());
            let cut = (0..=cut).rev().find(|&c| text.is_char_boundary(c)).unwrap();
            return text[..cut].to_string();
        }
    }
    lines.join("\n")
}

#[test]
fn mutated_project_ptx_never_panics_or_hangs() {
    if !sparse24::kernels::compiled() {
        eprintln!("skipped: the kernels were not compiled (no nvcc), so there is no PTX");
        return;
    }
    let mut rng = StdRng::seed_from_u64(0x5EED);
    let (mut parsed, mut refused, mut panics) = (0usize, 0usize, Vec::new());
    let mut slowest = Duration::ZERO;
    // The three smaller modules (the GEMM's 1.3 MB would dominate the run time).
    for name in ["decompress", "prune", "learn"] {
        let text = sparse24::kernels::module(name).unwrap().ptx;
        assert!(
            ptxsim::Module::parse(text).is_ok(),
            "{name} must parse as is"
        );
        for case in 0..250 {
            let m = mutate(text, &mut rng);
            let t = Instant::now();
            let r = catch_unwind(AssertUnwindSafe(|| {
                ptxsim::Module::parse(&m).map(|module| {
                    // Loading: every kernel's name, and what the emulator cannot run.
                    (module.kernel_names().len(), module.unsupported().len())
                })
            }));
            slowest = slowest.max(t.elapsed());
            match r {
                Ok(Ok(_)) => parsed += 1,
                Ok(Err(_)) => refused += 1,
                Err(_) => panics.push(format!("{name} case {case}")),
            }
        }
    }
    eprintln!(
        "{} mutants: {parsed} parsed, {refused} refused, {} panicked; slowest {:?}",
        parsed + refused + panics.len(),
        panics.len(),
        slowest
    );
    assert!(panics.is_empty(), "panics: {panics:?}");
    assert!(refused > 0 && parsed > 0);
    // A hang guard, not a timing test: one parse of a ≤ 90 KB module in seconds.
    assert!(
        slowest < Duration::from_secs(20),
        "slowest parse {slowest:?}"
    );
}
