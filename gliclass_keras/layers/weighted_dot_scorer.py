"""Weighted dot-product scorer (`scorer_type="weighted-dot"`)."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.layers.scorer_base import Scorer
from gliclass_keras.utils.layer_config import config_with_args
from gliclass_keras.utils.validation import check_positive_int
from gliclass_keras.utils.validation import check_rate


@register
class WeightedDotScorer(Scorer):
    """Scorer over `[text_0, class_0, text_1 * class_1]` features.

    The reference `gliclass.scorers.ScorerWeightedDot`: text and class
    embeddings are each projected to `2 * hidden_dim` (`proj_text`,
    `proj_label`) and split into halves `0` and `1`; the features
    `concat[t0, c0, t1 * c1]` (`3 * hidden_dim`) go through
    `Dense(4 * hidden_dim) -> Dropout(dropout) -> ReLU -> Dense(1)`
    (`out_mlp.0`, `out_mlp.3`; dropout before the ReLU, as in the reference).

    Args:
        hidden_dim: int. Width of each projected half (reference:
            `config.hidden_size`).
        dropout: float. Dropout rate inside the output MLP (the reference
            always uses its default 0.1). Defaults to `0.1`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Called as every `Scorer`, with the pooled text `(batch_size, dim)`;
    returns `(batch_size, num_classes)` logits. `training` turns dropout on;
    `text_mask` and `class_mask` are ignored.

    Example:
    ```python
    scorer = gliclass_keras.layers.WeightedDotScorer(hidden_dim=4)
    text = np.random.rand(2, 6).astype("float32")
    classes = np.random.rand(2, 3, 6).astype("float32")
    scorer(text, classes, training=False).shape  # (2, 3)
    ```
    """

    def __init__(self, hidden_dim, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("hidden_dim", hidden_dim)
        check_rate("dropout", dropout)
        self.hidden_dim = hidden_dim
        self.dropout = dropout

        dtype = self.dtype_policy
        self.proj_text = keras.layers.Dense(2 * hidden_dim, dtype=dtype, name="proj_text")
        self.proj_label = keras.layers.Dense(2 * hidden_dim, dtype=dtype, name="proj_label")
        self.out_mlp_0 = keras.layers.Dense(4 * hidden_dim, dtype=dtype, name="out_mlp_0")
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=dtype, name="out_mlp_1")
        self.out_mlp_3 = keras.layers.Dense(1, dtype=dtype, name="out_mlp_3")

    def build(self, text_embeddings_shape, class_embeddings_shape):
        self.proj_text.build(text_embeddings_shape)
        self.proj_label.build(class_embeddings_shape)
        self.out_mlp_0.build((None, None, 3 * self.hidden_dim))
        self.out_mlp_3.build((None, None, 4 * self.hidden_dim))
        self.built = True

    def call(
        self, text_embeddings, class_embeddings, text_mask=None, class_mask=None, training=None
    ):
        h = self.hidden_dim
        text = self.proj_text(text_embeddings)  # (B, 2H)
        label = self.proj_label(class_embeddings)  # (B, K, 2H)
        text = ops.expand_dims(text, 1)  # (B, 1, 2H)
        text_0, text_1 = text[..., :h], text[..., h:]
        label_0, label_1 = label[..., :h], label[..., h:]
        text_0 = ops.broadcast_to(text_0, ops.shape(label_0))
        features = ops.concatenate([text_0, label_0, text_1 * label_1], axis=-1)
        x = self.out_mlp_0(features)
        x = self.dropout_layer(x, training=training)
        x = ops.relu(x)
        return ops.squeeze(self.out_mlp_3(x), axis=-1)

    def get_config(self):
        return config_with_args(super().get_config(), self, ("hidden_dim", "dropout"))
