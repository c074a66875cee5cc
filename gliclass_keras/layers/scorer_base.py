"""The base class of the GLiClass scorers: their call signature, output shape and shared parts."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.utils.masking import large_negative
from gliclass_keras.utils.validation import check_int_at_least


@register
class Scorer(keras.layers.Layer):
    """Base class of the scorers: one logit per (text, class slot) pair.

    Every scorer (`DotScorer`, `WeightedDotScorer`, `MLPScorer`,
    `HopfieldScorer`, `CrossAttentionScorer`) is called the same way, so the
    models can swap them by `scorer_type`; a scorer ignores the arguments it
    has no use for. Subclasses implement `call`; this class gives them the
    output shape and the parts several scorers share: the reference's
    three-layer scoring MLP (`Dense(mlp_hidden_dim) -> act ->
    Dense(mlp_hidden_dim // 2) -> act -> Dense(1)`, its `nn.Sequential`
    indices 0, 2 and 4 in the layer names), embedding-width checks and
    masked attention logits.

    Args:
        **kwargs: keyword arguments passed to `keras.layers.Layer` (`name`,
            `dtype`, ...).

    Call arguments:
        text_embeddings: float tensor `(batch_size, dim)`, the pooled text;
            `(batch_size, text_length, dim)` token states for
            `CrossAttentionScorer`.
        class_embeddings: float tensor `(batch_size, num_classes, dim)`.
        text_mask: optional `(batch_size, text_length)`, 1 for real text
            tokens (read by `CrossAttentionScorer` only).
        class_mask: optional `(batch_size, num_classes)`, 1 for real class
            slots (read by `HopfieldScorer` only).
        training: bool, whether dropout is active (scorers with dropout).

    Returns:
        Logits of shape `(batch_size, num_classes)`.

    Example:
    ```python
    class NegativeDistanceScorer(gliclass_keras.layers.Scorer):
        def call(self, text_embeddings, class_embeddings, text_mask=None,
                 class_mask=None, training=None):
            diff = class_embeddings - keras.ops.expand_dims(text_embeddings, 1)
            return -keras.ops.sqrt(keras.ops.sum(diff * diff, axis=-1))

    scorer = NegativeDistanceScorer()
    scorer(np.zeros((2, 8)), np.ones((2, 3, 8))).shape  # (2, 3)
    ```
    """

    def call(
        self, text_embeddings, class_embeddings, text_mask=None, class_mask=None, training=None
    ):
        raise NotImplementedError(f"{type(self).__name__} must implement `call`.")

    def compute_output_shape(
        self,
        text_embeddings_shape,
        class_embeddings_shape,
        text_mask_shape=None,
        class_mask_shape=None,
    ):
        return tuple(class_embeddings_shape[:2])

    # Shared parts ---------------------------------------------------------

    def make_score_mlp(self, mlp_hidden_dim, prefix):
        """The three `Dense` layers of the scoring MLP, named `{prefix}_0/_2/_4`.

        `mlp_hidden_dim` must be at least 2 (the second layer has half its
        units). Assign the result to three attributes of the scorer.
        """
        check_int_at_least(
            "mlp_hidden_dim",
            mlp_hidden_dim,
            2,
            "the second MLP layer has mlp_hidden_dim // 2 units",
        )
        return tuple(
            keras.layers.Dense(units, dtype=self.dtype_policy, name=f"{prefix}_{index}")
            for units, index in ((mlp_hidden_dim, 0), (mlp_hidden_dim // 2, 2), (1, 4))
        )

    @staticmethod
    def build_score_mlp(layers, input_dim):
        """Build the layers of `make_score_mlp` for inputs of width `input_dim`."""
        for layer in layers:
            layer.build((None, None, input_dim))
            input_dim = layer.units

    @staticmethod
    def score_mlp_logits(layers, inputs, activation):
        """`(B, K, F)` features -> `(B, K)` logits through the scoring MLP."""
        first, second, last = layers
        x = activation(first(inputs))
        x = activation(second(x))
        return ops.squeeze(last(x), axis=-1)

    def check_embedding_widths(self, **shapes):
        """Raise unless every given `name=shape` has the last dimension `hidden_dim`."""
        for arg, shape in shapes.items():
            if shape[-1] is not None and shape[-1] != self.hidden_dim:
                raise ValueError(
                    f"{type(self).__name__}(hidden_dim={self.hidden_dim}) needs "
                    f"`{arg}` of width {self.hidden_dim}. Received shape {shape}."
                )

    @staticmethod
    def mask_logits(logits, keep):
        """`logits` where `keep` is true, `-1e9` (in the logits' dtype; -3e4 in float16) elsewhere."""
        return ops.where(keep, logits, ops.full_like(logits, large_negative(logits.dtype)))
