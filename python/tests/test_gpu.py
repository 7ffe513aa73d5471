"""The op on a CUDA device (skipped without one): against F.linear, on a side
stream, inside a captured CUDA graph, and the cuSPARSELt backend."""

import pytest
import torch

import sparse24
from conftest import REL_TOL, needs_cuda, rand, reference, rel_error

pytestmark = needs_cuda

DTYPES = [torch.float16, torch.bfloat16]


def layer(dtype, out=256, inn=512, seed=1, activation="silu"):
    w = rand((out, inn), dtype, seed, scale=inn**-0.5)
    b = rand((out,), dtype, seed + 1, scale=0.1)
    return sparse24.Linear.from_dense(w, b, activation=activation)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tokens", [1, 2, 7, 16, 64, 300])
def test_cuda_matches_f_linear(dtype, tokens):
    lin = layer(dtype)
    x = rand((tokens, 512), dtype, 10 + tokens)
    with torch.no_grad():
        y = lin(x.cuda())
    assert y.device.type == "cuda" and y.dtype == dtype
    want = reference(x, lin.dense_weight(), lin.bias, "silu")
    assert rel_error(y, want) <= REL_TOL[dtype]
    # The CPU path agrees too.
    assert rel_error(y, lin(x)) <= 2 * REL_TOL[dtype]


def test_side_stream_no_sync():
    lin = layer(torch.bfloat16)
    x = rand((8, 512), torch.bfloat16, 3).cuda()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.no_grad(), torch.cuda.stream(s):
        y = lin(x)
    torch.cuda.current_stream().wait_stream(s)
    assert rel_error(y, reference(x, lin.dense_weight(), lin.bias, "silu")) <= REL_TOL[torch.bfloat16]
    torch.cuda.synchronize()
    sparse24.release_stream(s)


def test_cuda_graph_capture():
    lin = layer(torch.float16)
    x = rand((4, 512), torch.float16, 4).cuda()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.no_grad():
        with torch.cuda.stream(s):
            # Warm-up outside the capture, on the stream that captures: uploads the
            # weights and sizes that stream's split-K workspace.
            lin(x)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, stream=s):
            y = lin(x)
        x.copy_(rand((4, 512), torch.float16, 5).cuda())
        g.replay()
    torch.cuda.synchronize()
    assert rel_error(y, reference(x, lin.dense_weight(), lin.bias, "silu")) <= REL_TOL[torch.float16]


def test_cusparselt_backend():
    w = rand((256, 512), torch.float16, 6, scale=512**-0.5)
    lin = sparse24.Linear.from_dense(w, activation="relu", backend="cusparselt", device="cuda")
    x = rand((16, 512), torch.float16, 7)
    with torch.no_grad():
        y = lin(x.cuda())
    assert rel_error(y, reference(x, lin.dense_weight(), None, "relu")) <= REL_TOL[torch.float16]


def test_wrong_dtype_and_layout_on_cuda():
    lin = layer(torch.bfloat16)
    with pytest.raises(sparse24.Sparse24Error, match="torch.float16"):
        lin(torch.zeros(2, 512, dtype=torch.float16, device="cuda"))
    with pytest.raises(sparse24.Sparse24Error, match="not contiguous"):
        lin(torch.zeros(512, 2, dtype=torch.bfloat16, device="cuda").t())
    f32 = sparse24.Linear.from_dense(rand((32, 64), torch.float32, 8))
    with pytest.raises(sparse24.Sparse24Error):
        f32(torch.zeros(2, 64, device="cuda"))
