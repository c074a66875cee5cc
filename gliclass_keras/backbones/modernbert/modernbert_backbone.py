"""ModernBERT encoder backbone (Warner et al., 2024) for Keras 3."""

import keras

from gliclass_keras.api_export import register
from gliclass_keras.backbones.modernbert.modernbert_encoder_layer import (
    ModernBertEncoderLayer,
)
from gliclass_keras.backbones.text_encoder_backbone import TextEncoderBackbone
from gliclass_keras.utils.activations import BACKBONE_ACTIVATIONS
from gliclass_keras.utils.validation import check_choice
from gliclass_keras.utils.validation import check_rate


def modernbert_kernel_initializer(stddev=0.02):
    return keras.initializers.TruncatedNormal(stddev=stddev)


@register
class ModernBertBackbone(TextEncoderBackbone):
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
    `gliclass_keras.convert.transformers.backbone_from_hf_config` and
    `load_hf_backbone_weights` to build one from a Hugging Face checkpoint.
    For every layer's hidden states (what Hugging Face returns with
    `output_hidden_states=True`) use `modernbert_hidden_states` (or
    `gliclass_keras.backbones.backbone_encoder.BackboneEncoder`).

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
        sizes = {
            "vocabulary_size": vocabulary_size,
            "num_layers": num_layers,
            "num_heads": num_heads,
            "hidden_dim": hidden_dim,
            "intermediate_dim": intermediate_dim,
        }
        self.check_sizes(
            **sizes,
            global_attn_every_n_layers=global_attn_every_n_layers,
            local_attention=local_attention,
        )
        if hidden_dim % num_heads or (hidden_dim // num_heads) % 2:
            raise ValueError(
                "`hidden_dim` must be a multiple of `num_heads` with an even "
                f"head size (for rotary embeddings). Received: "
                f"hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        check_choice("hidden_activation", hidden_activation, BACKBONE_ACTIVATIONS)
        check_rate("embedding_dropout", embedding_dropout)

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
        inputs = self.functional_inputs()
        x = self.token_embedding(inputs["token_ids"])
        x = self.embeddings_layer_norm(x)
        x = self.embeddings_dropout(x)
        for transformer_layer in self.transformer_layers:
            x = transformer_layer(x, padding_mask=inputs["padding_mask"])
        x = self.final_norm(x)
        super().__init__(inputs, x, **sizes, dtype=dtype, **kwargs)

        # === Config ===
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
