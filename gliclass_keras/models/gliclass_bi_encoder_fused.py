"""`GLiClassBiEncoderFusedClassifier`: the GLiClass bi-encoder-fused architecture."""

from gliclass_keras.api_export import register
from gliclass_keras.backbones.backbone_encoder import BackboneEncoder
from gliclass_keras.convert import checkpoint as checkpoint_lib
from gliclass_keras.layers.class_token_extractor import ClassTokenExtractor
from gliclass_keras.layers.class_token_injector import ClassTokenInjector
from gliclass_keras.models.bi_encoder_base import GLiClassBiEncoderBase
from gliclass_keras.models.head_dtype_policy import head_dtype_policy
from gliclass_keras.preprocessing.bi_encoder_fused_preprocessor import (
    GLiClassBiEncoderFusedPreprocessor,
)


@register
class GLiClassBiEncoderFusedClassifier(GLiClassBiEncoderBase):
    """GLiClass zero-shot text classifier, bi-encoder-fused architecture.

    The reference `GLiClassBiEncoderFused`. Every label is first encoded on
    its own by a label backbone, exactly as in the bi-encoder
    (`GLiClassBiEncoderClassifier`): pooled, mapped to the text width by a
    `BiEncoderProjector`, passed through the classes `FeaturesProjector` and,
    with `normalize_features`, L2-normalised. These label vectors then
    *replace* the input embeddings of the `<<LABEL>>` tokens of the text
    encoder's sequence (`text<<LABEL>><<LABEL>>...<<SEP>>`, one `<<LABEL>>`
    per label), so the text encoder reads the text and all labels together.
    The text encoder's output at the `k`-th `<<LABEL>>` is label `k`'s class
    vector (no further projector); the text is pooled, projected, passed
    through dropout and optionally normalised; the scorer's logits are
    multiplied by the learnable logit scale (always, as in every bi-encoder).

    Inputs (as produced by `GLiClassBiEncoderFusedPreprocessor`):
    `token_ids` and `padding_mask` `(batch, length)` for the fused text
    sequences, `label_token_ids` and `label_padding_mask`
    `(batch, num_labels, label_length)` for the labels, and `label_mask`
    `(batch, num_labels)`, 1 for a real label. Row `b` must hold one
    `<<LABEL>>` token per real label (the preprocessor guarantees it: it
    never truncates a `<<LABEL>>` away). Output: the logits
    `(batch, num_labels)`, `-1000` in empty label slots, so texts of one
    batch may have different numbers of labels. Pooling honours the padding
    masks, so scores never depend on the rest of the batch.

    Args:
        backbone: keras-hub backbone for the fused text sequences; its
            vocabulary includes `<<LABEL>>`, `<<SEP>>` and `<<EXAMPLE>>`.
        label_backbone: keras-hub backbone for the labels. Build it under
            `keras.name_scope(LABEL_BACKBONE_SCOPE)` (as `from_pretrained`
            does) so its variable paths differ from the text backbone's.
        config: `GLiClassConfig` (or its dict) with
            `architecture_type="bi-encoder-fused"`.
        preprocessor: optional `GLiClassBiEncoderFusedPreprocessor`,
            required by `classify`.
        dtype: None (the head takes the backbone's dtype policy), or the
            `keras.dtype_policies.DTypePolicyMap` of quantized head layers
            (by layer path) that `get_config` saves for a quantized model, so
            a reloaded model builds their quantized weights (see
            `gliclass_keras.models.head_dtype_policy`).

    Example:

    ```python
    model = gliclass_keras.GLiClassClassifier.from_pretrained("path/to/bi-encoder-fused")
    type(model).__name__  # "GLiClassBiEncoderFusedClassifier"
    model.classify(
        ["One day I will see the world!", "Our team won the match."],
        [["travel", "dreams"], ["sport", "politics", "science"]],
        threshold=0.5,
    )
    # [[{"label": "travel", "score": 0.98}, ...], [{"label": "sport", ...}]]

    # Fine-tune on records, in the format it classifies with.
    model.compile()
    model.fit(
        [{"text": "We won 2-0.", "all_labels": ["sport", "travel"],
          "true_labels": ["sport"]}],
        epochs=1,
    )
    model.save("fused.keras")
    ```
    """

    architecture_types = ("bi-encoder-fused",)
    preprocessor_cls = GLiClassBiEncoderFusedPreprocessor

    def __init__(self, backbone, label_backbone, config, preprocessor=None, dtype=None, **kwargs):
        config = self._checked_config(config)
        dtype = head_dtype_policy(backbone, dtype)

        # === Layers ===
        self._build_encoders_and_head(config, backbone, label_backbone, preprocessor, dtype)
        self.class_token_injector = ClassTokenInjector(
            config.class_token_index, dtype=dtype, name="class_token_injector"
        )
        self.encoder = BackboneEncoder(backbone, name="encoder")
        self.class_token_extractor = ClassTokenExtractor(
            class_token_index=config.class_token_index,
            text_token_index=config.text_token_index,
            dtype=dtype,
            name="class_token_extractor",
        )

        # === Functional Model ===
        inputs = self.bi_encoder_inputs()
        token_ids = inputs["token_ids"]
        padding_mask = inputs["padding_mask"]
        label_mask = inputs["label_mask"]

        # Labels, as the bi-encoder encodes them, stand in for the
        # <<LABEL>> token embeddings of the text encoder's input.
        labels = self._label_vectors(inputs, config)
        injected = self.class_token_injector(labels, token_ids, label_mask)
        states = self.encoder(
            token_ids,
            padding_mask,
            replace_embeddings=injected["embeddings"],
            replace_mask=injected["mask"],
        )[-1]
        classes = self.class_token_extractor(states, token_ids, padding_mask, label_mask)[
            "class_embeddings"
        ]
        text = self._text_vector(self.pooler(states, mask=padding_mask), config)
        logits = self._score(text, classes, label_mask)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self._finish_init(config)

    @classmethod
    def _checkpoint_preprocessor(cls, checkpoint, **kwargs):
        # Its text input holds <<LABEL>> placeholders (and <<SEP>>, <<EXAMPLE>>).
        checkpoint_lib.check_special_tokens(checkpoint.config, checkpoint.tokenizer)
        kwargs.setdefault("prompt_first", bool(checkpoint.config.prompt_first))
        return super()._checkpoint_preprocessor(checkpoint, **kwargs)
