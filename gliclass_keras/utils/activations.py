"""Hugging Face activation names (`hidden_act`, `projector_hidden_act`) as `keras.ops` functions.

One table for the whole package: backbones (feed-forward activations) and the
GLiClass head (projectors) read the same names the same way. `"gelu"` is the
exact (erf) GELU, as `transformers.activations.GELUActivation`; the `tanh`
approximation goes by its several Hugging Face names.
"""

import math

import keras
from keras import ops

from gliclass_keras.api_export import register


@register
def gelu_tanh(x):
    """GELU, tanh approximation (Hugging Face `gelu_new`, `gelu_pytorch_tanh`).

    Registered (as `gliclass_keras>gelu_tanh`): backbone configs saved in
    `.keras` files name it.
    """
    return keras.activations.gelu(x, approximate=True)


def _gelu_tanh_explicit(x):
    # The formula written out, as transformers' NewGELUActivation computes it.
    c = math.sqrt(2.0 / math.pi)
    return 0.5 * x * (1.0 + ops.tanh(c * (x + 0.044715 * x * x * x)))


def _gelu_fast(x):
    return 0.5 * x * (1.0 + ops.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


def _gelu_exact(x):
    return ops.gelu(x, approximate=False)


HF_ACTIVATIONS = {
    "gelu": _gelu_exact,
    "gelu_python": _gelu_exact,
    "gelu_new": _gelu_tanh_explicit,
    "gelu_pytorch_tanh": _gelu_tanh_explicit,
    "gelu_python_tanh": _gelu_tanh_explicit,
    "gelu_accurate": _gelu_tanh_explicit,
    "gelu_fast": _gelu_fast,
    "gelu_10": lambda x: ops.clip(_gelu_exact(x), -10.0, 10.0),
    "quick_gelu": lambda x: x * ops.sigmoid(1.702 * x),
    "relu": ops.relu,
    "relu2": lambda x: ops.square(ops.relu(x)),
    "relu6": ops.relu6,
    "leaky_relu": lambda x: ops.leaky_relu(x, negative_slope=0.01),
    "silu": ops.silu,
    "swish": ops.silu,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "mish": lambda x: x * ops.tanh(ops.softplus(x)),
    "hardswish": ops.hard_silu,
    "linear": lambda x: x,
}

# The feed-forward activations backbones support, as serializable Keras
# activations (a backbone's config stores the function): exact GELU, the tanh
# approximation under its two Hugging Face names, and ReLU.
BACKBONE_ACTIVATIONS = {
    "gelu": keras.activations.gelu,
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "relu": keras.activations.relu,
}


def _lookup(table, name, what):
    if name not in table:
        raise ValueError(f"Invalid {what}: {name!r}. Expected one of {sorted(table)}.")
    return table[name]


def get_hf_activation(name):
    """The `keras.ops` function of a Hugging Face activation name."""
    return _lookup(HF_ACTIVATIONS, name, "`activation` (a Hugging Face activation name)")


def get_backbone_activation(name):
    """The serializable Keras activation of a backbone's `hidden_act`."""
    return _lookup(BACKBONE_ACTIVATIONS, name, "feed-forward activation `hidden_act`")
