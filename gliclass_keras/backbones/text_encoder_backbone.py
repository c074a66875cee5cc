"""Base class of the encoder-only backbones defined here (`ModernBertBackbone`, `T5EncoderBackbone`)."""

import keras
import keras_hub

from gliclass_keras.utils.validation import check_positive_int


class TextEncoderBackbone(keras_hub.models.Backbone):
    """A keras-hub backbone from `{"token_ids", "padding_mask"}` to one hidden state per token.

    What the encoder backbones defined here share: the checks of their sizes,
    the two functional inputs (int32 `(batch, length)` tensors named
    `token_ids` and `padding_mask`, 1 for real tokens) and the five
    transformer sizes in the config. A subclass checks its sizes with
    `check_sizes`, builds its layers, runs them on `functional_inputs()` and
    passes both ends of the graph to this constructor, which makes the
    functional model and stores the sizes.

    Args:
        inputs: the dict returned by `functional_inputs()`.
        outputs: the output of the layers run on them, `(batch, length,
            hidden_dim)`.
        vocabulary_size: int. The size of the token vocabulary.
        num_layers: int. The number of transformer layers.
        num_heads: int. The number of attention heads of each layer.
        hidden_dim: int. The hidden size.
        intermediate_dim: int. The width of the feed-forward layers.
        dtype: string or `keras.DTypePolicy`. The dtype policy of the layers.
        **kwargs: other `keras.Model` arguments (`name`, `trainable`).

    Example:
    ```python
    class TinyEncoderBackbone(TextEncoderBackbone):
        def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim,
                     intermediate_dim, dtype=None, **kwargs):
            sizes = dict(
                vocabulary_size=vocabulary_size, num_layers=num_layers,
                num_heads=num_heads, hidden_dim=hidden_dim,
                intermediate_dim=intermediate_dim,
            )
            self.check_sizes(**sizes)
            self.token_embedding = keras.layers.Embedding(
                vocabulary_size, hidden_dim, dtype=dtype
            )
            inputs = self.functional_inputs()
            x = self.token_embedding(inputs["token_ids"])
            super().__init__(inputs, x, **sizes, dtype=dtype, **kwargs)
    ```
    """

    @staticmethod
    def check_sizes(**sizes):
        """Raise a `ValueError` naming the first of `sizes` that is not a positive int."""
        for name, value in sizes.items():
            check_positive_int(name, value)

    @staticmethod
    def functional_inputs():
        """The functional model's inputs: `{"token_ids": ..., "padding_mask": ...}`."""
        return {
            "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
            "padding_mask": keras.Input(
                shape=(None,), dtype="int32", name="padding_mask"
            ),
        }

    def __init__(
        self,
        inputs,
        outputs,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dtype=None,
        **kwargs,
    ):
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
            }
        )
        return config
