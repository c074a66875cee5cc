"""Parameter-free dot-product scorer (`scorer_type="simple"`)."""

import keras
from keras import ops

from gliclass_keras.api_export import register


@register
class DotScorer(keras.layers.Layer):
    """Dot-product scorer: `logits[b, k] = <text[b], class[b, k]>`.

    The reference `gliclass.scorers.ScorerDot` (`scorer_type="simple"`, the
    default). It has no weights and works for any embedding width.

    Args:
        **kwargs: keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        text_embeddings: float tensor `(batch_size, dim)`, the pooled text.
        class_embeddings: float tensor `(batch_size, num_classes, dim)`.
        text_mask: ignored (accepted for a common scorer signature).
        class_mask: ignored (accepted for a common scorer signature).
        training: ignored.

    Returns:
        Logits of shape `(batch_size, num_classes)`.

    Example:
    ```python
    scorer = gliclass_keras.layers.DotScorer()
    text = np.random.rand(2, 8).astype("float32")
    classes = np.random.rand(2, 3, 8).astype("float32")
    scorer(text, classes).shape  # (2, 3)
    ```
    """

    def call(
        self, text_embeddings, class_embeddings, text_mask=None, class_mask=None, training=None
    ):
        return ops.einsum("bd,bkd->bk", text_embeddings, class_embeddings)

    def compute_output_shape(
        self, text_embeddings_shape, class_embeddings_shape, text_mask_shape=None
    ):
        return tuple(class_embeddings_shape[:2])
