"""Fill values for masked scores that are safe in every floating dtype."""

import keras


def large_negative(dtype):
    """A large negative number representable in `dtype`, for masked scores.

    `-1e9` (what the reference uses) in float32, bfloat16 (float32's range)
    and float64; `-3e4` in float16, whose largest finite value is 65504, so
    that a masked score is never `-inf` (a row masked everywhere would then
    give NaN after a softmax). As `keras.layers.Softmax` does.

    Example:

    ```python
    large_negative("float16")  # -30000.0
    large_negative("bfloat16")  # -1e9
    ```
    """
    if keras.backend.standardize_dtype(dtype) == "float16":
        return -3e4
    return -1e9
