"""T5 backbones on keras-hub's T5 layers, run layer by layer as Hugging Face does.

* `T5EncoderDecoderBackbone`: keras-hub's `T5Backbone` (one token embedding
  shared by encoder and decoder) with Hugging Face's relative-attention
  settings, which keras-hub hard-codes.
* `T5EncoderBackbone`: the encoder half alone (Hugging Face's
  `T5EncoderModel`), for uni-encoder GLiClass models; keras-hub has no
  encoder-only T5, and a `T5Backbone` would carry a decoder that such a
  model never runs.
* `t5_encoder_hidden_states` and `T5Decoder` run the stacks from their
  sublayers: the encoder's every hidden state, and the decoder with a causal
  or a bidirectional (padding-only) self-attention mask, which the
  encoder-decoder GLiClass needs and keras-hub's functional graph (always
  causal) cannot give.
"""

import contextlib
import warnings

import keras
import keras_hub
from keras import ops
from keras_hub.src.models.t5.t5_layer_norm import T5LayerNorm
from keras_hub.src.models.t5.t5_transformer_layer import T5TransformerLayer

from gliclass_keras.api_export import register

# The defaults, which keras-hub's `T5MultiHeadAttention` hard-codes (every
# published T5 uses them; Hugging Face's `T5Config` makes them settable).
DEFAULT_RELATIVE_ATTENTION_BUCKETS = 32
DEFAULT_RELATIVE_ATTENTION_MAX_DISTANCE = 128


@contextlib.contextmanager
def _attention_masks_are_arguments():
    """Silence Keras' "mask attached" warning for keras-hub's T5 attention.

    keras-hub's `T5MultiHeadAttention` takes its attention mask as a `mask`
    argument, which Keras reads as a propagated Keras mask and, since the
    layer does not support masking, warns about (at construction and at
    every eager call). The mask is used as intended; the warning is noise.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r".*T5MultiHeadAttention\) was passed an input with a mask",
        )
        yield


def _check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive int. Received: {name}={value!r}"
        )


def check_relative_attention(num_buckets, max_distance):
    """Validate Hugging Face's `relative_attention_num_buckets`/`_max_distance`.

    T5's bucketing halves the buckets for the two directions and uses half
    of each half for exact offsets, so `num_buckets` must be a multiple of 4
    and `max_distance` larger than the exact range.
    """
    _check_positive_int("relative_attention_num_buckets", num_buckets)
    _check_positive_int("relative_attention_max_distance", max_distance)
    if num_buckets % 4:
        raise ValueError(
            "`relative_attention_num_buckets` must be a multiple of 4. "
            f"Received: relative_attention_num_buckets={num_buckets}"
        )
    if max_distance <= num_buckets // 2:
        raise ValueError(
            "`relative_attention_max_distance` must be larger than "
            "`relative_attention_num_buckets // 2`. Received: "
            f"relative_attention_max_distance={max_distance}, "
            f"relative_attention_num_buckets={num_buckets}"
        )


def _replace_relative_attention_bias(layer, num_buckets, max_distance):
    """Give the first self-attention of a T5 stack its bucket settings and table.

    keras-hub's `T5MultiHeadAttention` hard-codes 32 buckets and a distance
    of 128, and creates its bias table in `__init__`, outside any name
    scope: both stacks of a `T5Backbone` get the variable path
    `self_attention/embeddings`, which is not unique (the optimizer's
    parameter groups are keyed by path). The table is replaced by one of
    `num_buckets` rows under the layer's own scope
    (`transformer_encoder_layer_0/self_attention/embeddings`); the bucket
    settings are plain attributes that `compute_bias` reads at call time.
    Works on a built or an unbuilt layer.
    """
    attention = layer.self_attention
    attention.relative_attention_buckets = num_buckets
    attention.relative_attention_max_distance = max_distance
    attention._untrack_variable(attention.relative_attention_bias)
    locked = attention._tracker.locked
    attention._tracker.unlock()
    with keras.name_scope(layer.name):
        attention.relative_attention_bias = attention.add_weight(
            name="embeddings",
            shape=(num_buckets, attention.num_heads),
            initializer=keras.initializers.RandomNormal(
                mean=0, stddev=attention.inner_dim**-0.5
            ),
        )
    if locked:
        attention._tracker.lock()


def _refresh_torch_parameters(model):
    """On torch, re-mirror variables into built layers' `torch.nn` parameters.

    Keras' torch layers copy their variables into a `ParameterDict` when
    built; after `_replace_relative_attention_bias` on a built backbone,
    those of the enclosing layers still hold the old table.
    """
    if keras.config.backend() != "torch":
        return
    for layer in model._flatten_layers(include_self=True):
        if hasattr(layer, "_torch_params"):
            layer._track_variables()


@register
class T5EncoderDecoderBackbone(keras_hub.models.T5Backbone):
    """keras-hub's `T5Backbone` with Hugging Face's relative attention settings.

    `keras_hub.models.T5Backbone` hard-codes 32 relative-position buckets
    and a maximum distance of 128 (the values of every published T5);
    Hugging Face's `T5Config` makes both configurable
    (`relative_attention_num_buckets`, `relative_attention_max_distance`).
    This subclass gives the first self-attention of each stack a bias table
    of `relative_attention_num_buckets` rows and the configured bucketing,
    so the choice is part of the config and survives `get_config()`/
    `from_config()` and `.keras` save/load. Doing so also gives the two
    tables distinct variable paths (keras-hub names both
    `self_attention/embeddings`). Inputs, outputs and the other arguments
    are `T5Backbone`'s. The token embedding is the one table shared by
    encoder and decoder; `tie_embedding_weights` must stay `True` (it only
    ties the language-model head, which GLiClass never uses, to that table;
    `False` would add an unused head).

    Args:
        relative_attention_num_buckets: int. The number of relative-position
            buckets, a multiple of 4. Defaults to `32`.
        relative_attention_max_distance: int. Relative distances from this
            one on share the last bucket. Defaults to `128`.
        **kwargs: the arguments of `keras_hub.models.T5Backbone`.

    Example:
    ```python
    backbone = T5EncoderDecoderBackbone(
        vocabulary_size=100,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        key_value_dim=16,
        use_gated_activation=False,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
    )
    outputs = backbone(
        {
            "encoder_token_ids": np.ones((1, 8), "int32"),
            "encoder_padding_mask": np.ones((1, 8), "int32"),
            "decoder_token_ids": np.ones((1, 4), "int32"),
            "decoder_padding_mask": np.ones((1, 4), "int32"),
        }
    )
    outputs["decoder_sequence_output"].shape  # (1, 4, 32)
    ```
    """

    def __init__(
        self,
        *args,
        relative_attention_num_buckets=DEFAULT_RELATIVE_ATTENTION_BUCKETS,
        relative_attention_max_distance=DEFAULT_RELATIVE_ATTENTION_MAX_DISTANCE,
        **kwargs,
    ):
        check_relative_attention(
            relative_attention_num_buckets, relative_attention_max_distance
        )
        if not kwargs.get("tie_embedding_weights", True):
            raise ValueError(
                "`tie_embedding_weights` must be True: the language-model head "
                "is not used, and an untied one would be an unused weight."
            )
        with _attention_masks_are_arguments():
            super().__init__(*args, **kwargs)
        for layers in (
            self.encoder_transformer_layers,
            self.decoder_transformer_layers,
        ):
            _replace_relative_attention_bias(
                layers[0],
                relative_attention_num_buckets,
                relative_attention_max_distance,
            )
        _refresh_torch_parameters(self)

        # === Config ===
        self.relative_attention_num_buckets = relative_attention_num_buckets
        self.relative_attention_max_distance = relative_attention_max_distance

    def call(self, *args, **kwargs):
        with _attention_masks_are_arguments():
            return super().call(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "relative_attention_num_buckets": (
                    self.relative_attention_num_buckets
                ),
                "relative_attention_max_distance": (
                    self.relative_attention_max_distance
                ),
            }
        )
        return config


@register
class T5EncoderBackbone(keras_hub.models.Backbone):
    """The encoder of T5, like Hugging Face's `T5EncoderModel`.

    Token embeddings (no position embeddings), `num_layers` pre-norm
    transformer layers with T5's relative position bias (computed by the
    first layer, shared by the others), an RMS layer norm and dropout. The
    layers and their attribute names are keras-hub's `T5Backbone`'s
    encoder half, so the same code runs both (`t5_encoder_hidden_states`)
    and the same converter fills both; there is no decoder. Padded keys are
    masked; outputs at padded positions are finite and meaningless.

    Args:
        vocabulary_size: int. The size of the token vocabulary.
        num_layers: int. The number of transformer layers.
        num_heads: int. The number of attention heads of each layer.
        hidden_dim: int. The hidden size (Hugging Face `d_model`).
        intermediate_dim: int. The width of the feed-forward layer
            (`d_ff`).
        key_value_dim: int. The size of each attention head (`d_kv`).
            Defaults to `hidden_dim // num_heads`.
        dropout: float. Dropout probability (`dropout_rate`). Defaults to
            `0.1`.
        activation: string or callable. The feed-forward activation.
            Defaults to `"relu"`.
        use_gated_activation: bool. Whether the feed-forward layer is gated
            (Hugging Face's `"gated-*"` `feed_forward_proj`). Defaults to
            `True`, as keras-hub's `T5Backbone`.
        layer_norm_epsilon: float. Defaults to `1e-6`.
        relative_attention_num_buckets: int. The number of relative-position
            buckets, a multiple of 4. Defaults to `32`.
        relative_attention_max_distance: int. Relative distances from this
            one on share the last bucket. Defaults to `128`.
        dtype: string or `keras.DTypePolicy`. The dtype policy of the layers.
        **kwargs: other `keras.Model` arguments (`name`, `trainable`).

    Example:
    ```python
    backbone = T5EncoderBackbone(
        vocabulary_size=100,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        use_gated_activation=False,
    )
    backbone(
        {
            "token_ids": np.ones((1, 8), "int32"),
            "padding_mask": np.ones((1, 8), "int32"),
        }
    ).shape  # (1, 8, 32)
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        key_value_dim=None,
        dropout=0.1,
        activation="relu",
        use_gated_activation=True,
        layer_norm_epsilon=1e-6,
        relative_attention_num_buckets=DEFAULT_RELATIVE_ATTENTION_BUCKETS,
        relative_attention_max_distance=DEFAULT_RELATIVE_ATTENTION_MAX_DISTANCE,
        dtype=None,
        **kwargs,
    ):
        for name, value in (
            ("vocabulary_size", vocabulary_size),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("hidden_dim", hidden_dim),
            ("intermediate_dim", intermediate_dim),
        ):
            _check_positive_int(name, value)
        if key_value_dim is not None:
            _check_positive_int("key_value_dim", key_value_dim)
        check_relative_attention(
            relative_attention_num_buckets, relative_attention_max_distance
        )

        # === Layers ===
        self.token_embedding = keras.layers.Embedding(
            input_dim=vocabulary_size,
            output_dim=hidden_dim,
            embeddings_initializer=keras.initializers.TruncatedNormal(1.0),
            dtype=dtype,
            name="token_embedding",
        )
        self.encoder_embedding_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="encoder_embedding_dropout"
        )
        self.encoder_transformer_layers = []
        for i in range(num_layers):
            layer = T5TransformerLayer(
                is_decoder=False,
                hidden_dim=hidden_dim,
                intermediate_dim=intermediate_dim,
                key_value_dim=key_value_dim or hidden_dim // num_heads,
                dropout=dropout,
                activation=activation,
                layer_norm_epsilon=layer_norm_epsilon,
                num_heads=num_heads,
                use_gated_activation=use_gated_activation,
                use_relative_attention_bias=bool(i == 0),
                dtype=dtype,
                name=f"transformer_encoder_layer_{i}",
            )
            self.encoder_transformer_layers.append(layer)
        _replace_relative_attention_bias(
            self.encoder_transformer_layers[0],
            relative_attention_num_buckets,
            relative_attention_max_distance,
        )
        self.encoder_layer_norm = T5LayerNorm(
            epsilon=layer_norm_epsilon,
            dtype=dtype,
            name="encoder_output_layer_norm",
        )
        self.encoder_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="encoder_output_dropout"
        )

        # === Functional Model ===
        token_id_input = keras.Input(
            shape=(None,), dtype="int32", name="token_ids"
        )
        padding_mask_input = keras.Input(
            shape=(None,), dtype="int32", name="padding_mask"
        )
        x = self.token_embedding(token_id_input)
        x = self.encoder_embedding_dropout(x)
        attention_mask = padding_mask_input[:, None, :]
        position_bias = None
        with _attention_masks_are_arguments():
            for transformer_layer in self.encoder_transformer_layers:
                x, position_bias = transformer_layer(
                    x,
                    attention_mask=attention_mask,
                    position_bias=position_bias,
                    use_causal_mask=False,
                )
        x = self.encoder_layer_norm(x)
        x = self.encoder_dropout(x)
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
        self.key_value_dim = key_value_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.use_gated_activation = use_gated_activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.relative_attention_num_buckets = relative_attention_num_buckets
        self.relative_attention_max_distance = relative_attention_max_distance

    def call(self, *args, **kwargs):
        with _attention_masks_are_arguments():
            return super().call(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "key_value_dim": self.key_value_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "use_gated_activation": self.use_gated_activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "relative_attention_num_buckets": (
                    self.relative_attention_num_buckets
                ),
                "relative_attention_max_distance": (
                    self.relative_attention_max_distance
                ),
            }
        )
        return config


def t5_encoder_hidden_states(
    backbone, token_ids, padding_mask, extra_embeddings=None, training=None
):
    """Every hidden state of a T5 encoder, as Hugging Face returns them.

    Works on `T5EncoderBackbone` and on the encoder of a keras-hub
    `T5Backbone`. Returns `[embeddings_output, layer_1, ..., layer_N]`
    (`num_layers + 1` tensors) like `T5EncoderModel(...,
    output_hidden_states=True)`: the last entry is the final-normed output
    (`last_hidden_state`), the others are not normed. `extra_embeddings`
    (optional, `(batch, length, hidden_dim)`) is added to the token
    embeddings, as Hugging Face's `inputs_embeds`.
    """
    x = backbone.token_embedding(token_ids)
    if extra_embeddings is not None:
        x = x + ops.cast(extra_embeddings, x.dtype)
    x = backbone.encoder_embedding_dropout(x, training=training)
    attention_mask = padding_mask[:, None, :]
    hidden_states = [x]
    position_bias = None
    with _attention_masks_are_arguments():
        for layer in backbone.encoder_transformer_layers:
            x, position_bias = layer(
                x,
                attention_mask=attention_mask,
                position_bias=position_bias,
                use_causal_mask=False,
                training=training,
            )
            hidden_states.append(x)
    x = backbone.encoder_layer_norm(x)
    hidden_states[-1] = backbone.encoder_dropout(x, training=training)
    return hidden_states


@register
class T5Decoder(keras.layers.Layer):
    """Runs the decoder of a keras-hub `T5Backbone` with a chosen self-attention mask.

    Computes what Hugging Face's `T5Model` decoder computes: the shared
    token embedding, every decoder layer (self-attention, cross-attention
    to `encoder_states`, feed-forward) and the final layer norm. With
    `causal=True` each token attends to itself and the real tokens before
    it (an ordinary decoder); with `causal=False` to every real token of the
    row, as the reference's encoder-decoder GLiClass makes it with a 4-D
    padding-only mask. The relative position buckets stay the decoder's
    (one-directional) either way, as in Hugging Face. The layer has no
    variables of its own: its weights are the backbone's.

    Args:
        backbone: a `keras_hub.models.T5Backbone` (e.g.
            `T5EncoderDecoderBackbone`).
        causal: bool. Whether self-attention is causal. Defaults to `True`.
        **kwargs: other `keras.layers.Layer` arguments. `dtype` defaults to
            the backbone's dtype policy.

    Call arguments:
        token_ids: int tensor `(batch, length)`.
        padding_mask: tensor `(batch, length)`, 1 for real tokens.
        encoder_states: float tensor `(batch, encoder_length, hidden_dim)`.
        encoder_padding_mask: tensor `(batch, encoder_length)`.
        training: bool, whether dropout is active.

    Returns:
        The decoder's last hidden state, `(batch, length, hidden_dim)`.

    Example:
    ```python
    decoder = T5Decoder(backbone, causal=False)
    states = decoder(
        np.ones((1, 4), "int32"), np.ones((1, 4), "int32"),
        np.random.rand(1, 8, 32).astype("float32"), np.ones((1, 8), "int32"),
    )
    ```
    """

    def __init__(self, backbone, causal=True, **kwargs):
        if not isinstance(backbone, keras_hub.models.T5Backbone):
            raise TypeError(
                "`backbone` must be a keras_hub.models.T5Backbone. "
                f"Received: backbone={type(backbone).__name__}"
            )
        if not isinstance(causal, bool):
            raise TypeError(f"`causal` must be a bool. Received: causal={causal!r}")
        kwargs.setdefault("dtype", backbone.dtype_policy)
        super().__init__(**kwargs)
        self.backbone = backbone
        self.causal = causal

    def build(
        self,
        token_ids_shape,
        padding_mask_shape=None,
        encoder_states_shape=None,
        encoder_padding_mask_shape=None,
    ):
        # The backbone is a functional model, built at construction.
        self.built = True

    def call(
        self,
        token_ids,
        padding_mask,
        encoder_states,
        encoder_padding_mask,
        training=None,
    ):
        backbone = self.backbone
        x = backbone.token_embedding(ops.cast(token_ids, "int32"))
        x = backbone.decoder_embedding_dropout(x, training=training)
        attention_mask = padding_mask[:, None, :]
        encoder_attention_mask = encoder_padding_mask[:, None, :]
        position_bias = None
        with _attention_masks_are_arguments():
            for layer in backbone.decoder_transformer_layers:
                x, position_bias = layer(
                    x,
                    attention_mask=attention_mask,
                    position_bias=position_bias,
                    encoder_hidden_states=encoder_states,
                    encoder_attention_mask=encoder_attention_mask,
                    use_causal_mask=self.causal,
                    training=training,
                )
        x = backbone.decoder_layer_norm(x)
        return backbone.decoder_dropout(x, training=training)

    def compute_output_spec(
        self,
        token_ids,
        padding_mask,
        encoder_states,
        encoder_padding_mask,
        training=None,
    ):
        shape = tuple(token_ids.shape[:2]) + (self.backbone.hidden_dim,)
        return keras.KerasTensor(shape, dtype=self.backbone.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "causal": self.causal,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["backbone"], dict):
            config["backbone"] = keras.saving.deserialize_keras_object(
                config["backbone"]
            )
        return cls(**config)
