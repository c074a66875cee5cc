"""`.keras` files saved by an earlier release keep loading and scoring the same.

The files in tests/fixtures/legacy_keras were saved with gliclass-keras main
at 9c144d4 (before the package was restructured) by
tests/fixtures/make_legacy_keras_files.py, together with the scores that
release computed. Each is loaded here with the current code, on every
backend, and must give the same class and the same scores: by the rule of
tests/parity.py, with the stored scores (float32, from the machine that
saved the files) as the reference and the float64 reference GLiClass on the
same checkpoint (tests/fixtures/reference/<name>) as the exact values.
"""

import json

import keras
import numpy as np
import pytest

from conftest import FIXTURES
from parity import assert_parity
from reference_runner import exact_scores

import gliclass_keras

LEGACY = FIXTURES / "legacy_keras"
NAMES = sorted(path.stem for path in LEGACY.glob("*.keras"))
# Classes renamed since: the uni-encoder was saved as the (then concrete)
# `GLiClassClassifier`, which is now the base class every architecture
# shares; the name still loads, as the uni-encoder class.
RENAMED = {"GLiClassClassifier": "GLiClassUniEncoderClassifier"}


def test_the_fixture_set_is_complete():
    # Uni-encoder DeBERTa (compiled, and with LSTM + MLP scorer), ModernBERT,
    # bi-encoder, bi-encoder-fused and both encoder-decoders.
    assert NAMES == [
        "bi_bert_bert",
        "bifused_deberta_bert",
        "encdec_t5",
        "encdeccls_t5",
        "uni_deberta_default",
        "uni_deberta_mlp_max_lstm",
        "uni_modernbert_v3_textfirst",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_legacy_file_loads_and_scores_the_same(name):
    meta = json.loads((LEGACY / f"{name}.json").read_text())
    model = keras.saving.load_model(LEGACY / f"{name}.keras")
    assert type(model).__name__ == RENAMED.get(meta["class"], meta["class"])
    assert isinstance(model, gliclass_keras.GLiClassClassifier)
    assert type(model) is gliclass_keras.GLiClassClassifier.class_for_architecture(
        model.config.architecture_type
    )
    scores = model.predict_scores(meta["texts"], meta["labels"])
    got = np.array([[s[label] for label in meta["labels"]] for s in scores])
    # Each file was saved from the reference checkpoint of the same name.
    exact = [exact_scores(name, text, meta["labels"]) for text in meta["texts"]]
    exact = np.array([[row[label] for label in meta["labels"]] for row in exact])
    assert_parity(f"{name} scores of the legacy file", got, np.array(meta["scores"]), exact)
    if meta["compiled"]:
        # The compile state (optimizer with its parameter groups, loss,
        # F1 metrics) comes back too.
        assert model.compiled
        assert model.optimizer is not None
        assert {type(m).__name__ for m in model.metrics} >= {"F1Score"}
