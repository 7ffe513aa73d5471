//! Every kernel of kernels/*.cu other than the sparse GEMM's (whose kernels come from
//! the tiles of src/ops/gemm/tiles.rs), by the rule that names it. build.rs includes
//! this file with `#[path]` and generates from it the typed handles of
//! [`crate::kernels`] (`kernels::prune::prune_compress(dtype)`, ...); after compiling,
//! it checks that each module's PTX defines exactly the kernels declared here, so a
//! kernel renamed, added or removed on one side only is a build error.
//!
//! Adding a kernel to kernels/<module>.cu: declare it here (a new .cu file: a new
//! [`ModuleKernels`]), then name it in the crate by its handle; a kernel defined but
//! not declared (or the reverse) fails the build.
//!
//! Not a module of the crate (build.rs's input only): the crate uses the handles,
//! never these strings.

/// How a declaration names its kernels.
#[derive(Copy, Clone, Debug)]
pub enum Rule {
    /// One kernel of this name: a constant handle.
    One(&'static str),
    /// One kernel per element type, `<stem>_f32`, `<stem>_f16`, `<stem>_bf16`: a
    /// handle function of the `DType`.
    PerDType(&'static str),
    /// One kernel per element width, `<stem>_b16` (f16, bf16) and `<stem>_b32` (f32):
    /// a handle function of the `DType`.
    PerWidth(&'static str),
}

/// The kernels of kernels/<module>.cu.
pub struct ModuleKernels {
    pub module: &'static str,
    pub kernels: &'static [Rule],
}

/// The module of the sparse GEMM (kernels/sparse_gemm.cu), whose kernels are
/// `sgemm_<tile>_<dtype>` for every tile of src/ops/gemm/tiles.rs and dtype f16, bf16.
pub const SPARSE_GEMM: &str = "sparse_gemm";

pub const MODULES: &[ModuleKernels] = &[
    ModuleKernels {
        module: "decompress",
        kernels: &[Rule::PerWidth("decompress")],
    },
    ModuleKernels {
        module: "prune",
        kernels: &[
            Rule::One("prune_status_reset"),
            Rule::PerDType("prune_compress"),
        ],
    },
    ModuleKernels {
        module: "mask_sampling",
        kernels: &[
            Rule::PerDType("mask_forward"),
            Rule::PerDType("mask_backward"),
            Rule::PerDType("hard_mask_compress"),
            Rule::One("mask_philox_words"),
            Rule::One("mask_init_normal"),
            Rule::One("mask_reduce_sum"),
            Rule::One("mask_centered_sq"),
            Rule::One("mask_init_prior"),
        ],
    },
    ModuleKernels {
        module: "sparsegpt",
        kernels: &[Rule::One("sparsegpt_rows")],
    },
    ModuleKernels {
        module: "proximal",
        kernels: &[Rule::One("proximal_groups")],
    },
    ModuleKernels {
        module: "learn",
        kernels: &[
            Rule::PerDType("learn_diff"),
            Rule::PerDType("learn_loss_grad"),
            Rule::One("learn_gram_product"),
            Rule::One("learn_loss_finish"),
            Rule::One("learn_adam"),
        ],
    },
];

/// The dtype suffixes of the sparse GEMM's kernels (its inputs are f16 or bf16).
pub const GEMM_DTYPES: [(&str, &str); 2] = [("F16", "f16"), ("BF16", "bf16")];

/// The symbol of the sparse GEMM kernel of a tile name and dtype suffix.
pub fn gemm_symbol(tile_name: &str, dtype: &str) -> String {
    format!("sgemm_{tile_name}_{dtype}")
}

/// The `DType` variants and kernel-name suffixes of [`Rule::PerDType`].
pub const DTYPES: [(&str, &str); 3] = [("F32", "f32"), ("F16", "f16"), ("BF16", "bf16")];

impl Rule {
    /// The kernel names of the rule, each with the `DType` variants it serves (none
    /// for a single kernel).
    pub fn names(self) -> Vec<(Vec<&'static str>, String)> {
        match self {
            Rule::One(n) => vec![(Vec::new(), n.to_string())],
            Rule::PerDType(stem) => DTYPES
                .iter()
                .map(|&(v, s)| (vec![v], format!("{stem}_{s}")))
                .collect(),
            Rule::PerWidth(stem) => vec![
                (vec!["F16", "BF16"], format!("{stem}_b16")),
                (vec!["F32"], format!("{stem}_b32")),
            ],
        }
    }
}
