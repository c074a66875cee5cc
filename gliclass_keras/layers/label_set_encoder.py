"""`LabelSetEncoder`: every label of every text through a label backbone, pooled."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.backbones.backbone_encoder import BackboneEncoder
from gliclass_keras.layers.head_rows import pool_last_layer
from gliclass_keras.layers.token_pooler import TokenPooler
from gliclass_keras.utils.dynamic_shapes import sequence_positions
from gliclass_keras.utils.dynamic_shapes import unflatten_rows


@register
class LabelSetEncoder(keras.layers.Layer):
    """Encodes and pools every label of every text with the label backbone.

    Call arguments: `label_token_ids`, `label_padding_mask`
    `(batch, num_labels, label_length)` and `label_mask`
    `(batch, num_labels)`; returns `(batch, num_labels, label_hidden_dim)`.
    Each (text, label) slot is one sequence for the backbone (the
    reference's `encode_classes`). Empty slots get one attended token, so no
    attention row is fully masked, and their vectors are zeroed, as the
    reference's scatter into zeros leaves them.

    Args:
        backbone: the keras-hub label backbone.
        pooling_strategy: `TokenPooler` strategy for each label's tokens.
        **kwargs: `keras.layers.Layer` arguments; `dtype` defaults to the
            backbone's dtype policy.

    Example:

    ```python
    encoder = LabelSetEncoder(label_backbone, "avg")
    vectors = encoder(label_token_ids, label_padding_mask, label_mask)
    vectors.shape  # (batch, num_labels, label_backbone.hidden_dim)
    ```
    """

    # With `"first"`/`"last"` pooling, compute the label backbone's last layer
    # at the pooled position only (`pool_last_layer`).
    compute_read_rows_only = True

    def __init__(self, backbone, pooling_strategy="first", **kwargs):
        kwargs.setdefault("dtype", backbone.dtype_policy)
        super().__init__(**kwargs)
        self.backbone = backbone
        self.pooling_strategy = pooling_strategy
        self.encoder = BackboneEncoder(backbone, name="encoder")
        self.pooler = TokenPooler(pooling_strategy, dtype=self.dtype_policy, name="pooler")

    def build(self, label_token_ids_shape, label_padding_mask_shape=None, label_mask_shape=None):
        # The encoder and pooler hold no weights of their own (the backbone
        # is built with its own), and a functional model only ever calls
        # this layer's `compute_output_spec`: mark them built, or Keras' JAX
        # `predict_on_batch` builds "unbuilt" models by running them once
        # eagerly, compiling every op on its own (seconds on a CPU).
        self.encoder.built = True
        self.pooler.built = True
        self.built = True

    def call(self, label_token_ids, label_padding_mask, label_mask, training=None):
        shape = ops.shape(label_token_ids)
        flat_ids = ops.reshape(label_token_ids, (-1, shape[2]))
        flat_mask = ops.cast(ops.reshape(label_padding_mask, (-1, shape[2])), "int32")
        empty = ops.cast(ops.equal(ops.sum(flat_mask, axis=1, keepdims=True), 0), "int32")
        first = ops.cast(ops.equal(sequence_positions(flat_ids), 0), "int32")[None, :]
        flat_mask = ops.maximum(flat_mask, empty * first)
        pooled = pool_last_layer(
            self.encoder,
            self.pooler,
            flat_ids,
            flat_mask,
            rows_only=self.compute_read_rows_only,
            training=training,
        )
        pooled = unflatten_rows(pooled, label_mask)
        return pooled * ops.cast(ops.expand_dims(label_mask, -1), pooled.dtype)

    def compute_output_spec(self, label_token_ids, label_padding_mask, label_mask, training=None):
        shape = tuple(label_token_ids.shape[:2]) + (self.backbone.hidden_dim,)
        return keras.KerasTensor(shape, dtype=self.backbone.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "pooling_strategy": self.pooling_strategy,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["backbone"], dict):
            config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
