//! Writes that cannot lose data: a file appears at its path complete or not at all.
//!
//! [`AtomicFile`] writes into a temporary file created next to the target with
//! `create_new` (a fresh, unique name: two writers never share one, and an existing
//! file is never opened for writing), then flushes, fsyncs, renames it over the target
//! and fsyncs the directory, so a crash or a full disk at any point leaves either the
//! old file or the new one. Dropped before [`AtomicFile::commit`], it removes the
//! temporary file and leaves the target untouched.
//!
//! [`AtomicFile::create`] also checks the target before any work is done: it must not
//! be a directory, its folder must exist, and it must not be one of the inputs the
//! writer is still reading (writing over a memory-mapped input would destroy it).

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Size of the write buffer in front of the temporary file.
const BUFFER_BYTES: usize = 1 << 20;
/// How many unique names are tried before giving up (each try is `create_new`).
const NAME_TRIES: u32 = 64;

fn io_err(what: impl std::fmt::Display, e: std::io::Error) -> Error {
    Error::Io(format!("{what}: {e}"))
}

/// Whether `a` and `b` name the same existing file (through links, `..`, hard links).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(ma), Ok(mb)) => same_inode(&ma, &mb),
        _ => false,
    }
}

#[cfg(unix)]
fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// Checks that `target` can be written by an atomic rename: not a directory, in an
/// existing folder, and none of `inputs`. Cheap: call it before long work.
pub fn check_target(target: &Path, inputs: &[&Path]) -> Result<()> {
    if target.as_os_str().is_empty() {
        return Err(Error::Io("the output path is empty".into()));
    }
    if target.is_dir() {
        return Err(Error::Io(format!(
            "{} is a directory; give a file name",
            target.display()
        )));
    }
    let dir = parent_dir(target);
    if !dir.is_dir() {
        return Err(Error::Io(format!(
            "the folder {} of the output does not exist",
            dir.display()
        )));
    }
    for input in inputs {
        if same_file(target, input) || target == *input {
            return Err(Error::Io(format!(
                "the output {} is the input {}: write to another file (it is replaced only \
                 when complete, but the input is still being read)",
                target.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

fn parent_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A per-process counter and the clock make names unique within and across processes
/// (with the pid); `create_new` makes any remaining collision a retry, not a clash.
fn unique_suffix(attempt: u32) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}.{n}.{nanos:08x}{attempt}", std::process::id())
}

/// A file being written; see the module documentation.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates a fresh temporary file next to `target` after [`check_target`].
    pub fn create(target: impl AsRef<Path>, inputs: &[&Path]) -> Result<AtomicFile> {
        let target = target.as_ref().to_path_buf();
        check_target(&target, inputs)?;
        let dir = parent_dir(&target);
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let mut last = None;
        for attempt in 0..NAME_TRIES {
            let temp = dir.join(format!(".{name}.{}.partial", unique_suffix(attempt)));
            match OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(f) => {
                    return Ok(AtomicFile {
                        target,
                        temp,
                        out: Some(BufWriter::with_capacity(BUFFER_BYTES, f)),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(io_err(format!("creating {}", temp.display()), e)),
            }
        }
        Err(io_err(
            format!("finding a free temporary name in {}", dir.display()),
            last.unwrap_or_else(|| std::io::Error::other("no attempt made")),
        ))
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary path being written.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    fn out(&mut self) -> std::io::Result<&mut BufWriter<File>> {
        self.out
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the file was already committed"))
    }

    /// Flushes, fsyncs, renames over the target and fsyncs the folder.
    pub fn commit(mut self) -> Result<()> {
        let temp = self.temp.clone();
        let out = self
            .out
            .take()
            .ok_or_else(|| Error::Io("the file was already committed".into()))?;
        let file = out
            .into_inner()
            .map_err(|e| io_err(format!("writing {}", temp.display()), e.into_error()))?;
        file.sync_all()
            .map_err(|e| io_err(format!("syncing {}", temp.display()), e))?;
        drop(file);
        std::fs::rename(&temp, &self.target).map_err(|e| {
            io_err(
                format!("renaming {} to {}", temp.display(), self.target.display()),
                e,
            )
        })?;
        // The rename is durable only once the folder's entry is on disk.
        let dir = parent_dir(&self.target);
        if let Ok(d) = File::open(&dir) {
            d.sync_all()
                .map_err(|e| io_err(format!("syncing the folder {}", dir.display()), e))?;
        }
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out()?.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out()?.flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.out()?.seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            self.out = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes `bytes` to `path` atomically (reports, plots, small files).
pub fn write_file(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path, &[])?;
    f.write_all(bytes)
        .map_err(|e| io_err(format!("writing {}", f.temp_path().display()), e))?;
    f.commit()
}
