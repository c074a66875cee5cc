"""`GLiClassBiEncoderFusedClassifier`: the GLiClass bi-encoder-fused architecture."""

import keras

from gliclass_keras.api_export import register
from gliclass_keras.backbones.encoder import BackboneEncoder
from gliclass_keras.config import GLiClassConfig
from gliclass_keras.layers.bi_encoder_projector import BiEncoderProjector
from gliclass_keras.layers.class_token_extractor import ClassTokenExtractor
from gliclass_keras.layers.class_token_injector import ClassTokenInjector
from gliclass_keras.layers.features_projector import FeaturesProjector
from gliclass_keras.layers.logit_scale import LogitScale
from gliclass_keras.layers.logit_scale import l2_normalize
from gliclass_keras.layers.scorers import get_scorer
from gliclass_keras.layers.token_pooler import TokenPooler
from gliclass_keras.models.bi_encoder_base import BiEncoderModelMixin
from gliclass_keras.models.bi_encoder_base import bi_encoder_inputs
from gliclass_keras.models.gliclass_bi_encoder import LabelSetEncoder
from gliclass_keras.models.inference import ZeroShotInferenceMixin
from gliclass_keras.models.training import TrainingMixin


@register
class GLiClassBiEncoderFusedClassifier(
    BiEncoderModelMixin, TrainingMixin, ZeroShotInferenceMixin, keras.Model
):
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

    def __init__(self, backbone, label_backbone, config, preprocessor=None, **kwargs):
        if isinstance(config, dict):
            config = GLiClassConfig.from_dict(config)
        if not isinstance(config, GLiClassConfig):
            raise TypeError(
                f"`config` must be a GLiClassConfig or a dict. Received: {type(config).__name__}"
            )
        if config.architecture_type != "bi-encoder-fused":
            raise ValueError(
                "GLiClassBiEncoderFusedClassifier needs architecture_type='bi-encoder-fused'. "
                f"Received: {config.architecture_type!r}"
            )
        if config.pooling_strategy == "pass" or config.scorer_type in ("cross-attn", "decoder-kv"):
            raise NotImplementedError(
                "The bi-encoder-fused model needs a pooled text vector: "
                "pooling_strategy='pass' and the cross-attn/decoder-kv scorers are not "
                "supported."
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
        self.label_encoder = LabelSetEncoder(
            label_backbone, config.pooling_strategy, name="label_encoder"
        )
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
        self.class_token_injector = ClassTokenInjector(
            config.class_token_index, name="class_token_injector"
        )
        self.encoder = BackboneEncoder(backbone, name="encoder")
        self.class_token_extractor = ClassTokenExtractor(
            class_token_index=config.class_token_index,
            text_token_index=config.text_token_index,
            name="class_token_extractor",
        )
        self.pooler = TokenPooler(config.pooling_strategy, name="pooler")
        self.text_projector = FeaturesProjector(
            head_hidden,
            hidden,
            activation=config.projector_hidden_act,
            dropout=config.dropout,
            name="text_projector",
        )
        self.text_dropout = keras.layers.Dropout(config.dropout, name="text_dropout")
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
        inputs = bi_encoder_inputs()
        token_ids = inputs["token_ids"]
        padding_mask = inputs["padding_mask"]
        label_mask = inputs["label_mask"]

        # Labels, as the bi-encoder encodes them.
        labels = self.label_encoder(
            inputs["label_token_ids"], inputs["label_padding_mask"], label_mask
        )
        labels = self.classes_projector(self.biencoder_projector(labels))
        if config.normalize_features:
            labels = l2_normalize(labels, eps=1e-8, mode="max")

        # The label vectors stand in for the <<LABEL>> token embeddings.
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

        text = self.pooler(states, mask=padding_mask)
        text = self.text_dropout(self.text_projector(text))
        if config.normalize_features:
            text = l2_normalize(text, eps=1e-8, mode="max")
        logits = self._score(text, classes, label_mask)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self._finish_functional_init(config)

    @classmethod
    def from_pretrained(cls, path, config_overrides=None, label_tokenizer=None, **kwargs):
        """Load a reference bi-encoder-fused checkpoint directory.

        See `GLiClassClassifier.from_pretrained`, which dispatches here for
        `architecture_type="bi-encoder-fused"` checkpoints; the label
        tokenizer is found as for the bi-encoder
        (`GLiClassBiEncoderClassifier.from_pretrained`). Nothing is
        downloaded.
        """
        from gliclass_keras.convert.checkpoint import load_reference_checkpoint

        return load_reference_checkpoint(
            path,
            cls=cls,
            config_overrides=config_overrides,
            label_tokenizer=label_tokenizer,
            **kwargs,
        )
