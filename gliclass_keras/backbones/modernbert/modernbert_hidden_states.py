"""Every hidden state of a `ModernBertBackbone`, as Hugging Face returns them."""

from gliclass_keras.backbones.hidden_states import input_embeddings
from gliclass_keras.backbones.hidden_states import transformer_hidden_states


def modernbert_hidden_states(
    backbone, token_ids, padding_mask, extra_embeddings=None, training=None, inputs_embeds=None
):
    """Hugging Face `ModernBertModel`'s hidden states from a `ModernBertBackbone`.

    `[embeddings_output, layer_1, ..., layer_N]`, as
    `output_hidden_states=True` gives them: the last entry is the
    final-normed output (`last_hidden_state`), the others are not normed.
    Arguments as in `gliclass_keras.backbones.hidden_states`:
    `extra_embeddings` is added before the embedding layer norm.
    """
    x = input_embeddings(backbone, token_ids, inputs_embeds, extra_embeddings)
    x = backbone.embeddings_layer_norm(x)
    x = backbone.embeddings_dropout(x, training=training)
    hidden_states = transformer_hidden_states(
        backbone.transformer_layers, x, padding_mask, training
    )
    hidden_states[-1] = backbone.final_norm(hidden_states[-1])
    return hidden_states
