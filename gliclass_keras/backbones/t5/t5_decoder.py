"""Run the decoder of a keras-hub `T5Backbone` with a causal or a bidirectional self-attention mask."""

import keras_hub
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.backbones.backbone_layer import BackboneLayer
from gliclass_keras.backbones.t5.t5_stack import t5_stack_outputs


@register
class T5Decoder(BackboneLayer):
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
        super().__init__(backbone, **kwargs)
        self.causal = causal

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
        x = t5_stack_outputs(
            backbone.decoder_transformer_layers,
            x,
            padding_mask,
            training=training,
            use_causal_mask=self.causal,
            encoder_states=encoder_states,
            encoder_padding_mask=encoder_padding_mask,
        )[-1]
        x = backbone.decoder_layer_norm(x)
        return backbone.decoder_dropout(x, training=training)

    def compute_output_spec(self, token_ids, *args, **kwargs):
        return self.hidden_state_spec(token_ids)

    def get_config(self):
        config = super().get_config()
        config.update({"causal": self.causal})
        return config
