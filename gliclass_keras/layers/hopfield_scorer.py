"""Hopfield-style label refinement scorer (`scorer_type="hopfield"`)."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.layers.scorer_base import Scorer
from gliclass_keras.utils.layer_config import config_with_args
from gliclass_keras.utils.validation import check_positive_int


@register
class HopfieldScorer(Scorer):
    """Refines class embeddings by attending to the text, then scores them.

    The reference `gliclass.scorers.HopfieldScorer`. For each of
    `num_iterations` steps (shared weights):
    `q = W_q c`, `k = W_k t`, `v = W_v t` (bias-free `Dense(hidden_dim)`),
    `a = softmax_over_classes(beta * q . k)` and `c <- c + a * v`.
    The softmax runs **across the class slots** (axis 1), as in the reference.
    Unlike the reference, where padded class slots take part in it (so a
    text's scores depend on how many labels the other texts of its batch
    have), slots with `class_mask == 0` are left out; with no padding the two
    agree. The refined class embeddings go
    through `Dense(mlp_hidden_dim) -> ReLU -> Dense(mlp_hidden_dim // 2) ->
    ReLU -> Dense(1)` (the text is not concatenated). The reference hard-codes
    `beta=4`, `num_iterations=1` and a 256-wide MLP.

    Args:
        hidden_dim: int. Embedding width; must equal the width of the
            class and text embeddings (the update is residual).
        mlp_hidden_dim: int. Width of the first MLP layer. Defaults to `256`.
        beta: float. Inverse temperature of the softmax. Defaults to `4.0`.
        num_iterations: int. Number of refinement steps. Defaults to `1`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Called as every `Scorer`, with the pooled text `(batch_size, hidden_dim)`;
    returns `(batch_size, num_classes)` logits. Class slots with
    `class_mask == 0` are left out of the softmax; `text_mask` and `training`
    are ignored.

    Example:
    ```python
    scorer = gliclass_keras.layers.HopfieldScorer(hidden_dim=8, mlp_hidden_dim=16)
    text = np.random.rand(2, 8).astype("float32")
    classes = np.random.rand(2, 3, 8).astype("float32")
    scorer(text, classes, class_mask=np.array([[1, 1, 1], [1, 1, 0]])).shape  # (2, 3)
    ```
    """

    def __init__(
        self, hidden_dim, mlp_hidden_dim=256, beta=4.0, num_iterations=1, **kwargs
    ):
        super().__init__(**kwargs)
        check_positive_int("hidden_dim", hidden_dim)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta <= 0:
            raise ValueError(f"`beta` must be a positive number. Received: beta={beta!r}")
        check_positive_int("num_iterations", num_iterations)
        self.hidden_dim = hidden_dim
        self.mlp_hidden_dim = mlp_hidden_dim
        self.beta = float(beta)
        self.num_iterations = num_iterations

        dtype = self.dtype_policy
        self.q_proj = keras.layers.Dense(hidden_dim, use_bias=False, dtype=dtype, name="q_proj")
        self.k_proj = keras.layers.Dense(hidden_dim, use_bias=False, dtype=dtype, name="k_proj")
        self.v_proj = keras.layers.Dense(hidden_dim, use_bias=False, dtype=dtype, name="v_proj")
        self.mlp_0, self.mlp_2, self.mlp_4 = self.make_score_mlp(mlp_hidden_dim, "mlp")

    def build(self, text_embeddings_shape, class_embeddings_shape):
        self.check_embedding_widths(
            text_embeddings=text_embeddings_shape, class_embeddings=class_embeddings_shape
        )
        for layer in (self.q_proj, self.k_proj, self.v_proj):
            layer.build((None, None, self.hidden_dim))
        self.build_score_mlp((self.mlp_0, self.mlp_2, self.mlp_4), self.hidden_dim)
        self.built = True

    def call(
        self, text_embeddings, class_embeddings, text_mask=None, class_mask=None, training=None
    ):
        text = ops.expand_dims(text_embeddings, 1)  # (B, 1, D)
        labels = class_embeddings
        for _ in range(self.num_iterations):
            query = self.q_proj(labels)  # (B, K, D)
            key = self.k_proj(text)  # (B, 1, D)
            value = self.v_proj(text)  # (B, 1, D)
            scores = ops.sum(query * key, axis=-1, keepdims=True) * self.beta
            if class_mask is not None:
                keep = ops.expand_dims(ops.cast(class_mask, "bool"), -1)
                scores = self.mask_logits(scores, keep)
            attention = ops.softmax(scores, axis=1)  # over the class slots
            labels = labels + attention * value
        return self.score_mlp_logits((self.mlp_0, self.mlp_2, self.mlp_4), labels, ops.relu)

    def get_config(self):
        return config_with_args(
            super().get_config(),
            self,
            ("hidden_dim", "mlp_hidden_dim", "beta", "num_iterations"),
        )
