"""Reading a reference (PyTorch) GLiClass checkpoint and porting its weights.

This module reads checkpoint directories (`config.json`, `model.safetensors`,
`tokenizer.json`) and copies weights into layers it is given; it never decides
which model to build and imports no model class. Each GLiClass model class
declares its `CheckpointLayout` (where its backbones and head layers live in
the reference state dict) and builds itself from a `ReferenceCheckpoint`
(`GLiClassClassifier.from_pretrained` finds the class by `architecture_type`).
"""

import dataclasses
import os

from safetensors.numpy import load_file

from gliclass_keras.config import GLiClassConfig
from gliclass_keras.convert.transformers import load_hf_backbone_weights
from gliclass_keras.convert.head_weights import load_reference_layer_weights
from gliclass_keras.preprocessing.tokenizer import GLiClassTokenizer
from gliclass_keras.utils.files import load_json
from gliclass_keras.utils.files import read_file

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
WORD_EMBEDDING_KEYS = (
    "embeddings.word_embeddings.weight",  # DeBERTa, BERT
    "embeddings.tok_embeddings.weight",  # ModernBERT
    "shared.weight",  # T5
)
PAD_TOKENS = ("[PAD]", "<pad>", "<|endoftext|>")


@dataclasses.dataclass
class CheckpointLayout:
    """Where a GLiClass model's weights live in a reference state dict.

    Attributes:
        backbones: `{model attribute: key prefix}` of the keras-hub
            backbones, e.g. `{"backbone": "model.encoder_model."}`.
        head: `((model attribute, key prefix), ...)` of the head layers
            (attributes that are `None` on a model are skipped).
        optional_keys: keys a model may leave unread (every reference model
            saves a `logit_scale`; some architectures use it only with
            `normalize_features`).
    """

    backbones: dict
    head: tuple
    optional_keys: tuple = ()


@dataclasses.dataclass
class ReferenceCheckpoint:
    """A read checkpoint directory: its path, config, weights and tokenizer."""

    path: str
    config: GLiClassConfig
    tensors: dict
    tokenizer: GLiClassTokenizer

    def vocabulary_size(self, prefix):
        """Rows of the word embedding stored below `prefix`, or None."""
        for key in WORD_EMBEDDING_KEYS:
            if prefix + key in self.tensors:
                return int(self.tensors[prefix + key].shape[0])
        return None

    def pad_token_id(self, hf_config):
        """The text side's padding id: `config.pad_token_id` if set, else the
        `pad_token_id` of `hf_config` (the encoder's config), else the
        tokenizer's pad token (see `pad_token_id`)."""
        if self.config.pad_token_id is not None:
            return self.config.pad_token_id
        return pad_token_id(hf_config, self.tokenizer)


def _check_directory(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            "`path` must be a checkpoint directory (str or PathLike). "
            f"Received: {type(path).__name__}"
        )
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ValueError(f"`path` must be an existing checkpoint directory. Received: {path!r}")
    missing = [
        name for name in (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE)
        if not os.path.isfile(os.path.join(path, name))
    ]
    if missing:
        raise ValueError(
            f"`path` {path!r} is not a GLiClass checkpoint directory: missing {missing}. "
            "Expected config.json, model.safetensors and tokenizer.json."
        )
    return path


def apply_config_overrides(config, config_overrides):
    """`config` with the `GLiClassConfig` fields of `config_overrides` changed."""
    if not config_overrides:
        return config
    if not isinstance(config_overrides, dict):
        raise TypeError(
            f"`config_overrides` must be a dict. Received: {type(config_overrides).__name__}"
        )
    known = {field.name for field in dataclasses.fields(GLiClassConfig)} - {"extra"}
    unknown = sorted(set(config_overrides) - known)
    if unknown:
        raise ValueError(f"`config_overrides` has unknown GLiClassConfig fields: {unknown}")
    return GLiClassConfig.from_dict({**config.to_dict(), **config_overrides})


def read_checkpoint(path, config_overrides=None):
    """The `ReferenceCheckpoint` of a reference checkpoint directory."""
    path = _check_directory(path)
    config = GLiClassConfig.from_dict(
        read_file(os.path.join(path, CONFIG_FILE), load_json, "a JSON config")
    )
    config = apply_config_overrides(config, config_overrides)
    tensors = read_file(os.path.join(path, WEIGHTS_FILE), load_file, "safetensors weights")
    tokenizer = read_file(
        os.path.join(path, TOKENIZER_FILE), GLiClassTokenizer.from_file, "a tokenizers tokenizer.json"
    )
    return ReferenceCheckpoint(path, config, tensors, tokenizer)


def pad_token_id(hf_config, tokenizer):
    """An encoder config's `pad_token_id`, else the tokenizer's pad token id, else 0."""
    value = (hf_config or {}).get("pad_token_id")
    if value is None:
        value = tokenizer.special_token_id(*PAD_TOKENS) or 0
    return value


def port_weights(model, checkpoint, layout):
    """Copy every weight of `checkpoint` into `model` as `layout` says.

    All or nothing per layer: a missing key or a shape that does not fit
    raises a `ValueError` naming it. Every key of the checkpoint must be
    used (or be one of `layout.optional_keys`): unused weights are named in
    a `ValueError`, since a model that ignores them would not compute what
    was saved.
    """
    tensors = checkpoint.tensors
    used = set()
    for attribute, prefix in layout.backbones.items():
        used |= set(load_hf_backbone_weights(getattr(model, attribute), tensors, prefix))
    for attribute, prefix in layout.head:
        layer = getattr(model, attribute, None)
        if layer is not None:
            used |= set(load_reference_layer_weights(layer, tensors, prefix))
    used |= {key for key in layout.optional_keys if key in tensors}
    unexpected = sorted(set(tensors) - used)
    if unexpected:
        raise ValueError(
            f"The checkpoint at {checkpoint.path!r} has weights this "
            f"{checkpoint.config.architecture_type} model does not use: {unexpected}"
        )
    return model


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
        return _read_tokenizer(label_tokenizer)
    name = config.label_model_name
    candidates = []
    if name:
        candidates = [os.path.expanduser(name), os.path.join(path, name)]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, "tokenizer.json")) or (
            os.path.isfile(candidate) and candidate.endswith(".json")
        ):
            return _read_tokenizer(candidate)
    raise ValueError(
        f"Cannot find the label tokenizer of the bi-encoder checkpoint {path!r}: "
        f"config.json's label_model_name={name!r} is not a local directory with a "
        "tokenizer.json (as given, or relative to the checkpoint directory), and "
        "gliclass-keras never downloads. Pass `label_tokenizer=` (a directory, a "
        "tokenizer.json path or a GLiClassTokenizer)."
    )


def _read_tokenizer(path):
    """A label `GLiClassTokenizer` from a `tokenizer.json` or the directory holding one."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, TOKENIZER_FILE)
    return read_file(path, GLiClassTokenizer.from_file, "a label tokenizer.json")


def check_special_tokens(config, tokenizer):
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
