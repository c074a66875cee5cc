"""Reading a plain Hugging Face encoder directory, to start a new GLiClass model on it.

What the reference's `train.py` does before training from scratch: add the
`<<LABEL>>`, `<<SEP>>` and `<<EXAMPLE>>` special tokens to the encoder's
tokenizer, grow the word embeddings by three rows (uni-encoders; bi-encoder
inputs carry no GLiClass tokens), and point the config's token indices at
them. The model classes build themselves from what `read_encoder` returns
(`GLiClassClassifier.from_encoder`, `GLiClassBiEncoderClassifier.from_encoders`).
"""

import dataclasses
import os

import numpy as np
import tokenizers
from safetensors.numpy import load_file

from gliclass_keras.convert.transformers import backbone_from_hf_config
from gliclass_keras.convert.transformers import load_hf_backbone_weights
from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing.tokenizer import GLiClassTokenizer
from gliclass_keras.utils.deferred_initialization import deferred_random_initialization
from gliclass_keras.utils.files import load_json
from gliclass_keras.utils.files import read_file

GLICLASS_TOKENS = (inputs_lib.CLASS_TOKEN, inputs_lib.TEXT_TOKEN, inputs_lib.EXAMPLE_TOKEN)
_WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


def _weights_prefix(tensors, path):
    for key in tensors:
        if key.endswith(_WORD_EMBEDDINGS):
            return key[: -len(_WORD_EMBEDDINGS)]
    raise ValueError(f"{path!r}: model.safetensors has no '*{_WORD_EMBEDDINGS}' tensor.")


@dataclasses.dataclass
class HFEncoder:
    """A read encoder directory (see `read_encoder`)."""

    path: str
    config: dict
    tensors: dict
    prefix: str
    tokenizer: GLiClassTokenizer
    gliclass_token_ids: list = None

    @property
    def name(self):
        """The directory's base name (the config's `encoder_model`)."""
        return os.path.basename(os.path.normpath(self.path))

    @property
    def vocabulary_size(self):
        return int(self.tensors[self.prefix + _WORD_EMBEDDINGS].shape[0])

    def backbone(self):
        """A keras-hub backbone with this encoder's weights."""
        # the checkpoint overwrites the random weights the build would draw
        with deferred_random_initialization():
            backbone = backbone_from_hf_config(self.config, vocabulary_size=self.vocabulary_size)
            load_hf_backbone_weights(backbone, self.tensors, self.prefix)
        return backbone

    def pad_token_id(self):
        """The config's `pad_token_id`, else the tokenizer's `[PAD]`/`<pad>`, else 0."""
        value = self.config.get("pad_token_id")
        if value is None:
            value = self.tokenizer.special_token_id("[PAD]", "<pad>") or 0
        return int(value)

    def max_length(self):
        """`max_position_embeddings`, at most 1024 (the preprocessor's default length)."""
        return min(int(self.config.get("max_position_embeddings") or 1024), 1024)


def read_encoder(path, add_gliclass_tokens):
    """The `HFEncoder` of a directory with `config.json`, `model.safetensors`, `tokenizer.json`.

    With `add_gliclass_tokens`, the GLiClass tokens are added to the
    tokenizer and the word embeddings grown to match (`gliclass_token_ids`
    are their ids, in the order `<<LABEL>>`, `<<SEP>>`, `<<EXAMPLE>>`).
    """
    path = os.fspath(path)
    files = {name: os.path.join(path, name) for name in ("config.json", "model.safetensors", "tokenizer.json")}
    missing = [name for name, file in files.items() if not os.path.isfile(file)]
    if missing:
        raise ValueError(
            f"`path` {path!r} is not a Hugging Face encoder directory: missing {missing}."
        )
    encoder_config = read_file(files["config.json"], load_json, "a JSON config")
    tokenizer = read_file(
        files["tokenizer.json"], tokenizers.Tokenizer.from_file, "a tokenizers tokenizer.json"
    )
    tensors = read_file(files["model.safetensors"], load_file, "safetensors weights")
    prefix = _weights_prefix(tensors, path)
    if not add_gliclass_tokens:
        return HFEncoder(path, encoder_config, tensors, prefix, GLiClassTokenizer(tokenizer.to_str()))
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
    return HFEncoder(
        path, encoder_config, tensors, prefix, GLiClassTokenizer(tokenizer.to_str()), ids
    )
