"""Segment embeddings of the uni-encoder (`use_segment_embeddings=True`)."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.layers.class_token_extractor import _check_token_index
from gliclass_keras.layers.class_token_extractor import _positions
from gliclass_keras.utils.layer_config import config_with_args
from gliclass_keras.utils.validation import check_positive_int


@register
class SegmentEmbedding(keras.layers.Layer):
    """Embeds the reference's segment ids (`Embedding(3, hidden_dim)`).

    Segment ids follow the reference `GLiClassUniEncoder._create_segment_ids`
    exactly, including its `argmin` bug, because GLiClass checkpoints were
    trained with it:

    * `text_start` = position of the first `<<SEP>>` (0 if none);
    * rows without `<<EXAMPLE>>`: segment 0 before `text_start`, 1 from
      `text_start` on (padding included);
    * rows with an `<<EXAMPLE>>`: `example_start = argmin(token_ids ==
      <<EXAMPLE>>)`, i.e. the first position that is *not* an `<<EXAMPLE>>`
      token (normally 0); positions `[text_start, example_start)` are 1 and
      positions `>= example_start` are 2, so the whole row is normally 2.

    Args:
        hidden_dim: int. Embedding width (the backbone width).
        text_token_index: int. Token id of `<<SEP>>`.
        example_token_index: int. Token id of `<<EXAMPLE>>`.
        embeddings_initializer: initializer of the table. Defaults to a
            normal distribution with standard deviation 0.03 (the reference's
            `initializer_range`).
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        token_ids: int tensor `(batch_size, length)`.

    Returns:
        Float tensor `(batch_size, length, hidden_dim)` to add to the token
        embeddings.

    Example:
    ```python
    layer = gliclass_keras.layers.SegmentEmbedding(
        hidden_dim=4, text_token_index=6, example_token_index=7
    )
    layer(np.array([[1, 5, 9, 6, 8, 2]])).shape  # (1, 6, 4)
    ```
    """

    def __init__(
        self,
        hidden_dim,
        text_token_index,
        example_token_index,
        embeddings_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("hidden_dim", hidden_dim)
        _check_token_index(text_token_index, "text_token_index")
        _check_token_index(example_token_index, "example_token_index")
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.RandomNormal(stddev=0.03)
        self.hidden_dim = hidden_dim
        self.text_token_index = text_token_index
        self.example_token_index = example_token_index
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings = keras.layers.Embedding(
            3,
            hidden_dim,
            embeddings_initializer=self.embeddings_initializer,
            dtype=self.dtype_policy,
            name="embeddings",
        )

    def build(self, token_ids_shape):
        self.embeddings.build(token_ids_shape)
        self.built = True

    def segment_ids(self, token_ids):
        token_ids = ops.cast(token_ids, "int32")
        positions = _positions(token_ids)
        length = ops.shape(token_ids)[1]
        is_text = ops.equal(token_ids, self.text_token_index)
        first_text = ops.min(ops.where(is_text, positions, length), axis=1, keepdims=True)
        text_start = ops.where(first_text >= length, 0, first_text)
        is_example = ops.equal(token_ids, self.example_token_index)
        has_example = ops.any(is_example, axis=1, keepdims=True)
        # argmin(is_example): first position that is not <<EXAMPLE>> (0 if none).
        first_other = ops.min(
            ops.where(is_example, length, positions), axis=1, keepdims=True
        )
        example_start = ops.where(first_other >= length, 0, first_other)
        after_text = positions >= text_start
        with_example = ops.where(
            positions >= example_start, 2, ops.where(after_text, 1, 0)
        )
        without_example = ops.where(after_text, 1, 0)
        return ops.cast(
            ops.where(has_example, with_example, without_example), "int32"
        )

    def call(self, token_ids):
        return self.embeddings(self.segment_ids(token_ids))

    def compute_output_shape(self, token_ids_shape):
        return tuple(token_ids_shape) + (self.hidden_dim,)

    def get_config(self):
        config = config_with_args(
            super().get_config(),
            self,
            ("hidden_dim", "text_token_index", "example_token_index"),
        )
        config["embeddings_initializer"] = keras.initializers.serialize(
            self.embeddings_initializer
        )
        return config
