"""``torch.ops.sparse24.linear(x, handle, out_features)``: Y = act(X·Wᵀ + bias) of a
compressed layer, registered with ``torch.library`` so ``torch.compile`` traces it
(a fake implementation gives the output's shape and dtype) and ``opcheck`` checks it.

The layer is named by an integer handle (custom ops take tensors and plain values,
not Python objects); :class:`sparse24.Linear` registers its layer and passes the
handle. On CUDA the op runs sparse24's kernels (chosen by token count and
architecture) on torch's current stream into an output torch allocated: no host
synchronisation, no copy of a contiguous input, so a CUDA graph can capture it once
the layer has run on the device outside the capture (its first call uploads the
weights). On the CPU it runs sparse24's CPU path. Inference only: a backward through
the op raises.
"""

from __future__ import annotations

import functools
import itertools
import threading
from typing import Dict

import torch

from ._sparse24 import Layer, Sparse24Error

_layers: Dict[int, Layer] = {}
_next = itertools.count(1)
_lock = threading.Lock()


def register(layer: Layer) -> int:
    """The handle the op knows ``layer`` by (until :func:`unregister`)."""
    with _lock:
        handle = next(_next)
        _layers[handle] = layer
    return handle


def unregister(handle: int) -> None:
    with _lock:
        _layers.pop(handle, None)


def _layer(handle: int) -> Layer:
    layer = _layers.get(handle)
    if layer is None:
        raise Sparse24Error(f"sparse24.linear: no layer has handle {handle} (its module was freed?)")
    return layer


@functools.lru_cache(maxsize=None)
def _several_gpus() -> bool:
    return torch.cuda.device_count() > 1


def run(layer: Layer, x: torch.Tensor, out_features: int) -> torch.Tensor:
    """The op's computation, for eager calls that need no dispatch (see nn.Linear)."""
    y = torch.empty((*x.shape[:-1], out_features), dtype=x.dtype, device=x.device)
    if x.device.type == "cuda":
        # The stream of x's device (torch's current stream there), as a CUstream.
        stream = torch.cuda.current_stream(x.device).cuda_stream
        if _several_gpus() and x.device.index != torch.cuda.current_device():
            # sparse24 makes x's device's context current on this thread; torch's
            # device guard puts torch's own back afterwards.
            with torch.cuda.device(x.device):
                layer.forward_cuda(x, y, stream)
        else:
            layer.forward_cuda(x, y, stream)
    else:
        layer.forward_cpu(x, y)
    return y


@torch.library.custom_op("sparse24::linear", mutates_args=())
def linear(x: torch.Tensor, handle: int, out_features: int) -> torch.Tensor:
    return run(_layer(handle), x, out_features)


@linear.register_fake
def _linear_fake(x: torch.Tensor, handle: int, out_features: int) -> torch.Tensor:
    return x.new_empty((*x.shape[:-1], out_features))


def _setup_context(ctx, inputs, output) -> None:
    pass


def _backward(ctx, grad):
    raise RuntimeError(
        "torch.ops.sparse24.linear is inference-only: sparse24 computes no gradient "
        "through a compressed layer. Run the model under torch.no_grad() / "
        "torch.inference_mode(), or detach its input."
    )


linear.register_autograd(_backward, setup_context=_setup_context)
