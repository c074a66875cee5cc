"""Learnable logit scale and the two L2-normalisation conventions."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.utils.layer_config import config_with_args
from gliclass_keras.utils.validation import check_choice

NORMALIZE_MODES = ("add", "max")


def l2_normalize(x, eps=1e-8, mode="add", axis=-1):
    """L2-normalise `x` along `axis` with one of the reference's conventions.

    * `mode="add"`: `x / (||x|| + eps)` (uni-encoder and decoder-kv heads).
    * `mode="max"`: `x / max(||x||, eps)` (`torch.nn.functional.normalize`,
      used by the bi-encoders and encoder-decoders).

    Args:
        x: float tensor.
        eps: float. Defaults to `1e-8`.
        mode: str. `"add"` or `"max"`. Defaults to `"add"`.
        axis: int. Defaults to `-1`.
    """
    check_choice("mode", mode, NORMALIZE_MODES)
    squares = ops.sum(ops.square(x), axis=axis, keepdims=True)
    # sqrt's gradient at 0 is infinite (NaN once multiplied by zero): an
    # all-zero vector (a padded label slot through a bias-free projector)
    # would poison every gradient. The norm is the same; its gradient at 0
    # is 0, as torch's `norm` gives the reference.
    nonzero = squares > 0
    norm = ops.where(nonzero, ops.sqrt(ops.where(nonzero, squares, ops.ones_like(squares))), 0)
    if mode == "add":
        return x / (norm + eps)
    return x / ops.maximum(norm, eps)


@register
class LogitScale(keras.layers.Layer):
    """Multiplies logits by a learnable scalar (used linearly, no `exp`).

    The reference `GLiClassBaseModel.logit_scale` parameter (initialised to
    `config.logit_scale_init_value`, default 2.6592). The uni-encoder applies
    it only with `normalize_features=True`; bi-encoders always apply it.

    Args:
        init_value: float. Initial value of the scale. Defaults to `2.6592`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor of logits, any shape.

    Example:
    ```python
    scale = gliclass_keras.layers.LogitScale(init_value=2.0)
    scale(np.ones((2, 3), "float32"))  # all 2.0
    ```
    """

    def __init__(self, init_value=2.6592, **kwargs):
        super().__init__(**kwargs)
        if isinstance(init_value, bool) or not isinstance(init_value, (int, float)):
            raise ValueError(
                f"`init_value` must be a number. Received: init_value={init_value!r}"
            )
        self.init_value = float(init_value)

    def build(self, input_shape=None):
        self.logit_scale = self.add_weight(
            name="logit_scale",
            shape=(),
            initializer=keras.initializers.Constant(self.init_value),
            trainable=True,
        )
        self.built = True

    def call(self, inputs):
        return inputs * ops.cast(self.logit_scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return config_with_args(super().get_config(), self, ("init_value",))
