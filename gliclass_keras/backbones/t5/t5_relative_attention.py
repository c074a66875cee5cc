"""Hugging Face's T5 relative-attention settings on keras-hub's T5 layers (keras-hub patches).

keras-hub's `T5MultiHeadAttention` hard-codes 32 relative-position buckets
and a maximum distance of 128, creates its bias table outside any name
scope, and takes its attention mask as an argument Keras warns about. This
module holds the patches the T5 backbones apply (`replace_relative_attention_bias`,
`refresh_torch_parameters`, `attention_masks_are_arguments`) and
`T5RelativeAttentionMixin`, the settings' share of both backbones' config.

Example:
```python
check_relative_attention(num_buckets=8, max_distance=32)
replace_relative_attention_bias(
    backbone.encoder_transformer_layers[0], num_buckets=8, max_distance=32
)
refresh_torch_parameters(backbone)
```
"""

import contextlib
import warnings

import keras

from gliclass_keras.utils.validation import check_positive_int

# The defaults, which keras-hub's `T5MultiHeadAttention` hard-codes (every
# published T5 uses them; Hugging Face's `T5Config` makes them settable).
DEFAULT_RELATIVE_ATTENTION_BUCKETS = 32
DEFAULT_RELATIVE_ATTENTION_MAX_DISTANCE = 128


@contextlib.contextmanager
def attention_masks_are_arguments():
    """Silence Keras' "mask attached" warning for keras-hub's T5 attention.

    keras-hub's `T5MultiHeadAttention` takes its attention mask as a `mask`
    argument, which Keras reads as a propagated Keras mask and, since the
    layer does not support masking, warns about (at construction and at
    every eager call). The mask is used as intended; the warning is noise.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r".*T5MultiHeadAttention\) was passed an input with a mask",
        )
        yield


def check_relative_attention(num_buckets, max_distance):
    """Validate Hugging Face's `relative_attention_num_buckets`/`_max_distance`.

    T5's bucketing halves the buckets for the two directions and uses half
    of each half for exact offsets, so `num_buckets` must be a multiple of 4
    and `max_distance` larger than the exact range.
    """
    check_positive_int("relative_attention_num_buckets", num_buckets)
    check_positive_int("relative_attention_max_distance", max_distance)
    if num_buckets % 4:
        raise ValueError(
            "`relative_attention_num_buckets` must be a multiple of 4. "
            f"Received: relative_attention_num_buckets={num_buckets}"
        )
    if max_distance <= num_buckets // 2:
        raise ValueError(
            "`relative_attention_max_distance` must be larger than "
            "`relative_attention_num_buckets // 2`. Received: "
            f"relative_attention_max_distance={max_distance}, "
            f"relative_attention_num_buckets={num_buckets}"
        )


def replace_relative_attention_bias(layer, num_buckets, max_distance):
    """Give the first self-attention of a T5 stack its bucket settings and table.

    keras-hub's `T5MultiHeadAttention` hard-codes 32 buckets and a distance
    of 128, and creates its bias table in `__init__`, outside any name
    scope: both stacks of a `T5Backbone` get the variable path
    `self_attention/embeddings`, which is not unique (the optimizer's
    parameter groups are keyed by path). The table is replaced by one of
    `num_buckets` rows under the layer's own scope
    (`transformer_encoder_layer_0/self_attention/embeddings`); the bucket
    settings are plain attributes that `compute_bias` reads at call time.
    Works on a built or an unbuilt layer.
    """
    attention = layer.self_attention
    attention.relative_attention_buckets = num_buckets
    attention.relative_attention_max_distance = max_distance
    attention._untrack_variable(attention.relative_attention_bias)
    locked = attention._tracker.locked
    attention._tracker.unlock()
    with keras.name_scope(layer.name):
        attention.relative_attention_bias = attention.add_weight(
            name="embeddings",
            shape=(num_buckets, attention.num_heads),
            initializer=keras.initializers.RandomNormal(
                mean=0, stddev=attention.inner_dim**-0.5
            ),
        )
    if locked:
        attention._tracker.lock()


def refresh_torch_parameters(model):
    """On torch, re-mirror variables into built layers' `torch.nn` parameters.

    Keras' torch layers copy their variables into a `ParameterDict` when
    built; after `replace_relative_attention_bias` on a built backbone,
    those of the enclosing layers still hold the old table.
    """
    if keras.config.backend() != "torch":
        return
    for layer in model._flatten_layers(include_self=True):
        if hasattr(layer, "_torch_params"):
            layer._track_variables()


class T5RelativeAttentionMixin:
    """The relative-attention settings' share of a T5 backbone (a `keras_hub.models.Backbone`).

    What `T5EncoderDecoderBackbone` and `T5EncoderBackbone` share: the two
    Hugging Face settings as config attributes (set by
    `set_relative_attention`, after the functional model is made) and in
    `get_config()`, and calls that do not warn about keras-hub's T5
    attention masks. Put it before the backbone class in the bases.

    Example:
    ```python
    class MyT5Backbone(T5RelativeAttentionMixin, keras_hub.models.T5Backbone):
        def __init__(self, *args, relative_attention_num_buckets=32,
                     relative_attention_max_distance=128, **kwargs):
            super().__init__(*args, **kwargs)
            self.set_relative_attention(
                relative_attention_num_buckets, relative_attention_max_distance
            )
    ```
    """

    def set_relative_attention(self, num_buckets, max_distance):
        """Store the settings as `relative_attention_num_buckets`/`_max_distance`."""
        # === Config ===
        self.relative_attention_num_buckets = num_buckets
        self.relative_attention_max_distance = max_distance

    def call(self, *args, **kwargs):
        with attention_masks_are_arguments():
            return super().call(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "relative_attention_num_buckets": (
                    self.relative_attention_num_buckets
                ),
                "relative_attention_max_distance": (
                    self.relative_attention_max_distance
                ),
            }
        )
        return config
