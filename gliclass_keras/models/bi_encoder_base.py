"""`GLiClassBiEncoderBase`: what the two label-encoder architectures share.

The bi-encoder and the bi-encoder-fused model both encode every label on its
own with a second ("label") backbone, map it to the text width with a
`BiEncoderProjector` and the classes projector, and read the same reference
checkpoint layout. This abstract class holds those parts; it serves no
architecture itself.
"""

import keras

from gliclass_keras.convert import checkpoint as checkpoint_lib
from gliclass_keras.layers.label_set_encoder import LabelSetEncoder
from gliclass_keras.layers.logit_scale import l2_normalize
from gliclass_keras.models.gliclass_classifier import LABEL_BACKBONE_SCOPE
from gliclass_keras.models.gliclass_classifier import GLiClassClassifier
from gliclass_keras.models.heads import HEAD_CHECKPOINT_PREFIXES
from gliclass_keras.models.heads import build_head


class GLiClassBiEncoderBase(GLiClassClassifier):
    """Base of `GLiClassBiEncoderClassifier` and `GLiClassBiEncoderFusedClassifier`.

    Subclasses call `_build_encoders_and_head(config, backbone,
    label_backbone, preprocessor, dtype)` in their `__init__` and encode
    labels with `_label_vectors(inputs)`; inputs are the five arrays of
    `bi_encoder_inputs()`.
    """

    backbone_args = ("backbone", "label_backbone")
    checkpoint_layout = checkpoint_lib.CheckpointLayout(
        backbones={"backbone": "model.encoder_model.", "label_backbone": "model.label_encoder."},
        head=HEAD_CHECKPOINT_PREFIXES,
    )

    @classmethod
    def _check_config(cls, config):
        # Both need a pooled text vector.
        if config.pooling_strategy == "pass" or config.scorer_type in ("cross-attn", "decoder-kv"):
            raise NotImplementedError(
                f"The {config.architecture_type} architecture needs a pooled text vector: "
                "pooling_strategy='pass' and the cross-attn/decoder-kv scorers are not "
                "supported (the reference fails too)."
            )

    @staticmethod
    def bi_encoder_inputs():
        """The five symbolic inputs of a two-backbone GLiClass model."""
        return {
            "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
            "padding_mask": keras.Input(shape=(None,), dtype="int32", name="padding_mask"),
            "label_token_ids": keras.Input(
                shape=(None, None), dtype="int32", name="label_token_ids"
            ),
            "label_padding_mask": keras.Input(
                shape=(None, None), dtype="int32", name="label_padding_mask"
            ),
            "label_mask": keras.Input(shape=(None,), dtype="int32", name="label_mask"),
        }

    def _build_encoders_and_head(self, config, backbone, label_backbone, preprocessor, dtype=None):
        """Both backbones, the label encoder, the preprocessor and the whole head.

        (Bi-encoders always scale their logits.) `dtype` is the head's
        dtype policy (`head_dtype_policy` of the model's `dtype` argument).
        """
        self.backbone = backbone
        self.label_backbone = label_backbone
        self.preprocessor = preprocessor
        self.label_encoder = LabelSetEncoder(
            label_backbone, config.pooling_strategy, name="label_encoder"
        )
        self.label_encoder.compute_read_rows_only = self.compute_read_rows_only
        build_head(
            self,
            config,
            backbone,
            label_projector=True,
            always_scale=True,
            dtype=dtype,
        )

    def _text_vector(self, pooled, config):
        """Pooled text states through the text projector, L2-normalised with `normalize_features`."""
        text = self._project_text(pooled)
        if config.normalize_features:
            text = l2_normalize(text, eps=1e-8, mode=self.normalize_mode)
        return text

    def _label_vectors(self, inputs, config):
        """Class vectors `(batch, num_labels, hidden)` of the label inputs."""
        labels = self.label_encoder(
            inputs["label_token_ids"], inputs["label_padding_mask"], inputs["label_mask"]
        )
        classes = self.classes_projector(self.biencoder_projector(labels))
        if config.normalize_features:
            classes = l2_normalize(classes, eps=1e-8, mode=self.normalize_mode)
        return classes

    @classmethod
    def _checkpoint_backbones(cls, checkpoint):
        config = checkpoint.config
        if not config.label_model_config:
            raise ValueError(
                f"The {config.architecture_type} checkpoint {checkpoint.path!r} has no "
                "label_model_config."
            )
        prefixes = cls.checkpoint_layout.backbones
        backbone = cls.build_backbone(
            config.encoder_config,
            vocabulary_size=checkpoint.vocabulary_size(prefixes["backbone"]),
        )
        with keras.name_scope(LABEL_BACKBONE_SCOPE):
            label_backbone = cls.build_backbone(
                config.label_model_config,
                vocabulary_size=checkpoint.vocabulary_size(prefixes["label_backbone"]),
            )
        return {"backbone": backbone, "label_backbone": label_backbone}

    @classmethod
    def _checkpoint_preprocessor(cls, checkpoint, label_tokenizer=None, **kwargs):
        config = checkpoint.config
        label_tokenizer = checkpoint_lib.resolve_label_tokenizer(
            checkpoint.path, config, label_tokenizer
        )
        return cls.preprocessor_cls(
            checkpoint.tokenizer,
            label_tokenizer,
            pad_token_id=checkpoint.pad_token_id(config.encoder_config),
            label_pad_token_id=checkpoint_lib.pad_token_id(
                config.label_model_config, label_tokenizer
            ),
            **kwargs,
        )
