"""`GLiClassBiEncoderClassifier`: the GLiClass bi-encoder as a Keras model."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.backbones.encoder import BackboneEncoder
from gliclass_keras.config import GLiClassConfig
from gliclass_keras.layers.bi_encoder_projector import BiEncoderProjector
from gliclass_keras.layers.features_projector import FeaturesProjector
from gliclass_keras.layers.logit_scale import LogitScale
from gliclass_keras.layers.logit_scale import l2_normalize
from gliclass_keras.layers.scorers import get_scorer
from gliclass_keras.layers.token_pooler import TokenPooler
from gliclass_keras.models.bi_encoder_base import LABEL_BACKBONE_SCOPE  # noqa: F401 (re-export)
from gliclass_keras.models.bi_encoder_base import BiEncoderModelMixin
from gliclass_keras.models.inference import ZeroShotInferenceMixin
from gliclass_keras.models.training import TrainingMixin

# Logit given to label slots that hold no label (padding of ragged label lists).
MASKED_LOGIT = -1000.0


@register
class GLiClassBiEncoderClassifier(
    BiEncoderModelMixin, TrainingMixin, ZeroShotInferenceMixin, keras.Model
):
    """GLiClass zero-shot text classifier, bi-encoder architecture.

    The reference `GLiClassBiEncoder`: texts and labels are encoded by two
    separate backbones. A text goes through the text backbone alone and is
    pooled; every label goes through the label backbone alone, is pooled
    and mapped to the text width by a `BiEncoderProjector`. Both then go
    through their `FeaturesProjector` (the text also through dropout),
    optional L2 normalisation (`torch.nn.functional.normalize` style), the
    scorer, and a learnable logit scale, which bi-encoders always apply.

    Inputs (as produced by `GLiClassBiEncoderPreprocessor`): `token_ids` and
    `padding_mask` `(batch, length)` for the texts, `label_token_ids` and
    `label_padding_mask` `(batch, num_labels, label_length)` for the labels,
    and `label_mask` `(batch, num_labels)`, 1 for a real label. Output: the
    logits `(batch, num_labels)`, `-1000` in empty label slots, so texts of
    one batch may have different numbers of labels. Pooling honours the
    padding masks, so scores never depend on the rest of the batch.

    Args:
        backbone: keras-hub backbone for the texts.
        label_backbone: keras-hub backbone for the labels. Build it under
            `keras.name_scope(LABEL_BACKBONE_SCOPE)` (as `from_pretrained`
            does) so its variable paths differ from the text backbone's,
            which `compile()`'s parameter groups need.
        config: `GLiClassConfig` (or its dict) with
            `architecture_type="bi-encoder"`.
        preprocessor: optional `GLiClassBiEncoderPreprocessor`, required by
            `classify`.

    Example:

    ```python
    model = gliclass_keras.GLiClassClassifier.from_pretrained("path/to/bi-encoder")
    model.classify(["One day I will see the world!"], ["travel", "sport"])
    ```
    """

    def __init__(self, backbone, label_backbone, config, preprocessor=None, **kwargs):
        if isinstance(config, dict):
            config = GLiClassConfig.from_dict(config)
        if not isinstance(config, GLiClassConfig):
            raise TypeError(
                f"`config` must be a GLiClassConfig or a dict. Received: {type(config).__name__}"
            )
        if config.architecture_type != "bi-encoder":
            raise ValueError(
                "GLiClassBiEncoderClassifier needs architecture_type='bi-encoder'. "
                f"Received: {config.architecture_type!r}"
            )
        if config.pooling_strategy == "pass" or config.scorer_type in ("cross-attn", "decoder-kv"):
            raise NotImplementedError(
                "Bi-encoders need a pooled text vector: pooling_strategy='pass' and the "
                f"{config.scorer_type!r} scorer are not supported (the reference fails too)."
            )
        for field in ("use_calibrator", "multimodal"):
            if getattr(config, field):
                raise NotImplementedError(f"`{field}=True` is not supported by gliclass-keras yet.")
        hidden = int(backbone.hidden_dim)
        head_hidden = int(config.hidden_size or hidden)

        # === Layers ===
        self.backbone = backbone
        self.label_backbone = label_backbone
        self.preprocessor = preprocessor
        self.encoder = BackboneEncoder(backbone, name="encoder")
        self.pooler = TokenPooler(config.pooling_strategy, name="pooler")
        self.label_encoder = LabelSetEncoder(
            label_backbone, config.pooling_strategy, name="label_encoder"
        )
        self.text_projector = FeaturesProjector(
            head_hidden,
            hidden,
            activation=config.projector_hidden_act,
            dropout=config.dropout,
            name="text_projector",
        )
        self.text_dropout = keras.layers.Dropout(config.dropout, name="text_dropout")
        self.biencoder_projector = BiEncoderProjector(
            head_hidden, hidden, activation=config.projector_hidden_act, name="biencoder_projector"
        )
        self.classes_projector = FeaturesProjector(
            head_hidden,
            hidden,
            activation=config.projector_hidden_act,
            dropout=config.dropout,
            name="classes_projector",
        )
        self.scorer = get_scorer(
            config.scorer_type,
            head_hidden,
            num_heads=config.scorer_num_heads,
            mlp_hidden_dim=config.scorer_mlp_hidden_size,
            attn_dropout=config.scorer_attn_dropout,
            name="scorer",
        )
        self.logit_scale = LogitScale(config.logit_scale_init_value, name="logit_scale")

        # === Functional Model ===
        inputs = {
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
        padding_mask = inputs["padding_mask"]
        label_mask = inputs["label_mask"]

        # Texts.
        text_states = self.encoder(inputs["token_ids"], padding_mask)[-1]
        text = self.pooler(text_states, mask=padding_mask)
        text = self.text_dropout(self.text_projector(text))

        labels = self.label_encoder(
            inputs["label_token_ids"], inputs["label_padding_mask"], label_mask
        )
        classes = self.classes_projector(self.biencoder_projector(labels))

        if config.normalize_features:
            text = l2_normalize(text, eps=1e-8, mode="max")
            classes = l2_normalize(classes, eps=1e-8, mode="max")
        logits = self.scorer(text, classes, class_mask=label_mask)
        logits = self.logit_scale(logits)
        logits = ops.where(
            ops.cast(label_mask, "bool"), logits, ops.cast(MASKED_LOGIT, logits.dtype)
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self._finish_functional_init(config)

    # ------------------------------------------------------------- creation
    @classmethod
    def from_pretrained(cls, path, config_overrides=None, label_tokenizer=None, **kwargs):
        """Load a reference bi-encoder checkpoint directory.

        See `GLiClassClassifier.from_pretrained`, which dispatches here for
        `architecture_type="bi-encoder"` checkpoints. The label tokenizer is
        `label_tokenizer` (a `GLiClassTokenizer`, or a directory or
        `tokenizer.json` path) when given, otherwise the config's
        `label_model_name` read as a local path (as given, or relative to
        the checkpoint directory). Nothing is downloaded.
        """
        from gliclass_keras.convert.checkpoint import load_reference_checkpoint

        return load_reference_checkpoint(
            path,
            cls=cls,
            config_overrides=config_overrides,
            label_tokenizer=label_tokenizer,
            **kwargs,
        )


class LabelSetEncoder(keras.layers.Layer):
    """Encodes and pools every label of every text with the label backbone.

    Call arguments: `label_token_ids`, `label_padding_mask`
    `(batch, num_labels, label_length)` and `label_mask`
    `(batch, num_labels)`; returns `(batch, num_labels, label_hidden_dim)`.
    Each (text, label) slot is one sequence for the backbone (the
    reference's `encode_classes`). Empty slots get one attended token, so no
    attention row is fully masked, and their vectors are zeroed, as the
    reference's scatter into zeros leaves them.
    """

    def __init__(self, backbone, pooling_strategy="first", **kwargs):
        kwargs.setdefault("dtype", backbone.dtype_policy)
        super().__init__(**kwargs)
        self.backbone = backbone
        self.pooling_strategy = pooling_strategy
        self.encoder = BackboneEncoder(backbone, name="encoder")
        self.pooler = TokenPooler(pooling_strategy, name="pooler")

    def build(self, label_token_ids_shape, label_padding_mask_shape=None, label_mask_shape=None):
        self.built = True

    def call(self, label_token_ids, label_padding_mask, label_mask, training=None):
        shape = ops.shape(label_token_ids)
        flat_ids = ops.reshape(label_token_ids, (-1, shape[2]))
        flat_mask = ops.cast(ops.reshape(label_padding_mask, (-1, shape[2])), "int32")
        empty = ops.cast(ops.equal(ops.sum(flat_mask, axis=1, keepdims=True), 0), "int32")
        first = ops.cast(ops.equal(ops.arange(shape[2])[None, :], 0), "int32")
        flat_mask = ops.maximum(flat_mask, empty * first)
        states = self.encoder(flat_ids, flat_mask, training=training)[-1]
        pooled = self.pooler(states, mask=flat_mask)
        pooled = ops.reshape(pooled, (shape[0], shape[1], ops.shape(pooled)[-1]))
        return pooled * ops.cast(ops.expand_dims(label_mask, -1), pooled.dtype)

    def compute_output_spec(self, label_token_ids, label_padding_mask, label_mask, training=None):
        shape = tuple(label_token_ids.shape[:2]) + (self.backbone.hidden_dim,)
        return keras.KerasTensor(shape, dtype=self.backbone.compute_dtype)
