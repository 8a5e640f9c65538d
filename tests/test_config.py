import json

import pytest
import yaml

from tixel.core.config import apply_overrides, experiment_schema, load_config, validate
from tixel.core.errors import ConfigError


def write(tmp_path, raw):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def error_of(raw, **kw) -> str:
    with pytest.raises(ConfigError) as info:
        validate(raw, **kw)
    return str(info.value)


def test_valid_config_fills_defaults(tiny_raw):
    cfg = validate(tiny_raw)
    assert cfg.train.optimizer.name == "adam"
    assert cfg.model.encoder.blocks[0].kernel == 3
    assert cfg.data.split.stratify is True


def test_typo_suggests_the_real_key_through_synonyms(tiny_raw):
    tiny_raw["train"]["lerning_rate"] = 0.1
    message = error_of(tiny_raw)
    assert "train.lerning_rate: unknown key" in message
    assert "did you mean 'train.lr'?" in message


def test_typo_inside_a_registered_encoder_schema(tiny_raw):
    tiny_raw["model"]["encoder"]["blocks"][0]["chanels"] = 8
    message = error_of(tiny_raw)
    assert "model.encoder.blocks.0.chanels" in message
    assert "did you mean 'model.encoder.blocks.0.channels'?" in message


def test_unknown_encoder_type_suggests_a_registered_one(tiny_raw):
    tiny_raw["model"]["encoder"]["type"] = "cnnn"
    message = error_of(tiny_raw)
    assert "model.encoder" in message and "did you mean 'cnn'?" in message


def test_wrong_type_names_the_field_and_value(tiny_raw):
    tiny_raw["train"]["epochs"] = "ten"
    message = error_of(tiny_raw)
    assert "train.epochs" in message and "'ten'" in message


def test_error_names_the_yaml_line(tmp_path, tiny_raw):
    tiny_raw["train"]["batch_sise"] = 8
    path = write(tmp_path, tiny_raw)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "batch_sise" in text)
    assert f"line {line}: train.batch_sise" in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_top_level_section(tiny_raw):
    tiny_raw["trian"] = {}
    assert "did you mean 'train'?" in error_of(tiny_raw)


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("task: image_classification\ndata: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+:\d+: not valid YAML"):
        load_config(path)


def test_overrides_parse_yaml_values_and_list_indices(tiny_raw):
    apply_overrides(tiny_raw, ["train.lr=0.5", "model.encoder.blocks.0.channels=7", "train.optimizer.name=sgd",
                               "data.image.size=[12, 12]"])
    cfg = validate(tiny_raw)
    assert cfg.train.lr == 0.5 and cfg.model.encoder.blocks[0].channels == 7
    assert cfg.train.optimizer.name == "sgd" and cfg.data.image.size == (12, 12)


def test_override_errors(tiny_raw):
    with pytest.raises(ConfigError, match="expected key.path=value"):
        apply_overrides(tiny_raw, ["train.lr"])
    with pytest.raises(ConfigError, match="not an index"):
        apply_overrides(tiny_raw, ["model.encoder.blocks.5.channels=3"])


def test_override_typo_is_caught_by_validation(tmp_path, tiny_raw):
    path = write(tmp_path, tiny_raw)
    with pytest.raises(ConfigError, match="did you mean 'train.epochs'"):
        load_config(path, ["train.epoch=3"])


def test_json_schema_includes_registered_pieces():
    schema = json.dumps(experiment_schema().model_json_schema())
    for name in ("CNNConfig", "IdxData", "ImageFolderData", "ImageCsvData", "DigitsData"):
        assert name in schema


def test_set_pretrained_overrides_the_from_spelling_in_the_file(tmp_path):
    import yaml

    from tixel.core.config import load_config

    raw = {"task": "image_classification", "data": {"format": "digits"},
           "model": {"encoder": {"type": "cnn", "from": "somewhere", "blocks": [{"channels": 4}]}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_config(path, ["model.encoder.pretrained=null"]).model.encoder.pretrained is None
