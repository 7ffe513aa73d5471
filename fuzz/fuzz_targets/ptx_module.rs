//! ptxsim's parser and decoder on arbitrary UTF-8, then what a host does with a parsed
//! module: list its kernels and unsupported instructions, and launch the first entry as
//! one warp with a small instruction budget (module globals are allocated then, and the
//! decoded program runs). Parse, API and execution errors are fine; panics, hangs and
//! runaway memory are findings.
//!
//! 33 threads: one whole warp, so warp-wide instructions (mma, ldmatrix) of the real
//! kernels execute, and one partial warp, where they must be refused (they once
//! panicked there: ptxsim/tests/regressions/).
#![no_main]
use libfuzzer_sys::fuzz_target;
use ptxsim::{Device, LaunchConfig, Module, Param, SimError};

/// Threads of the launch: a whole warp and a partial one.
const THREADS: u32 = 33;
/// Per-CTA thread-instruction budget: some hundreds of warp instructions, past the
/// prologue of a real kernel; small enough that a loop costs milliseconds.
const INSTRUCTIONS: u64 = 32 * 500;

/// The first number after `key` in `msg`.
fn number_after(msg: &str, key: &str) -> Option<usize> {
    let rest = &msg[msg.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Launches `kernel` with arguments fitted to its signature. The API does not expose
/// parameter sizes, so they are learned from its mismatch errors: every argument starts
/// as a pointer to a small zeroed buffer, and one of another size becomes zero bytes.
fn launch(dev: &mut Device, module: &Module, kernel: &str) {
    let Ok(buf) = dev.alloc(4096) else { return };
    let cfg = LaunchConfig::linear(1, THREADS);
    let mut params: Vec<Param> = Vec::new();
    for _ in 0..64 {
        let Err(SimError::Api(msg)) = dev.launch(module, kernel, &cfg, &params) else {
            return;
        };
        if let Some(n) = number_after(&msg, " takes ") {
            if n == params.len() || n > 256 {
                return;
            }
            params = vec![Param::U64(buf); n];
        } else if let (Some(i), Some(size)) = (
            number_after(&msg, " parameter "),
            number_after(&msg, " is "),
        ) {
            if i >= params.len() || size > 4096 || matches!(params[i], Param::Bytes(_)) {
                return;
            }
            params[i] = Param::Bytes(vec![0; size]);
        } else {
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(module) = Module::parse(text) else {
        return;
    };
    let _ = module.unsupported();
    let Some(kernel) = module.kernel_names().into_iter().next() else {
        return;
    };
    let mut dev = Device::new();
    dev.set_threads(Some(1));
    dev.set_instruction_limit(Some(INSTRUCTIONS));
    launch(&mut dev, &module, &kernel);
});
