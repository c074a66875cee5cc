"""Squeeze-excitation mixing of the backbone's hidden states (`squeeze_layers`)."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.utils.layer_config import config_with_args
from gliclass_keras.utils.validation import check_int_at_least
from gliclass_keras.utils.validation import check_positive_int


@register
class LayerwiseAttention(keras.layers.Layer):
    """Weights and sums a stack of hidden states with squeeze-excitation.

    The reference `gliclass.layers.LayerwiseAttention` (`squeeze_layers=True`):
    with `U` the `N` stacked hidden states `(B, N, L, D)`,

    * squeeze: `Z[b, n] = mean_l(Dense(1)(U)[b, n, l])`;
    * excitation: `s = sigmoid(W2(relu(W1(Z))))` with `W1: N -> N // 2`,
      `W2: N // 2 -> N`;
    * `output = Dense(output_dim)(sum_n s[b, n] * U[b, n])`.

    Two deliberate fixes: the excitation is sized for the `N` hidden states
    actually given (the reference sizes it for `num_layers` but receives
    `num_layers + 1` states from the encoder and crashes), and the mean over
    `L` is taken over real tokens only when a mask is given.

    Args:
        num_hidden_states: int. Number `N` of hidden states (for a Hugging
            Face encoder: `num_layers + 1`). Must be at least 2.
        hidden_dim: int. Width `D` of each hidden state.
        output_dim: int or `None`. Width of the output projection. Defaults to
            `hidden_dim`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        hidden_states: a list of `N` float tensors `(B, L, D)`, or one stacked
            tensor `(B, N, L, D)`.
        mask: optional int/bool tensor `(B, L)`, 1/True for real tokens.

    Returns:
        Float tensor `(B, L, output_dim)`.

    Example:
    ```python
    layer = gliclass_keras.layers.LayerwiseAttention(num_hidden_states=3, hidden_dim=8)
    states = [np.random.rand(2, 5, 8).astype("float32") for _ in range(3)]
    layer(states).shape  # (2, 5, 8)
    ```
    """

    def __init__(self, num_hidden_states, hidden_dim, output_dim=None, **kwargs):
        super().__init__(**kwargs)
        check_int_at_least(
            "num_hidden_states",
            num_hidden_states,
            2,
            "the excitation has num_hidden_states // 2 units",
        )
        check_positive_int("hidden_dim", hidden_dim)
        if output_dim is not None:
            check_positive_int("output_dim", output_dim)
        self.num_hidden_states = num_hidden_states
        self.hidden_dim = hidden_dim
        self.output_dim = output_dim
        self.supports_masking = True

        dtype = self.dtype_policy
        self.squeeze = keras.layers.Dense(1, dtype=dtype, name="squeeze")
        self.W1 = keras.layers.Dense(num_hidden_states // 2, dtype=dtype, name="W1")
        self.W2 = keras.layers.Dense(num_hidden_states, dtype=dtype, name="W2")
        self.output_projection = keras.layers.Dense(
            output_dim or hidden_dim, dtype=dtype, name="output_projection"
        )

    def _stacked_shape(self, hidden_states_shape):
        if isinstance(hidden_states_shape, (list, tuple)) and hidden_states_shape and (
            isinstance(hidden_states_shape[0], (list, tuple))
        ):
            first = tuple(hidden_states_shape[0])
            return (first[0], len(hidden_states_shape)) + first[1:]
        return tuple(hidden_states_shape)

    def build(self, hidden_states_shape):
        shape = self._stacked_shape(hidden_states_shape)
        if len(shape) != 4:
            raise ValueError(
                "`hidden_states` must be a list of (B, L, D) tensors or a "
                f"(B, N, L, D) tensor. Received shape {hidden_states_shape}."
            )
        if shape[1] is not None and shape[1] != self.num_hidden_states:
            raise ValueError(
                f"LayerwiseAttention(num_hidden_states={self.num_hidden_states}) "
                f"received {shape[1]} hidden states."
            )
        if shape[-1] is not None and shape[-1] != self.hidden_dim:
            raise ValueError(
                f"LayerwiseAttention(hidden_dim={self.hidden_dim}) received "
                f"hidden states of width {shape[-1]}."
            )
        self.squeeze.build((None, self.hidden_dim))
        self.W1.build((None, self.num_hidden_states))
        self.W2.build((None, self.num_hidden_states // 2))
        self.output_projection.build((None, self.hidden_dim))
        self.built = True

    def call(self, hidden_states, mask=None):
        if isinstance(hidden_states, (list, tuple)):
            stacked = ops.stack(hidden_states, axis=1)  # (B, N, L, D)
        else:
            stacked = hidden_states
        if isinstance(mask, (list, tuple)):
            # Keras fills one (usually None) implicit mask per list entry.
            mask = next((m for m in mask if m is not None), None)
        scores = ops.squeeze(self.squeeze(stacked), axis=-1)  # (B, N, L)
        if mask is None:
            z = ops.mean(scores, axis=2)
        else:
            weights = ops.cast(ops.cast(mask, "bool"), scores.dtype)[:, None, :]
            count = ops.maximum(ops.sum(weights, axis=2), 1.0)
            z = ops.sum(scores * weights, axis=2) / count  # (B, N)
        s = ops.sigmoid(self.W2(ops.relu(self.W1(z))))  # (B, N)
        mixed = ops.sum(stacked * s[:, :, None, None], axis=1)  # (B, L, D)
        return self.output_projection(mixed)

    def compute_mask(self, hidden_states, mask=None):
        # Masks are passed explicitly; none is attached to the output.
        return None

    def compute_output_shape(self, hidden_states_shape):
        shape = self._stacked_shape(hidden_states_shape)
        return (shape[0], shape[2], self.output_dim or self.hidden_dim)

    def get_config(self):
        return config_with_args(
            super().get_config(), self, ("num_hidden_states", "hidden_dim", "output_dim")
        )
