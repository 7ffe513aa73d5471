"""compress / prune / PyTorch's CUTLASS format, against torch's own CPU helpers."""

import pytest
import torch
from torch.sparse import _semi_structured_conversions as cutlass

import sparse24
from conftest import rand


def two_four(w: torch.Tensor) -> bool:
    groups = (w != 0).reshape(w.shape[0], -1, 4).sum(-1)
    return bool((groups <= 2).all())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("shape,seed", [((32, 64), 1), ((64, 128), 2), ((96, 256), 3)])
def test_round_trip_with_torch_cutlass_helpers(dtype, shape, seed):
    pruned = sparse24.prune(rand(shape, dtype, seed))
    # torch -> sparse24: torch's CPU conversion gives packed + reordered meta.
    packed, meta = cutlass.sparse_semi_structured_from_dense_cutlass(pruned)
    layer = sparse24.from_torch_semi_structured(packed, meta)
    assert torch.equal(sparse24.Linear(layer).dense_weight(), pruned)
    # sparse24 -> torch: bit-exact with torch's own conversion, and torch decodes it.
    p2, m2 = sparse24.to_torch_semi_structured(sparse24.compress(pruned))
    assert torch.equal(p2, packed)
    assert torch.equal(m2, meta)
    assert torch.equal(cutlass.sparse_semi_structured_to_dense_cutlass(p2, m2), pruned)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("seed", [4, 5])
def test_magnitude_prune_keeps_the_two_largest(dtype, seed):
    w = rand((48, 64), dtype, seed)
    p = sparse24.prune(w, method="magnitude")
    assert p.dtype == w.dtype and p.shape == w.shape and two_four(p)
    groups = w.abs().reshape(48, -1, 4).float()
    kept = (p != 0).reshape(48, -1, 4)
    # Every kept magnitude is at least every dropped one in its group.
    min_kept = torch.where(kept, groups, torch.inf).min(-1).values
    max_dropped = torch.where(~kept, groups, -torch.inf).max(-1).values
    assert bool((min_kept >= max_dropped).all())
    assert torch.equal(p[p != 0], w[p != 0])


def test_wanda_scores_by_activation_norms():
    w = rand((16, 32), torch.float32, 6)
    norms = rand((32,), torch.float32, 7).abs() + 0.1
    p = sparse24.prune(w, method="wanda", act_norms=norms)
    score = (w.abs() * norms).reshape(16, -1, 4)
    kept = (p != 0).reshape(16, -1, 4)
    min_kept = torch.where(kept, score, torch.inf).min(-1).values
    max_dropped = torch.where(~kept, score, -torch.inf).max(-1).values
    assert two_four(p) and bool((min_kept >= max_dropped).all())
    # A channel with a huge norm is kept everywhere.
    norms2 = torch.ones(32)
    norms2[5] = 1e6
    p2 = sparse24.prune(w, method="wanda", act_norms=norms2)
    assert bool((p2[:, 5] != 0).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_compress_decompress(dtype):
    pruned = sparse24.prune(rand((40, 48), dtype, 8))
    lin = sparse24.Linear(sparse24.compress(pruned))
    assert torch.equal(lin.dense_weight(), pruned)
    assert lin.layer.weight_bytes < pruned.numel() * pruned.element_size()


def test_save_load(tmp_path):
    a = sparse24.compress(sparse24.prune(rand((32, 64), torch.bfloat16, 9)))
    b = sparse24.compress(sparse24.prune(rand((16, 32), torch.float32, 10)))
    path = tmp_path / "w.sparse24"
    sparse24.save(path, {"a": a, "b": sparse24.Linear(b)})
    got = sparse24.load(path)
    assert sorted(got) == ["a", "b"]
    for name, want in [("a", a), ("b", b)]:
        assert got[name].dtype == want.dtype
        assert torch.equal(sparse24.Linear(got[name]).dense_weight(), sparse24.Linear(want).dense_weight())
    # A flipped bit is caught by the checksum.
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.raises(sparse24.Sparse24Error, match="checksum"):
        sparse24.load(path)


def test_learn_mask_beats_or_matches_its_prior():
    w = rand((16, 64), torch.float32, 11)
    # Correlated activations: the learned mask has something to find.
    x = rand((256, 8), torch.float32, 12) @ rand((8, 64), torch.float32, 13) + 0.1 * rand((256, 64), torch.float32, 14)
    mask = sparse24.learn_mask(w, x, steps=30, prior="wanda")
    assert mask.dtype == torch.bool and mask.shape == w.shape
    assert bool((mask.reshape(16, -1, 4).sum(-1) == 2).all())

    def loss(m):
        y = x.double() @ w.double().t()
        return float((x.double() @ (w * m).double().t() - y).norm() ** 2 / y.norm() ** 2)

    norms = x.norm(dim=0)
    prior = sparse24.prune(w, method="wanda", act_norms=norms) != 0
    assert loss(mask) <= loss(prior) * (1 + 1e-9)


@pytest.mark.filterwarnings("ignore:The PyTorch API of SparseSemiStructuredTensor")
def test_from_a_semi_structured_tensor_object():
    from torch.sparse import SparseSemiStructuredTensorCUTLASS

    pruned = sparse24.prune(rand((32, 64), torch.bfloat16, 15))
    packed, meta = cutlass.sparse_semi_structured_from_dense_cutlass(pruned)
    t = SparseSemiStructuredTensorCUTLASS(pruned.shape, packed, meta, None, None, None, None)
    layer = sparse24.from_torch_semi_structured(t, bias=torch.zeros(32, dtype=torch.bfloat16), activation="relu")
    lin = sparse24.Linear(layer)
    assert torch.equal(lin.dense_weight(), pruned)
    assert lin.activation == "relu" and lin.bias is not None
