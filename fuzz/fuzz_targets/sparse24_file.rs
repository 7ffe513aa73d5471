//! The sparse24 file loader on arbitrary bytes: parsing, every layer (one by one and
//! all at once) and every tensor the container lists must return, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sparse24::io::SparseFile;

fuzz_target!(
    init: sparse24_fuzz::seeds::write_if_asked(sparse24_fuzz::seeds::sparse24_files),
    |data: &[u8]| {
        let Ok(file) = SparseFile::parse(data) else {
            return;
        };
        for name in file.layer_names() {
            let _ = file.layer(name);
        }
        let _ = file.layers();
        // SparseFile has no list of all tensors; the container's own header gives it, so
        // tensors that are not layers (and names the header lacks) are read too.
        if let Ok((_, meta)) = safetensors::SafeTensors::read_metadata(data) {
            for name in meta.tensors().keys() {
                let _ = file.tensor(name);
            }
        }
    }
);
