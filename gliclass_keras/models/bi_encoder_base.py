"""Plumbing shared by the two-backbone GLiClass models (bi-encoder and bi-encoder-fused)."""

import keras

from gliclass_keras.data.gliclass_dataset import bucket_length as _bucket_length

# Name scope of the label backbone's variables, so their paths differ from
# the text backbone's (build it under `keras.name_scope(LABEL_BACKBONE_SCOPE)`).
LABEL_BACKBONE_SCOPE = "label_backbone"


class BiEncoderModelMixin:
    """Variables, batching and serialization of a model with a text and a label backbone.

    The model stores `backbone`, `label_backbone`, `config` and
    `preprocessor` (a `GLiClassBiEncoderPreprocessor` or subclass), and takes
    the five bi-encoder inputs (`token_ids`, `padding_mask`,
    `label_token_ids`, `label_padding_mask`, `label_mask`). Goes before
    `TrainingMixin` and `ZeroShotInferenceMixin` in the bases.
    """

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
