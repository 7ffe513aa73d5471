//! The epilogue of a linear layer, Y = act(α·acc + β·C + bias): what the GPU GEMM's
//! epilogue and the CPU references both apply, with the activation codes the kernels
//! read ([`crate::abi`]).

use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::shape::{self, check_len};

/// The activation applied last in the epilogue.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    #[default]
    /// The identity.
    None,
    /// max(x, 0).
    Relu,
    /// GELU, tanh approximation (GPT-2 and the models trained with it).
    Gelu,
    /// x · sigmoid(x).
    Silu,
    /// GELU, exact: x · Φ(x) = ½·x·(1 + erf(x/√2)) (BERT-family models).
    GeluErf,
}

impl Activation {
    /// The activation of `x`, in f64 (the reference every kernel is checked against).
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::Gelu => {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            }
            Activation::Silu => x / (1.0 + (-x).exp()),
            Activation::GeluErf => 0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2)),
        }
    }
    /// Code passed to kernels ([`crate::abi`]).
    pub fn code(self) -> u32 {
        match self {
            Activation::None => crate::abi::ACT_NONE,
            Activation::Relu => crate::abi::ACT_RELU,
            Activation::Gelu => crate::abi::ACT_GELU,
            Activation::Silu => crate::abi::ACT_SILU,
            Activation::GeluErf => crate::abi::ACT_GELU_ERF,
        }
    }
}

/// The epilogue of a linear layer: scale, optional residual C and bias, activation.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue<'a, T> {
    /// Scale of the accumulated product.
    pub alpha: f32,
    /// Scale of the residual C (0: C is not read).
    pub beta: f32,
    /// C [tokens, out], used when `beta != 0`.
    pub c: Option<&'a [T]>,
    /// bias \[out\].
    pub bias: Option<&'a [T]>,
    /// Applied last, after the bias.
    pub activation: Activation,
}

impl<T> Default for Epilogue<'_, T> {
    fn default() -> Self {
        Epilogue {
            alpha: 1.0,
            beta: 0.0,
            c: None,
            bias: None,
            activation: Activation::None,
        }
    }
}

impl<T: Element> Epilogue<'_, T> {
    /// Checks C and the bias against [tokens, out], and that beta has a C.
    pub(crate) fn check(&self, tokens: usize, out: usize) -> Result<()> {
        if let Some(c) = self.c {
            check_len("C", shape::tokens_by("C", "out", tokens, out)?, c.len())?;
        } else if self.beta != 0.0 {
            return Err(Error::InvalidArgument {
                what: "beta",
                why: "beta is nonzero but no C matrix was given".into(),
            });
        }
        if let Some(b) = self.bias {
            check_len("bias", out, b.len())?;
        }
        Ok(())
    }

    /// Applies the epilogue to one accumulated dot product.
    pub fn apply(&self, acc: f64, token: usize, o: usize, out: usize) -> f64 {
        let mut y = self.alpha as f64 * acc;
        if let Some(c) = self.c {
            if self.beta != 0.0 {
                y += self.beta as f64 * c[token * out + o].to_f64();
            }
        }
        if let Some(b) = self.bias {
            y += b[o].to_f64();
        }
        self.activation.apply(y)
    }
}
