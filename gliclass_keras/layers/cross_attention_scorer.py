"""Cross-attention scorer over token-level text (`scorer_type="cross-attn"`)."""

import math

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.layers.scorer_base import Scorer
from gliclass_keras.utils.activations import get_hf_activation
from gliclass_keras.utils.layer_config import config_with_args
from gliclass_keras.utils.validation import check_positive_int
from gliclass_keras.utils.validation import check_rate


@register
class CrossAttentionScorer(Scorer):
    """Class embeddings attend over the text tokens, then an MLP scores them.

    The reference `gliclass.scorers.CrossAttnScorer` (used with
    `pooling_strategy="pass"`):

    * `q = W_q(LN_q(c))`, `k = W_k(LN_kv(t))`, `v = W_v(t)` (values are not
      normalised), split into `num_heads` heads;
    * `ctx = softmax(q k^T / sqrt(hidden_dim / num_heads) + mask) v`, where
      padded text tokens (`text_mask == 0`) are not attended; attention
      dropout `attn_dropout` in training only;
    * `ctx = LN(W_o ctx)`;
    * `logits = MLP(concat[ctx, c])` with `Dense(mlp_hidden_dim) -> GELU ->
      Dense(mlp_hidden_dim // 2) -> GELU -> Dense(1)` (exact GELU).

    All LayerNorms use `epsilon=1e-5`. A text row without any real token gets
    a zero attention context, as with torch's SDPA in the reference.

    Args:
        hidden_dim: int. Width of the embeddings and attention projections.
        num_heads: int. Number of attention heads; must divide `hidden_dim`.
            Defaults to `16`.
        mlp_hidden_dim: int. Width of the first scoring-MLP layer. Defaults
            to `1024`.
        attn_dropout: float. Dropout on the attention weights in training.
            Defaults to `0.1`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Called as every `Scorer`, with token-level text `(batch_size,
    text_length, hidden_dim)`; returns `(batch_size, num_classes)` logits.
    `text_mask` (int/bool, 1/True for real text tokens; `None` attends to
    every token) masks the attention, `training` turns attention dropout on;
    `class_mask` is ignored.

    Example:
    ```python
    scorer = gliclass_keras.layers.CrossAttentionScorer(
        hidden_dim=8, num_heads=2, mlp_hidden_dim=16
    )
    text = np.random.rand(2, 5, 8).astype("float32")
    classes = np.random.rand(2, 3, 8).astype("float32")
    scorer(text, classes, text_mask=np.ones((2, 5))).shape  # (2, 3)
    ```
    """

    def __init__(
        self,
        hidden_dim,
        num_heads=16,
        mlp_hidden_dim=1024,
        attn_dropout=0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("num_heads", num_heads)
        if hidden_dim % num_heads != 0:
            raise ValueError(
                f"`hidden_dim` must be divisible by `num_heads`. Received: "
                f"hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        check_rate("attn_dropout", attn_dropout)
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.mlp_hidden_dim = mlp_hidden_dim
        self.attn_dropout = attn_dropout
        self.head_dim = hidden_dim // num_heads

        dtype = self.dtype_policy

        def dense(units, name):
            return keras.layers.Dense(units, dtype=dtype, name=name)

        def layer_norm(name):
            return keras.layers.LayerNormalization(epsilon=1e-5, dtype=dtype, name=name)

        self.q_norm = layer_norm("q_norm")
        self.kv_norm = layer_norm("kv_norm")
        self.q = dense(hidden_dim, "q")
        self.k = dense(hidden_dim, "k")
        self.v = dense(hidden_dim, "v")
        self.out = dense(hidden_dim, "out")
        self.norm = layer_norm("norm")
        self.attention_dropout = keras.layers.Dropout(
            attn_dropout, dtype=dtype, name="attention_dropout"
        )
        self.score_mlp_0, self.score_mlp_2, self.score_mlp_4 = self.make_score_mlp(
            mlp_hidden_dim, "score_mlp"
        )

    def build(self, text_embeddings_shape, class_embeddings_shape):
        shapes = dict(text_embeddings=text_embeddings_shape, class_embeddings=class_embeddings_shape)
        for arg, shape in shapes.items():
            if len(shape) != 3:
                raise ValueError(
                    f"CrossAttentionScorer needs rank-3 `{arg}`. Received shape "
                    f"{shape}. Use the 'pass' pooling strategy for the text."
                )
        self.check_embedding_widths(**shapes)
        shape = (None, None, self.hidden_dim)
        for layer in (self.q_norm, self.kv_norm, self.q, self.k, self.v, self.out, self.norm):
            layer.build(shape)
        score_mlp = (self.score_mlp_0, self.score_mlp_2, self.score_mlp_4)
        self.build_score_mlp(score_mlp, 2 * self.hidden_dim)
        self.built = True

    def _split_heads(self, x):
        shape = ops.shape(x)
        return ops.reshape(x, (shape[0], shape[1], self.num_heads, self.head_dim))

    def call(
        self, text_embeddings, class_embeddings, text_mask=None, class_mask=None, training=None
    ):
        query = self._split_heads(self.q(self.q_norm(class_embeddings)))
        key = self._split_heads(self.k(self.kv_norm(text_embeddings)))
        value = self._split_heads(self.v(text_embeddings))

        scores = ops.einsum("bkhd,blhd->bhkl", query, key)
        # Softmax in float32 so the padding fill value is safe under float16.
        scores = ops.cast(scores, "float32") * (1.0 / math.sqrt(self.head_dim))
        keep = None
        if text_mask is not None:
            keep = ops.cast(text_mask, "bool")[:, None, None, :]
            scores = self.mask_logits(scores, keep)
        weights = ops.softmax(scores, axis=-1)
        if keep is not None:
            # Exact zeros for padded keys; a row without any real token gets a
            # zero context, like torch's SDPA with an all-False mask.
            weights = weights * ops.cast(keep, weights.dtype)
        weights = ops.cast(weights, self.compute_dtype)
        weights = self.attention_dropout(weights, training=training)
        context = ops.einsum("bhkl,blhd->bkhd", weights, value)
        shape = ops.shape(class_embeddings)
        context = ops.reshape(context, (shape[0], shape[1], self.hidden_dim))
        context = self.norm(self.out(context))

        x = ops.concatenate([context, class_embeddings], axis=-1)
        score_mlp = (self.score_mlp_0, self.score_mlp_2, self.score_mlp_4)
        return self.score_mlp_logits(score_mlp, x, get_hf_activation("gelu"))

    def get_config(self):
        return config_with_args(
            super().get_config(),
            self,
            ("hidden_dim", "num_heads", "mlp_hidden_dim", "attn_dropout"),
        )
