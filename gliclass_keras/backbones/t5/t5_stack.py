"""Run a keras-hub T5 stack (encoder or decoder layers) layer by layer."""

from keras import ops

from gliclass_keras.backbones.t5.t5_relative_attention import attention_masks_are_arguments
from gliclass_keras.utils.dynamic_shapes import sequence_positions


def first_position_bias(attention, x, padding_mask, use_causal_mask=False):
    """The position bias keras-hub's first T5 layer computes, masks folded in.

    `(batch, heads, length, length)`: the bucketed relative-attention bias of
    `attention` (a stack's first `T5MultiHeadAttention`) plus `-1e9` where a
    query may not see a key (padding, and later keys when causal), the same
    numbers as keras-hub's `compute_bias` path. Positions come from `x`'s own
    axis (`sequence_positions`), so the length can stay symbolic in export.
    """
    positions = sequence_positions(x)
    # relative[q, k] = k - q, as keras-hub's memory - context position.
    relative = ops.expand_dims(positions, 0) - ops.expand_dims(positions, 1)
    buckets = attention._relative_position_bucket(
        relative,
        bidirectional=not attention.is_decoder,
        num_buckets=attention.relative_attention_buckets,
        max_distance=attention.relative_attention_max_distance,
    )
    values = ops.take(attention.relative_attention_bias, buckets, axis=0)  # (L, L, H)
    bias = ops.expand_dims(ops.transpose(values, (2, 0, 1)), 0)
    mask = ops.cast(padding_mask, "bool")[:, None, None, :]
    if use_causal_mask:
        causal = ops.expand_dims(positions, 1) >= ops.expand_dims(positions, 0)
        mask = ops.logical_and(mask, ops.expand_dims(causal, (0, 1)))
    return bias + (1.0 - ops.cast(mask, bias.dtype)) * -1e9


def t5_stack_outputs(
    layers,
    x,
    padding_mask,
    training=None,
    use_causal_mask=False,
    encoder_states=None,
    encoder_padding_mask=None,
):
    """The output of each of a T5 stack's `layers` run in turn on `x`.

    As keras-hub's `T5Backbone` runs its stacks: one relative position bias
    (with the padding and causal masks folded in, `first_position_bias`) is
    shared by every layer, and the
    `(batch, length)` padding masks are passed as `(batch, 1, length)`
    attention masks. Shared by `T5EncoderBackbone`,
    `t5_encoder_hidden_states` and `T5Decoder`.

    Args:
        layers: the stack's `T5TransformerLayer`s.
        x: float tensor `(batch, length, hidden_dim)`, the embedded tokens.
        padding_mask: tensor `(batch, length)`, 1 for real tokens.
        training: bool, whether dropout is active.
        use_causal_mask: bool. Whether self-attention is causal.
        encoder_states: for a decoder stack, float tensor `(batch,
            encoder_length, hidden_dim)` to cross-attend to.
        encoder_padding_mask: for a decoder stack, tensor `(batch,
            encoder_length)`.

    Returns:
        A list of `len(layers)` tensors `(batch, length, hidden_dim)`.

    Example:
    ```python
    outputs = t5_stack_outputs(
        backbone.encoder_transformer_layers,
        backbone.token_embedding(token_ids),
        padding_mask,
    )
    ```
    """
    attention_mask = padding_mask[:, None, :]
    position_bias = first_position_bias(layers[0].self_attention, x, padding_mask, use_causal_mask)
    encoder_attention_mask = None
    if encoder_padding_mask is not None:
        encoder_attention_mask = encoder_padding_mask[:, None, :]
    outputs = []
    with attention_masks_are_arguments():
        for layer in layers:
            x, position_bias = layer(
                x,
                attention_mask=attention_mask,
                position_bias=position_bias,
                encoder_hidden_states=encoder_states,
                encoder_attention_mask=encoder_attention_mask,
                use_causal_mask=use_causal_mask,
                training=training,
            )
            outputs.append(x)
    return outputs
