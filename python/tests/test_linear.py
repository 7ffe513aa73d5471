"""sparse24.Linear on the CPU path against F.linear on the pruned weight."""

import pytest
import torch

import sparse24
from conftest import ACTIVATIONS, REL_TOL, rand, reference, rel_error


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("tokens,out,inn,seed", [(1, 32, 64, 1), (5, 48, 128, 2), (16, 96, 256, 3)])
def test_cpu_forward_matches_f_linear(dtype, activation, tokens, out, inn, seed):
    dense = torch.nn.Linear(inn, out, dtype=dtype)
    with torch.no_grad():
        dense.weight.copy_(rand((out, inn), dtype, seed, scale=inn**-0.5))
        dense.bias.copy_(rand((out,), dtype, seed + 100, scale=0.1))
    lin = sparse24.Linear.from_linear(dense, activation=activation)
    w = lin.dense_weight()
    assert torch.equal(w, sparse24.prune(dense.weight))
    x = rand((tokens, inn), dtype, seed + 200)
    y = lin(x)
    assert y.dtype == dtype and y.shape == (tokens, out)
    want = reference(x, w, dense.bias, activation)
    assert rel_error(y, want) <= REL_TOL[dtype]
    # And torch's own dense product on the same pruned weight, in the same dtype
    # (its own rounding: twice the bound).
    torch_y = ACTIVATIONS[activation](torch.nn.functional.linear(x, w, dense.bias))
    assert rel_error(y, torch_y) <= 2 * REL_TOL[dtype] + (2e-3 if dtype != torch.float32 else 0)


def test_leading_dimensions_and_no_bias():
    lin = sparse24.Linear.from_dense(rand((32, 64), torch.float32, 4), activation="relu")
    assert lin.bias is None
    x = rand((2, 3, 64), torch.float32, 5)
    y = lin(x)
    assert y.shape == (2, 3, 32)
    assert rel_error(y, reference(x, lin.dense_weight(), None, "relu")) <= 1e-5


def test_from_dense_with_a_learned_mask_and_dtype_conversion():
    w = rand((16, 32), torch.float32, 6)
    x = rand((64, 32), torch.float32, 7)
    mask = sparse24.learn_mask(w, x, steps=10)
    lin = sparse24.Linear.from_dense(w, mask=mask, dtype=torch.bfloat16)
    assert lin.dtype == torch.bfloat16
    assert torch.equal(lin.dense_weight() != 0, mask & (w.to(torch.bfloat16) != 0))


def test_inference_only():
    lin = sparse24.Linear.from_dense(rand((32, 64), torch.float32, 8))
    x = rand((2, 64), torch.float32, 9).requires_grad_()
    y = lin(x)
    with pytest.raises(RuntimeError, match="inference-only"):
        y.sum().backward()
    with torch.no_grad():
        assert not lin(x).requires_grad


def test_empty_batch():
    lin = sparse24.Linear.from_dense(rand((32, 64), torch.float32, 10))
    y = lin(torch.empty(0, 64))
    assert y.shape == (0, 32)
    assert torch.ops.sparse24.linear(torch.empty(3, 0, 64), lin._handle, 32).shape == (3, 0, 32)
