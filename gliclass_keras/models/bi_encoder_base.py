"""Plumbing shared by the two-backbone GLiClass models (bi-encoder and bi-encoder-fused)."""

import keras
from keras import ops

from gliclass_keras.data.gliclass_dataset import bucket_length as _bucket_length

# Name scope of the label backbone's variables, so their paths differ from
# the text backbone's (build it under `keras.name_scope(LABEL_BACKBONE_SCOPE)`).
LABEL_BACKBONE_SCOPE = "label_backbone"
# Logit given to label slots that hold no label (padding of ragged label lists).
MASKED_LOGIT = -1000.0


def bi_encoder_inputs():
    """The five symbolic inputs of a two-backbone GLiClass model."""
    return {
        "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
        "padding_mask": keras.Input(shape=(None,), dtype="int32", name="padding_mask"),
        "label_token_ids": keras.Input(shape=(None, None), dtype="int32", name="label_token_ids"),
        "label_padding_mask": keras.Input(
            shape=(None, None), dtype="int32", name="label_padding_mask"
        ),
        "label_mask": keras.Input(shape=(None,), dtype="int32", name="label_mask"),
    }


class BiEncoderModelMixin:
    """Variables, batching and serialization of a model with a text and a label backbone.

    The model stores `backbone`, `label_backbone`, `config` and
    `preprocessor` (a `GLiClassBiEncoderPreprocessor` or subclass), and takes
    the five bi-encoder inputs (`token_ids`, `padding_mask`,
    `label_token_ids`, `label_padding_mask`, `label_mask`). Goes before
    `TrainingMixin` and `ZeroShotInferenceMixin` in the bases.
    """

    def _score(self, text, classes, label_mask):
        """Logits of text vectors `(B, D)` against class vectors `(B, C, D)`:
        scorer, logit scale (always applied by bi-encoders), empty slots masked."""
        logits = self.scorer(text, classes, class_mask=label_mask)
        logits = self.logit_scale(logits)
        return ops.where(
            ops.cast(label_mask, "bool"), logits, ops.cast(MASKED_LOGIT, logits.dtype)
        )

    def backbone_variables(self):
        """Both encoders' weights (the "encoder" parameter groups of training)."""
        return list(self.backbone.trainable_variables) + list(
            self.label_backbone.trainable_variables
        )

    def _collate_rows(self, rows, length, num_labels, static_shapes):
        label_length = None
        if static_shapes:
            label_length = _bucket_length(
                max([len(ids) for row in rows for ids in row.label_token_ids] or [1])
            )
        return self.preprocessor.collate(
            rows, sequence_length=length, num_labels=num_labels, label_length=label_length
        )

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "label_backbone": keras.saving.serialize_keras_object(self.label_backbone),
            "config": self.config.to_dict(),
            "preprocessor": (
                keras.saving.serialize_keras_object(self.preprocessor)
                if self.preprocessor is not None
                else None
            ),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        with keras.name_scope(LABEL_BACKBONE_SCOPE):
            config["label_backbone"] = keras.saving.deserialize_keras_object(
                config["label_backbone"]
            )
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        return cls(**config)
