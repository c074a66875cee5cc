"""Parameter-free dot-product scorer (`scorer_type="simple"`)."""

from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.layers.scorer_base import Scorer


@register
class DotScorer(Scorer):
    """Dot-product scorer: `logits[b, k] = <text[b], class[b, k]>`.

    The reference `gliclass.scorers.ScorerDot` (`scorer_type="simple"`, the
    default). It has no weights and works for any embedding width.

    Args:
        **kwargs: keyword arguments passed to `keras.layers.Layer`.

    Called as every `Scorer`, with the pooled text `(batch_size, dim)`;
    returns `(batch_size, num_classes)` logits. `text_mask`, `class_mask` and
    `training` are ignored.

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
