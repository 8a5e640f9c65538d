"""Named-entity recognition: sentences of words -> a tag per word (BIO or BIOES) -> entities.

Shares the one path with classification (reader -> splits -> fitted preprocessing -> model -> loop ->
bundle); what it adds is the windowed word encoding, the tagger (optionally with a CRF), entity-level
metrics (seqeval) and decoding to character-offset entities."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from tixel.core import registry
from tixel.core.device import to_device
from tixel.core.errors import ConfigError, TixelError
from tixel.core.registry import register_task
from tixel.data import tags as tagging
from tixel.data.batching import TensorBatches
from tixel.data.conll import ConllData, NerJsonlData, read_conll, read_ner_jsonl
from tixel.data.inputs import read_text_file
from tixel.data.labels import LabelSet
from tixel.data.splits import make_splits, retarget
from tixel.data.tag_preprocess import TaggingPreprocessing
from tixel.data.words import split_words
from tixel.models.tagger import build_tagger
from tixel.tasks.protocol import Capabilities, Prepared, Scorer, Split, SupervisedSteps
from tixel.tasks.reports.ner import write_ner_report

TOKEN_KEYS = ("input_ids", "attention_mask")  # cut to the longest token count in a batch
WORD_KEYS = ("word_index", "chars", "casing", "owned", "targets")  # cut to the most words


@dataclass
class TagSplit(Split):
    gold: list  # BIO tags per sentence
    tokens: list

    def __len__(self) -> int:
        return len(self.gold)  # sentences, not the windows that cover them


class WindowBatches(TensorBatches):
    """Windows batched like texts (length buckets), with both the token and the word axis cut per batch."""

    def epoch(self, generator=None, start: int = 0):
        for index in self.indices(generator, start):
            batch = take_windows(self.inputs, index)
            yield batch, batch["targets"]


def take_windows(inputs: dict, index) -> dict:
    batch = {k: v[index] for k, v in inputs.items()}
    tokens, words = int(batch["lengths"].max()), int(batch["word_lengths"].max())
    for key in TOKEN_KEYS:
        batch[key] = batch[key][:, :tokens]
    for key in WORD_KEYS:
        batch[key] = batch[key][:, :words]
    return batch


def tag_names(types: list[str], scheme: str) -> list[str]:
    prefixes = ("B", "I") if scheme == "bio" else ("B", "I", "E", "S")
    return ["O"] + [f"{p}-{t}" for t in types for p in prefixes]


@register_task("ner")
class NERTask(SupervisedSteps):  # the tagger owns its loss: the CRF's NLL, or per-word cross-entropy
    name = "ner"
    metric_names = ("loss", "f1", "precision", "recall")
    multi_label = False
    inputs = "text"
    scheme = "bio"
    capabilities = Capabilities(outputs="entities", exportable=True)

    def configure(self, cfg) -> "NERTask":
        if not hasattr(cfg.data, "scheme"):
            raise ConfigError(f"data.format: {cfg.data.format!r} gives no tags; task ner reads conll or ner_jsonl")
        self.scheme = cfg.data.scheme
        return self

    # ---------------------------------------------------------------- data
    def prepare(self, cfg, labels: LabelSet | None = None, pre=None) -> Prepared:
        splits = make_splits(registry.create("reader", cfg.data.format, cfg.data), cfg.data.split)
        if labels is None:
            seen = sorted({tagging.split_tag(t)[1] for tags in splits["train"].labels for t in tags} - {""})
            labels = LabelSet(tag_names(cfg.data.labels or seen, self.scheme))
        if pre is None:
            pre = TaggingPreprocessing.fit(splits["train"].tokens, cfg.data, cfg.model.encoder)
        return Prepared({name: self.encode_split(s, labels, pre) for name, s in splits.items()}, labels, pre)

    def encode_split(self, data, labels: LabelSet, pre: TaggingPreprocessing) -> TagSplit:
        ids = []
        for i, tags in enumerate(data.labels):
            scheme_tags = tagging.bio_to_bioes(tags) if self.scheme == "bioes" else tags
            ids.append(labels.encode(scheme_tags, lambda j, i=i: f"{data.where(i)} (word {j + 1})").tolist())
        inputs = pre.encode(data.tokens, ids)
        return TagSplit(inputs, inputs["targets"], data.source, list(data.labels), list(data.tokens))

    def batches(self, split: Split, batch_size: int, shuffle: bool, bucket: bool = True) -> WindowBatches:
        return WindowBatches(split.inputs, split.targets, batch_size, shuffle, bucket)

    # ---------------------------------------------------------------- model and training
    def build_model(self, cfg, labels: LabelSet, pre: TaggingPreprocessing, pretrained: bool = True,
                    train: Split | None = None):
        return build_tagger(cfg.model, pre, labels.names, pretrained)

    def fit(self, cfg, run_dir: Path, log, train_stage=None):
        raise TixelError("task ner trains by gradient through the engine's loop, not by fit")

    def save_artifacts(self, model, pre, run_dir: Path) -> None:
        return None

    @torch.no_grad()
    def decode(self, model, inputs: dict, names: list[str], batch_size: int, device) -> tuple[list, float]:
        """Tag names (BIO) per sentence, and the mean loss when inputs carry targets."""
        model.eval()
        count = int(inputs["sentence"].max()) + 1 if len(inputs["sentence"]) else 0
        out, loss_sum, batches = [[] for _ in range(count)], 0.0, 0
        for index in torch.arange(len(inputs["lengths"])).split(batch_size):
            batch = to_device(take_windows(inputs, index), device)
            emissions = model(batch)
            if bool((batch["targets"] != -100).any()):
                loss_sum, batches = loss_sum + float(model.loss(emissions, batch["targets"])), batches + 1
            for row, path in enumerate(model.decode(emissions, batch["word_lengths"])):
                owned = batch["owned"][row, : len(path)].nonzero().flatten().tolist()
                out[int(batch["sentence"][row])] += [names[path[j]] for j in owned]
        tags = [tagging.bioes_to_bio(t) if self.scheme == "bioes" else t for t in out]
        return tags, loss_sum / max(1, batches)

    def validate(self, model, split: TagSplit, batch_size: int, device) -> dict:
        """Entity-level scores; plain floats (seqeval gives numpy.float64, which a weights-only checkpoint
        load refuses, and the history and best value go into the checkpoint)."""
        from seqeval.metrics import f1_score, precision_score, recall_score

        pred, loss = self.decode(model, split.inputs, model.tags, batch_size, device)
        scores = {"f1": f1_score(split.gold, pred), "precision": precision_score(split.gold, pred),
                  "recall": recall_score(split.gold, pred)}
        return {"loss": float(loss), **{k: float(v) for k, v in scores.items()}}

    # ---------------------------------------------------------------- evaluation and prediction
    def report(self, model, prepared: Prepared, split: str, out_dir: Path, history: list, device) -> dict:
        data = prepared.splits[split]
        pred, loss = self.decode(model, data.inputs, prepared.labels.names, 256, device)
        return write_ner_report(out_dir, data.gold, pred, loss, history)

    def encode(self, pre: TaggingPreprocessing, items) -> dict:
        """Sentences (texts, split into words as predict does, or lists of words) -> the tagger's windows."""
        words = [[w for w, _, _ in split_words(t)] if isinstance(t, str) else list(t) for t in items]
        return pre.encode(words)

    def probabilities(self, emissions: torch.Tensor) -> torch.Tensor:
        """Per-word tag probabilities (B, words, tags); decoding itself is the CRF's Viterbi, not an argmax."""
        return emissions.softmax(-1)

    def predict_rows(self, scorer: Scorer, texts: list[str], top_k: int = 3) -> list[dict]:
        """Entities with character offsets into each text (`top_k` does not apply to tags)."""
        b, predictor = scorer.bundle, scorer
        words = [split_words(t) for t in texts]
        keep = [i for i, w in enumerate(words) if w]
        rows = [{"entities": []} for _ in texts]
        if keep:
            inputs = b.preprocessing.encode([[w for w, _, _ in words[i]] for i in keep])
            tags, _ = self.decode(b.model, inputs, b.labels.names, predictor.batch_size, predictor.device)
            for i, sentence_tags in zip(keep, tags):
                rows[i]["entities"] = entities(texts[i], words[i], sentence_tags)
        return rows

    def load_file(self, path) -> str:
        return read_text_file(path)

    def prepare_labelled(self, path: str, labels: LabelSet, pre, cfg=None) -> Prepared:
        """A labelled CoNLL or span-JSONL file, read with the bundle's data settings, as the test split."""
        jsonl = path.removesuffix(".gz").endswith(".jsonl")
        schema, read = (NerJsonlData, read_ner_jsonl) if jsonl else (ConllData, read_conll)
        data = read(path, retarget(cfg.data, schema, "ner_jsonl" if jsonl else "conll", path))
        return Prepared({"test": self.encode_split(data, labels, pre)}, labels, pre)




def entities(text: str, words: list[tuple[str, int, int]], tags: list[str]) -> list[dict]:
    """BIO tags over `words` -> entities with character offsets into `text` (end exclusive)."""
    found = []
    for start, end, kind in tagging.spans(tags):
        s, e = words[start][1], words[end - 1][2]
        found.append({"text": text[s:e], "type": kind, "start": s, "end": e})
    return found
