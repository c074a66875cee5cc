"""Reading a reference (PyTorch) GLiClass checkpoint directory into Keras."""

import dataclasses
import os

import keras

from safetensors.numpy import load_file

from gliclass_keras.config import GLiClassConfig
from gliclass_keras.convert.transformers import backbone_from_hf_config
from gliclass_keras.convert.transformers import encoder_decoder_backbone_from_hf_config
from gliclass_keras.convert.transformers import load_hf_backbone_weights
from gliclass_keras.convert.head_weights import load_reference_layer_weights
from gliclass_keras.preprocessing.preprocessor import GLiClassPreprocessor
from gliclass_keras.preprocessing.tokenizer import GLiClassTokenizer

WEIGHTS_FILE = "model.safetensors"
BACKBONE_PREFIX = "model.encoder_model."
WORD_EMBEDDING_KEYS = (
    "embeddings.word_embeddings.weight",  # DeBERTa, BERT
    "embeddings.tok_embeddings.weight",  # ModernBERT
    "shared.weight",  # T5
)

# Head layers of the uni-encoder: (attribute of GLiClassClassifier, checkpoint prefix).
_UNI_ENCODER_HEAD = (
    ("text_projector", "model.text_projector."),
    ("classes_projector", "model.classes_projector."),
    ("scorer", "model.scorer."),
    ("text_lstm", "model.lstm."),
    ("segment_embedding", "model.segment_embeddings."),
    ("layerwise_attention", "model.layer_wise_attention."),
    ("logit_scale", "model."),
)


def _check_directory(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"`path` must be a checkpoint directory (str or PathLike). Received: {type(path).__name__}"
        )
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ValueError(f"`path` must be an existing checkpoint directory. Received: {path!r}")
    missing = [
        name for name in ("config.json", WEIGHTS_FILE, "tokenizer.json")
        if not os.path.isfile(os.path.join(path, name))
    ]
    if missing:
        raise ValueError(
            f"`path` {path!r} is not a GLiClass checkpoint directory: missing {missing}. "
            "Expected config.json, model.safetensors and tokenizer.json."
        )
    return path


def read_checkpoint(path):
    """`(GLiClassConfig, tensors, tokenizer)` of a reference checkpoint directory."""
    path = _check_directory(path)
    config = GLiClassConfig.from_json_file(os.path.join(path, "config.json"))
    tensors = load_file(os.path.join(path, WEIGHTS_FILE))
    tokenizer = GLiClassTokenizer.from_file(os.path.join(path, "tokenizer.json"))
    return config, tensors, tokenizer


def _vocabulary_size(tensors, prefix):
    for key in WORD_EMBEDDING_KEYS:
        if prefix + key in tensors:
            return int(tensors[prefix + key].shape[0])
    return None


def load_reference_checkpoint(
    path, cls=None, config_overrides=None, label_tokenizer=None, **preprocessor_kwargs
):
    """Build a GLiClass model from a reference checkpoint directory.

    Uni-encoder checkpoints give a `GLiClassClassifier` (or `cls`);
    Uni-encoder checkpoints give a `GLiClassClassifier` (or `cls`);
    bi-encoder checkpoints give a `GLiClassBiEncoderClassifier`,
    bi-encoder-fused ones a `GLiClassBiEncoderFusedClassifier` (or `cls`, a
    subclass of that class), and encoder-decoder and encoder-decoder-cls
    checkpoints a `GLiClassEncoderDecoderClassifier`.
    """
    if cls is None:
        from gliclass_keras.models.gliclass_classifier import GLiClassClassifier as cls
    config, tensors, tokenizer = read_checkpoint(path)
    if config_overrides:
        if not isinstance(config_overrides, dict):
            raise TypeError(
                f"`config_overrides` must be a dict. Received: {type(config_overrides).__name__}"
            )
        known = {field.name for field in dataclasses.fields(GLiClassConfig)} - {"extra"}
        unknown = sorted(set(config_overrides) - known)
        if unknown:
            raise ValueError(f"`config_overrides` has unknown GLiClassConfig fields: {unknown}")
        config = GLiClassConfig.from_dict({**config.to_dict(), **config_overrides})
    if config.architecture_type in ("bi-encoder", "bi-encoder-fused"):
        return _load_bi_encoder(
            path, cls, config, tensors, tokenizer, label_tokenizer, preprocessor_kwargs
        )
    if label_tokenizer is not None:
        raise ValueError(
            "`label_tokenizer` is only used by bi-encoder and bi-encoder-fused checkpoints."
        )
    if config.architecture_type in ("encoder-decoder", "encoder-decoder-cls"):
        return _load_encoder_decoder(path, config, tensors, tokenizer, preprocessor_kwargs)
    if config.architecture_type != "uni-encoder":
        raise NotImplementedError(
            f"{path!r} is a {config.architecture_type!r} checkpoint; gliclass-keras "
            "currently converts uni-encoder checkpoints."
        )
    backbone = backbone_from_hf_config(
        config.encoder_config, vocabulary_size=_vocabulary_size(tensors, BACKBONE_PREFIX)
    )
    pad_token_id = config.pad_token_id
    if pad_token_id is None:
        pad_token_id = tokenizer.special_token_id("[PAD]", "<pad>", "<|endoftext|>") or 0
    preprocessor_kwargs.setdefault("max_length", 1024)
    preprocessor = GLiClassPreprocessor(
        tokenizer,
        prompt_first=config.prompt_first,
        pad_token_id=pad_token_id,
        **preprocessor_kwargs,
    )
    _check_special_tokens(config, tokenizer)
    model = cls(backbone, config, preprocessor=preprocessor)

    used = set(load_hf_backbone_weights(backbone, tensors, BACKBONE_PREFIX))
    for attribute, prefix in _UNI_ENCODER_HEAD:
        layer = getattr(model, attribute, None)
        if layer is not None:
            used |= set(load_reference_layer_weights(layer, tensors, prefix))
    if model.logit_scale is None and "model.logit_scale" in tensors:
        # Every reference model has a logit_scale; uni-encoders use it only
        # with normalize_features, so it is read and not needed here.
        used.add("model.logit_scale")
    unexpected = sorted(set(tensors) - used)
    if unexpected:
        raise ValueError(
            f"The checkpoint at {path!r} has weights this {config.architecture_type} "
            f"model does not use: {unexpected}"
        )
    return model


def _pad_token_id(hf_config, tokenizer):
    pad_token_id = (hf_config or {}).get("pad_token_id")
    if pad_token_id is None:
        pad_token_id = tokenizer.special_token_id("[PAD]", "<pad>", "<|endoftext|>") or 0
    return pad_token_id


def resolve_label_tokenizer(path, config, label_tokenizer=None):
    """The label tokenizer of a bi-encoder checkpoint, from local files only.

    `label_tokenizer` (a `GLiClassTokenizer`, or a directory or
    `tokenizer.json` path) wins; otherwise `config.label_model_name` is read
    as a local path, as given or relative to the checkpoint directory.
    """
    if isinstance(label_tokenizer, GLiClassTokenizer):
        return label_tokenizer
    if label_tokenizer is not None:
        if not isinstance(label_tokenizer, (str, os.PathLike)):
            raise TypeError(
                "`label_tokenizer` must be a GLiClassTokenizer or a path. "
                f"Received: {type(label_tokenizer).__name__}"
            )
        return GLiClassTokenizer.from_file(label_tokenizer)
    name = config.label_model_name
    candidates = []
    if name:
        candidates = [os.path.expanduser(name), os.path.join(path, name)]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, "tokenizer.json")) or (
            os.path.isfile(candidate) and candidate.endswith(".json")
        ):
            return GLiClassTokenizer.from_file(candidate)
    raise ValueError(
        f"Cannot find the label tokenizer of the bi-encoder checkpoint {path!r}: "
        f"config.json's label_model_name={name!r} is not a local directory with a "
        "tokenizer.json (as given, or relative to the checkpoint directory), and "
        "gliclass-keras never downloads. Pass `label_tokenizer=` (a directory, a "
        "tokenizer.json path or a GLiClassTokenizer)."
    )


# Head layers of both bi-encoders (plain and fused): (model attribute, checkpoint prefix).
_BI_ENCODER_HEAD = (
    ("text_projector", "model.text_projector."),
    ("classes_projector", "model.classes_projector."),
    ("biencoder_projector", "model.biencoder_projector."),
    ("scorer", "model.scorer."),
    ("logit_scale", "model."),
)
LABEL_BACKBONE_PREFIX = "model.label_encoder."


def _bi_encoder_classes(architecture_type):
    """`(model class, preprocessor class)` of a two-backbone architecture."""
    if architecture_type == "bi-encoder-fused":
        from gliclass_keras.models.gliclass_bi_encoder_fused import (
            GLiClassBiEncoderFusedClassifier,
        )
        from gliclass_keras.preprocessing.bi_encoder_fused_preprocessor import (
            GLiClassBiEncoderFusedPreprocessor,
        )

        return GLiClassBiEncoderFusedClassifier, GLiClassBiEncoderFusedPreprocessor
    from gliclass_keras.models.gliclass_bi_encoder import GLiClassBiEncoderClassifier
    from gliclass_keras.preprocessing.bi_encoder_preprocessor import (
        GLiClassBiEncoderPreprocessor,
    )

    return GLiClassBiEncoderClassifier, GLiClassBiEncoderPreprocessor


def _load_bi_encoder(
    path, cls, config, tensors, tokenizer, label_tokenizer, preprocessor_kwargs
):
    """A bi-encoder or bi-encoder-fused model (the same weights, plus a fused text input)."""
    from gliclass_keras.models.bi_encoder_base import LABEL_BACKBONE_SCOPE
    from gliclass_keras.models.gliclass_classifier import GLiClassClassifier

    architecture = config.architecture_type
    model_cls, preprocessor_cls = _bi_encoder_classes(architecture)
    if cls is not None and cls is not GLiClassClassifier:
        if not issubclass(cls, model_cls):
            raise ValueError(
                f"{path!r} is a {architecture!r} checkpoint, which gives a "
                f"{model_cls.__name__}; load it with GLiClassClassifier.from_pretrained "
                f"or {model_cls.__name__}.from_pretrained (not {cls.__name__})."
            )
        model_cls = cls
    if not config.label_model_config:
        raise ValueError(f"The {architecture} checkpoint {path!r} has no label_model_config.")
    label_tokenizer = resolve_label_tokenizer(path, config, label_tokenizer)
    backbone = backbone_from_hf_config(
        config.encoder_config, vocabulary_size=_vocabulary_size(tensors, BACKBONE_PREFIX)
    )
    # A name scope keeps the two backbones' variable paths apart (the
    # optimizer's parameter groups are keyed by path).
    with keras.name_scope(LABEL_BACKBONE_SCOPE):
        label_backbone = backbone_from_hf_config(
            config.label_model_config,
            vocabulary_size=_vocabulary_size(tensors, LABEL_BACKBONE_PREFIX),
        )
    pad_token_id = config.pad_token_id
    if pad_token_id is None:
        pad_token_id = _pad_token_id(config.encoder_config, tokenizer)
    preprocessor_kwargs.setdefault("max_length", 1024)
    if architecture == "bi-encoder-fused":
        # Its text input holds <<LABEL>> placeholders (and <<SEP>>, <<EXAMPLE>>).
        _check_special_tokens(config, tokenizer)
        preprocessor_kwargs.setdefault("prompt_first", bool(config.prompt_first))
    preprocessor = preprocessor_cls(
        tokenizer,
        label_tokenizer,
        pad_token_id=pad_token_id,
        label_pad_token_id=_pad_token_id(config.label_model_config, label_tokenizer),
        **preprocessor_kwargs,
    )
    model = model_cls(backbone, label_backbone, config, preprocessor=preprocessor)
    used = set(load_hf_backbone_weights(backbone, tensors, BACKBONE_PREFIX))
    used |= set(load_hf_backbone_weights(label_backbone, tensors, LABEL_BACKBONE_PREFIX))
    for attribute, prefix in _BI_ENCODER_HEAD:
        layer = getattr(model, attribute, None)
        if layer is not None:
            used |= set(load_reference_layer_weights(layer, tensors, prefix))
    unexpected = sorted(set(tensors) - used)
    if unexpected:
        raise ValueError(
            f"The checkpoint at {path!r} has weights this {architecture} model does not "
            f"use: {unexpected}"
        )
    return model


# Head layers of the encoder-decoders: (attribute of
# GLiClassEncoderDecoderClassifier, checkpoint prefix).
_ENCODER_DECODER_HEAD = (
    ("text_projector", "model.text_projector."),
    ("classes_projector", "model.classes_projector."),
    ("scorer", "model.scorer."),
    ("text_lstm", "model.lstm."),
    ("logit_scale", "model."),
)
ENCODER_DECODER_PREFIX = "model.encoder_decoder_model."


def _load_encoder_decoder(path, config, tensors, tokenizer, preprocessor_kwargs):
    from gliclass_keras.models.gliclass_encoder_decoder import (
        GLiClassEncoderDecoderClassifier,
    )
    from gliclass_keras.preprocessing.encoder_decoder_preprocessor import (
        GLiClassEncoderDecoderPreprocessor,
    )

    # One token embedding for encoder and decoder: the checkpoint's
    # `shared.weight` (the reference's reload leaves its decoder copy
    # untied, spec 13.11; here there is no copy to untie).
    backbone = encoder_decoder_backbone_from_hf_config(
        config.encoder_config,
        vocabulary_size=_vocabulary_size(tensors, ENCODER_DECODER_PREFIX),
    )
    pad_token_id = config.pad_token_id
    if pad_token_id is None:
        pad_token_id = _pad_token_id(config.encoder_config, tokenizer)
    preprocessor_kwargs.setdefault("max_length", 1024)
    preprocessor = GLiClassEncoderDecoderPreprocessor(
        tokenizer, pad_token_id=pad_token_id, **preprocessor_kwargs
    )
    _check_special_tokens(config, tokenizer)
    model = GLiClassEncoderDecoderClassifier(backbone, config, preprocessor=preprocessor)
    used = set(load_hf_backbone_weights(backbone, tensors, ENCODER_DECODER_PREFIX))
    for attribute, prefix in _ENCODER_DECODER_HEAD:
        layer = getattr(model, attribute, None)
        if layer is not None:
            used |= set(load_reference_layer_weights(layer, tensors, prefix))
    if model.logit_scale is None and "model.logit_scale" in tensors:
        # As for uni-encoders: used only with normalize_features.
        used.add("model.logit_scale")
    unexpected = sorted(set(tensors) - used)
    if unexpected:
        raise ValueError(
            f"The checkpoint at {path!r} has weights this {config.architecture_type} "
            f"model does not use: {unexpected}"
        )
    return model


def _check_special_tokens(config, tokenizer):
    """The config's <<LABEL>>/<<SEP>>/<<EXAMPLE>> ids must be the tokenizer's."""
    for field, token in (
        ("class_token_index", "<<LABEL>>"),
        ("text_token_index", "<<SEP>>"),
        ("example_token_index", "<<EXAMPLE>>"),
    ):
        token_id = tokenizer.token_to_id(token)
        if token_id is None:
            raise ValueError(
                f"The checkpoint's tokenizer.json has no {token!r} token; GLiClass "
                f"{config.architecture_type} checkpoints add it (id given by "
                f"config.json's {field}={getattr(config, field)})."
            )
        if token_id != getattr(config, field):
            raise ValueError(
                f"config.json says {field}={getattr(config, field)} but the tokenizer "
                f"maps {token!r} to {token_id}."
            )
