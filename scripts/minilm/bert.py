"""A small BERT encoder in numpy (all-MiniLM-L6-v2), for activation capture and
embedding evaluation. float32 throughout, exact-erf GELU, post-LayerNorm blocks,
mean pooling over tokens then L2 normalisation (sentence-transformers' pipeline).

Each sentence runs on its own (no padding), so every captured row is a real token.
"""

import math

import numpy as np

HEADS = 12
LN_EPS = 1e-12
BLOCKS = 6

# The linear layers of one block, by weight-name suffix, and the activation that is
# their input (q, k and v share one).
LINEARS = {
    "attention.self.query": "attn_in",
    "attention.self.key": "attn_in",
    "attention.self.value": "attn_in",
    "attention.output.dense": "attn_out_in",
    "intermediate.dense": "inter_in",
    "output.dense": "out_in",
}


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + LN_EPS) * w + b


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    return (0.5 * x * (1.0 + _erf(x.astype(np.float64) / math.sqrt(2.0)))).astype(np.float32)


def linear(t, name, x):
    return x @ t[name + ".weight"].T + t[name + ".bias"]


def encode(t, ids, capture=None):
    """Token states [len, 384] of one sentence; when `capture` is a dict, appends the
    input of every linear layer under "{block}.{activation}"."""
    n = len(ids)
    h = (
        t["embeddings.word_embeddings.weight"][ids]
        + t["embeddings.position_embeddings.weight"][:n]
        + t["embeddings.token_type_embeddings.weight"][0]
    )
    h = layer_norm(h, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
    for blk in range(BLOCKS):
        p = f"encoder.layer.{blk}."

        def grab(key, x):
            if capture is not None:
                capture.setdefault(f"{blk}.{key}", []).append(x.copy())

        grab("attn_in", h)
        q = linear(t, p + "attention.self.query", h)
        k = linear(t, p + "attention.self.key", h)
        v = linear(t, p + "attention.self.value", h)
        d = q.shape[1] // HEADS
        q, k, v = (a.reshape(n, HEADS, d).transpose(1, 0, 2) for a in (q, k, v))
        s = q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(d))
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(n, HEADS * d)
        grab("attn_out_in", ctx)
        a = linear(t, p + "attention.output.dense", ctx)
        h = layer_norm(
            a + h, t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"]
        )
        grab("inter_in", h)
        m = gelu(linear(t, p + "intermediate.dense", h))
        grab("out_in", m)
        o = linear(t, p + "output.dense", m)
        h = layer_norm(o + h, t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"])
    return h


def load_tokenizer(path):
    """The model's tokenizer without its padding to 128 (each sentence runs alone)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_padding()
    return tok


def embed(t, tokenizer, sentences):
    """Mean-pooled, L2-normalised sentence embeddings [len(sentences), 384]."""
    out = []
    for s in sentences:
        ids = np.array(tokenizer.encode(s).ids, dtype=np.int64)
        e = encode(t, ids).mean(0)
        out.append(e / np.linalg.norm(e))
    return np.stack(out)


def linear_weight_names():
    return [
        f"encoder.layer.{b}.{suffix}.weight" for b in range(BLOCKS) for suffix in LINEARS
    ]
