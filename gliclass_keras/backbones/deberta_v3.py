"""DeBERTa-v3: every hidden state of a keras-hub `DebertaV3Backbone`, as Hugging Face computes them.

keras-hub's `DebertaV3Backbone` is used as it is; this module runs it layer
by layer (`deberta_v3_hidden_states`) for `BackboneEncoder`.
"""

import keras
from keras import ops

from gliclass_keras.backbones.hidden_states import input_embeddings
from gliclass_keras.utils.dynamic_shapes import sequence_positions


def _take_relative(scores, positions):
    """`scores[..., i, positions[i, j]]`: (B, H, L, 2S) -> (B, H, L, L)."""
    shape = ops.shape(scores)
    index = ops.broadcast_to(positions, (shape[0], shape[1], shape[2], shape[2]))
    if keras.config.backend() == "tensorflow":
        # As keras-hub: take_along_axis has a dynamic-shape bug on tensorflow.
        import tensorflow as tf

        return tf.gather(scores, indices=index, batch_dims=3)
    return ops.take_along_axis(scores, index, axis=3)


def _relative_positions(attention, token_ids):
    """Bucketed relative positions `(1, 1, L, L)`, as keras-hub's `_get_rel_pos`.

    Positions come from the tokens themselves (`sequence_positions`), so the
    sequence length may be a symbolic dimension (ONNX export keeps it dynamic).
    """
    ids = sequence_positions(token_ids)
    rel_pos = ops.expand_dims(ids, 1) - ops.expand_dims(ids, 0)
    rel_pos = attention._make_log_bucket_position(rel_pos)
    return ops.expand_dims(ops.expand_dims(rel_pos, 0), 0)


def _deberta_v3_layer(layer, x, pos_key, pos_query, rel_pos, key_mask, training):
    """One `DisentangledAttentionEncoder`, from the layer's own sublayers.

    The same computation as keras-hub's layer, except that the relative
    position table is projected once per batch (`pos_key`, `pos_query`:
    `(2 * bucket_size, heads, head_dim)`) instead of once per text: keras-hub
    repeats the table along the batch and projects every copy, which costs
    more than the tokens' own projections for short texts.
    """
    attention = layer._self_attention_layer
    span = attention.bucket_size
    query = attention._query_dense(x)  # (B, L, H, d)
    key = attention._key_dense(x)
    value = attention._value_dense(x)
    scores = ops.einsum("bjhd,bihd->bhij", key, query)
    c2p = ops.einsum("rhd,bihd->bhir", pos_key, query)
    scores = scores + _take_relative(c2p, ops.clip(rel_pos + span, 0, 2 * span - 1))
    p2c = ops.einsum("rhd,bjhd->bhjr", pos_query, key)
    p2c = _take_relative(p2c, ops.clip(-rel_pos + span, 0, 2 * span - 1))
    scores = (scores + ops.transpose(p2c, (0, 1, 3, 2))) * attention.scale_factor
    # The softmax in float32, as keras-hub's attention does (its Softmax layer
    # is float32): masked keys at -1e9 stay finite under any dtype policy.
    scores = ops.where(key_mask, ops.cast(scores, "float32"), -1e9)
    probs = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
    probs = attention._attn_dropout_layer(probs, training=training)
    context = ops.einsum("bhij,bjhd->bihd", probs, value)
    context = ops.reshape(context, (ops.shape(x)[0], ops.shape(x)[1], attention.hidden_dim))
    x = layer._self_attention_layer_norm(
        layer._self_attention_dropout(attention._output_dense(context), training=training) + x
    )
    residual = x
    x = layer._feedforward_output_dense(layer._feedforward_intermediate_dense(x))
    x = layer._feedforward_dropout(x, training=training)
    return layer._feedforward_layer_norm(x + residual)


def deberta_v3_hidden_states(
    backbone, token_ids, padding_mask, extra_embeddings=None, training=None, inputs_embeds=None
):
    """Hugging Face `DebertaV2Model`'s hidden states (v3 layout) from a `DebertaV3Backbone`.

    `[embeddings_output, layer_1, ..., layer_N]`, as
    `output_hidden_states=True` gives them, on every real (non-padded)
    token; padded positions differ (keras-hub masks padded keys only).
    Arguments as in `gliclass_keras.backbones.hidden_states`:
    `extra_embeddings` is added before the embedding layer norm.
    """
    x = input_embeddings(backbone, token_ids, inputs_embeds, extra_embeddings)
    x = backbone.embeddings_layer_norm(x)
    x = backbone.embeddings_dropout(x, training=training)
    relative = backbone.relative_embeddings
    # (1, 2 * bucket_size, hidden): one copy of the table for the whole batch.
    table = relative.layer_norm(ops.convert_to_tensor(relative.rel_embeddings)[None])
    key_mask = ops.cast(ops.expand_dims(padding_mask, (1, 2)), "bool")
    # Bucketed relative positions (1, 1, L, L), the same for every layer.
    first_attention = backbone.transformer_layers[0]._self_attention_layer
    rel_pos = _relative_positions(first_attention, token_ids)
    hidden_states = [x]
    for layer in backbone.transformer_layers:
        attention = layer._self_attention_layer
        table_l = attention._position_dropout_layer(table, training=training)
        x = _deberta_v3_layer(
            layer,
            x,
            attention._key_dense(table_l)[0],
            attention._query_dense(table_l)[0],
            rel_pos,
            key_mask,
            training,
        )
        hidden_states.append(x)
    return hidden_states
