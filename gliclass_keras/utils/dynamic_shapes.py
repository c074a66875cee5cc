"""Shape arithmetic that keeps dimensions symbolic, for export with dynamic axes.

`ops.arange(ops.shape(x)[1])` gives a vector whose length an exporter
(jax2onnx, tf2onnx) cannot tie back to `x`'s own sequence axis, so a later
broadcast against `x` fails or bakes the length in. Deriving the positions
from `x` itself keeps them on the same symbolic axis.
"""

from keras import ops


def sequence_positions(x):
    """`[0, 1, ..., L - 1]` (int32) for `x` of shape `(batch, L, ...)`, on `L`'s own axis.

    Example:
    ```python
    sequence_positions(np.zeros((2, 4, 8)))  # [0, 1, 2, 3]
    ```
    """
    first = x[0]
    while len(first.shape) > 1:
        first = first[:, 0]
    return ops.cumsum(ops.ones_like(first, dtype="int32")) - 1


def unflatten_rows(flat, like):
    """`flat` `(B * N, ...)` back to `(B, N, ...)`, for `like` of shape `(B, N)`.

    The same as `ops.reshape(flat, (B, N, ...))`, written as a gather whose
    indices come from `like`, because exporters cannot always rebuild `B`
    and `N` from `flat`'s merged axis (jax2onnx cannot).
    """
    ones = ops.ones_like(like, dtype="int32")
    rows = ops.cumsum(ones, axis=0) - 1
    columns = ops.cumsum(ones, axis=1) - 1
    width = ops.sum(ones[0])
    return ops.take(flat, rows * width + columns, axis=0)
