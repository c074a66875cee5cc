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

Families in `BackboneEncoder.ROWS_FNS` also take `output_rows`: a list of
int tensors `(batch, rows_i)` of positions. The last layer then computes its
output only at those positions (its attention still reads every token), and
the last hidden state is the list of `(batch, rows_i, hidden_dim)` tensors:
`take_rows` of the whole one, at a fraction of the last layer's cost. A
head that reads a few positions of the last layer (the text's first token,
a `<<LABEL>>` token per label) uses it. Several row sets rather than one
concatenation keep every axis of an exported graph one of the inputs' own
(jax2onnx mislabels an axis of a new symbolic size such as `labels + 1`);
when the sets' sizes are known, `at_rows` joins them inside the layer.

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

from gliclass_keras.utils.dynamic_shapes import sequence_positions


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


def take_rows(x, rows):
    """`x[b, rows[b, q]]`: `(batch, length, ...)` states at `(batch, rows)` positions.

    `x` has one or two trailing axes (`(batch, length, dim)`, or per-head
    `(batch, length, heads, head_dim)`).

    A product with a one-hot selection rather than a gather: the values are
    the same (one term per output), and its gradient is a product as well,
    where a gather's is a scatter-add (slow under XLA on a CPU).

    Example:
    ```python
    x = np.arange(12.0).reshape(1, 4, 3)
    take_rows(x, np.array([[3, 0]]))  # [[[9, 10, 11], [0, 1, 2]]]
    ```
    """
    positions = sequence_positions(x)  # (L,), on x's own axis
    select = ops.equal(ops.expand_dims(ops.cast(rows, "int32"), -1), positions)  # (B, Q, L)
    equation = "bql,bld->bqd" if len(x.shape) == 3 else "bql,blhd->bqhd"
    return ops.einsum(equation, ops.cast(select, x.dtype), x)


def at_rows(finish, context, x, rows):
    """`finish(context, x)`, or, with `rows`, a list of it at each row set.

    The per-token rest of a transformer layer (`finish`: output projection,
    residual, norms, feed-forward) after its attention (`context`, `x`:
    `(batch, length, ...)`), computed at the positions `take_rows` reads.
    """
    if rows is None:
        return finish(context, x)
    sizes = [r.shape[1] for r in rows]
    if len(rows) == 1 or not all(isinstance(size, int) for size in sizes):
        # One `finish` per row set: an axis joining sets of symbolic sizes
        # (`labels + 1`, in export) is one jax2onnx mislabels.
        return [finish(take_rows(context, r), take_rows(x, r)) for r in rows]
    # Sizes known: one `finish` over every row set (one copy of the layer
    # to compile: a jax first call compiled 1-2 s longer with one per set),
    # each set's states then read back from the joined rows.
    joined = ops.concatenate(rows, axis=1)
    out = finish(take_rows(context, joined), take_rows(x, joined))
    outputs, start = [], 0
    for size in sizes:
        outputs.append(out[:, start : start + size])
        start += size
    return outputs


def transformer_hidden_states(layers, x, padding_mask, training, output_rows=None):
    """`[x, layer_1(x), ..., layer_N(...)]`: `x` and the output of each of `layers` in turn.

    Each layer is called as `layer(x, padding_mask=padding_mask,
    training=training)` (keras-hub's encoder layers, `ModernBertEncoderLayer`).
    With `output_rows` (a list of `(batch, rows_i)` positions), the last
    output is the list of its states at those positions (`take_rows`); a
    layer with `computes_rows` computes only them.
    """
    hidden_states = [x]
    for index, layer in enumerate(layers):
        last = index == len(layers) - 1
        if last and output_rows is not None and getattr(layer, "computes_rows", False):
            x = layer(x, padding_mask=padding_mask, training=training, output_rows=output_rows)
        else:
            x = layer(x, padding_mask=padding_mask, training=training)
            if last and output_rows is not None:
                x = [take_rows(x, rows) for rows in output_rows]
        hidden_states.append(x)
    return hidden_states
