"""Every hidden state of a `ModernBertBackbone`, as Hugging Face returns them."""

from gliclass_keras.backbones.hidden_states import input_embeddings
from gliclass_keras.backbones.hidden_states import transformer_hidden_states


def modernbert_hidden_states(
    backbone, token_ids, padding_mask, extra_embeddings=None, training=None, inputs_embeds=None
):
    """Every hidden state of a `ModernBertBackbone`, as Hugging Face returns them.

    Returns `[embeddings_output, layer_1, ..., layer_N]` (`num_layers + 1`
    tensors) like `ModernBertModel(..., output_hidden_states=True)`: the
    last entry is the final-normed output (`last_hidden_state`), the others
    are not normed. `extra_embeddings` (optional, `(batch, length,
    hidden_dim)`) is added to the token embeddings before the embedding
    layer norm, as Hugging Face's `inputs_embeds`. `inputs_embeds`
    (optional, same shape) replaces the token embeddings of `token_ids`.

    Example:
    ```python
    hidden_states = modernbert_hidden_states(backbone, token_ids, padding_mask)
    len(hidden_states)  # backbone.num_layers + 1
    ```
    """
    x = input_embeddings(backbone, token_ids, inputs_embeds, extra_embeddings)
    x = backbone.embeddings_layer_norm(x)
    x = backbone.embeddings_dropout(x, training=training)
    hidden_states = transformer_hidden_states(
        backbone.transformer_layers, x, padding_mask, training
    )
    hidden_states[-1] = backbone.final_norm(hidden_states[-1])
    return hidden_states
