#!/usr/bin/env python3
"""End-to-end quality of pruned all-MiniLM-L6-v2: mean cosine similarity between the
pruned and the dense model's sentence embeddings.

Each MASKS file is what examples/learn-masks writes (per linear layer
"{name}.keep_bits" [out, in/4] u8 and the compressed "{name}.values" [out, in/2] in
ascending column order): the script rebuilds every pruned dense weight from the
compressed values (the method's own weights: W's kept entries for mask-only methods,
updated ones for SparseGPT and refits) and runs the numpy BERT of
scripts/minilm/bert.py. A file may instead hold dense weights under the model's own
names ("encoder.layer.0.attention.self.query.weight"); those replace the model's.

Two sentence sets, both from capture-minilm-activations.py's Brown split: "held-out"
(every held-out sentence: texts no calibration sentence comes from) and
"calibration" (the first IN_SAMPLE_SENTENCES calibration sentences: in-sample).
Run through scripts/minilm/minilm.sh: scripts/minilm/minilm.sh eval MASKS.safetensors...
Usage: eval-minilm-embeddings.py MODEL_DIR CORPUS_DIR MASKS.safetensors...
"""

import importlib.util
import os
import sys

import numpy as np
from safetensors.numpy import load_file

# The folder above this one, so that `minilm` (this folder) imports as a package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from minilm import bert  # noqa: E402

# In-sample sentences evaluated (a prefix of the calibration split: enough to compare
# with the held-out cosine, at a fraction of the time of all of them).
IN_SAMPLE_SENTENCES = 32


def splits(corpus_dir, tok):
    """The capture script's {"calibration": [...], "held-out": [...]} sentences."""
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        "capture", os.path.join(here, "capture-minilm-activations.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.split_sentences(corpus_dir, tok)


def pruned_weights(t, masks):
    """Model tensors with the file's layers replaced; returns (tensors, layers)."""
    out = dict(t)
    layers = 0
    for name in bert.linear_weight_names():
        stem = name[: -len(".weight")]
        if stem + ".keep_bits" in masks:
            w = t[name]
            bits = masks[stem + ".keep_bits"].astype(np.uint8)
            keep = ((bits[:, :, None] >> np.arange(4, dtype=np.uint8)) & 1).astype(bool)
            keep = keep.reshape(w.shape)
            if (keep.sum(1) != w.shape[1] // 2).any():
                sys.exit(f"{stem}: mask is not 2:4")
            dense = np.zeros_like(w)
            if stem + ".values" in masks:
                dense[keep] = masks[stem + ".values"].astype(w.dtype).reshape(-1)
                if not np.isfinite(dense).all():
                    sys.exit(f"{stem}: non-finite weights")
            else:
                dense = np.where(keep, w, 0).astype(w.dtype)
            out[name] = dense
            layers += 1
        elif name in masks:
            out[name] = masks[name].astype(t[name].dtype)
            layers += 1
    return out, layers


def held_out_inputs(t, tok, sentences):
    """Inputs of every linear layer of the dense model on `sentences`."""
    capture = {}
    for s in sentences:
        bert.encode(t, np.array(tok.encode(s).ids, dtype=np.int64), capture)
    return {k: np.concatenate(v).astype(np.float64) for k, v in capture.items()}


def layer_errors(t, pruned, inputs):
    """Per linear layer: ‖X·Wᵀ − X·W_mᵀ‖² / ‖X·Wᵀ‖² on held-out inputs X."""
    errs = {}
    for name in bert.linear_weight_names():
        blk = name.split(".")[2]
        act = bert.LINEARS[name[len(f"encoder.layer.{blk}.") : -len(".weight")]]
        x = inputs[f"{blk}.{act}"]
        y = x @ t[name].astype(np.float64).T
        d = x @ (t[name].astype(np.float64) - pruned[name].astype(np.float64)).T
        errs[name] = float((d * d).sum() / (y * y).sum())
    return errs


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    model_dir, corpus_dir = sys.argv[1:3]
    t = load_file(os.path.join(model_dir, "model.safetensors"))
    tok = bert.load_tokenizer(os.path.join(model_dir, "tokenizer.json"))
    sp = splits(corpus_dir, tok)
    sets = {"held-out": sp["held-out"], "calibration": sp["calibration"][:IN_SAMPLE_SENTENCES]}
    dense = {k: bert.embed(t, tok, s) for k, s in sets.items()}
    inputs = held_out_inputs(t, tok, sets["held-out"])
    n = {k: len(v) for k, v in sets.items()}
    per_layer = {}
    print(f"| file | linear layers pruned | mean cos (held-out, {n['held-out']} sentences) "
          f"| min cos (held-out) | mean cos (calibration, {n['calibration']} sentences) "
          f"| mean held-out layer error |")
    print("|---|---|---|---|---|---|")
    for path in sys.argv[3:]:
        pruned, layers = pruned_weights(t, load_file(path))
        cos = {k: (bert.embed(pruned, tok, s) * dense[k]).sum(1) for k, s in sets.items()}
        errs = layer_errors(t, pruned, inputs)
        name = os.path.basename(path)
        per_layer[name] = errs
        pruned_errs = [e for e in errs.values() if e > 0]
        mean_err = sum(pruned_errs) / max(len(pruned_errs), 1)
        print(f"| {name} | {layers} | {cos['held-out'].mean():.4f} | {cos['held-out'].min():.4f} "
              f"| {cos['calibration'].mean():.4f} | {mean_err:.4f} |", flush=True)
    files = list(per_layer)
    print(f"\nheld-out layer error ‖X·Wᵀ − X·W_mᵀ‖²/‖X·Wᵀ‖² on the {n['held-out']} held-out "
          "sentences' tokens")
    print("| layer | " + " | ".join(files) + " |")
    print("|---" * (len(files) + 1) + "|")
    for layer in bert.linear_weight_names():
        if all(per_layer[f][layer] == 0 for f in files):
            continue
        short = layer[len("encoder."):-len(".weight")]
        print(f"| {short} | " + " | ".join(f"{per_layer[f][layer]:.4f}" for f in files) + " |")


if __name__ == "__main__":
    main()
