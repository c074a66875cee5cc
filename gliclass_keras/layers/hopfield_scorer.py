"""Hopfield-style label refinement scorer (`scorer_type="hopfield"`)."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.layers.features_projector import _check_positive_int


@register
class HopfieldScorer(keras.layers.Layer):
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

    Call arguments:
        text_embeddings: float tensor `(batch_size, hidden_dim)`.
        class_embeddings: float tensor `(batch_size, num_classes, hidden_dim)`.
        text_mask: ignored (accepted for a common scorer signature).
        class_mask: optional `(batch_size, num_classes)`, 1 for real class
            slots; padded slots are excluded from the softmax.
        training: ignored.

    Returns:
        Logits of shape `(batch_size, num_classes)`.

    Example:
    ```python
    scorer = gliclass_keras.layers.HopfieldScorer(hidden_dim=8)
    text = np.random.rand(2, 8).astype("float32")
    classes = np.random.rand(2, 3, 8).astype("float32")
    scorer(text, classes).shape  # (2, 3)
    ```
    """

    def __init__(
        self, hidden_dim, mlp_hidden_dim=256, beta=4.0, num_iterations=1, **kwargs
    ):
        super().__init__(**kwargs)
        _check_positive_int(hidden_dim, "hidden_dim")
        _check_positive_int(mlp_hidden_dim, "mlp_hidden_dim")
        if mlp_hidden_dim < 2:
            raise ValueError(
                "`mlp_hidden_dim` must be at least 2. "
                f"Received: mlp_hidden_dim={mlp_hidden_dim}"
            )
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta <= 0:
            raise ValueError(f"`beta` must be a positive number. Received: beta={beta!r}")
        _check_positive_int(num_iterations, "num_iterations")
        self.hidden_dim = hidden_dim
        self.mlp_hidden_dim = mlp_hidden_dim
        self.beta = float(beta)
        self.num_iterations = num_iterations

        dtype = self.dtype_policy
        self.q_proj = keras.layers.Dense(hidden_dim, use_bias=False, dtype=dtype, name="q_proj")
        self.k_proj = keras.layers.Dense(hidden_dim, use_bias=False, dtype=dtype, name="k_proj")
        self.v_proj = keras.layers.Dense(hidden_dim, use_bias=False, dtype=dtype, name="v_proj")
        self.mlp_0 = keras.layers.Dense(mlp_hidden_dim, dtype=dtype, name="mlp_0")
        self.mlp_2 = keras.layers.Dense(mlp_hidden_dim // 2, dtype=dtype, name="mlp_2")
        self.mlp_4 = keras.layers.Dense(1, dtype=dtype, name="mlp_4")

    def build(self, text_embeddings_shape, class_embeddings_shape):
        for shape, arg in (
            (text_embeddings_shape, "text_embeddings"),
            (class_embeddings_shape, "class_embeddings"),
        ):
            if shape[-1] is not None and shape[-1] != self.hidden_dim:
                raise ValueError(
                    f"HopfieldScorer(hidden_dim={self.hidden_dim}) needs "
                    f"`{arg}` of width {self.hidden_dim}. Received shape {shape}."
                )
        self.q_proj.build((None, None, self.hidden_dim))
        self.k_proj.build((None, None, self.hidden_dim))
        self.v_proj.build((None, None, self.hidden_dim))
        self.mlp_0.build((None, None, self.hidden_dim))
        self.mlp_2.build((None, None, self.mlp_hidden_dim))
        self.mlp_4.build((None, None, self.mlp_hidden_dim // 2))
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
                scores = ops.where(keep, scores, ops.cast(-1e9, scores.dtype))
            attention = ops.softmax(scores, axis=1)  # over the class slots
            labels = labels + attention * value
        x = ops.relu(self.mlp_0(labels))
        x = ops.relu(self.mlp_2(x))
        return ops.squeeze(self.mlp_4(x), axis=-1)

    def compute_output_shape(
        self, text_embeddings_shape, class_embeddings_shape, text_mask_shape=None
    ):
        return tuple(class_embeddings_shape[:2])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "mlp_hidden_dim": self.mlp_hidden_dim,
                "beta": self.beta,
                "num_iterations": self.num_iterations,
            }
        )
        return config
