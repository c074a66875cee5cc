"""The last layer computed at the positions a head reads (`layers/head_rows.py`).

A uni-encoder head that reads one position per label and one of the text
(`HeadRows`), and a bi-encoder's `first`/`last` pooling of texts and labels
(`pool_last_layer`), make the last transformer layer compute its output
there only. Logits and gradients must be those of the whole layer; other
heads keep the whole layer.
"""

import keras
import numpy as np
import pytest

from conftest import REFERENCE_MODELS

import gliclass_keras
from gliclass_keras.backbones.hidden_states import take_rows
from gliclass_keras.layers import HeadRows
from gliclass_keras.layers import TokenPooler
from gliclass_keras.layers.head_rows import pool_last_layer
from gliclass_keras.models.gliclass_classifier import GLiClassClassifier

# Fixtures whose head reads a few rows: DeBERTa-v3 (default head; last
# pooling, hopfield, the token after <<LABEL>>), BERT, ModernBERT (text
# first; prompt first with an MLP scorer).
ROW_MODELS = [
    "uni_deberta_default",
    "uni_deberta_hopfield_last_noembedcls",
    "uni_bert_default",
    "uni_modernbert_v3_textfirst",
    "uni_modernbert_edge",
]
# Heads that read every token (average pooling, an LSTM, a layer other than
# the last, text features, cross-attention): the whole layer.
WHOLE_MODELS = [
    "uni_deberta_promptfirst_avg_weighteddot",
    "uni_deberta_mlp_max_lstm",
    "uni_deberta_layer1",
    "uni_deberta_absmax_avgclass_textfeat",
    "uni_modernbert_multilang_crossattn",
    "uni_t5encoder_avg",
]
TEXTS = [
    "One day I will see the world and every ocean on it!",
    "The match went to penalties.",
    "Quarterly revenue rose by twelve percent, the company said on Tuesday.",
]
LABELS = [["travel", "dreams", "sport"], ["sport", "finance"], ["finance", "business", "travel", "news"]]


def _load(name, monkeypatch, rows_only):
    monkeypatch.setattr(GLiClassClassifier, "compute_read_rows_only", rows_only)
    return gliclass_keras.GLiClassClassifier.from_pretrained(REFERENCE_MODELS / name)


def test_head_rows_positions():
    # [CLS] <<LABEL>> a <<LABEL>> b b <<SEP>> text text [SEP] pad pad
    token_ids = np.array([[1, 5, 9, 5, 8, 8, 6, 7, 7, 2, 0, 0], [1, 5, 9, 6, 7, 2, 0, 0, 0, 0, 0, 0]])
    padding_mask = (np.arange(12) < np.array([[10], [6]])).astype("int32")
    label_mask = np.ones((2, 3), "int32")
    out = HeadRows(class_token_index=5)(token_ids, padding_mask, label_mask)
    np.testing.assert_array_equal(out["text_rows"], [[0], [0]])
    np.testing.assert_array_equal(out["class_rows"], [[1, 3, 0], [1, 0, 0]])
    np.testing.assert_array_equal(out["found"], [[1, 1, 0], [1, 0, 0]])
    out = HeadRows(class_token_index=5, pooling_strategy="last", embed_class_token=False)(
        token_ids, padding_mask, label_mask
    )
    np.testing.assert_array_equal(out["text_rows"], [[9], [5]])
    np.testing.assert_array_equal(out["class_rows"], [[2, 4, 0], [2, 0, 0]])
    np.testing.assert_array_equal(out["found"], [[1, 1, 0], [1, 0, 0]])


def test_head_rows_config_and_arguments():
    layer = HeadRows(class_token_index=5, pooling_strategy="last", embed_class_token=False)
    config = layer.get_config()
    assert HeadRows.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is HeadRows and restored.pooling_strategy == "last"
    with pytest.raises(ValueError, match="pooling_strategy"):
        HeadRows(class_token_index=5, pooling_strategy="avg")
    with pytest.raises(ValueError, match="class_token_index"):
        HeadRows(class_token_index=-1)
    with pytest.raises(ValueError, match="embed_class_token"):
        HeadRows(class_token_index=5, embed_class_token="yes")


def test_take_rows():
    x = np.arange(24.0, dtype="float32").reshape(2, 4, 3)
    got = keras.ops.convert_to_numpy(take_rows(x, np.array([[3, 0], [1, 1]])))
    np.testing.assert_array_equal(got, [x[0, [3, 0]], x[1, [1, 1]]])
    heads = x.reshape(2, 4, 3, 1)
    got = keras.ops.convert_to_numpy(take_rows(heads, np.array([[2], [0]])))
    np.testing.assert_array_equal(got, heads[[0, 1], [2, 0]][:, None])


@pytest.mark.parametrize("name", ROW_MODELS)
def test_rows_only_logits_equal_the_whole_layer(name, monkeypatch):
    whole = _load(name, monkeypatch, False)
    rows = _load(name, monkeypatch, True)
    assert whole.head_rows is None and rows.head_rows is not None
    for got, want in zip(rows.predict_logits(TEXTS, LABELS), whole.predict_logits(TEXTS, LABELS)):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # A label slot without its <<LABEL>> token (labels cut off by truncation
    # in the reference's layout) reads a zero vector on both paths.
    batch = dict(whole.preprocessor(TEXTS, LABELS))
    batch["label_mask"] = np.concatenate([batch["label_mask"], np.ones((3, 1), "int32")], axis=1)
    want = np.asarray(whole.predict_on_batch(batch))
    got = np.asarray(rows.predict_on_batch(batch))
    assert np.all(np.isfinite(got)) and got.shape == (3, 5)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", WHOLE_MODELS)
def test_heads_reading_every_token_keep_the_whole_layer(name):
    model = gliclass_keras.GLiClassClassifier.from_pretrained(REFERENCE_MODELS / name)
    assert model.head_rows is None
    assert model.class_token_extractor is not None


def _no_dropout(model):
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0


@pytest.mark.parametrize("name", ["uni_deberta_default", "uni_bert_default", "uni_modernbert_edge"])
def test_rows_only_training_step_equals_the_whole_layer(name, monkeypatch):
    # One SGD step from the same weights, without dropout: the same update.
    models = [_load(name, monkeypatch, False), _load(name, monkeypatch, True)]
    records = [
        {"text": text, "all_labels": labels, "true_labels": labels[:1]}
        for text, labels in zip(TEXTS, LABELS)
    ]
    updated = []
    for model in models:
        _no_dropout(model)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
        x, y = model.make_dataset(records, batch_size=3, training=True, shuffle=False)[0]
        before = [np.array(v) for v in model.trainable_variables]
        loss = model.train_on_batch(x, y)
        after = [np.array(v) for v in model.trainable_variables]
        updated.append((float(np.ravel(loss)[0]), [a - b for a, b in zip(after, before)]))
    (loss_whole, step_whole), (loss_rows, step_rows) = updated
    assert abs(loss_rows - loss_whole) <= 1e-5 * max(1.0, abs(loss_whole))
    assert max(np.abs(s).max() for s in step_whole) > 1e-4  # the step moved the weights
    for a, b in zip(step_rows, step_whole):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_rows_only_model_saves_and_loads(tmp_path):
    model = gliclass_keras.GLiClassClassifier.from_pretrained(REFERENCE_MODELS / "uni_deberta_default")
    want = model.predict_logits(TEXTS, LABELS)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.head_rows is not None
    for got, expected in zip(loaded.predict_logits(TEXTS, LABELS), want):
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["bi_bert_bert", "bifused_deberta_bert"])
def test_bi_encoder_rows_only_equals_the_whole_layer(name, monkeypatch):
    # `first` pooling of the label tower (both) and of the text tower (bi-encoder).
    whole = _load(name, monkeypatch, False)
    rows = _load(name, monkeypatch, True)
    assert rows.label_encoder.compute_read_rows_only and not whole.label_encoder.compute_read_rows_only
    for got, want in zip(rows.predict_logits(TEXTS, LABELS), whole.predict_logits(TEXTS, LABELS)):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("strategy", ["first", "last"])
def test_pool_last_layer_equals_pooling_the_whole_layer(strategy):
    model = gliclass_keras.GLiClassClassifier.from_pretrained(REFERENCE_MODELS / "bi_bert_bert")
    token_ids = np.array([[101, 7, 8, 9, 102, 0], [101, 5, 102, 0, 0, 0], [0] * 6])
    padding_mask = (token_ids != 0).astype("int32")
    pooler = TokenPooler(strategy)
    got = pool_last_layer(model.encoder, pooler, token_ids, padding_mask)
    want = pool_last_layer(model.encoder, pooler, token_ids, padding_mask, rows_only=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want), atol=1e-5, rtol=0
    )
    assert keras.ops.convert_to_numpy(got).shape == (3, model.backbone.hidden_dim)
