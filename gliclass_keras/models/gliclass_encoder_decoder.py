"""`GLiClassEncoderDecoderClassifier`: the GLiClass encoder-decoder architectures as a Keras model."""

import keras

from gliclass_keras.api_export import register
from gliclass_keras.backbones.backbone_encoder import BackboneEncoder
from gliclass_keras.backbones.t5 import T5Decoder
from gliclass_keras.convert import checkpoint as checkpoint_lib
from gliclass_keras.convert.transformers import encoder_decoder_backbone_from_hf_config
from gliclass_keras.models.gliclass_classifier import GLiClassClassifier
from gliclass_keras.models.head_dtype_policy import head_dtype_policy
from gliclass_keras.models.heads import HEAD_CHECKPOINT_PREFIXES
from gliclass_keras.models.heads import build_head
from gliclass_keras.models.heads import class_token_extractor
from gliclass_keras.preprocessing.encoder_decoder_preprocessor import (
    GLiClassEncoderDecoderPreprocessor,
)


@register
class GLiClassEncoderDecoderClassifier(GLiClassClassifier):
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
        backbone: a keras-hub `T5Backbone` (`T5EncoderDecoderBackbone`, as
            `encoder_decoder_backbone_from_hf_config` builds it) whose vocabulary
            includes the `<<LABEL>>`, `<<SEP>>` and `<<EXAMPLE>>` tokens.
        config: `GLiClassConfig` (or its dict) with `architecture_type`
            `"encoder-decoder"` or `"encoder-decoder-cls"`.
        preprocessor: optional `GLiClassEncoderDecoderPreprocessor`,
            required by `classify`.
        dtype: None (the head takes the backbone's dtype policy), or the
            `keras.dtype_policies.DTypePolicyMap` of quantized head layers
            (by layer path) that `get_config` saves for a quantized model, so
            a reloaded model builds their quantized weights (see
            `gliclass_keras.models.head_dtype_policy`).

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
    model.save("encdec.keras")  # reloads as a GLiClassEncoderDecoderClassifier
    ```
    """

    architecture_types = ("encoder-decoder", "encoder-decoder-cls")
    preprocessor_cls = GLiClassEncoderDecoderPreprocessor
    checkpoint_layout = checkpoint_lib.CheckpointLayout(
        backbones={"backbone": "model.encoder_decoder_model."},
        head=HEAD_CHECKPOINT_PREFIXES,
        # As for uni-encoders: the logit scale is used only with normalize_features.
        optional_keys=("model.logit_scale",),
    )
    # One token embedding for encoder and decoder: the checkpoint's
    # `shared.weight` (the reference's reload leaves its decoder copy untied,
    # spec 13.11; here there is no copy to untie).
    build_backbone = staticmethod(encoder_decoder_backbone_from_hf_config)

    @classmethod
    def _check_config(cls, config):
        architecture = config.architecture_type
        for field in ("squeeze_layers", "layer_wise"):
            if getattr(config, field):
                raise NotImplementedError(
                    f"`{field}=True` is not supported for {architecture!r} models."
                )
        if architecture == "encoder-decoder-cls" and (
            config.use_lstm or config.scorer_type == "cross-attn"
        ):
            raise NotImplementedError(
                "'encoder-decoder-cls' scores one text vector (the decoder's last "
                "token): `use_lstm` and the 'cross-attn' scorer are not supported "
                "(the reference never runs its LSTM and fails with cross-attn)."
            )
        if config.scorer_type == "decoder-kv":
            raise NotImplementedError("The 'decoder-kv' scorer needs a decoder-kv model.")

    def __init__(self, backbone, config, preprocessor=None, dtype=None, **kwargs):
        config = self._checked_config(config)
        text_on_decoder = config.architecture_type == "encoder-decoder-cls"
        dtype = head_dtype_policy(backbone, dtype)

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.encoder = BackboneEncoder(backbone, name="encoder")
        self.decoder = T5Decoder(backbone, causal=text_on_decoder, name="decoder")
        self.class_token_extractor = class_token_extractor(config, dtype)
        # encoder-decoder-cls: the state at the last real token of the text.
        build_head(
            self,
            config,
            backbone,
            pooling_strategy="last" if text_on_decoder else None,
            text_lstm=True,
            contrastive_loss=True,
            dtype=dtype,
        )

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
        features = self.class_token_extractor(
            class_states, inputs["class_token_ids"], inputs["class_padding_mask"], label_mask
        )
        logits = self._head_logits(
            config, text_states, inputs["padding_mask"], features["class_embeddings"], label_mask
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self._finish_init(config)

    # ------------------------------------------------------------- creation
    @classmethod
    def _checkpoint_preprocessor(cls, checkpoint, **kwargs):
        kwargs.setdefault("pad_token_id", checkpoint.pad_token_id(checkpoint.config.encoder_config))
        return super()._checkpoint_preprocessor(checkpoint, **kwargs)
