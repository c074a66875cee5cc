"""Every hidden state of a T5 encoder, as Hugging Face returns them."""

from gliclass_keras.backbones.hidden_states import input_embeddings
from gliclass_keras.backbones.t5.t5_stack import t5_stack_outputs


def t5_encoder_hidden_states(
    backbone, token_ids, padding_mask, extra_embeddings=None, training=None, inputs_embeds=None
):
    """Hugging Face `T5EncoderModel`'s hidden states from a T5 encoder.

    Works on `T5EncoderBackbone` and on the encoder of a keras-hub
    `T5Backbone`. `[embeddings_output, layer_1, ..., layer_N]`, as
    `output_hidden_states=True` gives them: the last entry is the
    final-normed output (`last_hidden_state`), the others are not normed.
    Arguments as in `gliclass_keras.backbones.hidden_states`.
    """
    x = input_embeddings(backbone, token_ids, inputs_embeds, extra_embeddings)
    x = backbone.encoder_embedding_dropout(x, training=training)
    hidden_states = [x] + t5_stack_outputs(
        backbone.encoder_transformer_layers, x, padding_mask, training=training
    )
    x = backbone.encoder_layer_norm(hidden_states[-1])
    hidden_states[-1] = backbone.encoder_dropout(x, training=training)
    return hidden_states
