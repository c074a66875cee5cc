"""GLiClassDataset: records from datasets/lists/files, shuffling, padding, streaming."""

import json

import datasets
import numpy as np
import pytest
from sklearn.metrics import f1_score

from conftest import REFERENCE_MODELS

import gliclass_keras
from gliclass_keras import GLiClassClassifier
from gliclass_keras import GLiClassDataset

MODEL_DIR = REFERENCE_MODELS / "uni_deberta_default"

RECORDS = [
    {"text": "We won the football match", "all_labels": ["sport", "travel", "science"], "true_labels": ["sport"]},
    {"text": "A long trip to Paris by train", "all_labels": ["sport", "travel"], "true_labels": ["travel"]},
    {"text": "Atoms bond into molecules", "all_labels": ["science", "travel", "sport", "cooking"], "true_labels": {"science": 0.75}},
    {"text": "Bake the bread for an hour", "all_labels": ["cooking", "science"], "true_labels": ["cooking"],
     "prompt": "Pick the topic.", "examples": [{"text": "Boil pasta", "labels": ["cooking"]}]},
    {"text": "The election results", "all_labels": ["politics", "sport", "travel", "science", "cooking"], "true_labels": []},
]


@pytest.fixture(scope="module")
def model():
    return GLiClassClassifier.from_pretrained(MODEL_DIR)


def _ordered(model, data, **kwargs):
    kwargs.setdefault("static_shapes", False)
    return GLiClassDataset(data, model.preprocessor, batch_size=2, shuffle=False, shuffle_labels=False, **kwargs)


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_batches_hold_targets_in_label_order(model):
    x, y = _ordered(model, RECORDS)[1]
    assert x["label_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    np.testing.assert_array_equal(y["targets"], [[0.75, 0, 0, 0], [1, 0, -100, -100]])
    assert (y["label_ids"][1, 2:] == -1).all()
    rows = model.preprocessor.encode(
        [RECORDS[2]["text"]], [RECORDS[2]["all_labels"]]
    ) + model.preprocessor.encode(
        [RECORDS[3]["text"]], [RECORDS[3]["all_labels"]], prompt="Pick the topic.",
        examples=[{"text": "Boil pasta", "labels": ["cooking"]}],
    )
    expected = model.preprocessor.collate(rows)
    for key in ("token_ids", "padding_mask"):
        np.testing.assert_array_equal(x[key], expected[key])


def test_list_json_jsonl_and_datasets_give_the_same_batches(model, tmp_path):
    # Arrow cannot hold a column that is sometimes a list and sometimes a dict
    # (and `Dataset.from_list` takes its columns from the first record)
    uniform = [
        {"prompt": None, "examples": [], **r, "true_labels": {label: 1.0 for label in r["true_labels"]}}
        if isinstance(r["true_labels"], list)
        else {"prompt": None, "examples": [], **r}
        for r in RECORDS
    ]
    jsonl = _write_jsonl(tmp_path / "train.jsonl", uniform)
    (tmp_path / "train.json").write_text(json.dumps(uniform))
    sources = [
        uniform,
        datasets.Dataset.from_list(uniform),
        str(jsonl),
        tmp_path / "train.json",
    ]
    batches = [[_ordered(model, source, cache_dir=str(tmp_path / "cache"))[i] for i in range(3)] for source in sources]
    for other in batches[1:]:
        for (x1, y1), (x2, y2) in zip(batches[0], other):
            for key in x1:
                np.testing.assert_array_equal(x1[key], x2[key])
            np.testing.assert_array_equal(y1["targets"], y2["targets"])
    assert (tmp_path / "cache").exists()


def test_labels_and_records_are_reshuffled_each_epoch(model):
    data = GLiClassDataset(RECORDS * 4, model.preprocessor, batch_size=4, static_shapes=False, seed=3)
    first = [data[i] for i in range(len(data))]
    data.on_epoch_end()
    second = [data[i] for i in range(len(data))]
    assert any(not np.array_equal(a[1]["label_ids"], b[1]["label_ids"]) for a, b in zip(first, second))
    vocabulary = {i: name for name, i in data.label_vocabulary.items()}
    by_text = {r["text"]: r for r in RECORDS}
    for x, y in first + second:
        for b in range(len(y["targets"])):
            names = [vocabulary[i] for i in y["label_ids"][b] if i >= 0]
            text = next(t for t in by_text if sorted(by_text[t]["all_labels"]) == sorted(names))
            truth = by_text[text]["true_labels"]
            for name, target in zip(names, y["targets"][b]):
                want = truth.get(name, 0.0) if isinstance(truth, dict) else float(name in truth)
                assert target == want
    again = GLiClassDataset(RECORDS * 4, model.preprocessor, batch_size=4, static_shapes=False, seed=3)
    np.testing.assert_array_equal(again[0][1]["label_ids"], first[0][1]["label_ids"])


def test_static_shapes_pad_rows_labels_and_length(model):
    data = GLiClassDataset(RECORDS, model.preprocessor, batch_size=4, shuffle=False, static_shapes=True)
    x, y = data[1]  # the last record alone
    assert x["token_ids"].shape == (4, 32)
    assert x["label_mask"].shape == (4, 8)
    assert x["label_mask"][1:].sum() == 0 and (y["targets"][1:] == -100).all()
    assert x["label_mask"][0].sum() == 5 and (y["targets"][0, 5:] == -100).all()


def test_single_label_and_regression_targets(model):
    single = GLiClassDataset(
        RECORDS[:2], model.preprocessor, batch_size=2, shuffle=False, shuffle_labels=False,
        static_shapes=False, problem_type="single_label_classification",
    )
    np.testing.assert_array_equal(single[0][1]["targets"], [[1, 0, 0], [0, 1, -100]])
    bad = GLiClassDataset(
        [dict(RECORDS[0], true_labels=["sport", "travel"])], model.preprocessor,
        problem_type="single_label_classification",
    )
    with pytest.raises(ValueError, match="record 0: single_label_classification needs exactly one true label"):
        bad[0]
    regression = GLiClassDataset(
        [dict(RECORDS[0], true_labels={"sport": 3.5})], model.preprocessor, shuffle_labels=False,
        static_shapes=False, problem_type="regression",
    )
    np.testing.assert_array_equal(regression[0][1]["targets"], [[3.5, 0, 0]])


@pytest.mark.parametrize(
    "record,error,match",
    [
        ({"text": "x", "all_labels": ["a"]}, ValueError, "record 0 has no 'true_labels'"),
        ({"text": 3, "all_labels": ["a"], "true_labels": []}, TypeError, "'text' must be a string"),
        ({"text": "x", "all_labels": ["a", "a"], "true_labels": []}, ValueError, "more than once"),
        ({"text": "x", "all_labels": ["a"], "true_labels": {"a": 1.5}}, ValueError, r"must be in \[0, 1\]"),
        ({"text": "x", "all_labels": ["a"], "true_labels": 1}, TypeError, "'true_labels' must be"),
        ({"text": "x <<LABEL>>", "all_labels": ["a"], "true_labels": []}, ValueError, "reserved marker"),
    ],
)
def test_bad_records_are_named(model, record, error, match):
    with pytest.raises(error, match=match):
        GLiClassDataset([record], model.preprocessor)[0]


def test_bad_sources(model, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        GLiClassDataset(str(tmp_path / "missing.jsonl"), model.preprocessor)
    with pytest.raises(ValueError, match=".json or .jsonl"):
        (tmp_path / "data.csv").write_text("a,b\n")
        GLiClassDataset(str(tmp_path / "data.csv"), model.preprocessor)
    with pytest.raises(TypeError, match="Training data must be"):
        GLiClassDataset(42, model.preprocessor)
    with pytest.raises(ValueError, match="batch_size"):
        GLiClassDataset(RECORDS, model.preprocessor, batch_size=0)


def test_long_inputs_are_reported_not_dropped(model):
    preprocessor = gliclass_keras.GLiClassPreprocessor(
        model.preprocessor.tokenizer, max_length=24, pad_token_id=model.preprocessor.pad_token_id
    )
    records = [
        {"text": "word " * 40, "all_labels": ["sport", "travel"], "true_labels": ["sport"]},
        {"text": "short", "all_labels": [f"label {i}" for i in range(8)], "true_labels": ["label 7"]},
    ]
    data = GLiClassDataset(records, preprocessor, batch_size=2, shuffle=False, shuffle_labels=False, static_shapes=False)
    with pytest.warns(UserWarning) as caught:
        x, y = data[0]
    messages = " ".join(str(w.message) for w in caught)
    assert "are cut" in messages and "split into rows" in messages
    assert data.stats == {"truncated_texts": 1, "chunked_records": 1}
    assert len(x["token_ids"]) > 2  # the second record gave several rows
    assert (y["targets"] == 1).sum() == 2  # every true label kept
    assert x["token_ids"].shape[1] <= 24


def test_streaming_file_trains_with_steps_per_epoch(tmp_path):
    model = GLiClassClassifier.from_pretrained(MODEL_DIR)
    model.compile(training_config=gliclass_keras.TrainingConfig(learning_rate=1e-3, cache_dir=str(tmp_path)))
    jsonl = _write_jsonl(tmp_path / "stream.jsonl", [r for r in RECORDS if isinstance(r["true_labels"], list)] * 2)
    stream = model.make_dataset(str(jsonl), batch_size=4, streaming=True)
    assert stream.streaming and stream.num_batches is None
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(stream, epochs=1, verbose=0)
    history = model.fit(stream, epochs=2, steps_per_epoch=2, verbose=0).history
    assert len(history["loss"]) == 2 and all(np.isfinite(history["loss"]))


def test_evaluate_f1_equals_sklearn_on_predictions(model):
    records = [r for r in RECORDS]
    model.compile()
    results = model.evaluate(records, batch_size=2, verbose=0, return_dict=True)
    logits = model.predict(records, batch_size=2, verbose=0)
    true_sets, pred_sets, names = [], [], set()
    for record, row in zip(records, logits):
        labels = record["all_labels"]
        names |= set(labels)
        truth = record["true_labels"]
        true_sets.append({l for l in labels if (truth.get(l, 0) if isinstance(truth, dict) else l in truth) >= 0.5})
        pred_sets.append({l for l, v in zip(labels, row) if v >= 0})
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer(classes=sorted(names))
    y_true, y_pred = binarizer.fit_transform(true_sets), binarizer.transform(pred_sets)
    for average in ("micro", "macro"):
        expected = f1_score(y_true, y_pred, average=average, zero_division=0)
        assert results[f"{average}_f1"] == pytest.approx(expected, abs=1e-6)
    assert logits.shape == (5, 5) and (logits[1, 2:] == -1000).all()


def test_static_batches_pad_up_to_a_compiled_shape_with_the_same_loss_and_logits(model):
    from gliclass_keras.utils import shapes

    natural = GLiClassDataset(
        RECORDS, model.preprocessor, batch_size=4, shuffle=False, shuffle_labels=False,
        static_shapes=True, compiled_shapes=shapes.CompiledShapes(compile_cost_in_steps=0),
    )
    x, y = natural[0]
    length = x["token_ids"].shape[1]
    assert x["label_mask"].shape == (4, 8)
    memory = shapes.CompiledShapes()
    big = {"token_ids": (4, length + 16), "padding_mask": (4, length + 16), "label_mask": (4, 16)}
    memory.choose(big)  # a step compiled for this shape already
    padded = GLiClassDataset(
        RECORDS, model.preprocessor, batch_size=4, shuffle=False, shuffle_labels=False,
        static_shapes=True, compiled_shapes=memory,
    )
    px, py = padded[0]
    assert {name: array.shape for name, array in px.items()} == big
    assert py["targets"].shape == py["label_ids"].shape == (4, 16)
    assert (px["token_ids"][:, length:] == model.preprocessor.pad_token_id).all()
    assert px["padding_mask"][:, length:].sum() == px["label_mask"][:, 8:].sum() == 0
    assert (py["targets"][:, 8:] == -100).all() and (py["label_ids"][:, 8:] == -1).all()
    np.testing.assert_array_equal(px["token_ids"][:, :length], x["token_ids"])
    np.testing.assert_array_equal(py["targets"][:, :8], y["targets"])

    logits = np.asarray(model.predict_on_batch(x))
    padded_logits = np.asarray(model.predict_on_batch(px))
    mask = x["label_mask"].astype(bool)
    np.testing.assert_allclose(padded_logits[:, :8][mask], logits[mask], atol=1e-5)
    model.compile()
    loss = model.test_on_batch(x, y, return_dict=True)["loss"]
    assert model.test_on_batch(px, py, return_dict=True)["loss"] == pytest.approx(loss, abs=1e-6)


def test_make_dataset_shares_the_models_compiled_shapes(model):
    model.compile()
    train = model.make_dataset(RECORDS, batch_size=2)
    test = model.make_dataset(RECORDS, batch_size=2, training=False)
    assert train.compiled_shapes is model.make_dataset(RECORDS).compiled_shapes
    assert test.compiled_shapes is not train.compiled_shapes
    train.compiled_shapes.choose({"token_ids": (2, 16)})
    model.compile()  # Keras makes the step functions again: nothing is compiled
    assert train.compiled_shapes.shapes == []
    with pytest.raises(TypeError, match="compiled_shapes"):
        GLiClassDataset(RECORDS, model.preprocessor, compiled_shapes={})
