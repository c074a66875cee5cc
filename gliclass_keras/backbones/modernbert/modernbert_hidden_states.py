"""Every hidden state of a `ModernBertBackbone`, as Hugging Face returns them."""

from gliclass_keras.backbones.hidden_states import input_embeddings
from gliclass_keras.backbones.hidden_states import transformer_hidden_states


def modernbert_hidden_states(
    backbone,
    token_ids,
    padding_mask,
    extra_embeddings=None,
    training=None,
    inputs_embeds=None,
    output_rows=None,
):
    """Hugging Face `ModernBertModel`'s hidden states from a `ModernBertBackbone`.

    `[embeddings_output, layer_1, ..., layer_N]`, as
    `output_hidden_states=True` gives them: the last entry is the
    final-normed output (`last_hidden_state`), the others are not normed.
    Arguments as in `gliclass_keras.backbones.hidden_states`:
    `extra_embeddings` is added before the embedding layer norm;
    `output_rows` computes the last layer at those positions only.
    """
    x = input_embeddings(backbone, token_ids, inputs_embeds, extra_embeddings)
    x = backbone.embeddings_layer_norm(x)
    x = backbone.embeddings_dropout(x, training=training)
    hidden_states = transformer_hidden_states(
        backbone.transformer_layers, x, padding_mask, training, output_rows=output_rows
    )
    last = hidden_states[-1]
    if output_rows is None:
        hidden_states[-1] = backbone.final_norm(last)
    else:
        hidden_states[-1] = [backbone.final_norm(rows) for rows in last]
    return hidden_states
