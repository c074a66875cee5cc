"""ModernBERT encoder backbone (Warner et al., 2024) for Keras 3."""

import keras
import keras_hub
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.backbones.bert import HIDDEN_ACTIVATIONS

# Attention scores of masked keys (applied in float32, so finite: a query row
# whose keys are all masked gets uniform weights instead of NaN).
_MASKED_SCORE = -1e9


def modernbert_kernel_initializer(stddev=0.02):
    return keras.initializers.TruncatedNormal(stddev=stddev)


def _check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive int. Received: {name}={value!r}"
        )


def _check_rate(name, value):
    if not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(
            f"`{name}` must be a float in [0, 1). Received: {name}={value!r}"
        )


def _check_activation(hidden_activation):
    if hidden_activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(
            "`hidden_activation` must be one of "
            f"{sorted(HIDDEN_ACTIVATIONS)}. Received: "
            f"hidden_activation={hidden_activation!r}"
        )


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
        _check_positive_int("num_heads", num_heads)
        _check_positive_int("intermediate_dim", intermediate_dim)
        _check_activation(hidden_activation)
        if local_attention is not None:
            _check_positive_int("local_attention", local_attention)
        _check_rate("attention_dropout", attention_dropout)
        _check_rate("mlp_dropout", mlp_dropout)
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

    def _attention_mask(self, padding_mask, length):
        """Boolean `(batch or 1, 1, length, length)`: may query i see key j."""
        mask = None
        if padding_mask is not None:
            mask = ops.cast(padding_mask, "bool")[:, None, None, :]
        if self.local_attention is not None:
            positions = ops.arange(length, dtype="int32")
            distance = ops.abs(positions[:, None] - positions[None, :])
            window = (distance <= self.local_attention // 2)[None, None]
            mask = window if mask is None else ops.logical_and(mask, window)
        return mask

    def call(self, inputs, padding_mask=None, training=None):
        x = inputs
        shape = ops.shape(x)
        batch_size, length = shape[0], shape[1]

        # === Attention ===
        h = x if self._attention_norm is None else self._attention_norm(x)
        qkv = self._qkv_dense(h)
        # As Hugging Face's `view(..., 3, num_heads, head_dim)`.
        qkv = ops.reshape(
            qkv, (batch_size, length, 3, self.num_heads, self.head_dim)
        )
        query, key, value = ops.unstack(qkv, num=3, axis=2)
        query = self._rotary_embedding(query)
        key = self._rotary_embedding(key)
        scores = ops.einsum("bqhd,bkhd->bhqk", query, key)
        scores = ops.cast(scores, "float32") * (self.head_dim**-0.5)
        mask = self._attention_mask(padding_mask, length)
        if mask is not None:
            scores = ops.where(mask, scores, _MASKED_SCORE)
        probs = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
        probs = self._attention_dropout(probs, training=training)
        context = ops.einsum("bhqk,bkhd->bqhd", probs, value)
        context = ops.reshape(context, (batch_size, length, self.hidden_dim))
        attention_output = self._attention_output_dropout(
            self._attention_output_dense(context), training=training
        )
        x = x + attention_output

        # === Gated MLP ===
        h = self._mlp_input_dense(self._mlp_norm(x))
        mlp_input, gate = ops.split(h, 2, axis=-1)
        activation = HIDDEN_ACTIVATIONS[self.hidden_activation]
        h = self._mlp_dropout(activation(mlp_input) * gate, training=training)
        return x + self._mlp_output_dense(h)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
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


@register
class ModernBertBackbone(keras_hub.models.Backbone):
    """ModernBERT encoder network.

    The encoder of ["Smarter, Better, Faster, Longer: A Modern Bidirectional
    Encoder for Fast, Memory Efficient, and Long Context Finetuning and
    Inference"](https://arxiv.org/abs/2412.13663), computed like Hugging
    Face's `ModernBertModel`: token embeddings and a layer norm, then
    `num_layers` pre-norm transformer layers (`ModernBertEncoderLayer`; the
    first has no attention norm) with rotary position embeddings and a gated
    GeGLU MLP, then a final layer norm. Layer `i` attends globally when
    `i % global_attn_every_n_layers == 0` (rotary base `global_rope_theta`)
    and otherwise within a sliding window of `local_attention // 2` tokens on
    each side (rotary base `local_rope_theta`). There are no absolute
    position embeddings, so the input length is not limited by the model.

    Hugging Face runs the model on unpadded tokens; here padded keys are
    masked instead, so every real (non-padded) token's output equals running
    its sequence alone (positions count from the start of the row, so pad on
    the right). Outputs at padded positions are finite and meaningless.

    The default constructor gives a randomly initialized encoder; use
    `gliclass_keras.convert.backbone_weights.backbone_from_hf_config` and
    `load_hf_backbone_weights` to build one from a Hugging Face checkpoint.
    For every layer's hidden states (what Hugging Face returns with
    `output_hidden_states=True`) use `modernbert_hidden_states` (or
    `gliclass_keras.backbones.encoder.BackboneEncoder`).

    Args:
        vocabulary_size: int. The size of the token vocabulary.
        num_layers: int. The number of transformer layers.
        num_heads: int. The number of attention heads of each layer.
        hidden_dim: int. The hidden size; a multiple of `num_heads` with an
            even head size.
        intermediate_dim: int. The width of the gated MLP (`Wi` projects to
            twice this).
        hidden_activation: str. The MLP activation, by its Hugging Face name:
            `"gelu"` (exact erf GELU, what ModernBERT uses), `"gelu_new"`,
            `"gelu_pytorch_tanh"` or `"relu"`. Defaults to `"gelu"`.
        global_attn_every_n_layers: int. Every this many layers (starting at
            layer 0) attends globally. Defaults to `3`.
        local_attention: int. The sliding-window size of the local layers.
            Defaults to `128`.
        global_rope_theta: float. The rotary base of global layers. Defaults
            to `160000.0`.
        local_rope_theta: float. The rotary base of local layers. Defaults to
            `10000.0`.
        layer_norm_epsilon: float. The epsilon of every layer norm (Hugging
            Face `norm_eps`). Defaults to `1e-5`.
        norm_bias: bool. Whether the layer norms have a bias. Defaults to
            `False`.
        attention_bias: bool. Whether the attention projections have a bias.
            Defaults to `False`.
        mlp_bias: bool. Whether the MLP projections have a bias. Defaults to
            `False`.
        embedding_dropout: float. Dropout after the embedding layer norm.
            Defaults to `0.0`.
        attention_dropout: float. Dropout on attention probabilities and
            outputs. Defaults to `0.0`.
        mlp_dropout: float. Dropout inside the MLP. Defaults to `0.0`.
        dtype: string or `keras.DTypePolicy`. The dtype policy of the layers.
        **kwargs: other `keras.Model` arguments (`name`, `trainable`).

    Example:
    ```python
    input_data = {
        "token_ids": np.ones(shape=(1, 12), dtype="int32"),
        "padding_mask": np.array([[1] * 10 + [0] * 2], dtype="int32"),
    }
    backbone = ModernBertBackbone(
        vocabulary_size=100,
        num_layers=4,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=48,
        global_attn_every_n_layers=3,
        local_attention=8,
    )
    backbone(input_data).shape  # (1, 12, 32)
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        hidden_activation="gelu",
        global_attn_every_n_layers=3,
        local_attention=128,
        global_rope_theta=160000.0,
        local_rope_theta=10000.0,
        layer_norm_epsilon=1e-5,
        norm_bias=False,
        attention_bias=False,
        mlp_bias=False,
        embedding_dropout=0.0,
        attention_dropout=0.0,
        mlp_dropout=0.0,
        dtype=None,
        **kwargs,
    ):
        for name, value in (
            ("vocabulary_size", vocabulary_size),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("hidden_dim", hidden_dim),
            ("intermediate_dim", intermediate_dim),
            ("global_attn_every_n_layers", global_attn_every_n_layers),
            ("local_attention", local_attention),
        ):
            _check_positive_int(name, value)
        if hidden_dim % num_heads or (hidden_dim // num_heads) % 2:
            raise ValueError(
                "`hidden_dim` must be a multiple of `num_heads` with an even "
                f"head size (for rotary embeddings). Received: "
                f"hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        _check_activation(hidden_activation)
        _check_rate("embedding_dropout", embedding_dropout)

        # === Layers ===
        self.token_embedding = keras.layers.ReversibleEmbedding(
            input_dim=vocabulary_size,
            output_dim=hidden_dim,
            embeddings_initializer=modernbert_kernel_initializer(),
            dtype=dtype,
            name="token_embedding",
        )
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon,
            center=norm_bias,
            dtype=dtype,
            name="embeddings_layer_norm",
        )
        self.embeddings_dropout = keras.layers.Dropout(
            embedding_dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = []
        for i in range(num_layers):
            is_global = i % global_attn_every_n_layers == 0
            layer = ModernBertEncoderLayer(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                hidden_activation=hidden_activation,
                local_attention=None if is_global else local_attention,
                rope_max_wavelength=(
                    global_rope_theta if is_global else local_rope_theta
                ),
                use_attention_norm=i > 0,
                layer_norm_epsilon=layer_norm_epsilon,
                norm_bias=norm_bias,
                attention_bias=attention_bias,
                mlp_bias=mlp_bias,
                attention_dropout=attention_dropout,
                mlp_dropout=mlp_dropout,
                kernel_initializer=modernbert_kernel_initializer(),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            self.transformer_layers.append(layer)
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon,
            center=norm_bias,
            dtype=dtype,
            name="final_norm",
        )

        # === Functional Model ===
        token_id_input = keras.Input(
            shape=(None,), dtype="int32", name="token_ids"
        )
        padding_mask_input = keras.Input(
            shape=(None,), dtype="int32", name="padding_mask"
        )
        x = self.token_embedding(token_id_input)
        x = self.embeddings_layer_norm(x)
        x = self.embeddings_dropout(x)
        for transformer_layer in self.transformer_layers:
            x = transformer_layer(x, padding_mask=padding_mask_input)
        x = self.final_norm(x)
        super().__init__(
            inputs={
                "token_ids": token_id_input,
                "padding_mask": padding_mask_input,
            },
            outputs=x,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.hidden_activation = hidden_activation
        self.global_attn_every_n_layers = global_attn_every_n_layers
        self.local_attention = local_attention
        self.global_rope_theta = global_rope_theta
        self.local_rope_theta = local_rope_theta
        self.layer_norm_epsilon = layer_norm_epsilon
        self.norm_bias = norm_bias
        self.attention_bias = attention_bias
        self.mlp_bias = mlp_bias
        self.embedding_dropout = embedding_dropout
        self.attention_dropout = attention_dropout
        self.mlp_dropout = mlp_dropout

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "hidden_activation": self.hidden_activation,
                "global_attn_every_n_layers": self.global_attn_every_n_layers,
                "local_attention": self.local_attention,
                "global_rope_theta": self.global_rope_theta,
                "local_rope_theta": self.local_rope_theta,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "norm_bias": self.norm_bias,
                "attention_bias": self.attention_bias,
                "mlp_bias": self.mlp_bias,
                "embedding_dropout": self.embedding_dropout,
                "attention_dropout": self.attention_dropout,
                "mlp_dropout": self.mlp_dropout,
            }
        )
        return config


def modernbert_hidden_states(
    backbone, token_ids, padding_mask, extra_embeddings=None, training=None, inputs_embeds=None
):
    """Every hidden state of a `ModernBertBackbone`, as Hugging Face returns.

    Returns `[embeddings_output, layer_1, ..., layer_N]` (`num_layers + 1`
    tensors) like `ModernBertModel(..., output_hidden_states=True)`: the
    last entry is the final-normed output (`last_hidden_state`), the others
    are not normed. `extra_embeddings` (optional, `(batch, length,
    hidden_dim)`) is added to the token embeddings before the embedding
    layer norm, as Hugging Face's `inputs_embeds`. `inputs_embeds`
    (optional, same shape) replaces the token embeddings of `token_ids`.
    """
    x = backbone.token_embedding(token_ids) if inputs_embeds is None else inputs_embeds
    if extra_embeddings is not None:
        x = x + ops.cast(extra_embeddings, x.dtype)
    x = backbone.embeddings_layer_norm(x)
    x = backbone.embeddings_dropout(x, training=training)
    hidden_states = [x]
    for layer in backbone.transformer_layers:
        x = layer(x, padding_mask=padding_mask, training=training)
        hidden_states.append(x)
    hidden_states[-1] = backbone.final_norm(x)
    return hidden_states
