"""sparse24 for PyTorch: 2:4 semi-structured sparse linear layers.

The compressed weight lives in sparse24's own format (values + 2-bit metadata) and
runs through ``torch.ops.sparse24.linear``: sparse24's kernels on torch's current CUDA
stream, or its CPU reference path on CPU tensors. Tensors are read in place through
``data_ptr()`` after their dtype, shape, strides and device are checked; every
output is allocated by torch. Bad input raises :class:`Sparse24Error` with sparse24's
message.
"""

from __future__ import annotations

import os
from typing import Dict, Mapping, Optional, Tuple, Union

import torch

from . import _sparse24
from ._sparse24 import Layer, Sparse24Error
from . import ops as _ops  # noqa: F401  (registers torch.ops.sparse24.linear)
from .nn import Linear

__all__ = [
    "Layer",
    "Linear",
    "Sparse24Error",
    "compress",
    "cuda_unavailable_reason",
    "from_torch_semi_structured",
    "learn_mask",
    "load",
    "prune",
    "release_stream",
    "save",
    "to_torch_semi_structured",
]


def compress(w: torch.Tensor, bias: Optional[torch.Tensor] = None, activation: str = "none") -> Layer:
    """Compresses a dense weight [out, in] (CPU, f32/f16/bf16) that is already 2:4:
    at most two nonzeros in every group of four along ``in``."""
    return _sparse24.compress(w.detach(), bias=_detached(bias), activation=activation)


def prune(
    w: torch.Tensor,
    method: str = "magnitude",
    act_norms: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """The 2:4-pruned copy of ``w`` [out, in] (CPU): two of every four weights along
    ``in`` kept, by magnitude or by Wanda's |w|·‖x‖ score (``act_norms``: the input
    channels' L2 norms over calibration tokens, [in] float32)."""
    w = w.detach()
    mask = torch.empty(w.shape, dtype=torch.bool)
    _sparse24.prune_mask(w, mask, method=method, act_norms=_detached(act_norms))
    return torch.where(mask, w, torch.zeros((), dtype=w.dtype))


def from_torch_semi_structured(
    packed: torch.Tensor,
    meta: Optional[torch.Tensor] = None,
    bias: Optional[torch.Tensor] = None,
    activation: str = "none",
) -> Layer:
    """A layer from PyTorch's CUTLASS semi-structured format: ``packed`` [M, K/2] and
    ``meta`` [M, K/16] int16 (CPU), or one ``SparseSemiStructuredTensorCUTLASS``
    (its ``packed`` and ``meta`` are taken). Bit-exact with ``sparse24::io::torch``."""
    if meta is None and hasattr(packed, "packed") and hasattr(packed, "meta"):
        packed, meta = packed.packed, packed.meta
    if meta is None:
        raise Sparse24Error("from_torch_semi_structured needs meta (or a SparseSemiStructuredTensorCUTLASS)")
    return _sparse24.from_torch_semi_structured(
        packed.detach(), meta.detach(), bias=_detached(bias), activation=activation
    )


def to_torch_semi_structured(layer: Union[Layer, Linear]) -> Tuple[torch.Tensor, torch.Tensor]:
    """PyTorch's CUTLASS pair (``packed`` [M, K/2], ``meta`` [M, K/16] int16, CPU) of a
    layer whose M and K are multiples of 32."""
    layer = _layer_of(layer)
    m, k = layer.out_features, layer.in_features
    packed = torch.empty((m, k // 2), dtype=_dtype(layer))
    meta = torch.empty((m, k // 16), dtype=torch.int16)
    layer.to_torch_semi_structured(packed, meta)
    return packed, meta


def learn_mask(
    w: torch.Tensor,
    x: torch.Tensor,
    steps: int = 200,
    seed: int = 0x5EED2024,
    prior: str = "wanda",
) -> torch.Tensor:
    """Learns a 2:4 mask of ``w`` [out, in] for activations ``x`` [tokens, in] (same
    dtype, CPU) by layer-wise MaskLLM (Gumbel-softmax over the six patterns, Adam,
    from the Wanda or magnitude prior; never worse than the prior on ``x``). Returns
    the mask, torch.bool [out, in]; ``w * mask`` is 2:4."""
    w, x = w.detach(), x.detach()
    out = torch.empty(w.shape, dtype=torch.bool)
    _sparse24.learn_mask(w, x, out, steps=steps, seed=seed, prior=prior)
    return out


def save(path: Union[str, os.PathLike], layers: Mapping[str, Union[Layer, Linear]]) -> None:
    """Saves compressed weights as a sparse24 file (atomic write, checksummed).
    Biases and activations are not stored."""
    _sparse24.save(os.fspath(path), [(n, _layer_of(l)) for n, l in layers.items()])


def load(path: Union[str, os.PathLike]) -> Dict[str, Layer]:
    """Loads every layer of a sparse24 file (validated, checksums verified)."""
    return dict(_sparse24.load(os.fspath(path)))


def cuda_unavailable_reason() -> Optional[str]:
    """Why sparse24's GPU path cannot run here (None when it can)."""
    return _sparse24.cuda_unavailable_reason()


def release_stream(stream: torch.cuda.Stream) -> bool:
    """Frees sparse24's workspace for a CUDA stream the op ran on; call it before a
    stream you created is destroyed."""
    return _sparse24.release_stream(stream.device.index or 0, stream.cuda_stream)


def _detached(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    return None if t is None else t.detach()


def _layer_of(l: Union[Layer, Linear]) -> Layer:
    return l.layer if isinstance(l, Linear) else l


def _dtype(layer: Layer) -> torch.dtype:
    return getattr(torch, layer.dtype.removeprefix("torch."))
