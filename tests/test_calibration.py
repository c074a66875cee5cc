"""`calibrate`: a temperature and a bias on the logits, used by the scores, saved, measured."""

import keras
import numpy as np
import pytest

from conftest import REFERENCE_MODELS

import gliclass_keras
from gliclass_keras.evaluate import EvaluationSet
from gliclass_keras.evaluate import evaluate_zero_shot
from gliclass_keras.evaluate.zero_shot import format_calibration_table
from gliclass_keras.models import calibration as calibration_lib

LABELS = ["travel", "sport", "science"]
RECORDS = [
    {"text": "We flew to Lisbon for a week.", "all_labels": LABELS, "true_labels": ["travel"]},
    {"text": "Our team won the final.", "all_labels": LABELS, "true_labels": ["sport"]},
    {"text": "Cells divide by mitosis.", "all_labels": LABELS, "true_labels": ["science"]},
    {"text": "The marathon route crossed three cities.", "all_labels": LABELS,
     "true_labels": ["sport", "travel"]},
    {"text": "A telescope photographed the comet.", "all_labels": ["science", "sport"],
     "true_labels": ["science"]},
]


def test_fit_platt_recovers_a_known_temperature_and_bias():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=4.0, size=20000)
    targets = (rng.random(20000) < 1 / (1 + np.exp(-(logits / 2.5 - 1.0)))).astype(float)
    fitted = calibration_lib.fit_platt(logits, targets)
    assert fitted["temperature"] == pytest.approx(2.5, rel=0.05)
    assert fitted["bias"] == pytest.approx(-1.0, abs=0.06)
    assert calibration_lib.binary_nll(logits, targets, fitted) < calibration_lib.binary_nll(logits, targets)
    with pytest.raises(ValueError, match="both matching and non-matching"):
        calibration_lib.fit_platt([1.0, 2.0], [1.0, 1.0])


def test_ece_and_brier_by_hand():
    probabilities = np.array([0.9, 0.9, 0.1, 0.1, 0.6])
    targets = np.array([1.0, 0.0, 0.0, 0.0, 1.0])
    # bins: [0.1, 0.1] -> acc 0, conf 0.1; [0.6] -> acc 1, conf 0.6; [0.9, 0.9] -> acc 0.5, conf 0.9
    want = 0.4 * 0.1 + 0.2 * 0.4 + 0.4 * 0.4
    assert calibration_lib.expected_calibration_error(probabilities, targets) == pytest.approx(want)
    assert calibration_lib.brier_score(probabilities, targets) == pytest.approx(
        np.mean((probabilities - targets) ** 2)
    )
    rows = calibration_lib.reliability(probabilities, targets)
    assert [r[2] for r in rows] == [2, 1, 2]


def test_calibrate_changes_scores_not_logits_and_is_saved(tmp_path):
    model = gliclass_keras.GLiClassClassifier.from_pretrained(REFERENCE_MODELS / "uni_deberta_default")
    texts = [r["text"] for r in RECORDS[:3]]
    raw_logits = np.stack(model.predict_logits(texts, LABELS))
    report = model.calibrate(RECORDS, batch_size=4, label_count_term=False)
    assert report["pairs"] == sum(len(r["all_labels"]) for r in RECORDS)
    assert report["nll_after"] <= report["nll_before"] + 1e-9
    assert model.calibration == {"temperature": report["temperature"], "bias": report["bias"]}
    temperature, bias = report["temperature"], report["bias"]
    np.testing.assert_allclose(np.stack(model.predict_logits(texts, LABELS)), raw_logits, atol=1e-6)
    scores = model.predict_scores(texts, LABELS)
    want = 1 / (1 + np.exp(-(raw_logits / temperature + bias)))
    np.testing.assert_allclose([[s[l] for l in LABELS] for s in scores], want, atol=1e-6)
    single = model.predict_scores(texts, LABELS, classification_type="single-label")
    scaled = raw_logits / temperature
    softmax = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    np.testing.assert_allclose([[s[l] for l in LABELS] for s in single], softmax, atol=1e-6)
    predictions = model.classify(texts, LABELS, threshold=0.5)
    for text_scores, text_predictions in zip(scores, predictions):
        assert [p["label"] for p in text_predictions] == [l for l in LABELS if text_scores[l] >= 0.5]

    path = str(tmp_path / "calibrated.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.calibration == model.calibration
    np.testing.assert_allclose(
        [[s[l] for l in LABELS] for s in restored.predict_scores(texts, LABELS)], want, atol=1e-5
    )
    model.calibration = None
    np.testing.assert_allclose(
        [[s[l] for l in LABELS] for s in model.predict_scores(texts, LABELS)],
        1 / (1 + np.exp(-raw_logits)),
        atol=1e-6,
    )


def test_fit_platt_recovers_a_label_count_weight():
    rng = np.random.default_rng(1)
    counts = rng.choice([2, 3, 5, 10, 20], size=30000).astype(float)
    logits = rng.normal(scale=4.0, size=30000)
    z = logits / 2.0 + 1.5 - 0.8 * np.log(counts)
    targets = (rng.random(30000) < 1 / (1 + np.exp(-z))).astype(float)
    fitted = calibration_lib.fit_platt(logits, targets, num_labels=counts)
    assert fitted["temperature"] == pytest.approx(2.0, rel=0.05)
    assert fitted["bias"] == pytest.approx(1.5, abs=0.15)
    assert fitted["label_count_weight"] == pytest.approx(0.8, abs=0.08)
    two = calibration_lib.fit_platt(logits, targets)
    assert set(two) == {"temperature", "bias"}
    assert calibration_lib.binary_nll(logits, targets, fitted, num_labels=counts) < calibration_lib.binary_nll(
        logits, targets, two, num_labels=counts
    )
    # One count for every pair: nothing to tell the weight from the bias.
    assert set(calibration_lib.fit_platt(logits, targets, num_labels=np.full(30000, 4.0))) == {"temperature", "bias"}
    with pytest.raises(ValueError, match="num_labels"):
        calibration_lib.fit_platt(logits, targets, num_labels=counts[:10])


def test_label_count_term_in_scores_by_hand():
    calibration = {"temperature": 2.0, "bias": 0.5, "label_count_weight": 1.0}
    logits = np.array([[1.0, -1.0, 3.0, 0.0]])
    want = logits / 2.0 + 0.5 - np.log(4.0)
    np.testing.assert_allclose(calibration_lib.calibrated_logits(logits, calibration), want)
    np.testing.assert_allclose(calibration_lib.calibrated_logits(logits[0], calibration), want[0])
    np.testing.assert_allclose(
        calibration_lib.calibrated_logits(logits, calibration, "single-label"), logits / 2.0
    )
    np.testing.assert_allclose(
        calibration_lib.probabilities(logits, calibration), 1 / (1 + np.exp(-want))
    )


def test_calibrate_fits_the_label_count_term_and_saves_it(tmp_path):
    model = gliclass_keras.GLiClassClassifier.from_pretrained(REFERENCE_MODELS / "uni_deberta_default")
    with pytest.raises(ValueError, match="label_count_term"):
        model.calibrate(RECORDS, label_count_term="yes")
    with pytest.raises(ValueError, match="differ in length"):
        model.calibrate(RECORDS[:3], label_count_term=True)
    report = model.calibrate(RECORDS, batch_size=4)  # label lists of 3 and 2: "auto" fits it
    weight = report["label_count_weight"]
    assert model.calibration == {
        "temperature": report["temperature"], "bias": report["bias"], "label_count_weight": weight
    }
    assert report["nll_after"] <= report["nll_before"] + 1e-9
    texts = [r["text"] for r in RECORDS[:3]]
    for labels in (LABELS, LABELS[:2]):
        raw = np.stack(model.predict_logits(texts, labels))
        want = 1 / (1 + np.exp(-(raw / report["temperature"] + report["bias"] - weight * np.log(len(labels)))))
        got = [[s[l] for l in labels] for s in model.predict_scores(texts, labels)]
        np.testing.assert_allclose(got, want, atol=1e-6)
    path = str(tmp_path / "calibrated.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.calibration == model.calibration
    np.testing.assert_allclose(
        [[s[l] for l in LABELS] for s in restored.predict_scores(texts, LABELS)],
        [[s[l] for l in LABELS] for s in model.predict_scores(texts, LABELS)],
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "value, match",
    [
        ({"temperature": 0.0, "bias": 0.0}, "> 0"),
        ({"temperature": 1.0, "bias": 0.0, "prior": 1.0}, "keys"),
        ({"temperature": 1.0, "bias": 0.0, "label_count_weight": float("inf")}, "finite"),
        ({"temperature": 1.0}, "keys"),
        ({"temperature": float("nan"), "bias": 0.0}, "finite"),
        ("hot", "dict"),
    ],
)
def test_bad_calibration_is_rejected(value, match):
    with pytest.raises(ValueError, match=match):
        calibration_lib.check_calibration(value)


def test_evaluation_reports_ece_and_brier():
    model = gliclass_keras.GLiClassClassifier.from_pretrained(REFERENCE_MODELS / "uni_deberta_default")
    texts = [r["text"] for r in RECORDS[:3]]
    truths = ["travel", "sport", "science"]
    result = evaluate_zero_shot(model, EvaluationSet("topics", texts, truths, LABELS), verbose=0)
    logits = np.stack(model.predict_logits(texts, LABELS))
    probabilities = 1 / (1 + np.exp(-logits))
    targets = np.eye(3)
    assert result["brier"] == pytest.approx(np.mean((probabilities - targets) ** 2))
    assert result["ece"] == pytest.approx(
        calibration_lib.expected_calibration_error(probabilities, targets)
    )
    table = format_calibration_table({"model": [result], "cosine": [dict(result, ece=None, brier=None)]})
    assert "| topics |" in table and "model ECE / Brier" in table and "cosine" not in table
