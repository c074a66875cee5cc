"""Run a keras-hub T5 stack (encoder or decoder layers) layer by layer."""

from gliclass_keras.backbones.t5.t5_relative_attention import attention_masks_are_arguments


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

    As keras-hub's `T5Backbone` runs its stacks: the first layer computes the
    relative position bias and every later layer reuses it, and the
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
    encoder_attention_mask = None
    if encoder_padding_mask is not None:
        encoder_attention_mask = encoder_padding_mask[:, None, :]
    outputs = []
    position_bias = None
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
