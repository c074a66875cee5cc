"""Shape arithmetic that keeps dimensions symbolic, for export with dynamic axes.

`ops.arange(ops.shape(x)[1])` gives a vector whose length an exporter
(jax2onnx, tf2onnx) cannot tie back to `x`'s own sequence axis, so a later
broadcast against `x` fails or bakes the length in. Deriving the positions
from `x` itself keeps them on the same symbolic axis.
"""

from keras import ops


def sequence_positions(token_ids):
    """`[0, 1, ..., L - 1]` (int32) for `token_ids` of shape `(batch, L)`, on `L`'s own axis."""
    return ops.cumsum(ops.ones_like(token_ids[0], dtype="int32")) - 1
