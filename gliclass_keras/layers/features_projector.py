"""The GLiClass feature projector and Hugging Face activation names."""

import math

import keras
from keras import ops

from gliclass_keras.api_export import register


def _gelu_tanh(x):
    c = math.sqrt(2.0 / math.pi)
    return 0.5 * x * (1.0 + ops.tanh(c * (x + 0.044715 * x * x * x)))


def _gelu_fast(x):
    return 0.5 * x * (1.0 + ops.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


# Hugging Face `ACT2FN` names -> keras.ops implementations. "gelu" is the
# exact (erf) GELU, as in `transformers.activations.GELUActivation`.
HF_ACTIVATIONS = {
    "gelu": lambda x: ops.gelu(x, approximate=False),
    "gelu_python": lambda x: ops.gelu(x, approximate=False),
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_python_tanh": _gelu_tanh,
    "gelu_accurate": _gelu_tanh,
    "gelu_fast": _gelu_fast,
    "gelu_10": lambda x: ops.clip(ops.gelu(x, approximate=False), -10.0, 10.0),
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


def get_hf_activation(name):
    """Return the `keras.ops` function for a Hugging Face activation name."""
    if name not in HF_ACTIVATIONS:
        raise ValueError(
            f"Invalid `activation`: {name!r}. Expected one of the Hugging Face "
            f"activation names {sorted(HF_ACTIVATIONS)}."
        )
    return HF_ACTIVATIONS[name]


def _check_positive_int(value, arg_name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{arg_name}` must be a positive integer. Received: {arg_name}={value!r}"
        )


def _check_rate(value, arg_name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(
            f"`{arg_name}` must be a float in [0, 1). Received: {arg_name}={value!r}"
        )


@register
class FeaturesProjector(keras.layers.Layer):
    """Two-layer projector applied to text and class embeddings.

    `Dense(hidden_dim) -> activation -> Dropout(dropout) -> Dense(output_dim)`,
    the reference `gliclass.layers.FeaturesProjector` (`linear_1`, `act`,
    `dropout`, `linear_2`). GLiClass uses two independent instances,
    `text_projector` and `classes_projector`, with `hidden_dim` =
    `config.hidden_size` and `output_dim` = the backbone width.

    Args:
        hidden_dim: int. Width of the bottleneck (`linear_1` output).
        output_dim: int. Output width (`linear_2` output).
        activation: str. A Hugging Face activation name (`ACT2FN` key);
            `"gelu"` is the exact erf GELU. Defaults to `"gelu"`.
        dropout: float. Dropout rate between the activation and `linear_2`,
            active only in training. Defaults to `0.1`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor of shape `(..., input_dim)`.
        training: bool. Whether dropout is active.

    Example:
    ```python
    projector = gliclass_keras.layers.FeaturesProjector(32, 64)
    projector(np.random.rand(2, 5, 64).astype("float32")).shape  # (2, 5, 64)
    ```
    """

    def __init__(
        self, hidden_dim, output_dim, activation="gelu", dropout=0.1, **kwargs
    ):
        super().__init__(**kwargs)
        _check_positive_int(hidden_dim, "hidden_dim")
        _check_positive_int(output_dim, "output_dim")
        get_hf_activation(activation)
        _check_rate(dropout, "dropout")
        self.hidden_dim = hidden_dim
        self.output_dim = output_dim
        self.activation = activation
        self.dropout = dropout

        self.linear_1 = keras.layers.Dense(
            hidden_dim, dtype=self.dtype_policy, name="linear_1"
        )
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.linear_2 = keras.layers.Dense(
            output_dim, dtype=self.dtype_policy, name="linear_2"
        )

    def build(self, input_shape):
        self.linear_1.build(input_shape)
        hidden_shape = tuple(input_shape[:-1]) + (self.hidden_dim,)
        self.linear_2.build(hidden_shape)
        self.built = True

    def call(self, inputs, training=None):
        x = self.linear_1(inputs)
        x = get_hf_activation(self.activation)(x)
        x = self.dropout_layer(x, training=training)
        return self.linear_2(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "output_dim": self.output_dim,
                "activation": self.activation,
                "dropout": self.dropout,
            }
        )
        return config
