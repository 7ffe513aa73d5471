"""torch.ops.sparse24.linear: opcheck, torch.compile tracing, the fake implementation."""

import torch

import sparse24
from conftest import rand, reference, rel_error


def layer(dtype=torch.float32, seed=1, activation="gelu"):
    w = rand((32, 64), dtype, seed, scale=0.125)
    b = rand((32,), dtype, seed + 1, scale=0.1)
    return sparse24.Linear.from_dense(w, b, activation=activation)


def test_opcheck():
    for dtype in (torch.float32, torch.bfloat16):
        lin = layer(dtype)
        for shape in [(1, 64), (7, 64), (2, 3, 64)]:
            x = rand(shape, dtype, 3)
            torch.library.opcheck(torch.ops.sparse24.linear.default, (x, lin._handle, lin.out_features))


def test_fake_gives_shape_and_dtype():
    from torch._subclasses.fake_tensor import FakeTensorMode

    lin = layer(torch.float16)
    with FakeTensorMode():
        x = torch.empty(4, 5, 64, dtype=torch.float16)
        y = torch.ops.sparse24.linear(x, lin._handle, lin.out_features)
        assert y.shape == (4, 5, 32) and y.dtype == torch.float16


def test_torch_compile_aot_eager():
    lin = layer()
    model = torch.nn.Sequential(lin, torch.nn.Linear(32, 8))
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        for tokens in (1, 3, 9):
            x = rand((tokens, 64), torch.float32, 10 + tokens)
            assert rel_error(compiled(x), model(x)) <= 1e-6
            assert rel_error(lin(x), reference(x, lin.dense_weight(), lin.bias, "gelu")) <= 1e-5
