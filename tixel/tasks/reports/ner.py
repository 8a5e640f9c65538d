"""The NER report: entity-level P/R/F1 per type (seqeval, conlleval's counting), the token-level table in
the seed's format (every tag incl. O; micro, macro, weighted), and the most frequent entity errors."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tixel.core.io import write_text
from tixel.data import tags as tagging
from tixel.tasks.reports import plots


def entity_errors(gold: list, pred: list, top: int = 10) -> list[dict]:
    """(gold type -> predicted type) counts over entities not predicted exactly; '-' is no entity."""
    counts: Counter = Counter()
    for g_tags, p_tags in zip(gold, pred):
        g = {(s, e): k for s, e, k in tagging.spans(g_tags)}
        p = {(s, e): k for s, e, k in tagging.spans(p_tags)}
        for span, kind in g.items():
            if p.get(span) != kind:
                counts[(kind, p.get(span, "-"))] += 1
        for span, kind in p.items():
            if span not in g:
                counts[("-", kind)] += 1
    return [{"gold": g, "predicted": p, "count": n} for (g, p), n in counts.most_common(top)]


def token_report(gold: list, pred: list) -> tuple[str, dict]:
    from sklearn.metrics import classification_report

    y_true = [t for s in gold for t in s]
    y_pred = [t for s in pred for t in s]
    names = sorted(set(y_true) | set(y_pred), key=lambda t: (t == "O", t[2:], t))
    kwargs = dict(labels=names, digits=4, zero_division=0)
    text = classification_report(y_true, y_pred, **kwargs)
    return text, classification_report(y_true, y_pred, output_dict=True, **kwargs)


def write_ner_report(out_dir: Path, gold: list, pred: list, loss: float, history: list) -> dict:
    from seqeval.metrics import (
        classification_report,
        f1_score,
        precision_score,
        recall_score,
    )


    out_dir.mkdir(parents=True, exist_ok=True)
    entity_text = classification_report(gold, pred, digits=4, zero_division=0)
    entity = classification_report(gold, pred, digits=4, zero_division=0, output_dict=True)
    tok_text, tok = token_report(gold, pred)
    errors = entity_errors(gold, pred)
    error_text = "\n".join(f"{e['gold']:>12} -> {e['predicted']:<12} {e['count']:>6}" for e in errors)
    text = (f"entity level (seqeval)\n{entity_text}\ntoken level\n{tok_text}\n"
            f"most frequent entity errors (gold -> predicted; '-' = none)\n{error_text}\n")
    write_text(out_dir / "report.txt", text)
    metrics = {"f1": f1_score(gold, pred), "precision": precision_score(gold, pred),
               "recall": recall_score(gold, pred), "macro_f1": entity["macro avg"]["f1-score"],
               "token_accuracy": tok["accuracy"] if "accuracy" in tok else tok["micro avg"]["f1-score"],
               "loss": loss}
    report = {"entity": _floats(entity), "token": _floats(tok), "errors": errors, "metrics": metrics}
    write_text(out_dir / "report.json", json.dumps(report, indent=2))
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2))
    if history:
        plots.learning_curve(history, out_dir / "learning_curve.png")
    return {"metrics": metrics, "text": text, "dir": out_dir}


def _floats(report: dict) -> dict:
    """numpy numbers -> plain floats, for JSON."""
    return {k: ({m: float(v) for m, v in row.items()} if isinstance(row, dict) else float(row))
            for k, row in report.items()}
