"""What every family's hidden-states function shares: the input embeddings and the layer loop.

A hidden-states function (`bert_hidden_states`, `deberta_v3_hidden_states`,
`modernbert_hidden_states`, `t5_encoder_hidden_states`) runs a backbone from
its own sublayers and returns `[embeddings_output, layer_1, ..., layer_N]`
(`num_layers + 1` tensors `(batch, length, hidden_dim)`), like Hugging
Face's `output_hidden_states=True`. Its signature is `fn(backbone,
token_ids, padding_mask, extra_embeddings=None, training=None,
inputs_embeds=None)`:

* `token_ids`: int tensor `(batch, length)`; `padding_mask`: `(batch,
  length)`, 1 for real tokens; `training`: whether dropout is active.
* `inputs_embeds`: optional float tensor `(batch, length, hidden_dim)` used
  instead of the token embeddings of `token_ids` (Hugging Face's argument
  of that name).
* `extra_embeddings`: optional float tensor of the same shape added to
  whichever is used, before anything else the family adds.

`BackboneEncoder` picks the function of a backbone's family.

Example:
```python
def my_hidden_states(backbone, token_ids, padding_mask, extra_embeddings=None,
                     training=None, inputs_embeds=None):
    x = input_embeddings(backbone, token_ids, inputs_embeds, extra_embeddings)
    return transformer_hidden_states(
        backbone.transformer_layers, x, padding_mask, training
    )
```
"""

from keras import ops


def input_embeddings(backbone, token_ids, inputs_embeds=None, extra_embeddings=None):
    """Hugging Face's `inputs_embeds` (default: the token embeddings) plus `extra_embeddings`.

    Args:
        backbone: a keras-hub backbone with a `token_embedding` layer.
        token_ids: int tensor `(batch, length)`.
        inputs_embeds: optional float tensor `(batch, length, hidden_dim)`
            used instead of `backbone.token_embedding(token_ids)`.
        extra_embeddings: optional float tensor `(batch, length, hidden_dim)`
            added to them (cast to their dtype).
    """
    x = backbone.token_embedding(token_ids) if inputs_embeds is None else inputs_embeds
    if extra_embeddings is not None:
        x = x + ops.cast(extra_embeddings, x.dtype)
    return x


def transformer_hidden_states(layers, x, padding_mask, training):
    """`[x, layer_1(x), ..., layer_N(...)]`: `x` and the output of each of `layers` in turn.

    Each layer is called as `layer(x, padding_mask=padding_mask,
    training=training)` (keras-hub's encoder layers, `ModernBertEncoderLayer`).
    """
    hidden_states = [x]
    for layer in layers:
        x = layer(x, padding_mask=padding_mask, training=training)
        hidden_states.append(x)
    return hidden_states
