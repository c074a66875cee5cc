"""A new GLiClass model from a plain Hugging Face encoder directory.

What the reference's `train.py` does before training from scratch: add the
`<<LABEL>>`, `<<SEP>>` and `<<EXAMPLE>>` special tokens to the encoder's
tokenizer, grow the word embeddings by three rows, and point the config's
token indices at them. The head starts from Keras' initializers.
"""

import json
import os

import keras
import numpy as np
import tokenizers
from safetensors.numpy import load_file

from gliclass_keras.config import GLiClassConfig
from gliclass_keras.convert.transformers import backbone_from_hf_config
from gliclass_keras.convert.transformers import load_hf_backbone_weights
from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing.preprocessor import GLiClassPreprocessor
from gliclass_keras.preprocessing.tokenizer import GLiClassTokenizer

GLICLASS_TOKENS = (inputs_lib.CLASS_TOKEN, inputs_lib.TEXT_TOKEN, inputs_lib.EXAMPLE_TOKEN)
_WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


def _weights_prefix(tensors, path):
    for key in tensors:
        if key.endswith(_WORD_EMBEDDINGS):
            return key[: -len(_WORD_EMBEDDINGS)]
    raise ValueError(f"{path!r}: model.safetensors has no '*{_WORD_EMBEDDINGS}' tensor.")


def _read_encoder(path, add_gliclass_tokens):
    """`(encoder_config, tensors, prefix, tokenizer, token_ids)` of an encoder directory.

    With `add_gliclass_tokens`, the GLiClass tokens are added to the
    tokenizer and the word embeddings grown to match (`token_ids` are their
    ids; otherwise `None`).
    """
    path = os.fspath(path)
    files = {name: os.path.join(path, name) for name in ("config.json", "model.safetensors", "tokenizer.json")}
    missing = [name for name, file in files.items() if not os.path.isfile(file)]
    if missing:
        raise ValueError(
            f"`path` {path!r} is not a Hugging Face encoder directory: missing {missing}."
        )
    with open(files["config.json"], encoding="utf-8") as f:
        encoder_config = json.load(f)
    tokenizer = tokenizers.Tokenizer.from_file(files["tokenizer.json"])
    tensors = load_file(files["model.safetensors"])
    prefix = _weights_prefix(tensors, path)
    if not add_gliclass_tokens:
        return encoder_config, tensors, prefix, tokenizer, None
    present = [token for token in GLICLASS_TOKENS if tokenizer.token_to_id(token) is not None]
    if present:
        raise ValueError(f"{path!r} already has GLiClass tokens {present}; load it with from_pretrained.")
    embeddings = tensors[prefix + _WORD_EMBEDDINGS]
    tokenizer.add_special_tokens(list(GLICLASS_TOKENS))
    ids = [tokenizer.token_to_id(token) for token in GLICLASS_TOKENS]
    new_size = max(ids) + 1
    # New rows start at the mean embedding (the reference's resize samples
    # around the mean; the mean keeps the build deterministic).
    grown = np.empty((new_size, embeddings.shape[1]), dtype=embeddings.dtype)
    grown[: embeddings.shape[0]] = embeddings
    grown[embeddings.shape[0] :] = embeddings.mean(axis=0)
    tensors = dict(tensors)
    tensors[prefix + _WORD_EMBEDDINGS] = grown
    encoder_config = dict(encoder_config, vocab_size=new_size)
    return encoder_config, tensors, prefix, tokenizer, ids


def _backbone(encoder_config, tensors, prefix):
    backbone = backbone_from_hf_config(
        encoder_config, vocabulary_size=int(tensors[prefix + _WORD_EMBEDDINGS].shape[0])
    )
    load_hf_backbone_weights(backbone, tensors, prefix)
    return backbone


def _pad_and_length(encoder_config, tokenizer, preprocessor_kwargs):
    pad_token_id = encoder_config.get("pad_token_id")
    if pad_token_id is None:
        pad_token_id = tokenizer.special_token_id("[PAD]", "<pad>") or 0
    max_positions = encoder_config.get("max_position_embeddings") or 1024
    preprocessor_kwargs.setdefault("max_length", min(int(max_positions), 1024))
    return int(pad_token_id)


def _check_fields(config_fields, reserved):
    fields = dict(config_fields or {})
    for name in reserved:
        if name in fields:
            raise ValueError(f"`{name}` is set from the encoder; do not pass it.")
    return fields


def load_encoder(path, cls, config_fields=None, **preprocessor_kwargs):
    """Build `cls` (a GLiClass uni-encoder class) on the encoder saved at `path`.

    Args:
        path: a directory with the encoder's `config.json`,
            `model.safetensors` and `tokenizer.json` (what
            `save_pretrained` writes; BERT and DeBERTa-v2/v3 encoders).
        cls: the model class.
        config_fields: dict of `GLiClassConfig` fields (e.g.
            `{"pooling_strategy": "avg"}`); architecture, token indices and
            encoder config are filled in.
        **preprocessor_kwargs: for `GLiClassPreprocessor` (`max_length`
            defaults to the encoder's `max_position_embeddings`, at most
            1024).
    """
    fields = _check_fields(
        config_fields,
        ("encoder_config", "class_token_index", "text_token_index", "example_token_index"),
    )
    encoder_config, tensors, prefix, tokenizer, ids = _read_encoder(path, True)
    config = GLiClassConfig(
        encoder_config=encoder_config,
        encoder_model=os.path.basename(os.path.normpath(os.fspath(path))),
        class_token_index=ids[0],
        text_token_index=ids[1],
        example_token_index=ids[2],
        vocab_size=encoder_config["vocab_size"],
        **fields,
    )
    backbone = _backbone(encoder_config, tensors, prefix)
    gliclass_tokenizer = GLiClassTokenizer(tokenizer.to_str())
    pad_token_id = _pad_and_length(encoder_config, gliclass_tokenizer, preprocessor_kwargs)
    preprocessor = GLiClassPreprocessor(
        gliclass_tokenizer,
        prompt_first=config.prompt_first,
        pad_token_id=pad_token_id,
        **preprocessor_kwargs,
    )
    return cls(backbone, config, preprocessor=preprocessor)


def load_bi_encoder(path, label_path, cls, config_fields=None, **preprocessor_kwargs):
    """Build a bi-encoder `cls` on a text encoder and a label encoder directory.

    As the reference's training script for `architecture_type="bi-encoder"`:
    no GLiClass tokens are added (a bi-encoder's inputs carry none); the
    label encoder is `label_path` (the text encoder's files again when
    `None`, as two independent copies of the weights).
    """
    from gliclass_keras.models.gliclass_bi_encoder import LABEL_BACKBONE_SCOPE
    from gliclass_keras.preprocessing.bi_encoder_preprocessor import (
        GLiClassBiEncoderPreprocessor,
    )

    fields = _check_fields(
        config_fields, ("encoder_config", "label_model_config", "label_model_name")
    )
    fields.setdefault("architecture_type", "bi-encoder")
    if fields["architecture_type"] != "bi-encoder":
        raise ValueError(
            "`config['architecture_type']` must be 'bi-encoder' for this model. "
            f"Received: {fields['architecture_type']!r}"
        )
    label_path = path if label_path is None else label_path
    encoder_config, tensors, prefix, tokenizer, _ = _read_encoder(path, False)
    label_config, label_tensors, label_prefix, label_tokenizer, _ = _read_encoder(label_path, False)
    config = GLiClassConfig(
        encoder_config=encoder_config,
        encoder_model=os.path.basename(os.path.normpath(os.fspath(path))),
        label_model_config=label_config,
        label_model_name=os.fspath(label_path),
        vocab_size=int(tensors[prefix + _WORD_EMBEDDINGS].shape[0]),
        **fields,
    )
    backbone = _backbone(encoder_config, tensors, prefix)
    with keras.name_scope(LABEL_BACKBONE_SCOPE):
        label_backbone = _backbone(label_config, label_tensors, label_prefix)
    text_tokenizer = GLiClassTokenizer(tokenizer.to_str())
    label_tokenizer = GLiClassTokenizer(label_tokenizer.to_str())
    pad_token_id = _pad_and_length(encoder_config, text_tokenizer, preprocessor_kwargs)
    label_pad_token_id = _pad_and_length(label_config, label_tokenizer, {})
    preprocessor = GLiClassBiEncoderPreprocessor(
        text_tokenizer,
        label_tokenizer,
        pad_token_id=pad_token_id,
        label_pad_token_id=label_pad_token_id,
        **preprocessor_kwargs,
    )
    return cls(backbone, label_backbone, config, preprocessor=preprocessor)
