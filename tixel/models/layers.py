"""Small shared layer helpers."""
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU,
    "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh,
}

# max(f(a), f(b)) == f(max(a, b)) for non-decreasing f, so these can run after a max-pool on 1/4 of the data.
MONOTONE = {"relu", "leaky_relu", "elu", "tanh"}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()
