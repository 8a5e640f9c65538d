from tixel.data.tag_preprocess import TaggingPreprocessing, casing, train_word_tokenizer
from tixel.data.text import TokenizerConfig


def word_pre(max_length=128, extra=()):
    tok = train_word_tokenizer([["EU", "rejects", "German", "call"]], TokenizerConfig(kind="word", min_frequency=1), extra)
    return TaggingPreprocessing(tok, max_length, stride=2)


def test_word_vocabulary_keeps_words_whole_and_adds_vector_words():
    pre = word_pre(extra=["the", "paris", "eu"])
    unk = pre.tokenizer.token_to_id("[UNK]")
    ids = pre.encode([["EU", "Paris", "U.S.", "unseen"]])["input_ids"][0].tolist()
    assert len(ids) == 4  # one id per word: "U.S." is not split
    assert ids[0] == pre.tokenizer.token_to_id("eu") and ids[1] == pre.tokenizer.token_to_id("paris") != unk
    assert ids[3] == unk


def test_windows_partition_the_sentence():
    pre = word_pre(max_length=5)
    words = [f"w{i}" for i in range(17)]
    inputs = pre.encode([words, ["short"]])
    owned = inputs["owned"]
    covered = []
    for row in range(len(inputs["lengths"])):
        start = int(inputs["offset"][row])
        assert int(inputs["word_lengths"][row]) <= 5
        covered += [(int(inputs["sentence"][row]), start + j) for j in owned[row].nonzero().flatten().tolist()]
    assert sorted(covered) == [(0, i) for i in range(17)] + [(1, 0)]


def test_casing_features():
    assert [casing(w) for w in ["the", "Paris", "EU", "1996", "iPhone"]] == [1, 2, 3, 4, 5]
