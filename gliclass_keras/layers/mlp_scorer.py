"""MLP scorer over concatenated text and class embeddings (`scorer_type="mlp"`)."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.layers.features_projector import _check_positive_int


@register
class MLPScorer(keras.layers.Layer):
    """Scores `concat[text, class_k]` with a three-layer ReLU MLP.

    The reference `gliclass.scorers.MLPScorer`:
    `Dense(mlp_hidden_dim) -> ReLU -> Dense(mlp_hidden_dim // 2) -> ReLU ->
    Dense(1)` (`mlp.0`, `mlp.2`, `mlp.4`). The reference's hidden width is
    always 256 (its `scorer_mlp_hidden_size` config value never reaches this
    scorer), so keep the default to load GLiClass checkpoints. The input width
    (`2 * dim`) is taken from the inputs.

    Args:
        mlp_hidden_dim: int. Width of the first hidden layer; the second is
            half of it. Defaults to `256`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        text_embeddings: float tensor `(batch_size, dim)`.
        class_embeddings: float tensor `(batch_size, num_classes, dim)`.
        text_mask: ignored (accepted for a common scorer signature).
        class_mask: ignored (accepted for a common scorer signature).
        training: ignored.

    Returns:
        Logits of shape `(batch_size, num_classes)`.

    Example:
    ```python
    scorer = gliclass_keras.layers.MLPScorer()
    text = np.random.rand(2, 8).astype("float32")
    classes = np.random.rand(2, 3, 8).astype("float32")
    scorer(text, classes).shape  # (2, 3)
    ```
    """

    def __init__(self, mlp_hidden_dim=256, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int(mlp_hidden_dim, "mlp_hidden_dim")
        if mlp_hidden_dim < 2:
            raise ValueError(
                "`mlp_hidden_dim` must be at least 2 (the second layer has "
                f"mlp_hidden_dim // 2 units). Received: mlp_hidden_dim={mlp_hidden_dim}"
            )
        self.mlp_hidden_dim = mlp_hidden_dim

        dtype = self.dtype_policy
        self.mlp_0 = keras.layers.Dense(mlp_hidden_dim, dtype=dtype, name="mlp_0")
        self.mlp_2 = keras.layers.Dense(mlp_hidden_dim // 2, dtype=dtype, name="mlp_2")
        self.mlp_4 = keras.layers.Dense(1, dtype=dtype, name="mlp_4")

    def build(self, text_embeddings_shape, class_embeddings_shape):
        dim = text_embeddings_shape[-1] + class_embeddings_shape[-1]
        self.mlp_0.build((None, None, dim))
        self.mlp_2.build((None, None, self.mlp_hidden_dim))
        self.mlp_4.build((None, None, self.mlp_hidden_dim // 2))
        self.built = True

    def call(
        self, text_embeddings, class_embeddings, text_mask=None, class_mask=None, training=None
    ):
        text = ops.expand_dims(text_embeddings, 1)
        target_shape = tuple(ops.shape(class_embeddings)[:2]) + (ops.shape(text)[-1],)
        text = ops.broadcast_to(text, target_shape)
        x = ops.concatenate([text, class_embeddings], axis=-1)
        x = ops.relu(self.mlp_0(x))
        x = ops.relu(self.mlp_2(x))
        return ops.squeeze(self.mlp_4(x), axis=-1)

    def compute_output_shape(
        self, text_embeddings_shape, class_embeddings_shape, text_mask_shape=None
    ):
        return tuple(class_embeddings_shape[:2])

    def get_config(self):
        config = super().get_config()
        config.update({"mlp_hidden_dim": self.mlp_hidden_dim})
        return config
