"""T5 encoder-decoder: keras-hub's `T5Backbone` with Hugging Face's relative-attention settings."""

import keras_hub

from gliclass_keras.api_export import register
from gliclass_keras.backbones.t5.t5_relative_attention import DEFAULT_RELATIVE_ATTENTION_BUCKETS
from gliclass_keras.backbones.t5.t5_relative_attention import (
    DEFAULT_RELATIVE_ATTENTION_MAX_DISTANCE,
)
from gliclass_keras.backbones.t5.t5_relative_attention import T5RelativeAttentionMixin
from gliclass_keras.backbones.t5.t5_relative_attention import attention_masks_are_arguments
from gliclass_keras.backbones.t5.t5_relative_attention import check_relative_attention
from gliclass_keras.backbones.t5.t5_relative_attention import refresh_torch_parameters
from gliclass_keras.backbones.t5.t5_relative_attention import replace_relative_attention_bias


@register
class T5EncoderDecoderBackbone(T5RelativeAttentionMixin, keras_hub.models.T5Backbone):
    """keras-hub's `T5Backbone` with Hugging Face's relative attention settings.

    `keras_hub.models.T5Backbone` hard-codes 32 relative-position buckets
    and a maximum distance of 128 (the values of every published T5);
    Hugging Face's `T5Config` makes both configurable
    (`relative_attention_num_buckets`, `relative_attention_max_distance`).
    This subclass gives the first self-attention of each stack a bias table
    of `relative_attention_num_buckets` rows and the configured bucketing,
    so the choice is part of the config and survives `get_config()`/
    `from_config()` and `.keras` save/load. Doing so also gives the two
    tables distinct variable paths (keras-hub names both
    `self_attention/embeddings`). Inputs, outputs and the other arguments
    are `T5Backbone`'s. The token embedding is the one table shared by
    encoder and decoder; `tie_embedding_weights` must stay `True` (it only
    ties the language-model head, which GLiClass never uses, to that table;
    `False` would add an unused head).

    Args:
        relative_attention_num_buckets: int. The number of relative-position
            buckets, a multiple of 4. Defaults to `32`.
        relative_attention_max_distance: int. Relative distances from this
            one on share the last bucket. Defaults to `128`.
        **kwargs: the arguments of `keras_hub.models.T5Backbone`.

    Example:
    ```python
    backbone = T5EncoderDecoderBackbone(
        vocabulary_size=100,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        key_value_dim=16,
        use_gated_activation=False,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
    )
    outputs = backbone(
        {
            "encoder_token_ids": np.ones((1, 8), "int32"),
            "encoder_padding_mask": np.ones((1, 8), "int32"),
            "decoder_token_ids": np.ones((1, 4), "int32"),
            "decoder_padding_mask": np.ones((1, 4), "int32"),
        }
    )
    outputs["decoder_sequence_output"].shape  # (1, 4, 32)
    ```
    """

    def __init__(
        self,
        *args,
        relative_attention_num_buckets=DEFAULT_RELATIVE_ATTENTION_BUCKETS,
        relative_attention_max_distance=DEFAULT_RELATIVE_ATTENTION_MAX_DISTANCE,
        **kwargs,
    ):
        check_relative_attention(
            relative_attention_num_buckets, relative_attention_max_distance
        )
        if not kwargs.get("tie_embedding_weights", True):
            raise ValueError(
                "`tie_embedding_weights` must be True: the language-model head "
                "is not used, and an untied one would be an unused weight."
            )
        with attention_masks_are_arguments():
            super().__init__(*args, **kwargs)
        for layers in (
            self.encoder_transformer_layers,
            self.decoder_transformer_layers,
        ):
            replace_relative_attention_bias(
                layers[0],
                relative_attention_num_buckets,
                relative_attention_max_distance,
            )
        refresh_torch_parameters(self)

        self.set_relative_attention(
            relative_attention_num_buckets, relative_attention_max_distance
        )
