"""`OnnxClassifier`: an exported model classifies with onnxruntime alone, as the Keras model does.

Also the lazy top level (`import gliclass_keras` imports no framework) and
its registration of the Keras classes for `keras.saving.load_model`.

Exports come from `onnx_exports.cached_export` (jax2onnx, under JAX: in a
subprocess when the suite runs on another backend), once per module.
"""

import json
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from onnx_exports import cached_export
from onnx_exports import load_reference_model

import gliclass_keras
from gliclass_keras.utils.files import CorruptFileError

REPO = pathlib.Path(__file__).parent.parent
LEGACY = pathlib.Path(__file__).parent / "fixtures" / "legacy_keras"
FRAMEWORKS = ("keras", "torch", "jax", "tensorflow")
UNI = "uni_deberta_default"
MAX_LENGTH = 40
CALIBRATION = {"temperature": 1.7, "bias": -0.4, "label_count_weight": 0.6}
LABELS = ["travel", "sport", "science"]
TEXTS = [
    "One day I will see the world!",
    "Our team won the final match after extra time, and the whole town came out.",
    "The new telescope found water.",
]
FILLER = "the committee met again on tuesday and discussed the agenda at length. "
MANY_LABELS = [f"a rather long label number {i}" for i in range(6)]


def run_python(code):
    """Run `code` in a fresh interpreter (the repository first on the path); its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def export_root(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx_exports")


@pytest.fixture(scope="module")
def uni_dir(export_root):
    return cached_export(UNI, export_root, max_length=MAX_LENGTH)


@pytest.fixture(scope="module")
def uni_calibrated_dir(export_root):
    return cached_export(UNI, export_root, calibration=CALIBRATION, max_length=MAX_LENGTH)


@pytest.fixture(scope="module")
def uni_keras():
    return load_reference_model(UNI, max_length=MAX_LENGTH)


@pytest.fixture(scope="module")
def uni_onnx(uni_dir):
    return gliclass_keras.OnnxClassifier(uni_dir)


def assert_same_scores(got, want, atol=1e-4):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert list(g) == list(w)
        np.testing.assert_allclose([g[k] for k in g], [w[k] for k in w], atol=atol)


def assert_same_predictions(got, want, atol=1e-4, scores=None, threshold=None):
    """Same labels and scores; with `scores` (the Keras model's), labels may differ by ties.

    A label may be picked by one model and not the other only when its score
    is within `atol` of the decision: the best score (single-label) or
    `threshold` (multi-label).
    """
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        got_scores = {p["label"]: p["score"] for p in g}
        want_scores = {p["label"]: p["score"] for p in w}
        for label in set(got_scores) ^ set(want_scores):
            assert scores is not None, (g, w)
            decision = max(scores[i].values()) if threshold is None else threshold
            assert abs(scores[i][label] - decision) <= atol, (label, g, w)
        for label in set(got_scores) & set(want_scores):
            np.testing.assert_allclose(got_scores[label], want_scores[label], atol=atol)


# ------------------------------------------------------------ no framework
def test_import_gliclass_keras_imports_no_framework():
    out = run_python(
        """
        import sys
        import gliclass_keras
        print([m for m in %r if m in sys.modules])
        """
        % (FRAMEWORKS,)
    )
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "hide, first_use",
    [
        ("1", "gliclass_keras.GLiClassClassifier"),
        # Keras imported first: registering the classes imports keras-hub
        ("1", "import keras"),
        ("0", "gliclass_keras.GLiClassClassifier"),
    ],
)
def test_keras_backed_names_leave_other_backends_frameworks_out(monkeypatch, hide, first_use):
    # Keras imports JAX and keras-hub TensorFlow whenever they are installed;
    # gliclass-keras hides the frameworks of the other backends while it
    # imports its Keras-backed modules (GLICLASS_KERAS_HIDE_UNUSED_FRAMEWORKS=0
    # turns that off), and they stay importable afterwards.
    monkeypatch.setenv("GLICLASS_KERAS_HIDE_UNUSED_FRAMEWORKS", hide)
    out = run_python(
        """
        import json, sys
        import gliclass_keras
        %s
        gliclass_keras.GLiClassClassifier
        import keras
        loaded = [m for m in ("jax", "tensorflow") if m in sys.modules]
        import jax, tensorflow
        print(json.dumps({"backend": keras.config.backend(), "loaded": loaded}))
        """
        % first_use
    )
    data = json.loads(out.strip().splitlines()[-1])
    others = {"jax", "tensorflow"} - {data["backend"]}
    if hide == "1":
        assert not others & set(data["loaded"]), data
    else:  # what Keras and keras-hub import by themselves (all three are installed here)
        assert others <= set(data["loaded"]), data


@pytest.mark.parametrize("hide", ["1", "0"])
def test_keras_modules_gliclass_never_uses_run_on_first_use(monkeypatch, hide):
    # keras.wrappers imports scikit-learn (0.9 s) and keras.visualization
    # matplotlib.pyplot (0.4 s) on every backend; after `import gliclass_keras`
    # they run on first use, and then work as usual.
    monkeypatch.setenv("GLICLASS_KERAS_HIDE_UNUSED_FRAMEWORKS", hide)
    out = run_python(
        """
        import json, sys
        import gliclass_keras
        import keras
        optional = ("sklearn", "matplotlib.pyplot")
        before = [m for m in optional if m in sys.modules]
        import keras.wrappers
        from keras.visualization import plot_image_gallery
        classifier = keras.wrappers.SKLearnClassifier
        import sklearn.base
        assert issubclass(classifier, sklearn.base.BaseEstimator)
        import keras.src.visualization as visualization
        assert plot_image_gallery.__module__ == "keras.src.visualization.plot_image_gallery"
        assert visualization.draw_bounding_boxes is not None
        print(json.dumps({"before": before, "after": [m for m in optional if m in sys.modules]}))
        """
    )
    data = json.loads(out.strip().splitlines()[-1])
    assert data["after"] == ["sklearn", "matplotlib.pyplot"]
    assert data["before"] == ([] if hide == "1" else ["sklearn", "matplotlib.pyplot"])


@pytest.mark.parametrize("hide", ["1", "0"])
def test_pandas_and_torch_dynamo_stand_ins_until_user_code_needs_them(monkeypatch, hide):
    # Keras imports pandas (for DataFrames in fit) and, on torch,
    # torch._dynamo (for two @disable decorators) at import time; after
    # `import gliclass_keras` both are stand-ins until used, and DataFrames,
    # seeded random ops and torch.compile then work as with the real ones.
    monkeypatch.setenv("GLICLASS_KERAS_HIDE_UNUSED_FRAMEWORKS", hide)
    out = run_python(
        """
        import json, sys
        import numpy as np
        import gliclass_keras
        import keras
        backend = keras.config.backend()
        watched = ("pandas", "pyarrow", "torch._dynamo")
        before = [m for m in watched if m in sys.modules]
        dropped = keras.layers.Dropout(0.5, seed=1)(np.ones((4, 8), "float32"), training=True)
        uniform = keras.ops.convert_to_numpy(keras.random.uniform((3,), seed=7))
        after_random = [m for m in watched if m in sys.modules]
        import pandas as pd
        assert type(pd).__name__ == "module" and hasattr(pd, "read_csv")
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        frame = pd.DataFrame(np.arange(24, dtype="float32").reshape(8, 3) / 24)
        history = model.fit(frame, pd.Series(np.ones(8, "float32")), epochs=2, verbose=0)
        predicted = model.predict(frame, verbose=0)
        compiled = None
        if backend == "torch":
            import torch
            function = torch.compile(lambda x: x + keras.random.uniform((3,), seed=7), backend="eager")
            compiled = function(torch.zeros(3)).tolist()
            assert type(sys.modules["torch._dynamo"]).__name__ == "module"
        print(json.dumps({
            "backend": backend, "before": before, "after_random": after_random,
            "uniform": uniform.tolist(), "compiled": compiled,
            "dropped": float(keras.ops.convert_to_numpy(dropped).sum()),
            "loss": history.history["loss"], "predicted": predicted.shape[0],
        }))
        """
    )
    data = json.loads(out.strip().splitlines()[-1])
    assert data["predicted"] == 8 and len(data["loss"]) == 2
    assert data["loss"][1] < data["loss"][0]  # the DataFrame was read as data
    assert 0 < data["dropped"] < 64  # dropout kept some and dropped some
    if data["compiled"] is not None:
        np.testing.assert_allclose(data["compiled"], data["uniform"])
    if hide == "1":
        assert data["before"] == [] and data["after_random"] == []
    else:
        assert "pandas" in data["before"]
        if data["backend"] == "torch":
            assert "torch._dynamo" in data["before"]


def test_onnx_classifier_runs_without_any_framework(uni_dir, uni_keras):
    out = run_python(
        f"""
        import json, sys
        import gliclass_keras
        model = gliclass_keras.OnnxClassifier({str(uni_dir)!r})
        result = model.classify({TEXTS!r}, {LABELS!r}, threshold=0.0)
        print(json.dumps({{"result": result, "loaded": [m for m in {FRAMEWORKS!r} if m in sys.modules]}}))
        """
    )
    data = json.loads(out.strip().splitlines()[-1])
    assert data["loaded"] == []
    assert_same_predictions(data["result"], uni_keras.classify(TEXTS, LABELS, threshold=0.0))


# ----------------------------------------------------- Keras registration
@pytest.mark.parametrize(
    "imports, legacy_file, class_name",
    [
        ("import gliclass_keras\nimport keras", "encdec_t5.keras", "GLiClassEncoderDecoderClassifier"),
        # (keras first, then gliclass_keras: what conftest.py does for every test)
        # Keras first imported from inside a gliclass-keras module, which
        # does not import the bi-encoder classes itself.
        (
            "import gliclass_keras\nfrom gliclass_keras.models import gliclass_uni_encoder\nimport keras",
            "bi_bert_bert.keras",
            "GLiClassBiEncoderClassifier",
        ),
    ],
)
def test_keras_load_model_finds_the_classes_whatever_the_import_order(imports, legacy_file, class_name):
    out = run_python(
        imports
        + f"""
model = keras.saving.load_model({str(LEGACY / legacy_file)!r})
print(type(model).__name__)
"""
    )
    assert out.strip().splitlines()[-1] == class_name


def test_lazy_names_and_submodules():
    for name in gliclass_keras.__all__:
        assert getattr(gliclass_keras, name) is not None
    assert set(gliclass_keras.__all__) <= set(dir(gliclass_keras))
    assert "OnnxClassifier" in gliclass_keras.__all__
    for module in ("losses", "metrics", "optimizers", "rewards"):
        assert hasattr(getattr(gliclass_keras, module), "__name__")
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        gliclass_keras.Nope  # noqa: B018


# ------------------------------------------------------------------ parity
def test_export_config_and_inputs(uni_onnx):
    assert uni_onnx.architecture_type == "uni-encoder"
    assert "CPUExecutionProvider" in uni_onnx.providers
    assert sorted(uni_onnx.input_names) == ["label_mask", "padding_mask", "token_ids"]
    assert uni_onnx.preprocessor.max_length == MAX_LENGTH
    assert uni_onnx.calibration is None
    assert "OnnxClassifier" in repr(uni_onnx)


@pytest.mark.parametrize(
    "case",
    ["one_text", "several_texts", "per_text_labels", "label_chunks", "prompt_and_examples"],
)
def test_scores_match_the_keras_model(case, uni_keras, uni_onnx):
    kwargs = {}
    texts, labels = TEXTS, LABELS
    if case == "one_text":
        texts = TEXTS[0]
    elif case == "per_text_labels":
        labels = [["travel"], ["sport", "science", "travel", "politics"], ["science", "sport"]]
    elif case == "label_chunks":
        labels = MANY_LABELS
    elif case == "prompt_and_examples":
        kwargs = {
            "prompt": "Classify the topic:",
            "examples": [{"text": "We won.", "labels": ["sport"]}],
        }
    with pytest.warns(UserWarning) if case == "label_chunks" else _no_check():
        want = uni_keras.predict_scores(texts, labels, batch_size=2, **kwargs)
    with pytest.warns(UserWarning) if case == "label_chunks" else _no_check():
        got = uni_onnx.predict_scores(texts, labels, batch_size=2, **kwargs)
    assert_same_scores(got, want)
    np.testing.assert_allclose(
        np.concatenate(uni_onnx.predict_logits(texts, labels, **kwargs)),
        np.concatenate(uni_keras.predict_logits(texts, labels, **kwargs)),
        atol=1e-4,
    )
    for kind in ("multi-label", "single-label"):
        # (near-identical labels may tie: see assert_same_predictions)
        assert_same_predictions(
            uni_onnx.classify(texts, labels, threshold=0.3, classification_type=kind, **kwargs),
            uni_keras.classify(texts, labels, threshold=0.3, classification_type=kind, **kwargs),
            scores=uni_keras.predict_scores(texts, labels, classification_type=kind, **kwargs),
            threshold=0.3 if kind == "multi-label" else None,
        )


class _no_check:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_long_text_windows_match_the_keras_model(uni_keras, uni_onnx):
    document = FILLER * 3 + "We flew to Rome and walked along the river for a week."
    for how in ("max", "mean"):
        kwargs = dict(long_text="windows", window_size=12, window_overlap=3, window_aggregation=how)
        assert_same_scores(
            uni_onnx.predict_scores([document, TEXTS[0]], LABELS, **kwargs),
            uni_keras.predict_scores([document, TEXTS[0]], LABELS, **kwargs),
        )
    with pytest.warns(UserWarning, match="cut"):
        got = uni_onnx.predict_scores([document], LABELS)
    with pytest.warns(UserWarning, match="cut"):
        want = uni_keras.predict_scores([document], LABELS)
    assert_same_scores(got, want)


def test_calibration_is_read_from_the_export(uni_calibrated_dir, uni_keras, uni_onnx):
    model = gliclass_keras.OnnxClassifier(uni_calibrated_dir)
    assert model.calibration == CALIBRATION
    calibrated = load_reference_model(UNI, calibration=CALIBRATION, max_length=MAX_LENGTH)
    for kind in ("multi-label", "single-label"):
        assert_same_scores(
            model.predict_scores(TEXTS, LABELS, classification_type=kind),
            calibrated.predict_scores(TEXTS, LABELS, classification_type=kind),
        )
    raw = np.stack(model.predict_logits(TEXTS, LABELS))
    np.testing.assert_allclose(raw, np.stack(uni_onnx.predict_logits(TEXTS, LABELS)), atol=1e-6)
    label_term = CALIBRATION["label_count_weight"] * np.log(len(LABELS))
    want = 1 / (1 + np.exp(-(raw / CALIBRATION["temperature"] + CALIBRATION["bias"] - label_term)))
    got = model.predict_scores(TEXTS, LABELS)
    np.testing.assert_allclose([list(s.values()) for s in got], want, atol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        model.calibration = {"temperature": 0.0, "bias": 0.0}


BAD_INPUTS = [
    dict(texts=[], labels=LABELS),
    dict(texts=["a"], labels=[]),
    dict(texts=[3], labels=LABELS),
    dict(texts=["a", "b"], labels=[["x"]]),
    dict(texts=["a"], labels=LABELS, batch_size=0),
    dict(texts=["a"], labels=LABELS, threshold=2.0),
    dict(texts=["a"], labels=LABELS, classification_type="both"),
    dict(texts=["a"], labels=LABELS, long_text="split"),
    dict(texts=["a"], labels=LABELS, long_text="windows", window_size=1),
    dict(texts=["a"], labels=LABELS, long_text="windows", window_size=8, window_overlap=8),
    dict(texts=["a"], labels=LABELS, window_aggregation="median"),
    dict(texts=["a"], labels=LABELS, examples="We won."),
    dict(texts=["a"], labels=LABELS, prompt=["p1", "p2"]),
    dict(texts=["a"], labels=gliclass_keras.LabelEmbeddings(["a"], np.zeros((1, 4)))),
]


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=range(len(BAD_INPUTS)))
def test_bad_input_raises_as_the_keras_model(bad, uni_keras, uni_onnx):
    bad = dict(bad)
    texts, labels = bad.pop("texts"), bad.pop("labels")
    with pytest.raises((ValueError, TypeError)) as want:
        uni_keras.classify(texts, labels, **bad)
    with pytest.raises(type(want.value)) as got:
        uni_onnx.classify(texts, labels, **bad)
    assert str(got.value).replace("OnnxClassifier", "X") == str(want.value).replace(
        type(uni_keras).__name__, "X"
    )
    with pytest.raises(TypeError, match="Unexpected keyword arguments"):
        uni_onnx.predict_scores(["a"], LABELS, windows=3)


# ------------------------------------------------------------ bad exports
def test_missing_or_corrupt_exports_name_the_file(tmp_path, uni_dir):
    import shutil

    with pytest.raises(FileNotFoundError, match="No export directory"):
        gliclass_keras.OnnxClassifier(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="gliclass_export.json"):
        gliclass_keras.OnnxClassifier(tmp_path)

    broken = tmp_path / "broken"
    shutil.copytree(uni_dir, broken)
    config_path = broken / "gliclass_export.json"
    config = json.loads(config_path.read_text())

    config_path.write_text(json.dumps(config)[:40])
    with pytest.raises(CorruptFileError, match="gliclass_export.json"):
        gliclass_keras.OnnxClassifier(broken)

    config_path.write_text(json.dumps({**config, "format_version": 7}))
    with pytest.raises(ValueError, match="format_version"):
        gliclass_keras.OnnxClassifier(broken)

    config_path.write_text(json.dumps(config))
    model_bytes = (broken / "model.onnx").read_bytes()
    (broken / "model.onnx").write_bytes(model_bytes[: len(model_bytes) // 3])
    with pytest.raises(CorruptFileError, match="model.onnx"):
        gliclass_keras.OnnxClassifier(broken)
    (broken / "model.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="model.onnx"):
        gliclass_keras.OnnxClassifier(broken)

    (broken / "model.onnx").write_bytes(model_bytes)
    (broken / "tokenizer.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match="tokenizer.json"):
        gliclass_keras.OnnxClassifier(broken)


# -------------------------------------------------------------- bi-encoder
@pytest.mark.skipif(
    keras.config.backend() != "jax", reason="one export per architecture: the jax run (shared with test_onnx_export)"
)
def test_bi_encoder_export_and_label_cache(export_root):
    """Plain and cached scores of an exported bi-encoder match the Keras model's."""
    name = "bi_bert_bert"
    directory = cached_export(name, export_root)
    model = gliclass_keras.OnnxClassifier(directory)
    keras_model = load_reference_model(name)
    assert type(model).__name__ == "OnnxBiEncoderClassifier"
    assert_same_scores(
        model.predict_scores(TEXTS, LABELS, batch_size=2),
        keras_model.predict_scores(TEXTS, LABELS, batch_size=2),
    )
    cache = model.encode_labels(LABELS, batch_size=2)
    np.testing.assert_allclose(
        cache.vectors, keras_model.encode_labels(LABELS).vectors, atol=1e-4
    )
    assert_same_scores(
        model.predict_scores(TEXTS, cache), keras_model.predict_scores(TEXTS, LABELS)
    )
    np.testing.assert_allclose(
        model.encode_texts(TEXTS), keras_model.encode_texts(TEXTS), atol=1e-4
    )


# The reference pipeline scores one text per batch (its output is well
# defined there); the ONNX classifier must give the same scores.
# Every architecture's ONNX logits equal the Keras model's (test_onnx_export)
# and the Keras model's equal the reference's (test_parity): here, end to end,
# the uni-encoder on every backend and the bi-encoder (label cache) on jax.
REFERENCE_ARCHITECTURES = [UNI, "bi_bert_bert"] if keras.config.backend() == "jax" else [UNI]


@pytest.mark.parametrize("name", REFERENCE_ARCHITECTURES)
def test_scores_match_the_reference_pipeline(name, export_root):
    from reference_runner import reference

    model = gliclass_keras.OnnxClassifier(cached_export(name, export_root))
    _, _, pipeline = reference(name)
    for kind in ("multi-label", "single-label"):
        for text in TEXTS:
            want = pipeline([text], LABELS, threshold=0.0, batch_size=1, classification_type=kind)[0]
            want = {p["label"]: p["score"] for p in want}
            got = model.predict_scores([text], LABELS, classification_type=kind)[0]
            assert want and set(want) <= set(got) == set(LABELS)
            for label in want:  # single-label: the reference returns its top label only
                assert abs(got[label] - want[label]) <= 1e-4, (name, kind, text, label, got, want)
            if kind == "single-label":
                assert max(got, key=got.get) == next(iter(want))


# -------------------------------------------------------------- command line
def test_cli_classifies_with_an_export_directory(uni_dir, uni_keras, capsys):
    from gliclass_keras import cli

    assert cli.main(["classify", "--model", str(uni_dir), "--labels", ",".join(LABELS),
                     "--single-label", TEXTS[1]]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    want = uni_keras.classify([TEXTS[1]], LABELS, classification_type="single-label")[0]
    assert line["predictions"][0]["label"] == want[0]["label"]
    assert abs(line["predictions"][0]["score"] - want[0]["score"]) <= 1e-4


@pytest.mark.skipif(keras.config.backend() != "jax", reason="the jax run exports through the CLI")
def test_cli_exports_a_directory(tmp_path, capsys):
    from gliclass_keras import cli

    fixture = str(pathlib.Path(__file__).parent / "fixtures" / "reference" / UNI)
    out = tmp_path / "export"
    assert cli.main(["export", "--model", fixture, "--format", "onnx", "--output", str(out)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["output"] == str(out)
    model = gliclass_keras.OnnxClassifier(out)
    keras_model = load_reference_model(UNI)
    assert_same_scores(model.predict_scores(TEXTS, LABELS), keras_model.predict_scores(TEXTS, LABELS))
    with pytest.raises(SystemExit):  # argparse: not one of the choices
        cli.main(["export", "--model", fixture, "--output", str(out), "--quantize", "int4"])
    assert cli.main(["export", "--model", fixture, "--format", "litert", "--output", str(out),
                     "--quantize", "int8"]) == 2
