"""Reading a reference (PyTorch) GLiClass checkpoint directory into Keras."""

import dataclasses
import os

from safetensors.numpy import load_file

from gliclass_keras.config import GLiClassConfig
from gliclass_keras.convert.backbone_weights import backbone_from_hf_config
from gliclass_keras.convert.backbone_weights import load_hf_backbone_weights
from gliclass_keras.convert.head_weights import load_reference_layer_weights
from gliclass_keras.preprocessing.preprocessor import GLiClassPreprocessor
from gliclass_keras.preprocessing.tokenizer import GLiClassTokenizer

WEIGHTS_FILE = "model.safetensors"
BACKBONE_PREFIX = "model.encoder_model."
WORD_EMBEDDING_KEYS = (
    "embeddings.word_embeddings.weight",  # DeBERTa, BERT
    "embeddings.tok_embeddings.weight",  # ModernBERT
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


def load_reference_checkpoint(path, cls=None, config_overrides=None, **preprocessor_kwargs):
    """Build a `GLiClassClassifier` from a reference checkpoint directory."""
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
                "uni-encoder checkpoints add it (id given by config.json's "
                f"{field}={getattr(config, field)})."
            )
        if token_id != getattr(config, field):
            raise ValueError(
                f"config.json says {field}={getattr(config, field)} but the tokenizer "
                f"maps {token!r} to {token_id}."
            )
