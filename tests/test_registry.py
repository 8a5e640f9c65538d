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


def test_a_failed_plugin_import_leaves_no_half_filled_registry():
    """In a fresh process: a built-in list with a module that does not import fails with the module's
    name and leaves nothing registered; the next read, with the list repaired, registers everything."""
    import subprocess
    import sys

    script = """
import tixel.core.plugins as plugins
from tixel.core import registry
from tixel.core.errors import TixelError
good = plugins.BUILTINS
plugins.BUILTINS = good[:3] + ("tixel.no_such_module",) + good[3:]
try:
    registry.entries("task")
except TixelError as err:
    assert "tixel.no_such_module" in str(err), err
else:
    raise SystemExit("no error")
assert all(not found for found in registry.snapshot().values()), registry.snapshot()
plugins.BUILTINS = good
assert {"image_classification", "ner"} <= set(registry.entries("task"))
assert {"digits", "idx"} <= set(registry.entries("reader"))  # registered by the modules imported before the failure
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
