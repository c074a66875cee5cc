"""Projector from the label encoder's width to the text encoder's width."""

import keras

from gliclass_keras.api_export import register
from gliclass_keras.layers.features_projector import _check_positive_int
from gliclass_keras.layers.features_projector import get_hf_activation


@register
class BiEncoderProjector(keras.layers.Layer):
    """Bi-encoder label projector: `Dense(hidden_dim) -> activation -> Dense(output_dim)`.

    The reference `gliclass.layers.BiEncoderProjector` (`linear_1`, `act`,
    `linear_2`; no dropout). Bi-encoders apply it to the pooled label-encoder
    states before the classes `FeaturesProjector`.

    Args:
        hidden_dim: int. Width of `linear_1` (reference: `config.hidden_size`).
        output_dim: int. Output width (reference: the text encoder's width).
        activation: str. A Hugging Face activation name; `"gelu"` is the
            exact erf GELU. Defaults to `"gelu"`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor of shape `(..., label_encoder_dim)`.

    Example:
    ```python
    projector = gliclass_keras.layers.BiEncoderProjector(32, 64)
    projector(np.random.rand(2, 3, 24).astype("float32")).shape  # (2, 3, 64)
    ```
    """

    def __init__(self, hidden_dim, output_dim, activation="gelu", **kwargs):
        super().__init__(**kwargs)
        _check_positive_int(hidden_dim, "hidden_dim")
        _check_positive_int(output_dim, "output_dim")
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

    def call(self, inputs):
        x = self.linear_1(inputs)
        x = get_hf_activation(self.activation)(x)
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
            }
        )
        return config
