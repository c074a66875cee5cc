"""`GLiClassEncoderDecoderClassifier`: the GLiClass encoder-decoder architectures as a Keras model."""

import keras
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.backbones.encoder import BackboneEncoder
from gliclass_keras.backbones.t5 import T5Decoder
from gliclass_keras.config import GLiClassConfig
from gliclass_keras.data.gliclass_dataset import bucket_length as _bucket_length
from gliclass_keras.layers.class_token_extractor import ClassTokenExtractor
from gliclass_keras.layers.features_projector import FeaturesProjector
from gliclass_keras.layers.logit_scale import LogitScale
from gliclass_keras.layers.logit_scale import l2_normalize
from gliclass_keras.layers.scorers import get_scorer
from gliclass_keras.layers.text_lstm import TextLSTM
from gliclass_keras.layers.token_pooler import TokenPooler
from gliclass_keras.losses import ContrastiveLabelLoss
from gliclass_keras.models.inference import ZeroShotInferenceMixin
from gliclass_keras.models.training import TrainingMixin

# Logit given to label slots that hold no label (padding of ragged label lists).
MASKED_LOGIT = -1000.0
ENCODER_DECODER_TYPES = ("encoder-decoder", "encoder-decoder-cls")


@register
class GLiClassEncoderDecoderClassifier(TrainingMixin, ZeroShotInferenceMixin, keras.Model):
    """GLiClass zero-shot text classifier on an encoder-decoder backbone (T5).

    The reference's two encoder-decoder architectures, chosen by
    `config.architecture_type`. Each text gives a *text side* (the text and
    any few-shot examples) and a *class side* (`"<<LABEL>>l1<<LABEL>>l2...
    <<SEP>>"` and the prompt), as `GLiClassEncoderDecoderPreprocessor`
    builds them.

    * `"encoder-decoder"` (reference `GLiClassEncoderDecoder`): the text
      side goes through the encoder and is pooled (`pooling_strategy`, over
      its real tokens; optional `use_lstm` first); the class side goes
      through the decoder with cross-attention to the encoder and a
      **bidirectional** (padding-only) self-attention mask, and each
      `<<LABEL>>` state of the decoder's output is a label vector.
    * `"encoder-decoder-cls"` (reference `GLiClassEncoderDecoderCLS`): the
      class side goes through the encoder, whose `<<LABEL>>` states are the
      label vectors; the text side goes through an ordinary causal decoder,
      and the text vector is its state at the text's last real token.

    Both then go through the `FeaturesProjector`s (the text also through
    dropout), optional L2 normalisation (`torch.nn.functional.normalize`
    style) with the learnable logit scale, and the scorer. Label vectors
    use `class_token_pooling` and `embed_class_token` (and
    `extract_text_features` for average pooling) as in the uni-encoder.
    The backbone's token embedding is the one table shared by encoder and
    decoder.

    Inputs (as produced by `GLiClassEncoderDecoderPreprocessor`):
    `token_ids` and `padding_mask` `(batch, length)` (text side),
    `class_token_ids` and `class_padding_mask` `(batch, class_length)`
    (class side), `label_mask` `(batch, num_labels)`, 1 for a real label.
    Output: the logits `(batch, num_labels)`, `-1000` in empty label slots,
    one slot per label (the reference always returns 25 slots). Pooling
    honours the padding masks, so scores never depend on the rest of the
    batch.

    Config fields the reference's encoder-decoders ignore
    (`prompt_first`, `encoder_layer_id`, `use_segment_embeddings`) are
    ignored here too; `squeeze_layers` and `layer_wise`, and for
    `"encoder-decoder-cls"` `use_lstm` and the `cross-attn` scorer (which
    the reference builds but cannot run or never runs), raise
    `NotImplementedError`.

    Args:
        backbone: a keras-hub `T5Backbone` (`T5EncoderDecoderBackbone` from
            `gliclass_keras.convert.backbone_weights.
            encoder_decoder_backbone_from_hf_config`) whose vocabulary
            includes the `<<LABEL>>`, `<<SEP>>` and `<<EXAMPLE>>` tokens.
        config: `GLiClassConfig` (or its dict) with `architecture_type`
            `"encoder-decoder"` or `"encoder-decoder-cls"`.
        preprocessor: optional `GLiClassEncoderDecoderPreprocessor`,
            required by `classify`.

    Example:

    ```python
    model = gliclass_keras.GLiClassClassifier.from_pretrained(
        "tests/fixtures/reference/encdec_t5"
    )  # a GLiClassEncoderDecoderClassifier
    model.classify(
        ["One day I will see the world!"], ["travel", "sport"], threshold=0.5
    )
    # Fine-tune on records, as any GLiClass model.
    model.compile()
    model.fit(
        [{"text": "We won", "all_labels": ["sport", "travel"], "true_labels": ["sport"]}],
        epochs=1,
    )
    model.save("encdec.keras")
    ```
    """

    def __init__(self, backbone, config, preprocessor=None, **kwargs):
        if isinstance(config, dict):
            config = GLiClassConfig.from_dict(config)
        if not isinstance(config, GLiClassConfig):
            raise TypeError(
                f"`config` must be a GLiClassConfig or a dict. Received: {type(config).__name__}"
            )
        architecture = config.architecture_type
        if architecture not in ENCODER_DECODER_TYPES:
            raise ValueError(
                "GLiClassEncoderDecoderClassifier needs architecture_type "
                f"'encoder-decoder' or 'encoder-decoder-cls'. Received: {architecture!r}"
            )
        for field in ("use_calibrator", "multimodal", "squeeze_layers", "layer_wise"):
            if getattr(config, field):
                raise NotImplementedError(
                    f"`{field}=True` is not supported for {architecture!r} models."
                )
        text_on_decoder = architecture == "encoder-decoder-cls"
        if text_on_decoder and (config.use_lstm or config.scorer_type == "cross-attn"):
            raise NotImplementedError(
                "'encoder-decoder-cls' scores one text vector (the decoder's last "
                "token): `use_lstm` and the 'cross-attn' scorer are not supported "
                "(the reference never runs its LSTM and fails with cross-attn)."
            )
        if config.scorer_type == "decoder-kv":
            raise NotImplementedError("The 'decoder-kv' scorer needs a decoder-kv model.")
        hidden = int(backbone.hidden_dim)
        head_hidden = int(config.hidden_size or hidden)

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.encoder = BackboneEncoder(backbone, name="encoder")
        self.decoder = T5Decoder(backbone, causal=text_on_decoder, name="decoder")
        self.class_token_extractor = ClassTokenExtractor(
            class_token_index=config.class_token_index,
            text_token_index=config.text_token_index,
            class_token_pooling=config.class_token_pooling,
            embed_class_token=config.embed_class_token,
            extract_text_features=config.extract_text_features,
            name="class_token_extractor",
        )
        self.text_lstm = TextLSTM(head_hidden, name="text_lstm") if config.use_lstm else None
        # encoder-decoder-cls: the state at the last real token of the text.
        self.pooler = TokenPooler(
            "last" if text_on_decoder else config.pooling_strategy, name="pooler"
        )
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
            "class_token_ids": keras.Input(shape=(None,), dtype="int32", name="class_token_ids"),
            "class_padding_mask": keras.Input(
                shape=(None,), dtype="int32", name="class_padding_mask"
            ),
            "label_mask": keras.Input(shape=(None,), dtype="int32", name="label_mask"),
        }
        text = (inputs["token_ids"], inputs["padding_mask"])
        classes = (inputs["class_token_ids"], inputs["class_padding_mask"])
        label_mask = inputs["label_mask"]
        encoder_side, decoder_side = (classes, text) if text_on_decoder else (text, classes)
        encoder_states = self.encoder(*encoder_side)[-1]
        decoder_states = self.decoder(*decoder_side, encoder_states, encoder_side[1])
        text_states, class_states = (
            (decoder_states, encoder_states)
            if text_on_decoder
            else (encoder_states, decoder_states)
        )
        text_mask = inputs["padding_mask"]

        features = self.class_token_extractor(
            class_states, inputs["class_token_ids"], inputs["class_padding_mask"], label_mask
        )
        if self.text_lstm is not None:
            text_states = self.text_lstm(text_states, mask=text_mask)
        pooled = self.pooler(text_states, mask=text_mask)
        pooled = self.text_dropout(self.text_projector(pooled))
        class_vectors = self.classes_projector(features["class_embeddings"])
        if config.normalize_features:
            pooled = l2_normalize(pooled, eps=1e-8, mode="max")
            class_vectors = l2_normalize(class_vectors, eps=1e-8, mode="max")
        if self.contrastive_loss is not None:
            class_vectors = self.contrastive_loss(class_vectors, label_mask)
        logits = self.scorer(pooled, class_vectors, text_mask=text_mask, class_mask=label_mask)
        if self.logit_scale is not None:
            logits = self.logit_scale(logits)
        logits = ops.where(
            ops.cast(label_mask, "bool"), logits, ops.cast(MASKED_LOGIT, logits.dtype)
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self._finish_functional_init(config)

    # ------------------------------------------------------------- creation
    @classmethod
    def from_pretrained(cls, path, config_overrides=None, **kwargs):
        """Load a reference encoder-decoder checkpoint directory.

        See `GLiClassClassifier.from_pretrained`, which dispatches here for
        `architecture_type` `"encoder-decoder"` and `"encoder-decoder-cls"`
        checkpoints. The backbone is a `T5EncoderDecoderBackbone` whose one
        token embedding is the checkpoint's `shared.weight`; every weight of
        the checkpoint is used, or loading fails naming the rest.
        """
        from gliclass_keras.convert.checkpoint import load_reference_checkpoint

        return load_reference_checkpoint(
            path, cls=cls, config_overrides=config_overrides, **kwargs
        )

    def backbone_variables(self):
        """The encoder-decoder's weights (the "encoder" parameter groups of training)."""
        return list(self.backbone.trainable_variables)

    # ------------------------------------------------------------- inference
    def _collate_rows(self, rows, length, num_labels, static_shapes):
        class_length = None
        if static_shapes:
            class_length = _bucket_length(max(len(row.class_token_ids) for row in rows))
        return self.preprocessor.collate(
            rows, sequence_length=length, num_labels=num_labels, class_length=class_length
        )

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
