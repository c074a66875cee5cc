"""MLP scorer over concatenated text and class embeddings (`scorer_type="mlp"`)."""

from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.layers.scorer_base import Scorer
from gliclass_keras.utils.layer_config import config_with_args


@register
class MLPScorer(Scorer):
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

    Called as every `Scorer`, with the pooled text `(batch_size, dim)`;
    returns `(batch_size, num_classes)` logits. `text_mask`, `class_mask` and
    `training` are ignored.

    Example:
    ```python
    scorer = gliclass_keras.layers.MLPScorer(mlp_hidden_dim=16)
    text = np.random.rand(2, 8).astype("float32")
    classes = np.random.rand(2, 3, 8).astype("float32")
    scorer(text, classes).shape  # (2, 3)
    ```
    """

    def __init__(self, mlp_hidden_dim=256, **kwargs):
        super().__init__(**kwargs)
        self.mlp_0, self.mlp_2, self.mlp_4 = self.make_score_mlp(mlp_hidden_dim, "mlp")
        self.mlp_hidden_dim = mlp_hidden_dim

    def build(self, text_embeddings_shape, class_embeddings_shape):
        dim = text_embeddings_shape[-1] + class_embeddings_shape[-1]
        self.build_score_mlp((self.mlp_0, self.mlp_2, self.mlp_4), dim)
        self.built = True

    def call(
        self, text_embeddings, class_embeddings, text_mask=None, class_mask=None, training=None
    ):
        text = ops.expand_dims(text_embeddings, 1)
        target_shape = tuple(ops.shape(class_embeddings)[:2]) + (ops.shape(text)[-1],)
        text = ops.broadcast_to(text, target_shape)
        x = ops.concatenate([text, class_embeddings], axis=-1)
        return self.score_mlp_logits((self.mlp_0, self.mlp_2, self.mlp_4), x, ops.relu)

    def get_config(self):
        return config_with_args(super().get_config(), self, ("mlp_hidden_dim",))
