"""``sparse24.Linear``: an ``nn.Module`` holding one compressed 2:4 weight, its bias,
activation and dtype, run by ``torch.ops.sparse24.linear``.

The weight is held once, by sparse24 (host copy, and on the GPU the fragment-order
copy uploaded by the first CUDA forward, to that input's device); the module has no
parameters and no dense copy. ``backend="cusparselt"`` adds a second compressed copy
made by ``torch._cslt_compress`` on ``device`` and runs ``torch._cslt_sparse_mm``
instead: only when asked, since it doubles the weight's memory.
"""

from __future__ import annotations

import weakref
from typing import Optional, Union

import torch

from . import _sparse24, ops
from ._sparse24 import Layer, Sparse24Error

_ACTIVATIONS = {
    "none": lambda y: y,
    "relu": torch.nn.functional.relu,
    "gelu": torch.nn.functional.gelu,
    "gelu_tanh": lambda y: torch.nn.functional.gelu(y, approximate="tanh"),
    "silu": torch.nn.functional.silu,
}


class Linear(torch.nn.Module):
    """Y = act(X·Wᵀ + bias) with W 2:4-sparse; X [..., in] contiguous, of the layer's
    dtype, on the CPU or a CUDA device."""

    def __init__(self, layer: Layer, backend: str = "sparse24", device: Union[str, torch.device, None] = None):
        super().__init__()
        if backend not in ("sparse24", "cusparselt"):
            raise Sparse24Error(f"unknown backend {backend!r}; one of ['sparse24', 'cusparselt']")
        self.layer = layer
        self.backend = backend
        self._handle = ops.register(layer)
        weakref.finalize(self, ops.unregister, self._handle)
        self._cslt = None
        self._cslt_bias = None
        if backend == "cusparselt":
            self._init_cusparselt(device)

    @classmethod
    def from_dense(
        cls,
        weight: torch.Tensor,
        bias: Optional[torch.Tensor] = None,
        activation: str = "none",
        method: str = "magnitude",
        act_norms: Optional[torch.Tensor] = None,
        mask: Optional[torch.Tensor] = None,
        dtype: Optional[torch.dtype] = None,
        **kwargs,
    ) -> "Linear":
        """Prunes ``weight`` [out, in] to 2:4 (``method``, or a given boolean ``mask``
        such as :func:`sparse24.learn_mask`'s) and compresses it, in ``dtype`` (the
        weight's by default). The weight and bias may be on any device: they are read
        on the CPU once."""
        dtype = dtype or weight.dtype
        w = weight.detach().to("cpu", dtype).contiguous()
        b = None if bias is None else bias.detach().to("cpu", dtype).contiguous()
        if mask is not None:
            w = torch.where(mask.to("cpu", torch.bool), w, torch.zeros((), dtype=dtype))
            layer = _sparse24.compress(w, bias=b, activation=activation)
        else:
            norms = None if act_norms is None else act_norms.detach().to("cpu", torch.float32).contiguous()
            layer = _sparse24.prune_compress(w, method=method, act_norms=norms, bias=b, activation=activation)
        return cls(layer, **kwargs)

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear, activation: str = "none", **kwargs) -> "Linear":
        """Converts an ``nn.Linear`` (e.g. a Hugging Face model's projection): its weight
        pruned and compressed, its bias kept; ``activation`` fuses the function that
        follows it (e.g. "gelu" for BERT's intermediate layer)."""
        return cls.from_dense(linear.weight, linear.bias, activation=activation, **kwargs)

    @property
    def in_features(self) -> int:
        return self.layer.in_features

    @property
    def out_features(self) -> int:
        return self.layer.out_features

    @property
    def dtype(self) -> torch.dtype:
        return getattr(torch, self.layer.dtype.removeprefix("torch."))

    @property
    def activation(self) -> str:
        return self.layer.activation

    @property
    def bias(self) -> Optional[torch.Tensor]:
        if not self.layer.has_bias:
            return None
        b = torch.empty(self.out_features, dtype=self.dtype)
        self.layer.bias_into(b)
        return b

    def dense_weight(self) -> torch.Tensor:
        """The decompressed weight [out, in] (CPU), e.g. to compare with F.linear."""
        w = torch.empty((self.out_features, self.in_features), dtype=self.dtype)
        self.layer.decompress_into(w)
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._cslt is not None:
            return self._forward_cusparselt(x)
        if torch.compiler.is_compiling() or (x.requires_grad and torch.is_grad_enabled()):
            return torch.ops.sparse24.linear(x, self._handle, self.out_features)
        # Eager inference: the op's own computation without torch.library's dispatch
        # (tens of microseconds of Python per call, as much as a decode kernel).
        return ops.run(self.layer, x, self.out_features)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.layer.has_bias}, activation={self.activation!r}, dtype={self.dtype}, "
            f"backend={self.backend!r}"
        )

    def _init_cusparselt(self, device) -> None:
        device = torch.device(device or "cuda")
        if device.type != "cuda" or not torch.cuda.is_available():
            raise Sparse24Error("backend='cusparselt' needs a CUDA device (torch._cslt_compress)")
        self._cslt = torch._cslt_compress(self.dense_weight().to(device))
        bias = self.bias
        self._cslt_bias = None if bias is None else bias.to(device)

    def _forward_cusparselt(self, x: torch.Tensor) -> torch.Tensor:
        x2 = x.reshape(-1, self.in_features)
        # cuSPARSELt computes W·Xᵀ; transpose_result gives (W·Xᵀ)ᵀ = X·Wᵀ.
        y = torch._cslt_sparse_mm(self._cslt, x2.t(), transpose_result=True)
        if self._cslt_bias is not None:
            y = y + self._cslt_bias
        y = _ACTIVATIONS[self.activation](y)
        return y.reshape(*x.shape[:-1], self.out_features)
