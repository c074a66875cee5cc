"""Class-token extraction and text features of the uni-encoder."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.utils.layer_config import config_with_args
from gliclass_keras.utils.validation import check_bool
from gliclass_keras.utils.validation import check_choice

CLASS_TOKEN_POOLINGS = ("first", "average")


def _check_token_index(value, arg_name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"`{arg_name}` must be a non-negative integer token id. "
            f"Received: {arg_name}={value!r}"
        )


def _positions(token_ids):
    """`(B, L)` int32 tensor of positions 0..L-1 (works with dynamic L)."""
    return ops.cumsum(ops.ones_like(token_ids, dtype="int32"), axis=1) - 1


def label_slots(label_mask):
    """`slots[b, k] = k`, an int32 tensor shaped like `label_mask` `(B, K)`."""
    return ops.cumsum(ops.ones_like(label_mask, dtype="int32"), axis=1) - 1


def class_slot_selection(is_token, rank, slots):
    """`select[b, k, s]`: position `s` holds the `k`-th selected token.

    `is_token` `(B, L)` bool marks the tokens, `rank` `(B, L)` is their
    running count (`cumsum`, 1 at the first one) and `slots` `(B, K)` comes
    from `label_slots`. Returns a `(B, K, L)` bool tensor.
    """
    return ops.logical_and(
        ops.expand_dims(is_token, 1),
        ops.equal(ops.expand_dims(rank, 1) - 1, ops.expand_dims(slots, 2)),
    )


def _shift_right(x):
    """`y[:, s] = x[:, s - 1]`, `y[:, 0] = 0`, for a `(B, L)` tensor."""
    return ops.pad(x[:, :-1], [[0, 0], [1, 0]])


@register
class ClassTokenExtractor(keras.layers.Layer):
    """Gathers one embedding per `<<LABEL>>` token, and the text token states.

    Reproduces the reference `GLiClassBaseModel._extract_class_features`
    (vectorised with a `(batch, num_classes, length)` selection matrix):

    * `class_mask[b, k] = k < n_b`, `n_b` = number of `<<LABEL>>` tokens in
      row `b`. Slots `k >= n_b` get zero vectors.
    * `class_token_pooling="first"`: `class_embeddings[b, k]` is the state at
      the `k`-th `<<LABEL>>` position, or at the next position when
      `embed_class_token=False` (the first sub-token of the label text).
    * `class_token_pooling="average"`: the mean of the states in the span of
      label `k` (from its `<<LABEL>>` up to the next `<<LABEL>>`), restricted to
      real tokens (`padding_mask`), to positions before the first `<<SEP>>`
      when `extract_text_features=True`, and excluding the `<<LABEL>>` token
      itself when `embed_class_token=False`. Without `extract_text_features`
      the last label's span runs to the end of the sequence (reference
      behaviour).
    * `extract_text_features=True`: the text states are the sequence shifted
      to start at the first `<<SEP>>` (position 0 if none), zero-padded to the
      original length, with the padding mask shifted the same way. Otherwise
      the text states and mask are the inputs.

    The number of class slots `K` is the (possibly dynamic) second dimension
    of `label_mask`.

    Args:
        class_token_index: int. Token id of `<<LABEL>>`.
        text_token_index: int. Token id of `<<SEP>>`.
        class_token_pooling: str. `"first"` or `"average"`. Defaults to
            `"first"`.
        embed_class_token: bool. Whether the `<<LABEL>>` token itself is used.
            Defaults to `True`.
        extract_text_features: bool. Whether the text starts at the first
            `<<SEP>>`. Defaults to `False`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        hidden_states: float tensor `(batch_size, length, dim)`.
        token_ids: int tensor `(batch_size, length)`.
        padding_mask: int/bool tensor `(batch_size, length)`.
        label_mask: tensor `(batch_size, num_classes)`; only its shape is used.

    Returns:
        A dict with `"class_embeddings"` `(batch_size, num_classes, dim)`,
        `"class_mask"` `(batch_size, num_classes)`, `"text_embeddings"`
        `(batch_size, length, dim)` and `"text_mask"` `(batch_size, length)`;
        the masks have the dtype of `padding_mask`.

    Example:
    ```python
    extractor = gliclass_keras.layers.ClassTokenExtractor(
        class_token_index=5, text_token_index=6
    )
    token_ids = np.array([[1, 5, 9, 5, 8, 6, 7, 2]])
    outputs = extractor(
        np.random.rand(1, 8, 4).astype("float32"),
        token_ids,
        np.ones((1, 8), "int32"),
        np.ones((1, 3), "int32"),
    )
    outputs["class_embeddings"].shape  # (1, 3, 4)
    ```
    """

    def __init__(
        self,
        class_token_index,
        text_token_index,
        class_token_pooling="first",
        embed_class_token=True,
        extract_text_features=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_token_index(class_token_index, "class_token_index")
        _check_token_index(text_token_index, "text_token_index")
        check_choice("class_token_pooling", class_token_pooling, CLASS_TOKEN_POOLINGS)
        check_bool("embed_class_token", embed_class_token)
        check_bool("extract_text_features", extract_text_features)
        self.class_token_index = class_token_index
        self.text_token_index = text_token_index
        self.class_token_pooling = class_token_pooling
        self.embed_class_token = embed_class_token
        self.extract_text_features = extract_text_features

    def call(self, hidden_states, token_ids, padding_mask, label_mask):
        dtype = hidden_states.dtype
        mask_dtype = padding_mask.dtype
        token_ids = ops.cast(token_ids, "int32")
        real = ops.cast(padding_mask, "bool")

        is_class = ops.equal(token_ids, self.class_token_index)  # (B, L)
        class_cum = ops.cumsum(ops.cast(is_class, "int32"), axis=1)  # (B, L)
        num_classes = ops.sum(ops.cast(is_class, "int32"), axis=1, keepdims=True)
        # slots[b, k] = k, shape (B, K); dynamic K from label_mask.
        slots = label_slots(label_mask)
        class_mask = ops.cast(slots < num_classes, mask_dtype)

        is_text = ops.equal(token_ids, self.text_token_index)
        if self.class_token_pooling == "first":
            select_token = is_class
            select_rank = class_cum
            if not self.embed_class_token:
                select_token = ops.cast(_shift_right(ops.cast(is_class, "int32")), "bool")
                select_rank = _shift_right(class_cum)
            # select[b, k, s]: s holds the k-th <<LABEL>> (or the token after it).
            select = class_slot_selection(select_token, select_rank, slots)
            weights = ops.cast(select, dtype)
            class_embeddings = ops.einsum("bks,bsd->bkd", weights, hidden_states)
        else:
            in_span = ops.equal(
                ops.expand_dims(class_cum, 1), ops.expand_dims(slots, 2) + 1
            )  # (B, K, L)
            allowed = real
            if self.extract_text_features:
                before_text = ops.equal(
                    ops.cumsum(ops.cast(is_text, "int32"), axis=1), 0
                )
                allowed = ops.logical_and(allowed, before_text)
            if not self.embed_class_token:
                allowed = ops.logical_and(allowed, ops.logical_not(is_class))
            span = ops.cast(
                ops.logical_and(in_span, ops.expand_dims(allowed, 1)), dtype
            )
            counts = ops.maximum(ops.sum(span, axis=-1, keepdims=True), 1.0)
            class_embeddings = (
                ops.einsum("bks,bsd->bkd", span, hidden_states) / counts
            )

        if self.extract_text_features:
            positions = _positions(token_ids)
            length = ops.shape(token_ids)[1]
            # First <<SEP>> position, 0 when there is none (argmax semantics).
            first_text = ops.min(ops.where(is_text, positions, length), axis=1, keepdims=True)
            start = ops.where(first_text >= length, 0, first_text)
            source = start + positions  # (B, L)
            valid = source < length
            source = ops.minimum(source, length - 1)
            gather = ops.broadcast_to(
                ops.expand_dims(source, -1), ops.shape(hidden_states)
            )
            text_embeddings = ops.take_along_axis(hidden_states, gather, axis=1)
            text_embeddings = text_embeddings * ops.expand_dims(
                ops.cast(valid, dtype), -1
            )
            shifted_mask = ops.take_along_axis(ops.cast(real, "int32"), source, axis=1)
            text_mask = ops.cast(
                ops.logical_and(ops.cast(shifted_mask, "bool"), valid), mask_dtype
            )
        else:
            text_embeddings = hidden_states
            text_mask = padding_mask

        return {
            "class_embeddings": class_embeddings,
            "class_mask": class_mask,
            "text_embeddings": text_embeddings,
            "text_mask": text_mask,
        }

    def get_config(self):
        return config_with_args(
            super().get_config(),
            self,
            (
                "class_token_index",
                "text_token_index",
                "class_token_pooling",
                "embed_class_token",
                "extract_text_features",
            ),
        )
