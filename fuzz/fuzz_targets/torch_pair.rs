//! PyTorch's packed/meta pair import on arbitrary bytes, as each element type: the
//! same bytes are a valid pair for at most one type, so all three paths see every input.
#![no_main]
use half::{bf16, f16};
use libfuzzer_sys::fuzz_target;
use sparse24::io::torch::load_pair;

fuzz_target!(
    init: sparse24_fuzz::seeds::write_if_asked(sparse24_fuzz::seeds::torch_pairs),
    |data: &[u8]| {
        let _ = load_pair::<f16>(data, "w.packed", "w.meta");
        let _ = load_pair::<bf16>(data, "w.packed", "w.meta");
        let _ = load_pair::<f32>(data, "w.packed", "w.meta");
    }
);
