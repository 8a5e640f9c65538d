"""`tixel evaluate RUN_A RUN_B ...`: several bundles' class probabilities averaged, then one report.

Single runs of a small text model vary by about a point between seeds (ChnSentiCorp's character BiLSTM:
87.26-89.06 % test over three), and averaging seeds is the usual cure. Each bundle encodes the data with
its own preprocessing, so models with different tokenizers or architectures can be averaged; they must
share the task, the labels and the rows of the split they are scored on."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import torch

from tixel.commands.evaluate import prepare_for, report_split, run_dir_of
from tixel.core.errors import ConfigError
from tixel.engine.bundle import load_bundle
from tixel.engine.predict import check_member
from tixel.tasks.classification import logits_of
from tixel.tasks.reports.tables import write_metrics


def member_log_probs(bundle, overrides, data) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(log-probabilities, targets, split name) of one bundle on its evaluation split."""
    prepared = prepare_for(bundle, overrides, data)
    split = report_split(prepared)
    logits = logits_of(bundle.model, prepared.splits[split].inputs, 512, bundle.device)
    logp = logits.log_softmax(-1)
    return logp, prepared.splits[split].targets, split


def evaluate_ensemble(paths: list[str], overrides: list[str] = (), data: Optional[str] = None,
                      out_dir: Optional[str] = None) -> dict:
    """The mean of the members' probabilities, computed as a log-sum-exp so confident members stay finite."""
    members, first = [], None
    for path in paths:
        bundle = load_bundle(path)
        check_member(first or bundle, bundle)
        logp, targets, split = member_log_probs(bundle, overrides, data)
        if first is None:
            first, first_targets, first_split = bundle, targets, split
        if split != first_split or not torch.equal(targets, first_targets):
            raise ConfigError(f"{bundle.path}: its {split} split is not the rows {first.path} is scored on "
                              "(same data and split settings needed, or pass --data)")
        members.append(logp)
    mean_logp = torch.logsumexp(torch.stack(members), 0) - math.log(len(members))
    loss = torch.nn.functional.nll_loss(mean_logp, first_targets.long()).item()
    out = Path(out_dir) if out_dir else run_dir_of(first) / "ensemble-report"
    result = write_metrics(out, mean_logp.exp(), first_targets, list(first.labels.names), False, [], loss)
    result["text"] += f"\nensemble of {len(members)} bundles on the {first_split} split: mean probabilities\n"
    return result
