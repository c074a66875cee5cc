"""Mask-aware pooling of token states into one vector per sequence."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.utils.layer_config import config_with_args
from gliclass_keras.utils.validation import check_choice

POOLING_STRATEGIES = (
    "first",
    "last",
    "avg",
    "max",
    "sum",
    "rms",
    "abs_max",
    "abs_avg",
    "pass",
)


@register
class TokenPooler(keras.layers.Layer):
    """Pool a sequence of token states `(B, L, D)` into `(B, D)`.

    The strategies are the ones of the reference `gliclass.poolings`
    (`POOLING2OBJECT`). Unlike the reference, which never passes the attention
    mask to its poolers (so padded positions take part in averages, sums,
    maxima and `last`), this layer honours `mask`:

    * `"first"`: the state at position 0.
    * `"last"`: the state of the last real token (the last position where
      `mask` is 1).
    * `"avg"`, `"sum"`, `"rms"`, `"abs_avg"`: mean / sum / root mean square /
      mean of absolute values over the real tokens only. A row without any
      real token gives zeros.
    * `"max"`, `"abs_max"`: maximum (of the values / of the absolute values)
      over the real tokens only; zeros for a row without real tokens.
    * `"pass"`: identity, returns the `(B, L, D)` token states (for the
      `cross-attn` scorer, which attends over the tokens itself).

    With `mask=None` (or a mask of all ones) the results are exactly the
    reference formulas. Keras fills `mask` from a mask attached to `inputs`
    when it is not given; no mask is attached to the output.

    Args:
        strategy: str. One of `"first"`, `"last"`, `"avg"`, `"max"`, `"sum"`,
            `"rms"`, `"abs_max"`, `"abs_avg"`, `"pass"`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype`.

    Call arguments:
        inputs: float tensor of shape `(batch_size, sequence_length, dim)`.
        mask: optional int or bool tensor of shape
            `(batch_size, sequence_length)`, 1/True for real tokens.

    Example:
    ```python
    x = np.random.rand(2, 5, 8).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pooler = gliclass_keras.layers.TokenPooler("avg")
    pooler(x, mask=mask).shape  # (2, 8)
    ```
    """

    def __init__(self, strategy="first", **kwargs):
        super().__init__(**kwargs)
        check_choice("strategy", strategy, POOLING_STRATEGIES)
        self.strategy = strategy
        self.supports_masking = True

    def call(self, inputs, mask=None):
        x = inputs
        if self.strategy == "pass":
            return x
        if self.strategy == "first":
            return x[:, 0, :]
        if mask is None:
            return self._pool_unmasked(x)
        return self._pool_masked(x, mask)

    def _pool_unmasked(self, x):
        strategy = self.strategy
        if strategy == "last":
            return x[:, -1, :]
        if strategy == "avg":
            return ops.mean(x, axis=1)
        if strategy == "max":
            return ops.max(x, axis=1)
        if strategy == "sum":
            return ops.sum(x, axis=1)
        if strategy == "rms":
            return ops.sqrt(ops.mean(ops.square(x), axis=1))
        if strategy == "abs_max":
            return ops.max(ops.abs(x), axis=1)
        # abs_avg
        return ops.mean(ops.abs(x), axis=1)

    def _pool_masked(self, x, mask):
        strategy = self.strategy
        bool_mask = ops.cast(mask, "bool")
        float_mask = ops.cast(bool_mask, x.dtype)
        if strategy == "last":
            # Index of the last real token (0 for a row without real tokens).
            positions = ops.cumsum(ops.ones_like(float_mask, dtype="int32"), axis=1) - 1
            last = ops.max(ops.where(bool_mask, positions, 0), axis=1)
            index = ops.expand_dims(ops.expand_dims(last, -1), -1)
            index = ops.broadcast_to(
                index, (ops.shape(x)[0], 1, ops.shape(x)[2])
            )
            return ops.take_along_axis(x, index, axis=1)[:, 0, :]
        mask3 = ops.expand_dims(float_mask, -1)
        if strategy in ("avg", "sum", "rms", "abs_avg"):
            if strategy == "rms":
                values = ops.square(x)
            elif strategy == "abs_avg":
                values = ops.abs(x)
            else:
                values = x
            total = ops.sum(values * mask3, axis=1)
            if strategy == "sum":
                return total
            count = ops.maximum(ops.sum(mask3, axis=1), 1.0)
            mean = total / count
            return ops.sqrt(mean) if strategy == "rms" else mean
        if strategy == "abs_max":
            # |x| >= 0, so zeroing padded positions cannot create a new max.
            return ops.max(ops.abs(x) * mask3, axis=1)
        # max: padded positions never win; rows without real tokens give 0.
        bool_mask3 = ops.expand_dims(bool_mask, -1)
        lowest = ops.full_like(x, float("-inf"))
        pooled = ops.max(ops.where(bool_mask3, x, lowest), axis=1)
        has_token = ops.any(bool_mask3, axis=1)
        return ops.where(has_token, pooled, ops.zeros_like(pooled))

    def compute_mask(self, inputs, mask=None):
        # Masks are passed explicitly; none is attached to the output.
        return None

    def compute_output_shape(self, input_shape):
        if self.strategy == "pass":
            return tuple(input_shape)
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return config_with_args(super().get_config(), self, ("strategy",))
