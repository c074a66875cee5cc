"""The GLiClass feature projector (`text_projector`, `classes_projector`)."""

import keras

from gliclass_keras.api_export import register
from gliclass_keras.layers.two_layer_projector import TwoLayerProjector
from gliclass_keras.utils.validation import check_rate


@register
class FeaturesProjector(TwoLayerProjector):
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
        super().__init__(hidden_dim, output_dim, activation=activation, **kwargs)
        check_rate("dropout", dropout)
        self.dropout = dropout
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )

    def drop_hidden(self, hidden, training=None):
        return self.dropout_layer(hidden, training=training)

    def get_config(self):
        config = super().get_config()
        config["dropout"] = self.dropout
        return config
