"""Bidirectional LSTM over the text tokens (`use_lstm=True`)."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.utils.layer_config import config_with_args
from gliclass_keras.utils.validation import check_int_at_least


@register
class TextLSTM(keras.layers.Layer):
    """Bidirectional single-layer LSTM with `torch` packed-sequence semantics.

    The reference `gliclass.layers.LstmSeq2SeqEncoder` with
    `nn.LSTM(hidden_size, hidden_size // 2, bidirectional=True)` run over
    `pack_padded_sequence(x, lengths=mask.sum(1))`:

    * each row has length `n = sum(mask)` and its first `n` positions are its
      tokens (right padding; as in torch only the count of the mask matters);
    * the forward direction reads positions `0 .. n-1`, the backward
      direction starts at position `n-1` (the last real token), so padding
      never leaks into either direction;
    * outputs at positions `>= n` are zeros;
    * the output is `concat[forward, backward]` of width
      `2 * (hidden_dim // 2)`.

    Unlike torch's `pad_packed_sequence`, which trims the output to the
    longest row of the batch, the sequence length is kept (extra positions are
    zeros). Both directions run as plain unmasked Keras `LSTM`s over per-row
    reversed inputs, so the result is identical on every backend. No Keras
    mask is attached to the output: pass masks explicitly downstream.

    Args:
        hidden_dim: int. Reference `config.hidden_size`; each direction has
            `hidden_dim // 2` units. Must be at least 2.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `(batch_size, sequence_length, input_dim)`.
        mask: optional int/bool tensor `(batch_size, sequence_length)`; `None`
            means every position is a real token.

    Example:
    ```python
    lstm = gliclass_keras.layers.TextLSTM(hidden_dim=8)
    x = np.random.rand(2, 5, 8).astype("float32")
    lstm(x, mask=np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])).shape  # (2, 5, 8)
    ```
    """

    def __init__(self, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        check_int_at_least(
            "hidden_dim", hidden_dim, 2, "each direction has hidden_dim // 2 units"
        )
        self.hidden_dim = hidden_dim
        self.units = hidden_dim // 2
        self.supports_masking = True

        def lstm(name):
            return keras.layers.LSTM(
                self.units, return_sequences=True, dtype=self.dtype_policy, name=name
            )

        self.forward_lstm = lstm("forward_lstm")
        self.backward_lstm = lstm("backward_lstm")

    def build(self, input_shape):
        self.forward_lstm.build(input_shape)
        self.backward_lstm.build(input_shape)
        self.built = True

    def call(self, inputs, mask=None):
        x = inputs
        positions = ops.cumsum(ops.ones_like(x[:, :, 0], dtype="int32"), axis=1) - 1
        if mask is None:
            lengths = ops.max(positions, axis=1, keepdims=True) + 1
        else:
            lengths = ops.sum(ops.cast(ops.cast(mask, "bool"), "int32"), axis=1, keepdims=True)
        valid = positions < lengths  # (B, L)
        # Reverse each row's first `length` positions, keep the padding in place.
        reverse_index = ops.where(valid, lengths - 1 - positions, positions)
        gather_index = ops.broadcast_to(
            ops.expand_dims(reverse_index, -1), ops.shape(x)
        )
        forward = self.forward_lstm(x)
        reversed_x = ops.take_along_axis(x, gather_index, axis=1)
        backward = self.backward_lstm(reversed_x)
        out_index = ops.broadcast_to(
            ops.expand_dims(reverse_index, -1), ops.shape(backward)
        )
        backward = ops.take_along_axis(backward, out_index, axis=1)
        outputs = ops.concatenate([forward, backward], axis=-1)
        return outputs * ops.expand_dims(ops.cast(valid, outputs.dtype), -1)

    def compute_mask(self, inputs, mask=None):
        # Masks are passed explicitly; none is attached to the output.
        return None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2 * self.units,)

    def get_config(self):
        return config_with_args(super().get_config(), self, ("hidden_dim",))
