import pytest
import torch

from tixel.data import preprocessors
from tixel.data.text import TokenizerConfig
from tixel.data.tokenize import encode, load_tokenizer, train_tokenizer

CORPUS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "这家酒店很好"] * 5


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "word"])
def test_trained_tokenizer_round_trips_through_its_file(tmp_path, kind):
    tok = train_tokenizer(CORPUS, TokenizerConfig(kind=kind, vocab_size=100, min_frequency=1))
    before = encode(tok, ["the cat sat", "a dog"], 16)
    tok.save(str(tmp_path / "tokenizer.json"))
    after = encode(load_tokenizer(tmp_path), ["the cat sat", "a dog"], 16)
    assert torch.equal(before["input_ids"], after["input_ids"])
    assert before["lengths"].tolist() == [5, 4]  # [CLS] ... [SEP]
    assert before["input_ids"][1, 4] == tok.token_to_id("[PAD]")


def test_cjk_is_split_per_character():
    tok = train_tokenizer(CORPUS, TokenizerConfig(kind="word", vocab_size=100, min_frequency=1))
    tokens = tok.encode("酒店很好").tokens
    assert tokens == ["[CLS]", "酒", "店", "很", "好", "[SEP]"]


def test_truncation_keeps_the_final_separator():
    tok = train_tokenizer(CORPUS, TokenizerConfig(kind="word", vocab_size=100, min_frequency=1))
    out = encode(tok, ["the cat sat on the mat the cat sat on the mat"], 6)
    assert out["input_ids"].shape == (1, 6) and out["input_ids"][0, -1] == tok.token_to_id("[SEP]")


def test_pretrained_minilm_tokenizer_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from tixel.data.pretrained import resolve

    tok = load_tokenizer(resolve("minilm-l6"))
    assert tok.encode("hello world").ids == [101, 7592, 2088, 102]


def test_missing_pretrained_checkpoint_says_so(tmp_path):
    from tixel.core.errors import ConfigError
    from tixel.data.pretrained import resolve

    with pytest.raises(ConfigError, match="no local Hugging Face checkpoint.*from disk only"):
        resolve(str(tmp_path / "nowhere"))


def test_jieba_segmentation_gives_word_tokens_that_survive_the_bundle(tmp_path):
    from types import SimpleNamespace

    from tixel.data.text import CleanConfig
    from tixel.data.text_preprocess import TextPreprocessing

    data = SimpleNamespace(clean=CleanConfig(segment="jieba"),
                           tokenizer=TokenizerConfig(kind="word", vocab_size=100, min_frequency=1))
    pre = TextPreprocessing.fit(["这家酒店的服务很好", "房间很干净"] * 3, data, SimpleNamespace(type="rnn"))
    ids = pre.apply(["酒店的服务很干净"])["input_ids"][0].tolist()
    assert [pre.tokenizer.id_to_token(i) for i in ids] == ["[CLS]", "酒店", "的", "服务", "很", "干净", "[SEP]"]
    preprocessors.save(pre, tmp_path)
    again = preprocessors.load(tmp_path, "text")  # predict splits words the same way, from the bundle alone
    assert again.clean.segment == "jieba" and again.apply(["酒店的服务很干净"])["input_ids"][0].tolist() == ids


def test_char_bigrams_pair_each_run_of_cjk_characters_and_leave_other_text():
    from tixel.data.text import CleanConfig, clean

    cfg = CleanConfig(segment="char_bigrams")
    assert clean("酒店很好，房 Great!", cfg) == "酒店 店很 很好 , 房 Great!"
    tok = train_tokenizer([clean("酒店很好", cfg)] * 2, TokenizerConfig(kind="word", vocab_size=100, min_frequency=1),
                          split_cjk=False)
    assert tok.encode(clean("很好酒店", cfg)).tokens == ["[CLS]", "很好", "[UNK]", "酒店", "[SEP]"]
