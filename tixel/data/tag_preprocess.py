"""Preprocessing for taggers, fitted on train and saved in the bundle: a word vocabulary (RNN) or a
pretrained sub-word tokenizer (transformer), the character vocabulary, and the window settings.

Sentences become windows of at most `max_length` tokens. A sentence that does not fit is covered by
several windows that overlap by `stride` words of context; each word is *owned* by exactly one window,
the one its prediction is taken from, so no word is ever truncated away.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Optional, Sequence

import numpy as np
import torch

from tixel.data import tokenize
from tixel.data.preprocessors import register_preprocessor
from tixel.data.pretrained import resolve
from tixel.data.vectors import load_vectors

MAX_WORD_CHARS = 20


def train_word_tokenizer(sentences: Sequence[Sequence[str]], cfg, extra_words: Sequence[str] = ()):
    """A word-level vocabulary over pre-split words (whitespace split only, so words stay whole), plus
    `extra_words` (the word vectors' most frequent words) after the training split's own."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    def empty():
        tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]") if vocab else models.WordLevel(unk_token="[UNK]"))
        steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if cfg.lowercase else [])
        tok.normalizer = normalizers.Sequence(steps)
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        return tok

    vocab = None
    tok = empty()
    trainer = trainers.WordLevelTrainer(vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                        special_tokens=tokenize.SPECIALS, show_progress=False)
    tok.train_from_iterator((" ".join(s) for s in sentences), trainer)
    if not extra_words:
        return tok
    vocab = dict(tok.get_vocab())
    for word in extra_words:
        vocab.setdefault(word, len(vocab))
    return empty()


def casing(word: str) -> int:
    """0 pad, 1 lower, 2 Title, 3 UPPER, 4 digits, 5 mixed: the case cue a lower-cased vocabulary loses."""
    if word.isdigit():
        return 4
    if word.islower():
        return 1
    if word.isupper():
        return 3
    if word[:1].isupper() and word[1:].islower():
        return 2
    return 5


def vector_words(encoder_cfg, n: int) -> list[str]:
    """The first n words of the encoder's word vectors (GloVe lists them most frequent first)."""
    name = getattr(encoder_cfg, "vectors", None)
    if not n or not name:
        return []
    index, _ = load_vectors(name)
    return [w for w, i in sorted(index.items(), key=lambda kv: kv[1])[:n]]


@register_preprocessor("tagging")
@dataclass
class TaggingPreprocessing:
    fitted_fields: ClassVar[tuple[str, ...]] = ("data.tokenizer", "data.stride")
    tokenizer: object  # tokenizers.Tokenizer
    max_length: int
    stride: int = 16
    chars: dict = field(default_factory=dict)  # char -> id; 0 pad, 1 unknown
    hf_config: Optional[dict] = None

    @classmethod
    def fit(cls, sentences: Sequence[Sequence[str]], data_cfg, encoder_cfg) -> "TaggingPreprocessing":
        tok_cfg, pretrained = data_cfg.tokenizer, getattr(encoder_cfg, "pretrained", None)
        if tok_cfg.kind == "pretrained" or (tok_cfg.kind == "auto" and pretrained):
            tokenizer = tokenize.load_tokenizer(resolve(tok_cfg.path or pretrained))
        else:
            tokenizer = train_word_tokenizer(sentences, tok_cfg, vector_words(encoder_cfg, tok_cfg.vectors_vocab))
        counts = Counter(c for s in sentences for w in s for c in w)
        chars = {c: i + 2 for i, (c, _) in enumerate(counts.most_common(2000))}
        hf_config = json.loads((resolve(pretrained) / "config.json").read_text()) if pretrained else None
        return cls(tokenizer, tok_cfg.max_length, data_cfg.stride, chars, hf_config)

    vocab_size = property(lambda self: self.tokenizer.get_vocab_size())
    pad_id = property(lambda self: tokenize.pad_id(self.tokenizer))

    def vocab(self) -> dict[str, int]:
        return self.tokenizer.get_vocab()

    # ---------------------------------------------------------------- encoding

    def specials(self) -> tuple[list[int], list[int]]:
        """The ids the tokenizer wraps a sequence in ([CLS] ... [SEP] for BERT; none for a word vocabulary)."""
        ids = self.tokenizer.encode("").ids
        return ids[:1], ids[1:]

    def word_pieces(self, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """Token ids of each word; a word the tokenizer drops entirely (control characters) becomes [UNK]."""
        unk = self.tokenizer.token_to_id("[UNK]") or 0
        encodings = self.tokenizer.encode_batch([list(s) for s in sentences], is_pretokenized=True,
                                                add_special_tokens=False)
        out = []
        for sentence, enc in zip(sentences, encodings):
            pieces = [[] for _ in sentence]
            for token_id, word in zip(enc.ids, enc.word_ids):
                if word is not None:
                    pieces[word].append(token_id)
            out.append([p or [unk] for p in pieces])
        return out

    def windows(self, pieces: list[list[int]]) -> list[tuple[int, int, int, int]]:
        """(start, end, own_start, own_end) word ranges covering one sentence within the token budget."""
        prefix, suffix = self.specials()
        budget = max(1, self.max_length - len(prefix) - len(suffix))
        sizes = [min(len(p), budget) for p in pieces]
        n, out, own = len(pieces), [], 0
        while own < n:
            start = own
            while start > 0 and own - start < self.stride and sum(sizes[start - 1:own]) < budget // 2:
                start -= 1  # left context, at most half the budget
            end, used = own, sum(sizes[start:own])
            while end < n and used + sizes[end] <= budget:
                used += sizes[end]
                end += 1
            end = max(end, own + 1)
            own_end = end if end == n else max(own + 1, end - min(self.stride, (end - own) // 2))
            out.append((start, end, own, own_end))
            own = own_end
        return out

    def encode(self, sentences: Sequence[Sequence[str]], tags: Optional[Sequence[Sequence[int]]] = None) -> dict:
        """Windows as padded tensors: input_ids/attention_mask/lengths (tokens), word_index (each word's
        first token), word_lengths, chars, casing, owned, and sentence/offset to map windows back."""
        prefix, suffix = self.specials()
        budget = max(1, self.max_length - len(prefix) - len(suffix))
        rows = []
        for s, (sentence, pieces) in enumerate(zip(sentences, self.word_pieces(sentences))):
            for start, end, own, own_end in self.windows(pieces):
                ids, first = list(prefix), []
                for p in pieces[start:end]:
                    first.append(len(ids))
                    ids += p[:budget]
                rows.append((s, start, own - start, own_end - start, ids + suffix, first,
                             sentence[start:end], None if tags is None else tags[s][start:end]))
        return self._tensors(rows)

    def _tensors(self, rows) -> dict:
        n = len(rows)
        width = max(len(r[4]) for r in rows)
        words = max(len(r[5]) for r in rows)
        out = {
            "input_ids": np.full((n, width), self.pad_id, np.int64), "lengths": np.zeros(n, np.int64),
            "word_index": np.zeros((n, words), np.int64), "word_lengths": np.zeros(n, np.int64),
            "chars": np.zeros((n, words, MAX_WORD_CHARS), np.int64), "casing": np.zeros((n, words), np.int64),
            "owned": np.zeros((n, words), bool), "sentence": np.zeros(n, np.int64), "offset": np.zeros(n, np.int64),
            "targets": np.full((n, words), -100, np.int64),
        }
        for i, (s, start, own, own_end, ids, first, toks, tags) in enumerate(rows):
            out["input_ids"][i, : len(ids)], out["lengths"][i] = ids, len(ids)
            out["word_index"][i, : len(first)], out["word_lengths"][i] = first, len(first)
            out["owned"][i, own:own_end] = True
            out["sentence"][i], out["offset"][i] = s, start
            for j, word in enumerate(toks):
                out["casing"][i, j] = casing(word)
                out["chars"][i, j, : len(word[:MAX_WORD_CHARS])] = [self.chars.get(c, 1) for c in word[:MAX_WORD_CHARS]]
            if tags is not None:
                out["targets"][i, : len(tags)] = tags
        tensors = {k: torch.from_numpy(v) for k, v in out.items()}
        tensors["attention_mask"] = (torch.arange(width)[None, :] < tensors["lengths"][:, None]).long()
        return tensors

    # ---------------------------------------------------------------- bundle

    def state(self, folder: Path) -> dict:
        return {"tokenizer": self.tokenizer.to_str(), "max_length": self.max_length, "stride": self.stride,
                "chars": self.chars, "hf_config": self.hf_config}

    @classmethod
    def from_state(cls, state: dict, folder: Path) -> "TaggingPreprocessing":
        return cls(tokenize.tokenizer_from_str(state["tokenizer"]), state["max_length"], state["stride"],
                   state["chars"], state.get("hf_config"))
