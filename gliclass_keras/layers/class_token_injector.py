"""Places one vector per label at the `<<LABEL>>` positions of a sequence."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.layers.class_token_extractor import _check_token_index
from gliclass_keras.layers.class_token_extractor import class_slot_selection
from gliclass_keras.layers.class_token_extractor import label_slots
from gliclass_keras.utils.layer_config import config_with_args


@register
class ClassTokenInjector(keras.layers.Layer):
    """Scatters label vectors onto the `<<LABEL>>` tokens of each row.

    The inverse of `ClassTokenExtractor` (`class_token_pooling="first"`):
    label slot `k` of row `b` goes to the position of the `k`-th
    `<<LABEL>>` token of that row. Only slots with `label_mask == 1` are
    placed, so padded label slots, and `<<LABEL>>` tokens without a real
    label, leave the sequence as it is. This is how the reference
    `GLiClassBiEncoderFused.encode_text` writes the label encoder's vectors
    into the text encoder's input embeddings (`inputs_embeds[b, pos_k] =
    label[b, k]`); feed the result to `BackboneEncoder`'s
    `replace_embeddings` / `replace_mask`.

    Args:
        class_token_index: int. Token id of `<<LABEL>>`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        class_embeddings: float tensor `(batch_size, num_labels, dim)`.
        token_ids: int tensor `(batch_size, length)`.
        label_mask: int/bool tensor `(batch_size, num_labels)`, 1 for a
            real label.

    Returns:
        A dict with `"embeddings"` `(batch_size, length, dim)` (the label
        vectors at their `<<LABEL>>` positions, zeros elsewhere) and
        `"mask"` `(batch_size, length)` int32, 1 where a label vector was
        placed.

    Example:
    ```python
    injector = gliclass_keras.layers.ClassTokenInjector(class_token_index=5)
    out = injector(
        np.random.rand(1, 2, 4).astype("float32"),
        np.array([[1, 9, 5, 5, 6, 2]]),
        np.ones((1, 2), "int32"),
    )
    out["mask"]  # [[0, 0, 1, 1, 0, 0]]
    ```
    """

    def __init__(self, class_token_index, **kwargs):
        super().__init__(**kwargs)
        _check_token_index(class_token_index, "class_token_index")
        self.class_token_index = class_token_index

    def call(self, class_embeddings, token_ids, label_mask):
        token_ids = ops.cast(token_ids, "int32")
        is_class = ops.equal(token_ids, self.class_token_index)
        rank = ops.cumsum(ops.cast(is_class, "int32"), axis=1)
        select = class_slot_selection(is_class, rank, label_slots(label_mask))
        select = ops.logical_and(
            select, ops.expand_dims(ops.cast(label_mask, "bool"), 2)
        )  # (B, K, L)
        weights = ops.cast(select, class_embeddings.dtype)
        embeddings = ops.einsum("bks,bkd->bsd", weights, class_embeddings)
        mask = ops.cast(ops.any(select, axis=1), "int32")
        return {"embeddings": embeddings, "mask": mask}

    def compute_output_spec(self, class_embeddings, token_ids, label_mask):
        length = token_ids.shape[1]
        batch = token_ids.shape[0]
        return {
            "embeddings": keras.KerasTensor(
                (batch, length, class_embeddings.shape[-1]), dtype=class_embeddings.dtype
            ),
            "mask": keras.KerasTensor((batch, length), dtype="int32"),
        }

    def get_config(self):
        return config_with_args(super().get_config(), self, ("class_token_index",))
