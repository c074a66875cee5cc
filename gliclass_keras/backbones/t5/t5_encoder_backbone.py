"""T5 encoder: the encoder half of T5 alone, like Hugging Face's `T5EncoderModel`."""

import keras
from keras_hub.src.models.t5.t5_layer_norm import T5LayerNorm
from keras_hub.src.models.t5.t5_transformer_layer import T5TransformerLayer

from gliclass_keras.api_export import register
from gliclass_keras.backbones.t5.t5_relative_attention import DEFAULT_RELATIVE_ATTENTION_BUCKETS
from gliclass_keras.backbones.t5.t5_relative_attention import (
    DEFAULT_RELATIVE_ATTENTION_MAX_DISTANCE,
)
from gliclass_keras.backbones.t5.t5_relative_attention import T5RelativeAttentionMixin
from gliclass_keras.backbones.t5.t5_relative_attention import check_relative_attention
from gliclass_keras.backbones.t5.t5_relative_attention import replace_relative_attention_bias
from gliclass_keras.backbones.t5.t5_stack import t5_stack_outputs
from gliclass_keras.backbones.text_encoder_backbone import TextEncoderBackbone
from gliclass_keras.utils.validation import check_positive_int


@register
class T5EncoderBackbone(T5RelativeAttentionMixin, TextEncoderBackbone):
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
        sizes = {
            "vocabulary_size": vocabulary_size,
            "num_layers": num_layers,
            "num_heads": num_heads,
            "hidden_dim": hidden_dim,
            "intermediate_dim": intermediate_dim,
        }
        self.check_sizes(**sizes)
        if key_value_dim is not None:
            check_positive_int("key_value_dim", key_value_dim)
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
        replace_relative_attention_bias(
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
        inputs = self.functional_inputs()
        x = self.token_embedding(inputs["token_ids"])
        x = self.encoder_embedding_dropout(x)
        x = t5_stack_outputs(self.encoder_transformer_layers, x, inputs["padding_mask"])[-1]
        x = self.encoder_layer_norm(x)
        x = self.encoder_dropout(x)
        super().__init__(inputs, x, **sizes, dtype=dtype, **kwargs)
        self.set_relative_attention(
            relative_attention_num_buckets, relative_attention_max_distance
        )

        # === Config ===
        self.key_value_dim = key_value_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.use_gated_activation = use_gated_activation
        self.layer_norm_epsilon = layer_norm_epsilon

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "key_value_dim": self.key_value_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "use_gated_activation": self.use_gated_activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
