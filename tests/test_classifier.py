"""GLiClassClassifier: saving, loading, predict(), bad input and the CLI."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import REFERENCE_MODELS

import gliclass_keras
from gliclass_keras import cli

MODEL_DIR = REFERENCE_MODELS / "uni_deberta_promptfirst_avg_weighteddot"
TEXTS = ["One day I will see the world!", "Our team won the match.", ""]
LABELS = ["travel", "sport", "science"]


@pytest.fixture(scope="module")
def model():
    return gliclass_keras.GLiClassClassifier.from_pretrained(MODEL_DIR)


def test_predict_returns_logits(model):
    batch = model.preprocessor(TEXTS, LABELS)
    logits = model.predict(batch, batch_size=2, verbose=0)
    assert logits.shape == (3, 3)
    scores = model.predict_scores(TEXTS, LABELS)
    np.testing.assert_allclose(
        1 / (1 + np.exp(-logits)), [[s[label] for label in LABELS] for s in scores], atol=1e-6
    )


def test_save_and_load_same_backend(model, tmp_path):
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, gliclass_keras.GLiClassClassifier)
    assert isinstance(restored.preprocessor, gliclass_keras.GLiClassPreprocessor)
    assert restored.config.to_dict() == model.config.to_dict()
    got = restored.predict_scores(TEXTS, LABELS)
    want = model.predict_scores(TEXTS, LABELS)
    for a, b in zip(got, want):
        assert list(a) == list(b)
        np.testing.assert_allclose(list(a.values()), list(b.values()), atol=1e-7)


_LOAD_SCRIPT = """
import json, sys, keras
import gliclass_keras  # registers the classes, as for any custom Keras objects
model = keras.saving.load_model(sys.argv[1])
print(json.dumps({"type": type(model).__name__,
                  "scores": model.predict_scores(json.loads(sys.argv[2]), json.loads(sys.argv[3]))}))
"""


# Each backend's run loads its file under the next backend: all three pairs
# of a CI run together cover torch->jax, jax->tensorflow, tensorflow->torch.
NEXT_BACKEND = {"torch": "jax", "jax": "tensorflow", "tensorflow": "torch"}


def test_save_and_load_under_another_backend(model, tmp_path):
    path = str(tmp_path / "model.keras")
    model.save(path)
    want = model.predict_scores(TEXTS, LABELS)
    for backend in [NEXT_BACKEND[keras.backend.backend()]]:
        env = dict(os.environ, KERAS_BACKEND=backend)
        out = subprocess.run(
            [sys.executable, "-c", _LOAD_SCRIPT, path, json.dumps(TEXTS), json.dumps(LABELS)],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["type"] == "GLiClassUniEncoderClassifier"
        for a, b in zip(result["scores"], want):
            np.testing.assert_allclose(
                [a[label] for label in LABELS], [b[label] for label in LABELS], atol=1e-5,
                err_msg=backend,
            )


def test_unicode_and_empty_texts_are_valid(model):
    texts = ["", "Ünïcödé — 東京でサッカーの試合 🎉", "\n\t "]
    result = model.classify(texts, LABELS, threshold=0.0)
    assert [len(r) for r in result] == [3, 3, 3]
    for predictions in result:
        assert [p["label"] for p in predictions] == LABELS
        assert all(0.0 <= p["score"] <= 1.0 for p in predictions)


def test_single_label_returns_top_label(model):
    scores = model.predict_scores(TEXTS, LABELS, classification_type="single")
    result = model.classify(TEXTS, LABELS, classification_type="SINGLE_LABEL")
    for text_scores, predictions in zip(scores, result):
        assert sum(text_scores.values()) == pytest.approx(1.0, abs=1e-6)
        best = max(text_scores, key=text_scores.get)
        assert predictions == [{"label": best, "score": text_scores[best]}]


def test_multi_label_threshold_keeps_label_order(model):
    scores = model.predict_scores(TEXTS, LABELS)
    for threshold in (0.0, 0.3, 0.5, 0.7, 1.0):
        result = model.classify(TEXTS, LABELS, threshold=threshold)
        for text_scores, predictions in zip(scores, result):
            want = [lbl for lbl in LABELS if text_scores[lbl] >= threshold]
            assert [p["label"] for p in predictions] == want


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(labels=[]), ValueError, "labels"),
        (dict(labels=["a", "a"]), ValueError, "more than once"),
        (dict(labels=["a", 3]), TypeError, r"labels\[1\]"),
        (dict(labels=["<<LABEL>>x"]), ValueError, "reserved"),
        (dict(labels=["ok", "a<<SEP>>b"]), ValueError, "reserved"),
        (dict(texts=["ok", 5]), TypeError, r"texts\[1\]"),
        (dict(texts=None), TypeError, "texts"),
        (dict(threshold=1.5), ValueError, "threshold"),
        (dict(threshold=-0.1), ValueError, "threshold"),
        (dict(threshold=float("nan")), ValueError, "threshold"),
        (dict(threshold="0.5"), TypeError, "threshold"),
        (dict(classification_type="multiclass"), ValueError, "classification_type"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=2.5), TypeError, "batch_size"),
        (dict(labels=[["a"], ["b"], ["c"]]), ValueError, "per-text"),
        (dict(prompt=["p"]), ValueError, "prompt"),
        (dict(examples=[{"labels": ["a"]}]), TypeError, "examples"),
    ],
)
def test_bad_input_is_rejected_before_any_work(model, kwargs, error, match, monkeypatch):
    def fail(*args, **kw):
        raise AssertionError("tensor work started before validation")

    monkeypatch.setattr(model, "predict_on_batch", fail)
    monkeypatch.setattr(model.preprocessor, "encode_rows", fail)
    call = dict(texts=["one", "two"], labels=LABELS)
    call.update(kwargs)
    with pytest.raises(error, match=match):
        model.classify(**call)


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(ValueError, match="path"):
        gliclass_keras.GLiClassClassifier.from_pretrained(tmp_path / "missing")
    with pytest.raises(TypeError, match="path"):
        gliclass_keras.GLiClassClassifier.from_pretrained(42)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="model.safetensors"):
        gliclass_keras.GLiClassClassifier.from_pretrained(tmp_path)


def _copy_checkpoint(tmp_path, edit):
    from safetensors.numpy import load_file
    from safetensors.numpy import save_file

    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((MODEL_DIR / name).read_bytes())
    tensors = load_file(str(MODEL_DIR / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    return tmp_path


def test_missing_weight_is_named(tmp_path):
    path = _copy_checkpoint(tmp_path, lambda t: t.pop("model.scorer.proj_text.weight"))
    with pytest.raises(ValueError, match="model.scorer.proj_text.weight"):
        gliclass_keras.GLiClassClassifier.from_pretrained(path)


def test_unexpected_weight_is_named(tmp_path):
    def add(tensors):
        tensors["model.surprise.weight"] = np.zeros((2, 2), "float32")

    path = _copy_checkpoint(tmp_path, add)
    with pytest.raises(ValueError, match="model.surprise.weight"):
        gliclass_keras.GLiClassClassifier.from_pretrained(path)


def test_cli_arguments_and_stdin(model, capsys, monkeypatch):
    import io

    want = model.classify(TEXTS[:2], LABELS, threshold=0.2)
    assert cli.main(
        ["classify", "--model", str(MODEL_DIR), "--labels", "travel, sport,science",
         "--threshold", "0.2", *TEXTS[:2]]
    ) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["text"] for line in lines] == TEXTS[:2]
    for line, predictions in zip(lines, want):
        assert [p["label"] for p in line["predictions"]] == [p["label"] for p in predictions]
        np.testing.assert_allclose(
            [p["score"] for p in line["predictions"]], [p["score"] for p in predictions], atol=1e-6
        )

    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(TEXTS[:2]) + "\n"))
    assert cli.main(["classify", "--model", str(MODEL_DIR), "--labels", "travel,sport",
                     "--single-label"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(lines) == 2 and all(len(line["predictions"]) == 1 for line in lines)


def test_cli_bad_threshold_is_a_clear_error(capsys):
    code = cli.main(["classify", "--model", str(MODEL_DIR), "--labels", "a,b",
                     "--threshold", "2", "text"])
    assert code == 2
    assert "threshold" in capsys.readouterr().err
