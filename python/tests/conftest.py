"""Shared helpers: seeded random weights and inputs, the f64 reference, and the
relative error every float comparison uses (NaN never passes)."""

import pytest
import torch

# Tolerances of the CPU path (f32 accumulation, one rounding of the output to the
# dtype) against the f64 reference, as relative Frobenius errors.
REL_TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}

ACTIVATIONS = {
    "none": lambda y: y,
    "relu": torch.nn.functional.relu,
    "gelu": torch.nn.functional.gelu,
    "gelu_tanh": lambda y: torch.nn.functional.gelu(y, approximate="tanh"),
    "silu": torch.nn.functional.silu,
}

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="skipped: no CUDA device")


def rand(shape, dtype, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def rel_error(got: torch.Tensor, want: torch.Tensor) -> float:
    got, want = got.detach().double().cpu(), want.detach().double().cpu()
    err = float((got - want).norm() / want.norm().clamp_min(1e-300))
    assert err == err, "NaN in the comparison"
    return err


def reference(x, w, b, activation):
    """act(x·wᵀ + b) in f64."""
    y = torch.nn.functional.linear(x.double(), w.double(), None if b is None else b.double())
    return ACTIVATIONS[activation](y)
