#![allow(dead_code)]
//! Shared test helpers.

pub mod pipeline_case;
pub mod ptx_current;

use ptxsim::{Device, ExecError, LaunchStats, Module, SimError};

pub fn kernel_src(name: &str) -> String {
    let p = format!("{}/tests/kernels/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

pub fn module(name: &str) -> Module {
    Module::parse(&kernel_src(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn upload<T: Copy>(dev: &mut Device, data: &[T]) -> u64 {
    let bytes = as_bytes(data);
    let p = dev.alloc(bytes.len()).unwrap();
    dev.write(p, &bytes).unwrap();
    p
}

pub fn as_bytes<T: Copy>(data: &[T]) -> Vec<u8> {
    let n = std::mem::size_of_val(data);
    // SAFETY: T is a plain Copy numeric type in all callers
    unsafe { std::slice::from_raw_parts(data.as_ptr() as *const u8, n) }.to_vec()
}

pub fn download<T: Copy + Default>(dev: &Device, p: u64, n: usize) -> Vec<T> {
    let b = dev.read(p, n * std::mem::size_of::<T>()).unwrap();
    let mut out = vec![T::default(); n];
    // SAFETY: sizes match; T is plain data
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), out.as_mut_ptr() as *mut u8, b.len());
    }
    out
}

/// The 1-based line of the first line of `src` containing `marker`.
pub fn line_of(src: &str, marker: &str) -> u32 {
    src.lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("marker {marker}")) as u32
        + 1
}

/// The execution error of a launch that must fail (printed, so `--nocapture` shows it).
pub fn expect_exec(r: Result<LaunchStats, SimError>) -> ExecError {
    match r {
        Err(SimError::Exec(e)) => {
            println!("{e}");
            *e
        }
        Err(e) => panic!("expected an execution error, got {e}"),
        Ok(_) => panic!("expected an execution error, the launch succeeded"),
    }
}
