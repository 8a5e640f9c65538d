"""Padding must never change an example's output: alone, or batched beside longer texts."""
import pytest
import torch

from tixel.core import registry
from tixel.models.text_spec import TinyTextSpec


def run(encoder, ids_rows):
    width = max(len(r) for r in ids_rows)
    ids = torch.zeros(len(ids_rows), width, dtype=torch.long)
    for i, row in enumerate(ids_rows):
        ids[i, : len(row)] = torch.tensor(row)
    lengths = torch.tensor([len(r) for r in ids_rows])
    mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
    with torch.no_grad():
        return encoder({"input_ids": ids, "attention_mask": mask, "lengths": lengths})


CASES = [
    ("rnn", {"cell": "lstm", "pooling": "last", "bidirectional": True}),
    ("rnn", {"cell": "gru", "pooling": "mean"}),
    ("rnn", {"cell": "lstm", "pooling": "max", "layers": 2}),
    ("rnn", {"cell": "lstm", "pooling": "attention", "bidirectional": True}),
    ("text_cnn", {"widths": [2, 3]}),
    ("transformer", {"hidden_size": 16, "layers": 1, "heads": 2, "intermediate_size": 32}),
    ("transformer", {"hidden_size": 16, "layers": 1, "heads": 2, "intermediate_size": 32, "pooling": "cls"}),
]


@pytest.mark.parametrize("name,options", CASES)
def test_padding_does_not_change_the_output(name, options):
    torch.manual_seed(0)
    cfg = registry.get("encoder", name).schema(type=name, **options)
    encoder = registry.create("encoder", name, cfg, TinyTextSpec(), pretrained=False).eval()
    short, long = [7, 8, 9], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    alone = run(encoder, [short])
    batched = run(encoder, [short, long])
    torch.testing.assert_close(batched[0], alone[0], atol=1e-5, rtol=1e-4)


def test_glove_initialises_known_words_and_reports_coverage(tmp_path):
    from tixel.models.rnn import RNNConfig, RNNEncoder

    vectors = tmp_path / "vec.txt"
    vectors.write_text("2 3\nhello 1 2 3\nworld 4 5 6\n")
    spec = TinyTextSpec(vocab_size=4, words={"[PAD]": 0, "hello": 1, "World": 2, "zzz": 3})
    cfg = RNNConfig(type="rnn", embedding_dim=3, vectors=str(vectors))
    enc = RNNEncoder(cfg, spec)
    assert enc.coverage == pytest.approx(0.5)  # hello, and World through its lower case
    assert enc.embedding.weight[1].tolist() == [1, 2, 3] and enc.embedding.weight[2].tolist() == [4, 5, 6]


def test_vector_dimension_mismatch_names_the_field():
    from tixel.core.errors import ConfigError
    from tixel.models.rnn import RNNConfig, RNNEncoder

    with pytest.raises(ConfigError, match="model.encoder.embedding_dim is 64 .* 50 dimensions"):
        RNNEncoder(RNNConfig(type="rnn", embedding_dim=64, vectors="glove-6b-50d"), TinyTextSpec(words={"the": 1}))


def test_minilm_loads_offline_by_name(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from tixel.data.pretrained import resolve
    from tixel.data.tokenize import encode, load_tokenizer
    from tixel.models.transformer import TransformerConfig, TransformerEncoder

    enc = TransformerEncoder(TransformerConfig(type="transformer", pretrained="minilm-l6"), None).eval()
    assert enc.output_dim == 384
    batch = encode(load_tokenizer(resolve("minilm-l6")), ["a happy day", "a sad day"], 16)
    with torch.no_grad():
        out = enc(batch)
    cos = torch.nn.functional.cosine_similarity(out[0], out[1], dim=0)
    assert out.shape == (2, 384) and 0.2 < cos < 0.99


@pytest.mark.parametrize("pooling", ["last", "max"])
def test_unpadded_fast_path_equals_the_packed_path(pooling):
    from tixel.models.rnn import RNNConfig, RNNEncoder

    torch.manual_seed(0)
    enc = RNNEncoder(RNNConfig(type="rnn", bidirectional=True, pooling=pooling, embedding_dim=8, hidden_size=8),
                     TinyTextSpec(), pretrained=False).eval()
    ids = torch.randint(5, 50, (3, 6))
    full = {"input_ids": ids, "attention_mask": torch.ones(3, 6, dtype=torch.long), "lengths": torch.full((3,), 6)}
    padded_ids = torch.cat([ids, torch.zeros(3, 1, dtype=torch.long)], 1)  # one padding column: packed path
    padded = {"input_ids": padded_ids, "attention_mask": (padded_ids != 0).long(), "lengths": torch.full((3,), 6)}
    with torch.no_grad():
        torch.testing.assert_close(enc(full), enc(padded), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("layers", [1, 2])
def test_rnn_matches_packed_bidirectional_lstm(layers):
    """The reversal trick computes exactly what torch's packed bidirectional LSTM computes."""
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from tixel.models.rnn import RNNConfig, RNNEncoder
    from tixel.models.text_spec import TinyTextSpec

    torch.manual_seed(0)
    cfg = RNNConfig(type="rnn", embedding_dim=8, hidden_size=6, bidirectional=True, layers=layers)
    enc = RNNEncoder(cfg, TinyTextSpec()).eval()
    ref = nn.LSTM(8, 6, layers, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for i in range(layers):
            for direction, suffix in ((0, ""), (1, "_reverse")):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(ref, f"{name}_l{i}{suffix}").copy_(getattr(enc.layers[i][direction], f"{name}_l0"))
    ids, lengths = torch.randint(5, 50, (3, 7)), torch.tensor([7, 4, 2])
    packed = pack_padded_sequence(enc.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
    out, (h, _) = ref(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=7)
    seq, final = enc.run({"input_ids": ids, "lengths": lengths})
    assert torch.allclose(seq, out, atol=1e-6)
    assert torch.allclose(final, torch.cat([h[-2], h[-1]], -1), atol=1e-6)
