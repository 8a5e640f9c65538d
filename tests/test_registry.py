import pytest

from tixel.core import registry
from tixel.core.errors import ConfigError


def test_every_kind_has_builtins():
    assert "cnn" in registry.entries("encoder")
    assert "image_classification" in registry.entries("task")
    assert {"digits", "idx", "image_folder", "image_csv"} <= set(registry.entries("reader"))


def test_unknown_name_suggests():
    with pytest.raises(ConfigError, match="did you mean 'cnn'"):
        registry.get("encoder", "cn")


def test_double_registration_is_refused():
    with pytest.raises(ValueError, match="twice"):
        registry.register("encoder", "cnn")(object)
