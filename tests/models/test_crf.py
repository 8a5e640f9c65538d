import itertools

import pytest
import torch

from tixel.data import tags as tagging
from tixel.models.crf import CRF

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def path_score(crf, emissions, path):
    s = crf.start[path[0]] + crf.end[path[-1]] + sum(emissions[i, t] for i, t in enumerate(path))
    return s + sum(crf.transitions[a, b] for a, b in zip(path, path[1:]))


def random_crf(tags, seed=0):
    torch.manual_seed(seed)
    crf = CRF(tags)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def test_nll_matches_brute_force_enumeration():
    crf = random_crf(TAGS[:3])
    emissions = torch.randn(2, 4, 3)
    lengths = [4, 2]
    mask = torch.arange(4)[None, :] < torch.tensor(lengths)[:, None]
    gold = torch.tensor([[1, 2, 0, 1], [0, 1, -100, -100]])
    for row, n in enumerate(lengths):
        scores = torch.stack([path_score(crf, emissions[row], p) for p in itertools.product(range(3), repeat=n)])
        expected = torch.logsumexp(scores, 0) - path_score(crf, emissions[row], gold[row, :n].tolist())
        got = crf.nll(emissions[row: row + 1], gold[row: row + 1], mask[row: row + 1])
        assert torch.allclose(got, expected, atol=1e-4)


@torch.no_grad()
def test_viterbi_is_the_best_allowed_path():
    crf = random_crf(TAGS)
    emissions = torch.randn(3, 5, len(TAGS))
    mask = torch.arange(5)[None, :] < torch.tensor([5, 3, 1])[:, None]
    decoded = crf.decode(emissions, mask)
    for row, n in enumerate([5, 3, 1]):
        paths = [p for p in itertools.product(range(len(TAGS)), repeat=n)
                 if not tagging.invalid_positions([TAGS[t] for t in p])]
        best = max(paths, key=lambda p: float(path_score(crf, emissions[row], p)))
        assert decoded[row] == list(best)


@pytest.mark.parametrize("scheme", ["bio", "bioes"])
def test_viterbi_never_emits_an_invalid_transition(scheme):
    from tixel.tasks.ner import tag_names

    tags = tag_names(["PER", "LOC", "ORG"], scheme)
    crf = random_crf(tags, seed=1)
    with torch.no_grad():  # make invalid moves attractive: the constraint alone must stop them
        crf.transitions.add_(5 * (~crf.allowed).float())
    emissions = torch.randn(64, 12, len(tags)) * 3
    for path in crf.decode(emissions, torch.ones(64, 12, dtype=torch.bool)):
        named = [tags[t] for t in path]
        if scheme == "bio":
            assert not tagging.invalid_positions(named)
        else:
            assert tagging.bio_to_bioes(tagging.bioes_to_bio(named)) == named  # well-formed BIOES
    if scheme == "bio":  # the test is not vacuous: without the constraint invalid paths do come out
        unconstrained = crf.decode(emissions, torch.ones(64, 12, dtype=torch.bool), constrained=False)
        assert any(tagging.invalid_positions([tags[t] for t in p]) for p in unconstrained)
