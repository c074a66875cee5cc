"""Sequence packing: several short texts in one row of fixed length, framework-free.

A compiled backend (JAX, TensorFlow with XLA) compiles the text encoder once
per input shape, and pads every batch up to a bucketed length
(`gliclass_keras.utils.shapes`). A job of many short texts of varied lengths
(tweets, reviews, titles) then compiles five or more shapes and spends a
quarter of its work on padding. Packed, the texts share rows of one length:
each text keeps its own positions (counted from 0) and attends only to its
own tokens (`segment_ids`), and each text's vector is read back with the
pooling weights of its own tokens, so every text is encoded exactly as it
would be alone. One shape is compiled for the whole job and almost no
padding is computed.

Packing is exact for poolers that are a weighted sum of the token states
(`PACKABLE_POOLING`) on backbones whose attention can be restricted to a
segment (`BackboneEncoder.supports_packing`). `GLiClassBiEncoderClassifier`
packs the texts of `classify`, `predict_scores` and `encode_texts` on
compiled backends when a call has more texts than `batch_size`.

Example:

```python
sequences = [[101, 7, 102], [101, 8, 9, 102], [101, 5, 6, 7, 8, 102]]
for arrays, placements in packed_batches(sequences, batch_size=2, pooling="avg"):
    arrays["token_ids"].shape     # (2, 16): two rows of 16 tokens
    placements                    # [(sequence index, row, slot), ...]
```
"""

import numpy as np

from gliclass_keras.utils import shapes

# Poolers whose text vector is a fixed weighting of the text's token states.
PACKABLE_POOLING = ("first", "last", "avg", "sum")
# The shortest packed row.
MIN_ROW_LENGTH = 64
# Texts in a row are read out through this many slots at least (then
# multiples of it), so the slot axis, too, takes few shapes.
SLOT_MULTIPLE = 8


def packed_row_length(lengths):
    """The row length for packing sequences of these `lengths`.

    Twice the median length, bucketed, and at least `MIN_ROW_LENGTH`: a row
    holds a few typical texts, and attention over a row (which grows with
    its length squared) stays a small part of the work. Longer sequences go
    to rows of their own length (`packed_batches`).
    """
    if not lengths:
        raise ValueError("`lengths` must not be empty.")
    return max(MIN_ROW_LENGTH, shapes.bucket_length(2 * int(np.median(lengths))))


def pack_sequences(lengths, row_length, longer_than=0):
    """First-fit decreasing: lists of sequence indices whose lengths fill rows of `row_length`.

    Every index whose length is above `longer_than` and at most `row_length`
    is placed in exactly one row; the others are left out (the caller places
    them). Rows come in the order they were opened (longest first sequences
    first).
    """
    order = sorted(
        (i for i, n in enumerate(lengths) if longer_than < n <= row_length),
        key=lambda i: (-lengths[i], i),
    )
    rows, free = [], []
    for i in order:
        n = lengths[i]
        for r, room in enumerate(free):
            if room >= n:
                rows[r].append(i)
                free[r] -= n
                break
        else:
            rows.append([i])
            free.append(row_length - n)
    return rows


def _check_pooling(pooling):
    if pooling not in PACKABLE_POOLING:
        raise ValueError(
            f"`pooling` must be one of {PACKABLE_POOLING} to pack texts. Received: {pooling!r}"
        )


def pooling_weights(strategy, length):
    """`(length,)` float32 weights of a text's token states for pooler `strategy`."""
    _check_pooling(strategy)
    weights = np.zeros((length,), "float32")
    if strategy == "first":
        weights[0] = 1.0
    elif strategy == "last":
        weights[-1] = 1.0
    elif strategy == "avg":
        weights[:] = 1.0 / length
    else:  # sum
        weights[:] = 1.0
    return weights


def _arrays(sequences, rows, batch_rows, row_length, slots, pad_token_id, pooling):
    token_ids = np.full((batch_rows, row_length), pad_token_id, "int32")
    position_ids = np.zeros((batch_rows, row_length), "int32")
    segment_ids = np.zeros((batch_rows, row_length), "int32")
    weights = np.zeros((batch_rows, slots, row_length), "float32")
    placements = []
    for r, row in enumerate(rows):
        offset = 0
        for slot, i in enumerate(row):
            ids = sequences[i]
            end = offset + len(ids)
            token_ids[r, offset:end] = ids
            position_ids[r, offset:end] = np.arange(len(ids))
            segment_ids[r, offset:end] = slot + 1
            weights[r, slot, offset:end] = pooling_weights(pooling, len(ids))
            placements.append((i, r, slot))
            offset = end
    arrays = {
        "token_ids": token_ids,
        "position_ids": position_ids,
        "segment_ids": segment_ids,
        "pooling_weights": weights,
    }
    return arrays, placements


def packed_batches(sequences, batch_size, pooling, pad_token_id=0, row_length=None):
    """Batches of packed rows, each with where every sequence's vector is read.

    Sequences up to `row_length` (default `packed_row_length`) are packed
    into rows of that length, `batch_size` rows per batch. Longer ones are
    packed into rows of their own bucketed length, with as many rows per
    batch as keep the tokens per batch at `batch_size * row_length` (at
    least one). The last batch of each length is filled with empty rows, so
    each row length is one shape.

    Args:
        sequences: list of token id lists (each non-empty).
        batch_size: int >= 1, rows per batch of `row_length`.
        pooling: one of `PACKABLE_POOLING`.
        pad_token_id: int, the id of padding tokens.
        row_length: optional int, the row length.

    Yields:
        `(arrays, placements)`: `arrays` holds int32 `token_ids`,
        `position_ids` (each sequence counted from 0) and `segment_ids`
        (0 for padding, k for the k-th sequence of a row) of shape
        `(rows, length)`, and float32 `pooling_weights` `(rows, slots,
        length)`; `placements` lists `(sequence index, row, slot)`.
    """
    lengths = [len(ids) for ids in sequences]
    if not lengths or min(lengths) < 1:
        raise ValueError("`sequences` must be a non-empty list of non-empty token id lists.")
    _check_pooling(pooling)
    row_length = row_length or packed_row_length(lengths)
    budget = batch_size * row_length
    groups = [(row_length, pack_sequences(lengths, row_length))]
    if max(lengths) > row_length:
        long_row = shapes.bucket_length(max(lengths))
        groups.append((long_row, pack_sequences(lengths, long_row, longer_than=row_length)))
    for length, rows in groups:
        if not rows:
            continue
        batch_rows = max(1, budget // length)
        slots = -(-max(len(row) for row in rows) // SLOT_MULTIPLE) * SLOT_MULTIPLE
        for start in range(0, len(rows), batch_rows):
            yield _arrays(
                sequences, rows[start : start + batch_rows], batch_rows, length, slots,
                pad_token_id, pooling,
            )
