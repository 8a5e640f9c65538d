"""Every registered encoder, built from its schema's defaults on a tiny input: shape, no NaN, round trip."""
import pytest
import torch

from tixel.core import registry
from tixel.core.config import HeadConfig
from tixel.models import Classifier, build_classifier
from tixel.models.heads import ClassificationHead


@pytest.mark.parametrize("name", sorted(registry.entries("encoder")))
def test_registered_encoder_forward_and_state_round_trip(name):
    entry = registry.get("encoder", name)
    cfg = entry.schema(type=name)
    torch.manual_seed(0)
    shape, x = entry.obj.tiny_example(2)
    encoder = registry.create("encoder", name, cfg, shape)
    model = Classifier(encoder, ClassificationHead(encoder.output_dim, 3, HeadConfig())).eval()
    out = model(x)
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    clone = Classifier(registry.create("encoder", name, cfg, shape),
                       ClassificationHead(encoder.output_dim, 3, HeadConfig())).eval()
    clone.load_state_dict(model.state_dict())
    assert torch.equal(clone(x), model(x))


def test_maxpool_before_monotone_activation_is_the_same_function():
    """The CNN runs ReLU after the max-pool (4x less work); it must equal conv -> ReLU -> pool."""
    from tixel.models.cnn import CNNConfig, CNNEncoder

    cfg = CNNConfig(type="cnn", blocks=[{"channels": 5, "batch_norm": True}, {"channels": 3, "pool": "max"}])
    enc = CNNEncoder(cfg, (2, 16, 16)).eval()
    assert isinstance(enc.blocks[0][2], torch.nn.MaxPool2d) and isinstance(enc.blocks[0][3], torch.nn.ReLU)
    x = torch.randn(4, 2, 16, 16)
    ref = x
    for block in enc.blocks:
        conv, bn = block[0], block[1] if isinstance(block[1], torch.nn.BatchNorm2d) else torch.nn.Identity()
        ref = torch.nn.functional.max_pool2d(torch.relu(bn(conv(ref))), 2)
    torch.testing.assert_close(enc(x), ref.flatten(1))


def test_non_monotone_activation_keeps_the_textbook_order():
    from tixel.models.cnn import CNNConfig, CNNEncoder

    enc = CNNEncoder(CNNConfig(type="cnn", blocks=[{"channels": 2, "activation": "gelu"}]), (1, 8, 8))
    assert isinstance(enc.blocks[0][-1], torch.nn.MaxPool2d)


def test_seed_network_shape(tiny_raw):
    """Conv2D(32, 3x3) -> MaxPool(2) -> Flatten -> Dense(10) on 28x28: 5408 features, 54,410 parameters."""
    from pathlib import Path

    from tixel.core.config import load_config

    cfg = load_config(Path(__file__).parents[2] / "examples" / "mnist-seed-cnn.yaml")
    model = build_classifier(cfg.model, (1, 28, 28), 10)
    assert model.encoder.output_dim == 32 * 13 * 13
    assert sum(p.numel() for p in model.parameters()) == 32 * 9 + 32 + 5408 * 10 + 10


def test_too_much_downsampling_is_a_config_error():
    from tixel.core.errors import ConfigError
    from tixel.models.cnn import CNNConfig, CNNEncoder

    cfg = CNNConfig(type="cnn", blocks=[{"channels": 2, "kernel": 5}] * 3)
    with pytest.raises(ConfigError, match="model.encoder.blocks"):
        CNNEncoder(cfg, (1, 8, 8))


def test_glorot_init_zeroes_biases(tiny_cfg):
    cfg = tiny_cfg.model.model_copy(update={"init": "glorot_uniform"})
    model = build_classifier(cfg, (1, 8, 8), 4)
    assert all(torch.all(m.bias == 0) for m in model.modules() if isinstance(m, torch.nn.Linear))


def test_strided_same_padding_is_refused():
    from pydantic import ValidationError

    from tixel.models.cnn import ConvBlock

    with pytest.raises(ValidationError, match="padding 'same' needs stride 1"):
        ConvBlock(channels=4, padding="same", stride=2)
