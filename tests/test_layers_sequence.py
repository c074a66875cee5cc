"""Token-sequence head layers vs the reference `gliclass` code: TextLSTM,
ClassTokenExtractor, SegmentEmbedding and LayerwiseAttention."""

import itertools
import json
import types

import keras
import numpy as np
import pytest
import torch
from gliclass import layers as ref_layers
from gliclass.model import GLiClassBaseModel
from gliclass.model import GLiClassUniEncoder

from layer_test_utils import ATOL, assert_close, assert_roundtrip, max_diff, rand, randomize, to_np, torch_state
from gliclass_keras.convert.head_weights import load_reference_layer_weights
from gliclass_keras.layers import ClassTokenExtractor
from gliclass_keras.layers import LayerwiseAttention
from gliclass_keras.layers import SegmentEmbedding
from gliclass_keras.layers import TextLSTM

D = 8
LABEL, SEP, EXAMPLE, PAD = 5, 6, 7, 0
















# --------------------------------------------------------------------------
# TextLSTM vs gliclass.layers.LstmSeq2SeqEncoder (pack_padded_sequence)
# --------------------------------------------------------------------------


def reference_lstm(hidden, seed=0):
    return randomize(ref_layers.LstmSeq2SeqEncoder(D, hidden // 2, bidirectional=True), seed)


def run_reference_lstm(module, x, mask):
    with torch.no_grad():
        return module(torch.from_numpy(x), torch.from_numpy(mask)).numpy()


@pytest.mark.parametrize(
    "lengths",
    [
        [4, 7, 2],  # one full row: torch output has the full length
        [3, 5, 1],  # no full row: torch trims to the longest row
    ],
)
def test_text_lstm_matches_packed_torch_lstm(lengths):
    length = 7
    mask = (np.arange(length)[None, :] < np.array(lengths)[:, None]).astype("int32")
    x = rand(len(lengths), length, D, seed=1)
    # Garbage at padded positions must not reach any real position.
    x = np.where(mask[..., None] == 1, x, 30.0).astype("float32")
    ref = reference_lstm(D)
    layer = TextLSTM(hidden_dim=D)
    state = torch_state(ref, "model.lstm.")
    assert load_reference_layer_weights(layer, state, "model.lstm.") == set(state)
    expected = run_reference_lstm(ref, x, mask)
    actual = to_np(layer(x, mask=mask))
    assert actual.shape == (len(lengths), length, D)
    longest = max(lengths)
    assert_close(actual[:, :longest], expected)
    np.testing.assert_array_equal(actual[mask == 0], 0.0)
    assert_close(layer(x, mask=mask.astype(bool)), actual)


def test_text_lstm_without_mask_and_odd_width():
    x = rand(2, 5, D, seed=2)
    ref = randomize(ref_layers.LstmSeq2SeqEncoder(D, 3, bidirectional=True), 3)
    layer = TextLSTM(hidden_dim=7)  # 7 // 2 = 3 units per direction
    load_reference_layer_weights(layer, torch_state(ref, "l."), "l.")
    expected = run_reference_lstm(ref, x, np.ones((2, 5), "int32"))
    assert_close(layer(x), expected)
    assert layer.compute_output_shape((None, None, D)) == (None, None, 6)


def test_text_lstm_symbolic_and_roundtrip():
    x = keras.Input((None, D))
    m = keras.Input((None,), dtype="int32")
    layer = TextLSTM(hidden_dim=D)
    model = keras.Model([x, m], layer(x, mask=m))
    data = rand(2, 5, D, seed=4)
    mask = np.array([[1, 1, 1, 0, 0], [1] * 5], "int32")
    assert_close(model.predict([data, mask], verbose=0), to_np(layer(data, mask=mask)))
    assert_roundtrip(layer, data, mask=mask)
    with pytest.raises(ValueError, match="hidden_dim"):
        TextLSTM(hidden_dim=1)


# --------------------------------------------------------------------------
# ClassTokenExtractor vs GLiClassBaseModel._extract_class_features
# --------------------------------------------------------------------------


def token_batch():
    """Rows covering the extraction corner cases (length 12, right-padded)."""
    rows = [
        # text-first: text, 3 labels, <<SEP>>, prompt, [SEP]
        [1, 20, 21, LABEL, 30, 31, LABEL, 32, LABEL, 33, SEP, 2],
        # prompt-first: 2 labels, <<SEP>>, text, [SEP], padding
        [1, LABEL, 30, LABEL, 31, 32, SEP, 20, 21, 2, PAD, PAD],
        # no <<LABEL>> and no <<SEP>>
        [1, 20, 21, 22, 23, 2, PAD, PAD, PAD, PAD, PAD, PAD],
        # 5 labels (more than K=4), consecutive labels (empty label text),
        # and a <<LABEL>> at the last position
        [1, LABEL, LABEL, 30, LABEL, 31, SEP, 20, LABEL, 21, 2, LABEL],
        # <<SEP>> before any <<LABEL>>, padding inside the last label span
        [1, SEP, 20, LABEL, 30, 31, 2, PAD, PAD, PAD, PAD, PAD],
    ]
    ids = np.array(rows, "int32")
    mask = (ids != PAD).astype("int32")
    return ids, mask


def reference_extract(hidden, ids, mask, num_classes, pooling, embed, text_features):
    config = types.SimpleNamespace(
        class_token_index=LABEL,
        text_token_index=SEP,
        class_token_pooling=pooling,
        embed_class_token=embed,
        extract_text_features=text_features,
        max_num_classes=25,
    )
    fake = types.SimpleNamespace(config=config)
    for name in ("_extract_class_features_first", "_extract_class_features_averaged"):
        setattr(fake, name, types.MethodType(getattr(GLiClassBaseModel, name), fake))
    outputs = GLiClassBaseModel._extract_class_features(
        fake,
        torch.from_numpy(hidden),
        torch.from_numpy(ids.astype("int64")),
        torch.from_numpy(mask.astype("int64")),
        num_classes,
    )
    return [o.numpy() for o in outputs]


EXTRACT_CASES = list(itertools.product(["first", "average"], [True, False], [False, True]))


@pytest.mark.parametrize("pooling,embed,text_features", EXTRACT_CASES)
@pytest.mark.parametrize("num_classes", [2, 4, 6])
def test_class_token_extractor_matches_reference(pooling, embed, text_features, num_classes):
    ids, mask = token_batch()
    hidden = rand(*ids.shape, D, seed=5)
    expected = reference_extract(hidden, ids, mask, num_classes, pooling, embed, text_features)
    layer = ClassTokenExtractor(
        LABEL,
        SEP,
        class_token_pooling=pooling,
        embed_class_token=embed,
        extract_text_features=text_features,
    )
    out = layer(hidden, ids, mask, np.ones((len(ids), num_classes), "int32"))
    assert_close(out["class_embeddings"], expected[0])
    np.testing.assert_array_equal(to_np(out["class_mask"]), expected[1])
    assert_close(out["text_embeddings"], expected[2])
    np.testing.assert_array_equal(to_np(out["text_mask"]), expected[3])
    assert to_np(out["class_mask"]).dtype == to_np(out["text_mask"]).dtype


def test_class_token_extractor_bool_padding_mask():
    ids, mask = token_batch()
    hidden = rand(*ids.shape, D, seed=6)
    layer = ClassTokenExtractor(LABEL, SEP, "average", extract_text_features=True)
    as_int = layer(hidden, ids, mask, np.ones((5, 3), "int32"))
    as_bool = layer(hidden, ids, mask.astype(bool), np.ones((5, 3), bool))
    assert to_np(as_bool["text_mask"]).dtype == bool
    for key in as_int:
        np.testing.assert_array_equal(to_np(as_int[key]).astype("float32"), to_np(as_bool[key]).astype("float32"))


@pytest.mark.parametrize("pooling,text_features", [("first", False), ("average", True)])
def test_class_token_extractor_symbolic_model(pooling, text_features):
    hidden = keras.Input((None, D), name="hidden_states")
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    label_mask = keras.Input((None,), dtype="int32", name="label_mask")
    layer = ClassTokenExtractor(
        LABEL, SEP, class_token_pooling=pooling, extract_text_features=text_features
    )
    outputs = layer(hidden, token_ids, padding_mask, label_mask)
    assert tuple(outputs["class_embeddings"].shape) == (None, None, D)
    assert tuple(outputs["text_embeddings"].shape) == (None, None, D)
    model = keras.Model([hidden, token_ids, padding_mask, label_mask], outputs)
    ids, mask = token_batch()
    for length, num_classes in ((12, 3), (9, 5)):
        batch_ids, batch_mask = ids[:, :length], mask[:, :length]
        states = rand(len(ids), length, D, seed=length)
        label_mask_value = np.ones((len(ids), num_classes), "int32")
        predicted = model.predict([states, batch_ids, batch_mask, label_mask_value], verbose=0)
        expected = reference_extract(states, batch_ids, batch_mask, num_classes, pooling, True, text_features)
        assert_close(predicted["class_embeddings"], expected[0])
        np.testing.assert_array_equal(predicted["class_mask"], expected[1])
        assert_close(predicted["text_embeddings"], expected[2])
        np.testing.assert_array_equal(predicted["text_mask"], expected[3])


def test_class_token_extractor_config_and_bad_args():
    ids, mask = token_batch()
    layer = ClassTokenExtractor(LABEL, SEP, "average", embed_class_token=False, extract_text_features=True)
    assert_roundtrip(layer, rand(*ids.shape, D), ids, mask, np.ones((5, 3), "int32"))
    with pytest.raises(ValueError, match="class_token_pooling"):
        ClassTokenExtractor(LABEL, SEP, class_token_pooling="mean")
    with pytest.raises(ValueError, match="class_token_index"):
        ClassTokenExtractor(-1, SEP)
    with pytest.raises(ValueError, match="text_token_index"):
        ClassTokenExtractor(LABEL, "6")
    with pytest.raises(ValueError, match="embed_class_token"):
        ClassTokenExtractor(LABEL, SEP, embed_class_token=1)
    with pytest.raises(ValueError, match="extract_text_features"):
        ClassTokenExtractor(LABEL, SEP, extract_text_features="yes")


# --------------------------------------------------------------------------
# SegmentEmbedding vs GLiClassUniEncoder._create_segment_ids
# --------------------------------------------------------------------------


def segment_batch():
    rows = [
        [1, LABEL, 30, SEP, 20, 21, 2, PAD, PAD],  # no example
        [1, LABEL, 30, SEP, 20, EXAMPLE, 22, SEP, 2],  # example -> all 2 (bug)
        [1, 20, 21, 22, 2, PAD, PAD, PAD, PAD],  # no <<SEP>>: all 1
        [EXAMPLE, EXAMPLE, LABEL, SEP, 20, 21, 2, PAD, PAD],  # argmin = 2
        [EXAMPLE] * 9,  # all examples: argmin = 0
        [1, LABEL, 30, 31, 2, EXAMPLE, 23, PAD, PAD],  # example, no <<SEP>>
    ]
    return np.array(rows, "int32")


def test_segment_embedding_matches_reference():
    ids = segment_batch()
    fake = types.SimpleNamespace(
        config=types.SimpleNamespace(text_token_index=SEP, example_token_index=EXAMPLE)
    )
    expected_ids = GLiClassUniEncoder._create_segment_ids(fake, torch.from_numpy(ids.astype("int64")))
    table = torch.nn.Embedding(3, D)
    randomize(table, seed=7)
    with torch.no_grad():
        expected = table(expected_ids).numpy()

    layer = SegmentEmbedding(hidden_dim=D, text_token_index=SEP, example_token_index=EXAMPLE)
    state = torch_state(table, "model.segment_embeddings.")
    assert load_reference_layer_weights(layer, state, "model.segment_embeddings.") == set(state)
    np.testing.assert_array_equal(to_np(layer.segment_ids(ids)), expected_ids.numpy())
    assert_close(layer(ids), expected)
    assert layer.compute_output_shape((None, None)) == (None, None, D)
    assert_roundtrip(layer, ids)


def test_segment_embedding_symbolic_and_bad_args():
    token_ids = keras.Input((None,), dtype="int32")
    layer = SegmentEmbedding(D, SEP, EXAMPLE)
    model = keras.Model(token_ids, layer(token_ids))
    ids = segment_batch()
    assert_close(model.predict(ids, verbose=0), to_np(layer(ids)))
    with pytest.raises(ValueError, match="hidden_dim"):
        SegmentEmbedding(0, SEP, EXAMPLE)
    with pytest.raises(ValueError, match="example_token_index"):
        SegmentEmbedding(D, SEP, None)


# --------------------------------------------------------------------------
# LayerwiseAttention vs NumPy (and vs the reference where it can run)
# --------------------------------------------------------------------------


def numpy_layerwise(states, weights, mask=None):
    squeeze_w, squeeze_b, w1, b1, w2, b2, out_w, out_b = weights
    u = np.stack(states, axis=1).astype("float64")  # (B, N, L, D)
    scores = u @ squeeze_w[:, 0] + squeeze_b[0]  # (B, N, L)
    if mask is None:
        z = scores.mean(axis=2)
    else:
        m = mask[:, None, :].astype("float64")
        z = (scores * m).sum(axis=2) / np.maximum(m.sum(axis=2), 1.0)
    s = 1.0 / (1.0 + np.exp(-(np.maximum(z @ w1 + b1, 0.0) @ w2 + b2)))  # (B, N)
    mixed = (u * s[:, :, None, None]).sum(axis=1)
    return mixed @ out_w + out_b


@pytest.mark.parametrize("num_states", [2, 3, 5])
def test_layerwise_attention_matches_numpy(num_states):
    states = [rand(3, 6, D, seed=10 + i) for i in range(num_states)]
    mask = np.array([[1, 1, 1, 1, 0, 0], [1] * 6, [1, 1, 0, 0, 0, 0]], "int32")
    layer = LayerwiseAttention(num_hidden_states=num_states, hidden_dim=D)
    layer(states)
    rng = np.random.default_rng(20)
    layer.set_weights([rng.normal(scale=0.3, size=w.shape).astype("float32") for w in layer.get_weights()])
    weights = [to_np(w) for w in layer.weights]
    assert_close(layer(states), numpy_layerwise(states, weights))
    assert_close(layer(states, mask=mask), numpy_layerwise(states, weights, mask))
    assert_close(layer(np.stack(states, axis=1), mask=mask), numpy_layerwise(states, weights, mask))
    # Padded positions do not change the mixing weights.
    noisy = [np.where(mask[..., None] == 1, s, 5.0).astype("float32") for s in states]
    expected = numpy_layerwise(noisy, weights, mask)
    assert_close(layer(noisy, mask=mask), expected)
    assert_roundtrip(layer, states, mask=mask)


def test_layerwise_attention_matches_reference_when_sized_alike():
    num_states = 4
    ref = randomize(ref_layers.LayerwiseAttention(num_states, D), seed=21)
    states = [rand(2, 5, D, seed=30 + i) for i in range(num_states)]
    with torch.no_grad():
        expected = ref([torch.from_numpy(s) for s in states]).numpy()
    layer = LayerwiseAttention(num_hidden_states=num_states, hidden_dim=D)
    state = torch_state(ref, "model.layer_wise_attention.")
    assert load_reference_layer_weights(layer, state, "model.layer_wise_attention.") == set(state)
    assert_close(layer(states), expected)

    # A reference checkpoint is sized for num_layers, but gets num_layers + 1
    # hidden states; loading it into a correctly sized layer is refused.
    with pytest.raises(ValueError, match="num_hidden_states"):
        load_reference_layer_weights(
            LayerwiseAttention(num_states + 1, D), state, "model.layer_wise_attention."
        )


def test_layerwise_attention_shapes_and_bad_args():
    layer = LayerwiseAttention(3, D, output_dim=5)
    assert layer.compute_output_shape([(None, None, D)] * 3) == (None, None, 5)
    assert layer.compute_output_shape((None, 3, None, D)) == (None, None, 5)
    with pytest.raises(ValueError, match="hidden states"):
        LayerwiseAttention(3, D)([rand(2, 4, D)] * 4)
    with pytest.raises(ValueError, match="num_hidden_states"):
        LayerwiseAttention(1, D)
    with pytest.raises(ValueError, match="output_dim"):
        LayerwiseAttention(3, D, output_dim=0)
