//! Files that cannot silently change or vanish: per-layer checksums catch every
//! single-bit flip, version 1 files still load, a layer missing from the header is an
//! error, and saves are atomic (a failed or concurrent save never leaves a truncated
//! or mixed file).

use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::io::atomic::AtomicFile;
use sparse24::io::header::{FileHeader, LayerHeader, METADATA_KEY};
use sparse24::io::{self, AnySparse24, SparseFile, StreamWriter, TensorSpec, Verify};
use sparse24::{bf16, f16, prune, DType, Error, Sparse24};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

fn dense(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-2.0f32..2.0)).collect()
}

fn layers() -> Vec<(String, AnySparse24)> {
    let f32l: Sparse24<f32> = prune::prune_magnitude(&dense(1, 8 * 48), 8, 48).unwrap();
    let h: Vec<f16> = dense(2, 5 * 32).into_iter().map(f16::from_f32).collect();
    let b: Vec<bf16> = dense(3, 3 * 16).into_iter().map(bf16::from_f32).collect();
    vec![
        ("enc.0.q.weight".into(), f32l.into()),
        (
            "enc.0.k.weight".into(),
            prune::prune_magnitude(&h, 5, 32).unwrap().into(),
        ),
        (
            "enc.1.ffn.weight".into(),
            prune::prune_magnitude(&b, 3, 16).unwrap().into(),
        ),
    ]
}

fn refs(l: &[(String, AnySparse24)]) -> Vec<(&str, &AnySparse24)> {
    l.iter().map(|(n, l)| (n.as_str(), l)).collect()
}

fn load_all(bytes: &[u8], verify: Verify) -> sparse24::Result<Vec<(String, AnySparse24)>> {
    SparseFile::parse_with(bytes, verify)?.layers()
}

fn sorted(mut l: Vec<(String, AnySparse24)>) -> Vec<(String, AnySparse24)> {
    l.sort_by(|a, b| a.0.cmp(&b.0));
    l
}

fn header_len(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

/// Writes the same layers with a version 1 header (no checksums), as files written
/// before checksums existed.
fn version1_bytes(l: &[(String, AnySparse24)], listed: usize) -> Vec<u8> {
    let mut h = FileHeader::new();
    h.format_version = 1;
    let mut specs = Vec::new();
    for (i, (name, layer)) in l.iter().enumerate() {
        let (rows, cols) = layer.shape();
        specs.extend(TensorSpec::layer(name, layer.dtype(), rows, cols));
        if i < listed {
            h.layers
                .insert(name.clone(), LayerHeader::new(layer.dtype(), rows, cols));
        }
    }
    let meta = BTreeMap::from([(METADATA_KEY.to_string(), h.to_json().unwrap())]);
    let mut w = StreamWriter::new(Vec::new(), specs, meta).unwrap();
    let order: Vec<String> = w.order().map(str::to_string).collect();
    for t in order {
        let (name, layer) = l
            .iter()
            .find(|(n, _)| t == io::values_name(n) || t == io::meta_name(n))
            .unwrap();
        if t == io::values_name(name) {
            w.write(&t, layer.values_bytes()).unwrap();
        } else {
            w.write(&t, bytemuck::cast_slice(layer.metadata())).unwrap();
        }
    }
    w.finish().unwrap()
}

/// Flips every bit of the file once: (loads that return other layers than were
/// saved, flips that were caught, flips whose load equals the original).
fn flip_every_bit(bytes: &[u8], want: &[(String, AnySparse24)]) -> (usize, usize, usize) {
    let (mut silent, mut caught, mut harmless) = (0, 0, 0);
    let mut b = bytes.to_vec();
    for i in 0..bytes.len() * 8 {
        b[i / 8] ^= 1 << (i % 8);
        match load_all(&b, Verify::Checksums).map(sorted) {
            Err(_) => caught += 1,
            Ok(got) if got == want => harmless += 1,
            Ok(_) => silent += 1,
        }
        b[i / 8] ^= 1 << (i % 8);
    }
    (silent, caught, harmless)
}

#[test]
fn every_single_bit_flip_is_caught_or_harmless() {
    let l = layers();
    let want = sorted(l.clone());
    let bytes = io::to_bytes(&refs(&l)).unwrap();
    assert_eq!(sorted(load_all(&bytes, Verify::Checksums).unwrap()), want);
    let (silent, caught, harmless) = flip_every_bit(&bytes, &want);
    eprintln!(
        "version 2: {} bit flips: {caught} caught, {harmless} harmless, {silent} silent",
        bytes.len() * 8
    );
    assert_eq!(
        silent, 0,
        "bit flips that changed the loaded layers silently"
    );
    // Every flip inside the layers' data is a checksum error naming the tensor.
    let start = 8 + header_len(&bytes);
    let mut b = bytes.clone();
    for i in (start * 8..bytes.len() * 8).step_by(7) {
        b[i / 8] ^= 1 << (i % 8);
        match load_all(&b, Verify::Checksums) {
            Err(Error::Tensor { source, .. }) => {
                assert!(matches!(*source, Error::Checksum { .. }), "{source}")
            }
            other => panic!("bit {i}: expected a checksum error, got {other:?}"),
        }
        b[i / 8] ^= 1 << (i % 8);
    }
    // The same layers without checksums (version 1) let data flips through: what
    // the checksums are for.
    let v1 = version1_bytes(&l, l.len());
    assert_eq!(sorted(load_all(&v1, Verify::Checksums).unwrap()), want);
    let (silent_v1, _, _) = flip_every_bit(&v1, &want);
    eprintln!("version 1: {silent_v1} silent");
    assert!(silent_v1 > 0);
}

#[test]
fn trusted_loads_skip_the_hashing_but_not_the_validation() {
    let l = layers();
    let mut bytes = io::to_bytes(&refs(&l)).unwrap();
    let file = SparseFile::parse(&bytes).unwrap();
    let (_, _, v) = file.tensor("enc.0.q.weight.values").unwrap();
    let offset = v.as_ptr() as usize - bytes.as_ptr() as usize;
    // Change one f32 value to another finite value.
    bytes[offset] ^= 0x10;
    assert!(matches!(
        SparseFile::parse(&bytes).unwrap().layer("enc.0.q.weight"),
        Err(Error::Tensor { ref tensor, ref source })
            if tensor == "enc.0.q.weight.values" && matches!(**source, Error::Checksum { .. })
    ));
    let trusted = SparseFile::parse_with(&bytes, Verify::Trusted).unwrap();
    assert_eq!(trusted.verify(), Verify::Trusted);
    assert_ne!(
        trusted.layer("enc.0.q.weight").unwrap(),
        l[0].1,
        "the trusted load returns the changed bytes"
    );
}

#[test]
fn version_1_files_still_load_and_headers_must_match_their_version() {
    let l = layers();
    let v1 = version1_bytes(&l, l.len());
    let file = SparseFile::parse(&v1).unwrap();
    assert_eq!(file.format_version(), 1);
    assert_eq!(sorted(file.layers().unwrap()), sorted(l.clone()));

    // Version 2 without checksums, version 1 with them: refused.
    let mut h = FileHeader::new();
    let (rows, cols) = l[0].1.shape();
    h.layers
        .insert(l[0].0.clone(), LayerHeader::new(DType::F32, rows, cols));
    assert!(matches!(
        FileHeader::from_json(&h.to_json().unwrap()),
        Err(Error::Format(m)) if m.contains("no checksum")
    ));
    let mut h1 = h.clone().with_placeholder_checksums();
    h1.format_version = 1;
    assert!(matches!(
        FileHeader::from_json(&h1.to_json().unwrap()),
        Err(Error::Format(_))
    ));
    // Unknown fields (a flipped letter in a key) are refused, not ignored.
    let json = h
        .with_placeholder_checksums()
        .to_json()
        .unwrap()
        .replace("meta_layout", "meta_layouT");
    assert!(matches!(
        FileHeader::from_json(&json),
        Err(Error::Format(_))
    ));
}

#[test]
fn a_layer_missing_from_the_header_is_an_error() {
    let l = layers();
    // Tensors of three layers, a header that lists two.
    let bytes = version1_bytes(&l, 2);
    let e = match SparseFile::parse(&bytes) {
        Err(e) => e.to_string(),
        Ok(f) => panic!("loaded {:?}", f.layer_names()),
    };
    assert!(e.contains(&l[2].0), "{e}");
    assert!(matches!(
        io::load_with("/nonexistent/x", Verify::Trusted),
        Err(Error::Io(_))
    ));
}

struct Dir(PathBuf);
impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("sparse24-atomic-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_failed_save_keeps_the_old_file() {
    let dir = Dir::new("failed");
    let path = dir.path("layers.safetensors");
    let l = layers();
    io::save(&path, &refs(&l)).unwrap();
    let before = std::fs::read(&path).unwrap();
    // Two layers of one name: refused after the file was opened for writing.
    let twice = vec![l[0].clone(), l[0].clone()];
    assert!(matches!(
        io::save(&path, &refs(&twice)),
        Err(Error::Tensor { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // The reserved key in the extra metadata: refused, file intact.
    let bad = BTreeMap::from([(METADATA_KEY.to_string(), "x".to_string())]);
    assert!(io::save_with(&path, &refs(&l), &[], bad).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(
        dir.entries(),
        ["layers.safetensors"],
        "no temporary file left"
    );
    // A directory or a missing folder as the target: refused, nothing created.
    assert!(matches!(io::save(&dir.0, &refs(&l)), Err(Error::Io(_))));
    assert!(matches!(
        io::save(dir.path("missing/x.safetensors"), &refs(&l)),
        Err(Error::Io(_))
    ));
    assert_eq!(dir.entries(), ["layers.safetensors"]);
}

#[test]
fn an_abandoned_write_leaves_the_target_untouched() {
    let dir = Dir::new("abandon");
    let path = dir.path("out.bin");
    std::fs::write(&path, b"old contents").unwrap();
    {
        let mut f = AtomicFile::create(&path, &[]).unwrap();
        assert!(f.temp_path().starts_with(&dir.0));
        f.write_all(b"new, but never committed").unwrap();
        // Two writers to one target never share a temporary file.
        let g = AtomicFile::create(&path, &[]).unwrap();
        assert_ne!(f.temp_path(), g.temp_path());
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"old contents");
    assert_eq!(dir.entries(), ["out.bin"]);
    // Refused when the target is one of the inputs (also through a hard link).
    let link = dir.path("link.bin");
    std::fs::hard_link(&path, &link).unwrap();
    assert!(AtomicFile::create(&path, &[path.as_path()]).is_err());
    assert!(AtomicFile::create(&link, &[path.as_path()]).is_err());
    sparse24::io::atomic::write_file(&path, b"replaced").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"replaced");
    assert_eq!(std::fs::read(&link).unwrap(), b"old contents");
}

#[test]
fn concurrent_saves_to_one_path_leave_one_complete_file() {
    let dir = Dir::new("concurrent");
    let path = dir.path("layers.safetensors");
    let l = layers();
    let sets: Vec<Vec<(String, AnySparse24)>> = (0..l.len()).map(|i| vec![l[i].clone()]).collect();
    std::thread::scope(|s| {
        for set in &sets {
            let path: &Path = &path;
            s.spawn(move || {
                for _ in 0..20 {
                    io::save(path, &refs(set)).unwrap();
                }
            });
        }
    });
    let got = io::load(&path).unwrap();
    assert!(sets.contains(&got), "a mix of saves: {:?}", got.len());
    assert_eq!(dir.entries(), ["layers.safetensors"]);
}

#[test]
fn stored_infinities_are_refused_like_nan() {
    // The loader refused NaN but accepted ±Inf; a version 1 file has no checksum to
    // catch either, so the value check itself must.
    let l = layers();
    for bits in [0x7c00u16, 0xfc00, 0x7e00] {
        let mut v1 = version1_bytes(&l, l.len());
        let file = SparseFile::parse(&v1).unwrap();
        let (_, _, v) = file.tensor("enc.0.k.weight.values").unwrap();
        let at = v.as_ptr() as usize - v1.as_ptr() as usize + 2 * 21;
        v1[at..at + 2].copy_from_slice(&bits.to_le_bytes());
        let e = SparseFile::parse(&v1)
            .unwrap()
            .layer("enc.0.k.weight")
            .unwrap_err();
        assert!(
            matches!(&e, Error::Tensor { tensor, source }
                if tensor == "enc.0.k.weight.values"
                    && matches!(**source, Error::NonFinite { row: 1, col: 5, .. })),
            "{bits:#x}: {e}"
        );
    }
}
