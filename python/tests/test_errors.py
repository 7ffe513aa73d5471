"""Every bad input is a Python exception carrying sparse24's message, never a crash."""

import pytest
import torch
from torch.sparse import _semi_structured_conversions as cutlass

import sparse24
from conftest import needs_cuda, rand

E = sparse24.Sparse24Error


def lin32():
    return sparse24.Linear.from_dense(rand((32, 64), torch.float32, 1))


def test_wrong_dtype():
    with pytest.raises(E, match="torch.float64"):
        sparse24.compress(torch.zeros(8, 16, dtype=torch.float64))
    with pytest.raises(E, match="torch.float64"):
        sparse24.compress(torch.zeros(8, 16), bias=torch.zeros(8, dtype=torch.float64))
    with pytest.raises(E, match=r"dtype torch.bfloat16 where torch.float32"):
        lin32()(torch.zeros(2, 64, dtype=torch.bfloat16))
    with pytest.raises(E, match="torch.int32"):
        sparse24.prune(torch.zeros(8, 16, dtype=torch.int32))


def test_not_contiguous():
    x = rand((64, 3), torch.float32, 2).t()
    with pytest.raises(E, match="not contiguous"):
        lin32()(x)
    with pytest.raises(E, match="not contiguous"):
        sparse24.compress(rand((32, 16), torch.float32, 3).t())


def test_wrong_device():
    with pytest.raises(E, match="on meta where cpu is needed"):
        lin32().layer.forward_cpu(torch.empty(2, 64, device="meta"), torch.empty(2, 32))
    with pytest.raises(E, match="needs a CUDA tensor"):
        lin32().layer.forward_cuda(torch.zeros(2, 64), torch.zeros(2, 32), 0)


def test_shape_not_a_multiple_of_the_group():
    with pytest.raises(E, match="multiple"):
        sparse24.prune(rand((8, 24), torch.float32, 4))
    with pytest.raises(E, match="64"):
        lin32()(torch.zeros(2, 60))
    with pytest.raises(E, match="2 dimensions"):
        sparse24.prune(torch.zeros(16))


def test_not_two_four_and_non_finite():
    w = torch.zeros(4, 16)
    w[1, 4:7] = 1.0
    with pytest.raises(E, match="row 1"):
        sparse24.compress(w)
    w = rand((4, 16), torch.float32, 5)
    w[2, 3] = float("nan")
    with pytest.raises(E, match="(?i)finite|nan"):
        sparse24.prune(w)


def test_bad_arguments():
    w = rand((8, 16), torch.float32, 6)
    with pytest.raises(E, match="act_norms"):
        sparse24.prune(w, method="wanda")
    with pytest.raises(E, match="unknown pruning method"):
        sparse24.prune(w, method="random")
    with pytest.raises(E, match=r"shape \[8\] where \[16\]"):
        sparse24.prune(w, method="wanda", act_norms=torch.ones(8))
    with pytest.raises(E, match="unknown activation"):
        sparse24.Linear.from_dense(w, activation="tanh")
    with pytest.raises(E, match="expected a torch.Tensor, got list"):
        sparse24._sparse24.compress([[1.0, 0.0, 0.0, 0.0]])
    with pytest.raises(E, match="bias"):
        sparse24.Linear.from_dense(w, bias=torch.zeros(7))
    with pytest.raises(E, match="steps"):
        sparse24.learn_mask(w, rand((4, 16), torch.float32, 7), steps=0)
    with pytest.raises(E, match="channels"):
        sparse24.learn_mask(w, rand((4, 8), torch.float32, 7))
    with pytest.raises(E, match="unknown backend"):
        sparse24.Linear(sparse24.compress(sparse24.prune(w)), backend="dense")


def test_torch_import_errors():
    # torch's f32 CUTLASS metadata is [M, K/8]: not the 16-bit layout, refused.
    p, m = cutlass.sparse_semi_structured_from_dense_cutlass(sparse24.prune(rand((32, 64), torch.float32, 8)))
    with pytest.raises(E, match="meta"):
        sparse24.from_torch_semi_structured(p, m)
    p, m = cutlass.sparse_semi_structured_from_dense_cutlass(sparse24.prune(rand((32, 64), torch.float16, 9)))
    bad = m.clone()
    bad.view(torch.uint16)[0, 0] = 0xFFFF  # codes 3 = (3, 3): an illegal pattern
    with pytest.raises(E):
        sparse24.from_torch_semi_structured(p, bad)
    with pytest.raises(E, match="multiple"):
        sparse24.to_torch_semi_structured(sparse24.compress(sparse24.prune(rand((8, 16), torch.float16, 10))))
    with pytest.raises(E, match="no file|No such|reading"):
        sparse24.load("/nonexistent/w.sparse24")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_gpu_call_without_gpu_says_why():
    assert sparse24.cuda_unavailable_reason()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="skipped: fewer than two CUDA devices")
@needs_cuda
def test_tensor_on_another_gpu():
    lin = sparse24.Linear.from_dense(rand((32, 64), torch.bfloat16, 11))
    with torch.no_grad():
        lin(torch.zeros(2, 64, dtype=torch.bfloat16, device="cuda:0"))
        with pytest.raises(E, match="cuda:0"):
            lin(torch.zeros(2, 64, dtype=torch.bfloat16, device="cuda:1"))
