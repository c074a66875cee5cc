"""Projector from the label encoder's width to the text encoder's width."""

from gliclass_keras.api_export import register
from gliclass_keras.layers.two_layer_projector import TwoLayerProjector


@register
class BiEncoderProjector(TwoLayerProjector):
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
