//! The one parser of ptxas's resource report (`nvcc -Xptxas -v`): registers, spills,
//! stack and static shared memory per kernel and architecture.
//!
//! Self-contained (it uses nothing from the crate): build.rs includes this file with
//! `#[path]` to warn about spills, and the crate re-exports it from `kernels`
//! (`kernels::parse_ptxas_report`, `kernels::ResourceUsage`) for the kernel report
//! and the build tests.
//!
//! A report is a sequence of lines such as (nvcc 13.0):
//!
//! ```text
//! ptxas info    : Compiling entry function 'decompress_b32' for 'sm_80'
//! ptxas info    : Function properties for decompress_b32
//!     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
//! ptxas info    : Used 16 registers, used 0 barriers, 384 bytes cmem[0]
//! ```
//!
//! A `__noinline__` device function gets its own "Function properties" block after
//! the entry that calls it; its frame line is not the entry's.

/// ptxas's figures for one kernel on one architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceUsage {
    /// The kernel's (mangled or `extern "C"`) name.
    pub kernel: String,
    /// The target architecture, e.g. `sm_90a`.
    pub arch: String,
    /// Registers per thread.
    pub registers: u32,
    /// Bytes spilled to local memory.
    pub spill_store_bytes: u32,
    /// Bytes reloaded from spills.
    pub spill_load_bytes: u32,
    /// Bytes of the kernel's own stack frame.
    pub stack_bytes: u32,
    /// Static shared memory ("smem" in the report).
    pub shared_bytes: u32,
}

/// One line of the report that carries a figure; other lines are `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// "Compiling entry function 'K' for 'ARCH'": the figures after it are K's on ARCH.
    Entry {
        /// K, the kernel.
        kernel: &'a str,
        /// ARCH, e.g. `sm_90a`.
        arch: &'a str,
    },
    /// "Function properties for F": the next frame line is F's (an entry or a device
    /// function it calls).
    Properties {
        /// F, an entry or a device function.
        function: &'a str,
    },
    /// "N bytes stack frame, N bytes spill stores, N bytes spill loads".
    Frame {
        /// Bytes of the stack frame.
        stack_bytes: Option<u32>,
        /// Bytes spilled.
        spill_store_bytes: Option<u32>,
        /// Bytes reloaded from spills.
        spill_load_bytes: Option<u32>,
    },
    /// "Used N registers, ..., N bytes smem, ...".
    Used {
        /// Registers per thread.
        registers: Option<u32>,
        /// Static shared memory in bytes.
        shared_bytes: Option<u32>,
    },
}

/// The decimal number just before `unit` in `line` (spaces between allowed).
fn number_before(line: &str, unit: &str) -> Option<u32> {
    let i = line.find(unit)?;
    line[..i]
        .trim_end()
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Classifies one line of a report.
pub fn parse_line(line: &str) -> Option<Line<'_>> {
    if let Some(rest) = line.split("Compiling entry function '").nth(1) {
        let mut parts = rest.split('\'');
        let kernel = parts.next().unwrap_or_default();
        let arch = parts.nth(1).unwrap_or_default();
        Some(Line::Entry { kernel, arch })
    } else if line.contains("spill stores") {
        Some(Line::Frame {
            stack_bytes: number_before(line, "bytes stack frame"),
            spill_store_bytes: number_before(line, "bytes spill stores"),
            spill_load_bytes: number_before(line, "bytes spill loads"),
        })
    } else if line.contains("Used") && line.contains("registers") {
        Some(Line::Used {
            registers: number_before(line, "registers"),
            shared_bytes: number_before(line, "bytes smem"),
        })
    } else {
        let rest = line.split("Function properties for ").nth(1)?;
        Some(Line::Properties {
            function: rest.trim().trim_matches('\''),
        })
    }
}

/// Parses a ptxas -v report into per-kernel, per-arch figures, in report order.
///
/// A frame line (stack, spills) counts for the entry when the "Function properties"
/// line before it names the entry, or when no such line came since the entry; a
/// device function's frame line does not overwrite its caller's figures.
pub fn parse_ptxas_report(report: &str) -> Vec<ResourceUsage> {
    let mut out: Vec<ResourceUsage> = Vec::new();
    // The function the next frame line belongs to, when the report named one.
    let mut properties_for: Option<&str> = None;
    for line in report.lines() {
        match parse_line(line) {
            Some(Line::Entry { kernel, arch }) => {
                properties_for = None;
                out.push(ResourceUsage {
                    kernel: kernel.to_string(),
                    arch: arch.to_string(),
                    registers: 0,
                    spill_store_bytes: 0,
                    spill_load_bytes: 0,
                    stack_bytes: 0,
                    shared_bytes: 0,
                });
            }
            Some(Line::Properties { function }) => properties_for = Some(function),
            Some(Line::Frame {
                stack_bytes,
                spill_store_bytes,
                spill_load_bytes,
            }) => {
                if let Some(cur) = out.last_mut() {
                    if properties_for.is_none_or(|f| f == cur.kernel) {
                        cur.stack_bytes = stack_bytes.unwrap_or(0);
                        cur.spill_store_bytes = spill_store_bytes.unwrap_or(0);
                        cur.spill_load_bytes = spill_load_bytes.unwrap_or(0);
                    }
                }
                properties_for = None;
            }
            Some(Line::Used {
                registers,
                shared_bytes,
            }) => {
                if let Some(cur) = out.last_mut() {
                    cur.registers = registers.unwrap_or(0);
                    cur.shared_bytes = shared_bytes.unwrap_or(0);
                }
            }
            None => {}
        }
    }
    out
}

/// Spill stores summed over every frame line of the report: entries and the device
/// functions they call, every architecture (what build.rs warns about).
pub fn spill_store_bytes(report: &str) -> u64 {
    report
        .lines()
        .filter_map(|l| match parse_line(l)? {
            Line::Frame {
                spill_store_bytes, ..
            } => spill_store_bytes.map(u64::from),
            _ => None,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from OUT_DIR/learn.ptxas.txt (nvcc 13.0): one entry without shared
    /// memory, one with; sm_90 has no cmem figure.
    const LEARN: &str = "\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'learn_adam' for 'sm_80'
ptxas info    : Function properties for learn_adam
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 21 registers, used 0 barriers, 412 bytes cmem[0]
ptxas info    : Compile time = 47.051 ms
ptxas info    : Compiling entry function 'learn_gram_product' for 'sm_80'
ptxas info    : Function properties for learn_gram_product
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 63 registers, used 1 barriers, 8256 bytes smem, 384 bytes cmem[0]
ptxas info    : Compile time = 71.664 ms
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'learn_adam' for 'sm_90'
ptxas info    : Function properties for learn_adam
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 22 registers, used 0 barriers
ptxas info    : Compile time = 16.226 ms
";

    /// nvcc 13.0 output (`-Xptxas -v -maxrregcount=24`, sm_80 and sm_90a) for a test
    /// kernel `spiller` that spills and calls a `__noinline__` device function
    /// `helper` (not one of the crate's kernels: none of those spills or is sm_90a).
    /// As printed, except the helper's sm_90a frame line (0 bytes), edited to 4.
    const SPILLS: &str = "\
ptxas info    : Overriding maximum register limit 256 for 'spiller' with  24 of maxrregcount option
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'spiller' for 'sm_80'
ptxas info    : Function properties for spiller
    800 bytes stack frame, 360 bytes spill stores, 432 bytes spill loads
ptxas info    : Used 24 registers, used 1 barriers, 800 bytes cumulative stack size, 1024 bytes smem, 372 bytes cmem[0]
ptxas info    : Compile time = 91.639 ms
ptxas info    : Function properties for _Z6helperPKfi
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Overriding maximum register limit 256 for 'spiller' with  24 of maxrregcount option
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'spiller' for 'sm_90a'
ptxas info    : Function properties for spiller
    800 bytes stack frame, 352 bytes spill stores, 412 bytes spill loads
ptxas info    : Used 24 registers, used 1 barriers, 800 bytes cumulative stack size, 1024 bytes smem
ptxas info    : Compile time = 127.954 ms
ptxas info    : Function properties for _Z6helperPKfi
    4 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads
";

    fn usage(kernel: &str, arch: &str, figures: [u32; 5]) -> ResourceUsage {
        let [registers, spill_store_bytes, spill_load_bytes, stack_bytes, shared_bytes] = figures;
        ResourceUsage {
            kernel: kernel.into(),
            arch: arch.into(),
            registers,
            spill_store_bytes,
            spill_load_bytes,
            stack_bytes,
            shared_bytes,
        }
    }

    #[test]
    fn kernels_without_spills_per_arch() {
        assert_eq!(
            parse_ptxas_report(LEARN),
            vec![
                usage("learn_adam", "sm_80", [21, 0, 0, 0, 0]),
                usage("learn_gram_product", "sm_80", [63, 0, 0, 0, 8256]),
                usage("learn_adam", "sm_90", [22, 0, 0, 0, 0]),
            ]
        );
        assert_eq!(spill_store_bytes(LEARN), 0);
    }

    #[test]
    fn spills_sm90a_and_a_device_function() {
        // The helper's frame line after each entry is not the entry's.
        assert_eq!(
            parse_ptxas_report(SPILLS),
            vec![
                usage("spiller", "sm_80", [24, 360, 432, 800, 1024]),
                usage("spiller", "sm_90a", [24, 352, 412, 800, 1024]),
            ]
        );
        // The total counts every frame line, the helper's too.
        assert_eq!(spill_store_bytes(SPILLS), 360 + 352 + 4);
    }

    #[test]
    fn lines() {
        assert_eq!(
            parse_line("ptxas info    : Compiling entry function 'k' for 'sm_90a'"),
            Some(Line::Entry {
                kernel: "k",
                arch: "sm_90a"
            })
        );
        assert_eq!(
            parse_line("ptxas info    : Function properties for _Z6helperPKfi"),
            Some(Line::Properties {
                function: "_Z6helperPKfi"
            })
        );
        assert_eq!(
            parse_line("    8 bytes stack frame, 12 bytes spill stores, 16 bytes spill loads"),
            Some(Line::Frame {
                stack_bytes: Some(8),
                spill_store_bytes: Some(12),
                spill_load_bytes: Some(16)
            })
        );
        assert_eq!(
            parse_line("ptxas info    : Used 16 registers, used 0 barriers, 384 bytes cmem[0]"),
            Some(Line::Used {
                registers: Some(16),
                shared_bytes: None
            })
        );
        assert_eq!(parse_line("ptxas info    : Compile time = 6.800 ms"), None);
        assert_eq!(parse_line("ptxas info    : 0 bytes gmem"), None);
        assert_eq!(parse_ptxas_report(""), vec![]);
    }

    /// A frame line with no "Function properties" line before it (as some ptxas
    /// versions print) is the current entry's.
    #[test]
    fn frame_without_properties_line() {
        let report = "\
ptxas info    : Compiling entry function 'k' for 'sm_86'
    0 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads
ptxas info    : Used 40 registers, 512 bytes smem
";
        assert_eq!(
            parse_ptxas_report(report),
            vec![usage("k", "sm_86", [40, 8, 8, 0, 512])]
        );
    }
}
