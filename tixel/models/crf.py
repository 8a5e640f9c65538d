"""A linear-chain CRF over per-token emissions, vectorised over the batch.

Written here because the maintained options do not fit: `pytorch-crf` (last release 2019) has no
constrained decoding, and AllenNLP's CRF comes with the whole (archived) framework. Decoding is
constrained by the tag scheme, so Viterbi never emits an invalid BIO/BIOES transition; training is the
plain CRF likelihood (Lafferty et al. 2001; Lample et al. 2016 for the tagging setup).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

NEG = -1e4  # a large negative score rather than -inf, so masked steps never produce NaN


def allowed_transitions(tags: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(allowed[from, to], allowed_start, allowed_end) for a BIO or BIOES tag set."""
    parts = [("O", "") if t == "O" else (t[0], t[2:]) for t in tags]
    bioes = any(p in ("E", "S") for p, _ in parts)

    def ok(a, b) -> bool:
        (pa, ta), (pb, tb) = a, b
        if bioes and pa in ("B", "I"):  # an open BIOES entity must continue or end, same type
            return pb in ("I", "E") and ta == tb
        if pb in ("I", "E"):  # continuing needs an open entity of the same type
            return pa in ("B", "I") and ta == tb
        return True

    allowed = torch.tensor([[ok(a, b) for b in parts] for a in parts])
    start = torch.tensor([p in ("O", "B", "S") for p, _ in parts])
    end = torch.tensor([p in ("O", "E", "S") or not bioes for p, _ in parts])
    return allowed, start, end


class CRF(nn.Module):
    def __init__(self, tags: Sequence[str]):
        super().__init__()
        n = len(tags)
        self.transitions = nn.Parameter(torch.zeros(n, n))  # [from, to]
        self.start = nn.Parameter(torch.zeros(n))
        self.end = nn.Parameter(torch.zeros(n))
        allowed, start, end = allowed_transitions(tags)
        # constraints are buffers, not saved weights: they follow from the tag names in labels.json
        self.register_buffer("allowed", allowed, persistent=False)
        self.register_buffer("allowed_start", start, persistent=False)
        self.register_buffer("allowed_end", end, persistent=False)

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood. emissions (B, L, T); tags (B, L); mask (B, L), a prefix per row."""
        emissions = emissions.float()
        tags = tags.clamp_min(0)  # padded positions carry -100; the mask removes them
        return (self.log_partition(emissions, mask) - self.score(emissions, tags, mask)).mean()

    def score(self, emissions, tags, mask) -> torch.Tensor:
        maskf = mask.float()
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, L)
        trans = self.transitions[tags[:, :-1], tags[:, 1:]]  # (B, L-1)
        last = tags.gather(1, (mask.sum(1) - 1).clamp_min(0).unsqueeze(1)).squeeze(1)
        return (self.start[tags[:, 0]] + (emit * maskf).sum(1) + (trans * maskf[:, 1:]).sum(1) + self.end[last])

    def log_partition(self, emissions, mask) -> torch.Tensor:
        alpha = self.start + emissions[:, 0]  # (B, T)
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1), dim=1)
            alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)
        return torch.logsumexp(alpha + self.end, dim=1)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor, constrained: bool = True) -> list[list[int]]:
        """Viterbi: the best tag path of each row's unmasked prefix."""
        emissions = emissions.float()
        trans, start, end = self._constrained() if constrained else (self.transitions, self.start, self.end)
        score = start + emissions[:, 0]
        backpointers = []
        for t in range(1, emissions.shape[1]):
            best, index = (score.unsqueeze(2) + trans).max(dim=1)
            backpointers.append(index)
            score = torch.where(mask[:, t].unsqueeze(1), best + emissions[:, t], score)
        score = score + end
        lengths = mask.sum(1).tolist()
        paths = []
        for row, length in enumerate(lengths):
            tag = int(score[row].argmax())
            path = [tag]
            for t in range(length - 1, 0, -1):
                tag = int(backpointers[t - 1][row, tag])
                path.append(tag)
            paths.append(path[::-1])
        return paths

    def _constrained(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        def limit(x, ok):
            return x.masked_fill(~ok, NEG)

        return (limit(self.transitions, self.allowed), limit(self.start, self.allowed_start),
                limit(self.end, self.allowed_end))


def greedy_decode(emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
    """Per-token argmax (the softmax tagger), one list per row's unmasked prefix."""
    best = emissions.argmax(-1)
    return [best[row, : int(n)].tolist() for row, n in enumerate(mask.sum(1))]
