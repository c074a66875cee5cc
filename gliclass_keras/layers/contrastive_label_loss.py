"""The label-uniformity loss term as a layer of the model graph (`contrastive_loss_coef`)."""

import keras

from gliclass_keras.api_export import register
from gliclass_keras.losses import sequence_contrastive_loss
from gliclass_keras.utils.layer_config import config_with_args


@register
class ContrastiveLabelLoss(keras.layers.Layer):
    """Adds `coefficient * sequence_contrastive_loss` of the label embeddings.

    An identity layer in the model graph: it passes the label embeddings
    through and registers the reference's `contrastive_loss_coef` term with
    `add_loss`, so `fit` and `evaluate` add it to the compiled loss on every
    backend. Padded label slots are left out of the softmax (the reference
    keeps them as negatives; docs/differences.md).

    Args:
        coefficient: float > 0, the config's `contrastive_loss_coef`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        class_embeddings: float tensor `(batch_size, num_classes, dim)`.
        class_mask: `(batch_size, num_classes)`, 1 for real label slots.

    Returns:
        `class_embeddings`, unchanged.

    Example:
    ```python
    layer = gliclass_keras.layers.ContrastiveLabelLoss(0.5)
    classes = layer(np.random.rand(2, 3, 8).astype("float32"), np.ones((2, 3)))
    layer.losses  # [0.5 * the contrastive loss]
    ```
    """

    def __init__(self, coefficient, **kwargs):
        super().__init__(**kwargs)
        self.coefficient = float(coefficient)
        self.built = True

    def call(self, class_embeddings, class_mask):
        loss = sequence_contrastive_loss(class_embeddings, class_mask, padded_negatives=False)
        self.add_loss(self.coefficient * loss)
        return class_embeddings

    def compute_output_spec(self, class_embeddings, class_mask):
        return keras.KerasTensor(class_embeddings.shape, dtype=class_embeddings.dtype)

    def get_config(self):
        return config_with_args(super().get_config(), self, ("coefficient",))
