"""A new GLiClass model from a plain Hugging Face encoder directory.

What the reference's `train.py` does before training from scratch: add the
`<<LABEL>>`, `<<SEP>>` and `<<EXAMPLE>>` special tokens to the encoder's
tokenizer, grow the word embeddings by three rows, and point the config's
token indices at them. The head starts from Keras' initializers.
"""

import json
import os

import numpy as np
import tokenizers
from safetensors.numpy import load_file

from gliclass_keras.config import GLiClassConfig
from gliclass_keras.convert.backbone_weights import backbone_from_hf_config
from gliclass_keras.convert.backbone_weights import load_hf_backbone_weights
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


def load_encoder(path, cls, config_fields=None, **preprocessor_kwargs):
    """Build `cls` (a GLiClass model class) on the encoder saved at `path`.

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
    present = [token for token in GLICLASS_TOKENS if tokenizer.token_to_id(token) is not None]
    if present:
        raise ValueError(f"{path!r} already has GLiClass tokens {present}; load it with from_pretrained.")
    tensors = load_file(files["model.safetensors"])
    prefix = _weights_prefix(tensors, path)
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

    fields = dict(config_fields or {})
    for reserved in ("encoder_config", "class_token_index", "text_token_index", "example_token_index"):
        if reserved in fields:
            raise ValueError(f"`{reserved}` is set from the encoder; do not pass it.")
    config = GLiClassConfig(
        encoder_config=encoder_config,
        encoder_model=os.path.basename(os.path.normpath(path)),
        class_token_index=ids[0],
        text_token_index=ids[1],
        example_token_index=ids[2],
        vocab_size=new_size,
        **fields,
    )
    backbone = backbone_from_hf_config(encoder_config, vocabulary_size=new_size)
    load_hf_backbone_weights(backbone, tensors, prefix)
    gliclass_tokenizer = GLiClassTokenizer(tokenizer.to_str())
    pad_token_id = encoder_config.get("pad_token_id")
    if pad_token_id is None:
        pad_token_id = gliclass_tokenizer.special_token_id("[PAD]", "<pad>") or 0
    max_positions = encoder_config.get("max_position_embeddings") or 1024
    preprocessor_kwargs.setdefault("max_length", min(int(max_positions), 1024))
    preprocessor = GLiClassPreprocessor(
        gliclass_tokenizer,
        prompt_first=config.prompt_first,
        pad_token_id=int(pad_token_id),
        **preprocessor_kwargs,
    )
    return cls(backbone, config, preprocessor=preprocessor)
