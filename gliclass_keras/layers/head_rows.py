"""The positions of the last hidden state that a head reads.

`HeadRows` gives a uni-encoder head's (the text's and each label's);
`pool_last_layer` pools the last layer of an encoder whose pooler reads one
position (`first`/`last`), computing that layer there alone.
"""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.layers.class_token_extractor import _check_token_index
from gliclass_keras.layers.class_token_extractor import _positions
from gliclass_keras.layers.class_token_extractor import _shift_right
from gliclass_keras.layers.class_token_extractor import class_slot_selection
from gliclass_keras.layers.class_token_extractor import label_slots
from gliclass_keras.utils.layer_config import config_with_args
from gliclass_keras.utils.validation import check_bool
from gliclass_keras.utils.validation import check_choice

# Text poolings that read one position of the text.
ROW_POOLINGS = ("first", "last")


def pooled_row(padding_mask, strategy):
    """`(batch, 1)` int32: the position a `"first"`/`"last"` `TokenPooler` reads.

    0 for `"first"`; for `"last"` the last real token (0 for a row without
    one), as `TokenPooler` picks it.
    """
    positions = _positions(padding_mask)
    if strategy == "first":
        return ops.zeros_like(positions[:, :1])
    real = ops.cast(padding_mask, "bool")
    return ops.max(ops.where(real, positions, 0), axis=1, keepdims=True)


def pool_last_layer(encoder, pooler, token_ids, padding_mask, rows_only=True, training=None):
    """`pooler(encoder(token_ids, padding_mask)[-1], mask=padding_mask)`.

    When the pooler reads one position (`"first"`/`"last"`) and `rows_only`,
    the encoder (`BackboneEncoder`) computes its last layer at that position
    alone (`output_rows`), and the pooler reads it there: the same vector,
    for a fraction of the last layer's cost.
    """
    if rows_only and pooler.strategy in ROW_POOLINGS:
        row = pooled_row(padding_mask, pooler.strategy)
        states = encoder(token_ids, padding_mask, training=training, output_rows=[row])[-1][0]
        return pooler(states, mask=ops.ones_like(row))
    states = encoder(token_ids, padding_mask, training=training)[-1]
    return pooler(states, mask=padding_mask)


@register
class HeadRows(keras.layers.Layer):
    """Which positions of the last hidden state a uni-encoder head reads.

    A uni-encoder head with `pooling_strategy` `"first"` or `"last"` and
    `class_token_pooling="first"` reads one position per label (its
    `<<LABEL>>` token, or the token after it when `embed_class_token=False`)
    and one position of the text (the first token, or the last real one),
    nothing else. `BackboneEncoder(..., output_rows=[text_rows,
    class_rows])` then computes the last layer's output at those positions
    only, and `row_features` turns those states into the inputs
    `ClassTokenExtractor` would have given the head: the same text vector
    after pooling, the same label vectors (zero for a slot without a
    label).

    Args:
        class_token_index: int. Token id of `<<LABEL>>`.
        pooling_strategy: str. The text pooling, `"first"` or `"last"`.
        embed_class_token: bool. Whether the `<<LABEL>>` token itself is read
            (otherwise the token after it). Defaults to `True`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        token_ids: int tensor `(batch_size, length)`.
        padding_mask: int/bool tensor `(batch_size, length)`.
        label_mask: tensor `(batch_size, num_classes)`; only its shape is used.

    Returns:
        A dict with `"text_rows"`, int32 `(batch_size, 1)`, the text
        position; `"class_rows"`, int32 `(batch_size, num_classes)`, each
        label slot's (0 for a slot without a label); and `"found"`
        `(batch_size, num_classes)`, 1 where the slot has a label token (the
        dtype of `padding_mask`).

    Example:
    ```python
    rows = gliclass_keras.layers.HeadRows(class_token_index=5)
    token_ids = np.array([[1, 5, 9, 5, 8, 6, 7, 2]])
    out = rows(token_ids, np.ones((1, 8), "int32"), np.ones((1, 3), "int32"))
    out["text_rows"]  # [[0]]
    out["class_rows"]  # [[1, 3, 0]]
    out["found"]  # [[1, 1, 0]]
    ```
    """

    def __init__(self, class_token_index, pooling_strategy="first", embed_class_token=True, **kwargs):
        super().__init__(**kwargs)
        _check_token_index(class_token_index, "class_token_index")
        check_choice("pooling_strategy", pooling_strategy, ROW_POOLINGS)
        check_bool("embed_class_token", embed_class_token)
        self.class_token_index = class_token_index
        self.pooling_strategy = pooling_strategy
        self.embed_class_token = embed_class_token

    def call(self, token_ids, padding_mask, label_mask):
        token_ids = ops.cast(token_ids, "int32")
        positions = _positions(token_ids)  # (B, L)
        is_class = ops.equal(token_ids, self.class_token_index)
        rank = ops.cumsum(ops.cast(is_class, "int32"), axis=1)
        if not self.embed_class_token:
            is_class = ops.cast(_shift_right(ops.cast(is_class, "int32")), "bool")
            rank = _shift_right(rank)
        select = class_slot_selection(is_class, rank, label_slots(label_mask))  # (B, K, L)
        class_rows = ops.sum(ops.where(select, ops.expand_dims(positions, 1), 0), axis=-1)
        found = ops.cast(ops.any(select, axis=-1), padding_mask.dtype)
        text_row = pooled_row(padding_mask, self.pooling_strategy)
        return {"text_rows": text_row, "class_rows": class_rows, "found": found}

    def compute_output_spec(self, token_ids, padding_mask, label_mask):
        batch, slots = label_mask.shape[0], label_mask.shape[1]
        return {
            "text_rows": keras.KerasTensor((batch, 1), dtype="int32"),
            "class_rows": keras.KerasTensor((batch, slots), dtype="int32"),
            "found": keras.KerasTensor((batch, slots), dtype=padding_mask.dtype),
        }

    def get_config(self):
        return config_with_args(
            super().get_config(), self, ("class_token_index", "pooling_strategy", "embed_class_token")
        )


def row_features(text_states, class_states, found, padding_mask):
    """The head's inputs from the last layer's states at `HeadRows`' rows.

    `text_states` `(B, 1, D)` and `class_states` `(B, K, D)`, at
    `"text_rows"` and `"class_rows"`. Returns the dict `ClassTokenExtractor`
    returns, for a text of one position: `"text_embeddings"` (`text_states`)
    and `"text_mask"` (ones), whose pooling (`"first"` or `"last"`) is the
    text row, and `"class_embeddings"`, zero where nothing was `found`.
    """
    classes = class_states * ops.expand_dims(ops.cast(found, class_states.dtype), -1)
    text_mask = ops.ones_like(ops.cast(padding_mask[:, :1], "int32"))
    return {
        "text_embeddings": text_states,
        "text_mask": ops.cast(text_mask, padding_mask.dtype),
        "class_embeddings": classes,
        "class_mask": found,
    }
