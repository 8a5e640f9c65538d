"""Text classification and sentiment: a text reader, a tokenizer fitted on train, an RNN, text CNN or
transformer encoder + a softmax (or, multi-label, sigmoid) head."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from tixel.core.errors import DataError
from tixel.core.log import get_logger
from tixel.core.registry import register_task
from tixel.data.inputs import read_text_file
from tixel.data.labels import LabelSet
from tixel.data.splits import retarget
from tixel.data.tabular import DelimitedData, JsonlData, read_delimited, read_jsonl
from tixel.data.text_preprocess import TextPreprocessing
from tixel.models import build_classifier
from tixel.tasks.base import ClassificationTask
from tixel.tasks.protocol import Prepared, Split

log = get_logger(__name__)


@register_task("text_classification")
class TextClassification(ClassificationTask):
    name = "text_classification"

    def fit_preprocessing(self, train_set, cfg) -> TextPreprocessing:
        return TextPreprocessing.fit(train_set.texts, cfg.data, cfg.model.encoder)

    def encode(self, pre: TextPreprocessing, items) -> dict:
        return pre.apply(list(items))

    def batches(self, split, batch_size: int, shuffle: bool, bucket: bool = True):
        return super().batches(split, batch_size, shuffle, bucket and self.bucket)

    def configure(self, cfg):
        self.bucket = bool(getattr(cfg.data, "bucket", True))
        return super().configure(cfg)

    def build_model(self, cfg, labels: LabelSet, pre: TextPreprocessing, pretrained: bool = True,
                    train: Optional[Split] = None):
        model = build_classifier(cfg.model, pre, len(labels), pretrained, self.criterion(cfg, labels, train))
        coverage = getattr(model.encoder, "coverage", None)
        if coverage is not None:
            log.info(f"word vectors {cfg.model.encoder.vectors}: cover {coverage:.1%} of a {pre.vocab_size:,} vocabulary")
        return model

    def prepare_labelled(self, path: str, labels: LabelSet, pre: TextPreprocessing, cfg=None) -> Prepared:
        """One labelled file (csv/tsv/jsonl, read with the bundle's data settings) as the test split."""
        return Prepared({"test": self.encode_split(read_labelled_file(path, cfg), labels, pre)}, labels, pre)

    def load_file(self, path) -> str:
        return read_text_file(path)



def read_labelled_file(path: str, cfg):
    """A csv/tsv/jsonl file of labelled texts, read with a bundle's data settings (columns, quoting,
    cleaning) re-targeted at it: what `tixel evaluate --data` gives every text classifier."""
    suffix = Path(path.removesuffix(".gz")).suffix.lower()
    readers = {".jsonl": read_jsonl, ".csv": read_delimited, ".tsv": read_delimited}
    if cfg is None or suffix not in readers:
        raise DataError(f"--data {path}: expected a .csv, .tsv or .jsonl file")
    fmt = {".jsonl": "jsonl", ".csv": "csv", ".tsv": "tsv"}[suffix]
    return readers[suffix](path, _reader_cfg(cfg.data, fmt, path))


def _reader_cfg(data_cfg, fmt: str, path: str):
    """The bundle's data settings (columns, quoting, cleaning) re-targeted at another file."""
    return retarget(data_cfg, JsonlData if fmt == "jsonl" else DelimitedData, fmt, path)
