"""One pre-norm ModernBERT transformer layer (rotary attention, optionally local; gated MLP)."""

import keras
import keras_hub
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.backbones import attention_products
from gliclass_keras.backbones import fused_projections
from gliclass_keras.backbones.hidden_states import at_rows
from gliclass_keras.utils.activations import BACKBONE_ACTIVATIONS
from gliclass_keras.utils.activations import get_backbone_activation
from gliclass_keras.utils.validation import check_choice
from gliclass_keras.utils.validation import check_positive_int
from gliclass_keras.utils.dynamic_shapes import sequence_positions
from gliclass_keras.utils.validation import check_rate

# Attention scores of masked keys (applied in float32, so finite: a query row
# whose keys are all masked gets uniform weights instead of NaN).
_MASKED_SCORE = -1e9


@register
class ModernBertEncoderLayer(keras.layers.Layer):
    """One pre-norm ModernBERT transformer layer.

    `x + attention(attention_norm(x))`, then `x + mlp(mlp_norm(x))`, with
    rotary position embeddings on queries and keys and a gated (GeGLU) MLP:
    `Wi` projects to `2 * intermediate_dim`, split into `input` and `gate`,
    and `Wo(activation(input) * gate)`. A local (sliding-window) layer lets
    query `i` attend to key `j` only when `|i - j| <= local_attention // 2`,
    as Hugging Face's `ModernBertModel`; a global layer attends everywhere.

    Args:
        num_heads: int. The number of attention heads.
        intermediate_dim: int. The width of the MLP (half of `Wi`'s output).
        hidden_activation: str. The Hugging Face `hidden_activation` name:
            `"gelu"` (exact erf GELU), `"gelu_new"` or `"gelu_pytorch_tanh"`
            (tanh approximation) or `"relu"`. Defaults to `"gelu"`.
        local_attention: int or None. The sliding-window size of a local
            layer (`local_attention // 2` tokens each side), or None for a
            global layer. Defaults to `None`.
        rope_max_wavelength: float. The rotary embedding base (`rope_theta`).
            Defaults to `160000.0`.
        use_attention_norm: bool. Whether the attention input is layer
            normalised (Hugging Face's layer 0 has an identity instead).
            Defaults to `True`.
        layer_norm_epsilon: float. The layer norm epsilon. Defaults to `1e-5`.
        norm_bias: bool. Whether the layer norms have a bias. Defaults to
            `False`.
        attention_bias: bool. Whether `Wqkv` and the attention `Wo` have a
            bias. Defaults to `False`.
        mlp_bias: bool. Whether the MLP's `Wi` and `Wo` have a bias.
            Defaults to `False`.
        attention_dropout: float. Dropout on the attention probabilities and
            on the attention output. Defaults to `0.0`.
        mlp_dropout: float. Dropout before the MLP's `Wo`. Defaults to `0.0`.
        kernel_initializer: initializer for the dense kernels.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, length, hidden_dim)`.
        padding_mask: optional tensor `(batch, length)`, 1/True for real
            tokens. Padded keys are masked; padded query rows are computed
            (finite, meaningless) like real ones.
        training: bool, whether dropout is active.
        output_rows: optional list of int tensors `(batch, rows_i)` of
            positions: the output is then the list of `(batch, rows_i,
            hidden_dim)` states at those positions, computed there only (the
            attention still reads every token).

    Example:
    ```python
    layer = ModernBertEncoderLayer(num_heads=2, intermediate_dim=48)
    outputs = layer(np.ones((1, 8, 32)), padding_mask=np.ones((1, 8)))
    outputs.shape  # (1, 8, 32)
    ```
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        hidden_activation="gelu",
        local_attention=None,
        rope_max_wavelength=160000.0,
        use_attention_norm=True,
        layer_norm_epsilon=1e-5,
        norm_bias=False,
        attention_bias=False,
        mlp_bias=False,
        attention_dropout=0.0,
        mlp_dropout=0.0,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("num_heads", num_heads)
        check_positive_int("intermediate_dim", intermediate_dim)
        check_choice("hidden_activation", hidden_activation, BACKBONE_ACTIVATIONS)
        if local_attention is not None:
            check_positive_int("local_attention", local_attention)
        check_rate("attention_dropout", attention_dropout)
        check_rate("mlp_dropout", mlp_dropout)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.hidden_activation = hidden_activation
        self.local_attention = local_attention
        self.rope_max_wavelength = rope_max_wavelength
        self.use_attention_norm = use_attention_norm
        self.layer_norm_epsilon = layer_norm_epsilon
        self.norm_bias = norm_bias
        self.attention_bias = attention_bias
        self.mlp_bias = mlp_bias
        self.attention_dropout = attention_dropout
        self.mlp_dropout = mlp_dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _layer_norm(self, name):
        return keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            center=self.norm_bias,
            dtype=self.dtype_policy,
            name=name,
        )

    def _dense(self, units, use_bias, name):
        return keras.layers.Dense(
            units,
            use_bias=use_bias,
            kernel_initializer=keras.initializers.get(
                keras.initializers.serialize(self.kernel_initializer)
            ),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, inputs_shape, padding_mask_shape=None):
        hidden_dim = inputs_shape[-1]
        if hidden_dim % self.num_heads:
            raise ValueError(
                f"The hidden size ({hidden_dim}) must be a multiple of "
                f"`num_heads` ({self.num_heads})."
            )
        self.hidden_dim = hidden_dim
        self.head_dim = hidden_dim // self.num_heads
        if self.head_dim % 2:
            raise ValueError(
                "Rotary embeddings need an even head size; received "
                f"hidden size {hidden_dim} and num_heads={self.num_heads}."
            )
        # === Attention ===
        self._attention_norm = None
        if self.use_attention_norm:
            self._attention_norm = self._layer_norm("attention_norm")
            self._attention_norm.build(inputs_shape)
        self._qkv_dense = self._dense(
            3 * hidden_dim, self.attention_bias, "qkv_dense"
        )
        self._qkv_dense.build(inputs_shape)
        self._rotary_embedding = keras_hub.layers.RotaryEmbedding(
            max_wavelength=self.rope_max_wavelength,
            sequence_axis=1,
            feature_axis=-1,
            dtype=self.dtype_policy,
            name="rotary_embedding",
        )
        self._attention_dropout = keras.layers.Dropout(
            self.attention_dropout,
            dtype=self.dtype_policy,
            name="attention_dropout",
        )
        self._attention_output_dense = self._dense(
            hidden_dim, self.attention_bias, "attention_output_dense"
        )
        self._attention_output_dense.build(inputs_shape)
        self._attention_output_dropout = keras.layers.Dropout(
            self.attention_dropout,
            dtype=self.dtype_policy,
            name="attention_output_dropout",
        )
        # === Gated MLP ===
        self._mlp_norm = self._layer_norm("mlp_norm")
        self._mlp_norm.build(inputs_shape)
        self._mlp_input_dense = self._dense(
            2 * self.intermediate_dim, self.mlp_bias, "mlp_input_dense"
        )
        self._mlp_input_dense.build(inputs_shape)
        self._mlp_dropout = keras.layers.Dropout(
            self.mlp_dropout, dtype=self.dtype_policy, name="mlp_dropout"
        )
        self._mlp_output_dense = self._dense(
            hidden_dim, self.mlp_bias, "mlp_output_dense"
        )
        self._mlp_output_dense.build(
            tuple(inputs_shape[:-1]) + (self.intermediate_dim,)
        )
        self.built = True

    def _attention_mask(self, padding_mask, positions):
        """Boolean `(batch or 1, 1, length, length)`: may query i see key j."""
        mask = None
        if padding_mask is not None:
            mask = ops.cast(padding_mask, "bool")[:, None, None, :]
        if self.local_attention is not None:
            distance = ops.abs(ops.expand_dims(positions, 1) - ops.expand_dims(positions, 0))
            window = ops.expand_dims(distance <= self.local_attention // 2, (0, 1))
            mask = window if mask is None else ops.logical_and(mask, window)
        return mask

    # `call` takes `output_rows` (`transformer_hidden_states`).
    computes_rows = True

    def call(self, inputs, padding_mask=None, training=None, output_rows=None):
        x = inputs
        shape = ops.shape(x)
        batch_size, length = shape[0], shape[1]

        # === Attention ===
        h = x if self._attention_norm is None else self._attention_norm(x)
        # On torch (inference and training) and TensorFlow (inference): each dense layer
        # one fused product (`fused_projections`: oneDNN's on a torch CPU).
        fused = fused_projections.fusable_for(
            training, self._qkv_dense, self._attention_output_dense, self._mlp_input_dense, self._mlp_output_dense
        )
        run = fused_projections.dense_or_call
        qkv = run(h, self._qkv_dense, fused)
        # As Hugging Face's `view(..., 3, num_heads, head_dim)`.
        qkv = ops.reshape(
            qkv, (batch_size, length, 3, self.num_heads, self.head_dim)
        )
        query, key, value = ops.unstack(qkv, num=3, axis=2)
        # Positions from the tokens' own axis (`sequence_positions`), so the
        # length can stay symbolic in export; keras-hub derives the same ones.
        positions = sequence_positions(x)
        query = self._rotary_embedding(query, positions=positions)
        key = self._rotary_embedding(key, positions=positions)
        scores = attention_products.attention_scores(query, key)
        scores = ops.cast(scores, "float32") * (self.head_dim**-0.5)
        mask = self._attention_mask(padding_mask, positions)
        if mask is not None:
            scores = ops.where(mask, scores, _MASKED_SCORE)
        probs = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
        probs = self._attention_dropout(probs, training=training)
        context = attention_products.attention_context(probs, value)
        context = ops.reshape(context, (batch_size, length, self.hidden_dim))
        return at_rows(
            lambda context, x: self._finish(context, x, training, fused), context, x, output_rows
        )

    def _finish(self, context, x, training, fused=False):
        """The output projection, residual and gated MLP, after the attention."""
        run = fused_projections.dense_or_call
        attention_output = self._attention_output_dropout(
            run(context, self._attention_output_dense, fused), training=training
        )
        x = x + attention_output

        # === Gated MLP ===
        h = run(self._mlp_norm(x), self._mlp_input_dense, fused)
        mlp_input, gate = ops.split(h, 2, axis=-1)
        activation = get_backbone_activation(self.hidden_activation)
        h = self._mlp_dropout(activation(mlp_input) * gate, training=training)
        return x + run(h, self._mlp_output_dense, fused)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None, output_rows_shape=None):
        if output_rows_shape is not None:
            return [tuple(rows[:2]) + tuple(inputs_shape[2:]) for rows in output_rows_shape]
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "hidden_activation": self.hidden_activation,
                "local_attention": self.local_attention,
                "rope_max_wavelength": self.rope_max_wavelength,
                "use_attention_norm": self.use_attention_norm,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "norm_bias": self.norm_bias,
                "attention_bias": self.attention_bias,
                "mlp_bias": self.mlp_bias,
                "attention_dropout": self.attention_dropout,
                "mlp_dropout": self.mlp_dropout,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
