"""The shared body of the GLiClass projectors: two `Dense` layers around an activation."""

import keras

from gliclass_keras.api_export import register
from gliclass_keras.utils.activations import get_hf_activation
from gliclass_keras.utils.layer_config import config_with_args
from gliclass_keras.utils.validation import check_positive_int


@register
class TwoLayerProjector(keras.layers.Layer):
    """`Dense(hidden_dim) -> activation -> Dense(output_dim)` (`linear_1`, `linear_2`).

    The common implementation of `FeaturesProjector` (which adds dropout after
    the activation) and `BiEncoderProjector`. Subclasses may override
    `drop_hidden` to act on the activated hidden states.

    Args:
        hidden_dim: int. Width of the bottleneck (`linear_1` output).
        output_dim: int. Output width (`linear_2` output).
        activation: str. A Hugging Face activation name (`ACT2FN` key);
            `"gelu"` is the exact erf GELU. Defaults to `"gelu"`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`
            (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor of shape `(..., input_dim)`.
        training: bool. Passed to `drop_hidden`.

    Example:
    ```python
    projector = gliclass_keras.layers.TwoLayerProjector(16, 4, activation="relu")
    projector(np.random.rand(2, 8).astype("float32")).shape  # (2, 4)
    ```
    """

    def __init__(self, hidden_dim, output_dim, activation="gelu", **kwargs):
        super().__init__(**kwargs)
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("output_dim", output_dim)
        get_hf_activation(activation)
        self.hidden_dim = hidden_dim
        self.output_dim = output_dim
        self.activation = activation

        self.linear_1 = keras.layers.Dense(
            hidden_dim, dtype=self.dtype_policy, name="linear_1"
        )
        self.linear_2 = keras.layers.Dense(
            output_dim, dtype=self.dtype_policy, name="linear_2"
        )

    def build(self, input_shape):
        self.linear_1.build(input_shape)
        self.linear_2.build(tuple(input_shape[:-1]) + (self.hidden_dim,))
        self.built = True

    def drop_hidden(self, hidden, training=None):
        """What happens between the activation and `linear_2`: nothing here."""
        return hidden

    def call(self, inputs, training=None):
        x = self.linear_1(inputs)
        x = get_hf_activation(self.activation)(x)
        x = self.drop_hidden(x, training=training)
        return self.linear_2(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        return config_with_args(
            super().get_config(), self, ("hidden_dim", "output_dim", "activation")
        )
