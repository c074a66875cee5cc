"""`GLiClassUniEncoderClassifier`: the GLiClass uni-encoder architecture."""

import keras

from gliclass_keras.api_export import register
from gliclass_keras.backbones.backbone_encoder import BackboneEncoder
from gliclass_keras.config import GLiClassConfig
from gliclass_keras.convert import checkpoint as checkpoint_lib
from gliclass_keras.convert import hf_encoder
from gliclass_keras.layers.head_rows import ROW_POOLINGS
from gliclass_keras.layers.head_rows import HeadRows
from gliclass_keras.layers.head_rows import row_features
from gliclass_keras.layers.layerwise_attention import LayerwiseAttention
from gliclass_keras.layers.segment_embedding import SegmentEmbedding
from gliclass_keras.models.gliclass_classifier import GLiClassClassifier
from gliclass_keras.models.head_dtype_policy import head_dtype_policy
from gliclass_keras.models.heads import HEAD_CHECKPOINT_PREFIXES
from gliclass_keras.models.heads import build_head
from gliclass_keras.models.heads import class_token_extractor
from gliclass_keras.models.heads import head_sizes
from gliclass_keras.preprocessing.uni_encoder_preprocessor import GLiClassPreprocessor

# Config fields `from_encoder` fills in from the encoder itself.
_FROM_ENCODER_FIELDS = ("encoder_config", "class_token_index", "text_token_index", "example_token_index")
# Scorers that read one text vector (not the text's token states).
_VECTOR_SCORERS = ("simple", "weighted-dot", "mlp", "hopfield")


def reads_rows(config, num_layers):
    """Whether a uni-encoder head reads only a few positions of the last layer.

    True when it reads one position per label (`class_token_pooling="first"`)
    and one of the text (`pooling_strategy` `"first"`/`"last"`, no LSTM, no
    `extract_text_features`, a scorer of text vectors), from the last layer
    alone (no `squeeze_layers`, `encoder_layer_id` -1 or `num_layers`).
    """
    return (
        config.class_token_pooling == "first"
        and config.pooling_strategy in ROW_POOLINGS
        and not config.use_lstm
        and not config.extract_text_features
        and config.scorer_type in _VECTOR_SCORERS
        and not config.squeeze_layers
        and config.encoder_layer_id in (-1, num_layers)
    )


@register
class GLiClassUniEncoderClassifier(GLiClassClassifier):
    """GLiClass zero-shot text classifier, uni-encoder architecture.

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

    When the head reads only a few positions of the last layer (one per
    label and one of the text: `class_token_pooling="first"` with
    `pooling_strategy` `"first"` or `"last"` and a vector scorer, as in the
    published GLiClass checkpoints), the last transformer layer computes its
    output at those positions alone (`HeadRows`, `BackboneEncoder`'s
    `output_rows`): the same logits, for about three quarters of that
    layer's matrix products less (`compute_read_rows_only`).

    `GLiClassClassifier(backbone, config, preprocessor)` with a uni-encoder
    config builds this class, and `.keras` files saved before it had its own
    name (as `GLiClassClassifier`) load as this class.

    Args:
        backbone: an encoder backbone supported by `BackboneEncoder`
            (keras-hub `DebertaV3Backbone`, a BERT backbone,
            `ModernBertBackbone`, `T5EncoderBackbone`) whose vocabulary
            includes the `<<LABEL>>`, `<<SEP>>` and `<<EXAMPLE>>` tokens.
        config: `GLiClassConfig` (or its dict) describing the head.
        preprocessor: optional `GLiClassPreprocessor`, required by `classify`.
        dtype: None (the head takes the backbone's dtype policy), or the
            `keras.dtype_policies.DTypePolicyMap` of quantized head layers
            (by layer path) that `get_config` saves for a quantized model, so
            a reloaded model builds their quantized weights (see
            `gliclass_keras.models.head_dtype_policy`).

    Example:

    ```python
    model = gliclass_keras.GLiClassClassifier.from_pretrained("path/to/checkpoint")
    type(model).__name__  # "GLiClassUniEncoderClassifier"
    model.classify(
        ["One day I will see the world!"],
        ["travel", "dreams", "sport"],
        threshold=0.5,
    )
    # [[{"label": "travel", "score": 0.97}, {"label": "dreams", "score": 0.88}]]
    model.save("gliclass.keras")
    ```
    """

    architecture_types = ("uni-encoder",)
    preprocessor_cls = GLiClassPreprocessor
    checkpoint_layout = checkpoint_lib.CheckpointLayout(
        backbones={"backbone": "model.encoder_model."},
        head=HEAD_CHECKPOINT_PREFIXES
        + (
            ("segment_embedding", "model.segment_embeddings."),
            ("layerwise_attention", "model.layer_wise_attention."),
        ),
        # Every reference model has a logit_scale; uni-encoders use it only
        # with normalize_features.
        optional_keys=("model.logit_scale",),
    )
    normalize_mode = "add"

    def __init__(self, backbone, config, preprocessor=None, dtype=None, **kwargs):
        config = self._checked_config(config)
        hidden, _ = head_sizes(backbone, config)
        dtype = head_dtype_policy(backbone, dtype)

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
                dtype=dtype,
                name="segment_embedding",
            )
        self.layerwise_attention = None
        if config.squeeze_layers:
            self.layerwise_attention = LayerwiseAttention(
                backbone.num_layers + 1, hidden, dtype=dtype, name="layerwise_attention"
            )
        self.class_token_extractor = None
        self.head_rows = None
        if not (self.compute_read_rows_only and reads_rows(config, backbone.num_layers)):
            self.class_token_extractor = class_token_extractor(config, dtype)
        else:
            self.head_rows = HeadRows(
                config.class_token_index,
                pooling_strategy=config.pooling_strategy,
                embed_class_token=config.embed_class_token,
                dtype=dtype,
                name="head_rows",
            )
        build_head(self, config, backbone, text_lstm=True, contrastive_loss=True, dtype=dtype)

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
        if self.head_rows is not None:
            rows = self.head_rows(token_ids, padding_mask, label_mask)
            hidden_states = self.encoder(
                token_ids,
                padding_mask,
                extra_embeddings=extra,
                output_rows=[rows["text_rows"], rows["class_rows"]],
            )
            text_states, class_states = hidden_states[-1]
            features = row_features(text_states, class_states, rows["found"], padding_mask)
        else:
            hidden_states = self.encoder(token_ids, padding_mask, extra_embeddings=extra)
            if self.layerwise_attention is not None:
                sequence = self.layerwise_attention(hidden_states, mask=padding_mask)
            else:
                sequence = hidden_states[config.encoder_layer_id]
            features = self.class_token_extractor(sequence, token_ids, padding_mask, label_mask)
        logits = self._head_logits(
            config,
            features["text_embeddings"],
            features["text_mask"],
            features["class_embeddings"],
            label_mask,
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self._finish_init(config)

    # ------------------------------------------------------------- creation
    @classmethod
    def _checkpoint_preprocessor(cls, checkpoint, **kwargs):
        # The tokenizer's pad token (the encoder config's is not read).
        kwargs.setdefault("pad_token_id", checkpoint.pad_token_id({}))
        kwargs.setdefault("prompt_first", checkpoint.config.prompt_first)
        return super()._checkpoint_preprocessor(checkpoint, **kwargs)

    @classmethod
    def _from_encoder(cls, path, config_fields=None, **preprocessor_kwargs):
        """A new uni-encoder on the Hugging Face encoder at `path` (see `from_encoder`)."""
        fields = dict(config_fields or {})
        for name in _FROM_ENCODER_FIELDS:
            if name in fields:
                raise ValueError(f"`{name}` is set from the encoder; do not pass it.")
        encoder = hf_encoder.read_encoder(path, add_gliclass_tokens=True)
        class_id, text_id, example_id = encoder.gliclass_token_ids
        config = GLiClassConfig(
            encoder_config=encoder.config,
            encoder_model=encoder.name,
            class_token_index=class_id,
            text_token_index=text_id,
            example_token_index=example_id,
            vocab_size=encoder.config["vocab_size"],
            **fields,
        )
        preprocessor_kwargs.setdefault("max_length", encoder.max_length())
        preprocessor = cls.preprocessor_cls(
            encoder.tokenizer,
            prompt_first=config.prompt_first,
            pad_token_id=encoder.pad_token_id(),
            **preprocessor_kwargs,
        )
        return cls(encoder.backbone(), config, preprocessor=preprocessor)
