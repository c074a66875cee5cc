"""DeBERTa-v3: every hidden state of a keras-hub `DebertaV3Backbone`, as Hugging Face computes them.

keras-hub's `DebertaV3Backbone` is used as it is; this module runs it layer
by layer (`deberta_v3_hidden_states`) for `BackboneEncoder`.
"""

import keras
from keras import ops

from gliclass_keras.backbones import attention_products
from gliclass_keras.backbones import fused_projections
from gliclass_keras.backbones.hidden_states import input_embeddings
from gliclass_keras.backbones.hidden_states import at_rows
from gliclass_keras.utils.dynamic_shapes import sequence_positions


def _relative_positions(attention, token_ids):
    """Bucketed relative positions `(L, L)`, as keras-hub's `_get_rel_pos`.

    Positions come from the tokens themselves (`sequence_positions`), so the
    sequence length may be a symbolic dimension (ONNX export keeps it dynamic).
    """
    ids = sequence_positions(token_ids)
    rel_pos = ops.expand_dims(ids, 1) - ops.expand_dims(ids, 0)
    return attention._make_log_bucket_position(rel_pos)


def _whole_table_is_smaller(length, span):
    """Whether the `2 * span` table rows are no more than the `2 * length` short reads."""
    return 2 * length >= 2 * span


def _exact_buckets(length, span):
    """Whether every distance in a sequence of `length` tokens is its own bucket (`|d| <= span // 2`)."""
    return length - 1 <= span // 2


def _relative_reads(attention, token_ids, relative_shift=True):
    """Which rows of the relative-position table each pair of tokens reads.

    Returns `(rows, c2p, p2c)`. `rows` `(P, R)` indexes the `2 * bucket_size`
    table (None: the whole table, `P = 1`), giving `P` blocks of `R` rows.
    `c2p` and `p2c` `(L, L)` give, for each query `i` and key `j`, the
    position in the flattened `(L, P, R)` scores of `_deberta_v3_layer`
    (token, block, row) of its content->position and position->content
    score, token outermost (`attention_products.position_scores`); `p2c` is
    already transposed to `[i, j]`. One plain gather per score, whose
    indices are computed once for all layers.

    A sequence of length `L` only reads the buckets of distances
    `-(L - 1) .. L - 1`, and a bucket is never further from 0 than its
    distance, so a short sequence reads two blocks of `L` rows (distances
    `0 .. L - 1` and `-(L - 1) .. 0`) instead of the whole table: for 45
    tokens and DeBERTa-v3's 256 buckets, 90 rows instead of 512. The scores
    are the same; only unread rows are skipped. Two blocks of `L` rows rather
    than one of `2 L - 1`, so that no axis of a new symbolic size appears in
    an exported graph (jax2onnx mislabels such axes).

    When the length is a Python int and the table is no larger than the two
    blocks, the whole table is read, as Hugging Face does. A symbolic length
    (ONNX export) always takes the blocks, which is exact for any length.

    When the length is a Python int no larger than `bucket_size // 2 + 1`,
    every distance is its own bucket, and the scores need no gather at all:
    `rows` are the `2 L - 1` rows of distances `L - 1` down to `-(L - 1)`, and
    `c2p` and `p2c` are None (`_relative_shift` reads the scores). A gather's
    gradient is a scatter-add, which XLA runs slowly on a CPU: on JAX it was
    a tenth of a DeBERTa-v3-small training step. `relative_shift=False`
    keeps the gathers (TensorFlow training: its gather gradients were faster
    there, 1.04 s against 1.12 s per step).
    """
    span = attention.bucket_size
    length = token_ids.shape[1]
    if relative_shift and isinstance(length, int) and _exact_buckets(length, span):
        # Exact buckets: distance d reads row span + d. The rows of distances
        # L - 1 down to -(L - 1), in that order; `_relative_shift` does the rest.
        distances = ops.arange(length - 1, -length, -1, dtype="int32")
        return ops.expand_dims(distances + span, 0), None, None
    bucket = _relative_positions(attention, token_ids)  # (L, L)
    ids = ops.expand_dims(ops.cast(sequence_positions(token_ids), bucket.dtype), 1)  # (L, 1)
    if isinstance(length, int) and _whole_table_is_smaller(length, span):
        c2p = ids * (2 * span) + ops.clip(bucket + span, 0, 2 * span - 1)
        p2c = ids * (2 * span) + ops.clip(span - bucket, 0, 2 * span - 1)
        return None, c2p, ops.transpose(p2c)
    last = ids[-1:]  # L - 1, as a (1, 1) tensor
    size = last + 1
    ahead = ops.clip(ids[:, 0] + span, 0, 2 * span - 1)  # distances 0 .. L - 1
    behind = ops.clip(ids[:, 0] - last[0] + span, 0, 2 * span - 1)  # -(L - 1) .. 0
    rows = ops.stack([ahead, behind])

    def flat(distance):
        # Block 0 holds distance d >= 0 at row d, block 1 distance d < 0 at d + L - 1.
        behind_block = ops.cast(distance < 0, bucket.dtype)
        row = distance + behind_block * last
        return (ids * 2 + behind_block) * size + row

    return rows, flat(bucket), ops.transpose(flat(-bucket))


def _relative_shift(scores, length):
    """`(B, H, L * (2 L - 1))` scores against distances `L - 1 .. -(L - 1)` -> `(B, H, L, L)`.

    Row `i` of the result holds, at column `j`, token `i`'s score against
    distance `i - j`: column `L - 1 - i + j` of its `2 L - 1` scores. In the
    flattened scores that is position `L - 1 + i * (2 L - 2) + j`, so one
    slice and a reshape to rows of `2 L - 2` read them all (the relative
    shift of Transformer-XL).
    """
    batch, heads = ops.shape(scores)[0], ops.shape(scores)[1]
    if length == 1:
        return ops.reshape(scores, (batch, heads, 1, 1))
    width = 2 * length - 2
    shifted = scores[:, :, length - 1 : length - 1 + length * width]
    return ops.reshape(shifted, (batch, heads, length, width))[..., :length]


def _take_relative(scores, index):
    """`(B, H, L * P * R)` scores -> `(B, H, L, L)` at flat `(L, P, R)` positions `index`."""
    return ops.take(scores, index, axis=2)


def _deberta_v3_layer(layer, x, positions, reads, key_mask, training, rows=None):
    """One `DisentangledAttentionEncoder`, from the layer's own sublayers.

    The same computation as keras-hub's layer, except that the relative
    position table is projected once per batch (`positions`: `pos_key`,
    `pos_query` `(P, R, heads, head_dim)`) instead of once per text:
    keras-hub repeats the table along the batch and projects every copy,
    which costs more than the tokens' own projections for short texts. Short
    sequences read only the table rows they need (`reads`, from
    `_relative_reads`). With `rows` (a list of `(B, Q_i)` positions),
    everything after the attention (output projection, norms,
    feed-forward) runs at those positions only, and the output is the list
    of `(B, Q_i, hidden)` states (`at_rows`).
    """
    attention = layer._self_attention_layer
    pos_key, pos_query = positions
    _, c2p_index, p2c_index = reads
    projections = (attention._query_dense, attention._key_dense, attention._value_dense)
    sublayers = projections + (
        attention._output_dense,
        layer._feedforward_intermediate_dense,
        layer._feedforward_output_dense,
    )
    # torch (inference and training) and TensorFlow inference: each projection one fused product
    fused = fused_projections.fusable_for(training, *sublayers)
    if fused:
        query, key, value = fused_projections.fused_projections(x, projections)  # (B, L, H, d)
    else:
        query, key, value = (dense(x) for dense in projections)
    scores = attention_products.attention_scores(query, key)
    if c2p_index is None:
        # Short sequence (`_relative_reads`): `pos_key` rows run from distance
        # L - 1 down to -(L - 1); position-to-content reads them the other way.
        length = query.shape[1]
        c2p = _relative_shift(attention_products.position_scores(query, pos_key), length)
        p2c = attention_products.position_scores(key, ops.flip(pos_query, axis=1))
        p2c = ops.transpose(_relative_shift(p2c, length), (0, 1, 3, 2))
    else:
        c2p = _take_relative(attention_products.position_scores(query, pos_key), c2p_index)
        p2c = _take_relative(attention_products.position_scores(key, pos_query), p2c_index)
    scores = scores + c2p + p2c
    scores = scores * attention.scale_factor
    context = attention_products.softmax_attention(
        scores, value, key_mask, dropout=attention._attn_dropout_layer, training=training
    )
    context = ops.reshape(context, (ops.shape(x)[0], ops.shape(x)[1], attention.hidden_dim))
    run = fused_projections.dense_or_call

    def finish(context, x):
        x = layer._self_attention_layer_norm(
            layer._self_attention_dropout(run(context, attention._output_dense, fused), training=training)
            + x
        )
        residual = x
        x = run(run(x, layer._feedforward_intermediate_dense, fused), layer._feedforward_output_dense, fused)
        x = layer._feedforward_dropout(x, training=training)
        return layer._feedforward_layer_norm(x + residual)

    return at_rows(finish, context, x, rows)


def deberta_v3_hidden_states(
    backbone,
    token_ids,
    padding_mask,
    extra_embeddings=None,
    training=None,
    inputs_embeds=None,
    output_rows=None,
):
    """Hugging Face `DebertaV2Model`'s hidden states (v3 layout) from a `DebertaV3Backbone`.

    `[embeddings_output, layer_1, ..., layer_N]`, as
    `output_hidden_states=True` gives them, on every real (non-padded)
    token; padded positions differ (keras-hub masks padded keys only).
    Arguments as in `gliclass_keras.backbones.hidden_states`:
    `extra_embeddings` is added before the embedding layer norm;
    `output_rows` computes the last layer at those positions only.
    """
    x = input_embeddings(backbone, token_ids, inputs_embeds, extra_embeddings)
    x = backbone.embeddings_layer_norm(x)
    x = backbone.embeddings_dropout(x, training=training)
    relative = backbone.relative_embeddings
    # The table rows each pair of tokens reads, the same for every layer
    # (bucketed relative positions; the whole table for long sequences).
    first_attention = backbone.transformer_layers[0]._self_attention_layer
    reads = _relative_reads(
        first_attention,
        token_ids,
        relative_shift=not (training and keras.config.backend() == "tensorflow"),
    )
    table = ops.convert_to_tensor(relative.rel_embeddings)
    rows = reads[0]
    # (P, R, hidden): one copy of the rows read, for the whole batch.
    table = relative.layer_norm(table[None] if rows is None else ops.take(table, rows, axis=0))
    key_mask = ops.cast(ops.expand_dims(padding_mask, (1, 2)), "bool")
    hidden_states = [x]
    layers = backbone.transformer_layers
    for index, layer in enumerate(layers):
        attention = layer._self_attention_layer
        table_l = attention._position_dropout_layer(table, training=training)
        positions = attention._key_dense(table_l), attention._query_dense(table_l)
        rows = output_rows if index == len(layers) - 1 else None
        x = _deberta_v3_layer(layer, x, positions, reads, key_mask, training, rows=rows)
        hidden_states.append(x)
    return hidden_states
