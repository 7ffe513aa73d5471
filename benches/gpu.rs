//! The GPU benchmark as a `cargo bench --bench gpu` target (harness = false): the same
//! program as `cargo run --release --example gpu-bench` (examples/gpu-bench/, where
//! its documentation lives). Without a CUDA device it prints "skipped: no CUDA device".

#[path = "../examples/gpu-bench/main.rs"]
mod gpu_bench;

fn main() -> std::process::ExitCode {
    gpu_bench::main()
}
