"""Sequence packing (`gliclass_keras.preprocessing.sequence_packing`) and packed text vectors.

Packed rows must give every text the vector it gets alone: the bi-encoder's
`"packed_text"` sub-model is compared with its padded text tower on the
committed `bi_bert_bert` checkpoint, for every packable pooler, on every
backend; on JAX, `encode_texts` and `predict_scores` pack by themselves.
"""

import keras
import numpy as np
import pytest

from conftest import REFERENCE_MODELS

from gliclass_keras import GLiClassClassifier
from gliclass_keras.backbones.backbone_encoder import BackboneEncoder
from gliclass_keras.preprocessing import sequence_packing
from gliclass_keras.preprocessing.sequence_packing import pack_sequences
from gliclass_keras.preprocessing.sequence_packing import packed_batches
from gliclass_keras.preprocessing.sequence_packing import packed_row_length

MODEL_DIR = REFERENCE_MODELS / "bi_bert_bert"

TEXTS = [
    "One day I will see the world!",
    "The match went to penalties and our keeper saved two of them.",
    "Rain.",
    "Stocks fell sharply after the central bank raised interest rates again this morning, "
    "and analysts expect more volatility in the coming weeks as inflation data arrives.",
    "I love this phone",
    "Parliament voted on the new budget late on Tuesday night.",
    "ok",
    "The film's ending was predictable but the acting carried it.",
    "a " * 70 + "long text whose last words are far from its first",
    "Our team won.",
]


def test_pack_sequences_places_every_short_sequence_once_within_its_row():
    lengths = [5, 60, 30, 33, 2, 64, 70, 17, 1]
    rows = pack_sequences(lengths, 64)
    placed = [i for row in rows for i in row]
    assert sorted(placed) == [i for i, n in enumerate(lengths) if n <= 64]
    assert all(sum(lengths[i] for i in row) <= 64 for row in rows)
    # first-fit decreasing: the 64 alone, 60 with the 2 and the 1 ...
    assert rows[0] == [5]
    assert rows[1] == [1, 4, 8]
    assert len(rows) == 4


def test_packed_row_length():
    assert packed_row_length([10, 12, 30]) == 64
    assert packed_row_length([100, 120, 130]) == 256
    with pytest.raises(ValueError, match="lengths"):
        packed_row_length([])


@pytest.mark.parametrize("pooling", sequence_packing.PACKABLE_POOLING)
def test_packed_batches_restart_positions_and_weight_each_segment(pooling):
    rng = np.random.default_rng(0)
    sequences = [list(rng.integers(5, 50, size=n)) for n in (3, 9, 20, 7, 150, 31, 4, 12, 2, 40)]
    batches = list(packed_batches(sequences, 2, pooling, pad_token_id=1))
    seen = []
    shapes = set()
    for arrays, placements in batches:
        shapes.add(arrays["token_ids"].shape)
        for i, r, slot in placements:
            seen.append(i)
            where = arrays["segment_ids"][r] == slot + 1
            n = len(sequences[i])
            assert where.sum() == n
            np.testing.assert_array_equal(arrays["token_ids"][r][where], sequences[i])
            np.testing.assert_array_equal(arrays["position_ids"][r][where], np.arange(n))
            weights = arrays["pooling_weights"][r, slot]
            assert np.all(weights[~where] == 0)
            expected = sequence_packing.pooling_weights(pooling, n)
            np.testing.assert_allclose(weights[where], expected)
        padding = arrays["segment_ids"] == 0
        assert np.all(arrays["token_ids"][padding] == 1)
    assert sorted(seen) == list(range(len(sequences)))
    # one shape for the rows of the usual length (64: 2 rows a batch), one for the
    # 150-token text (rows of 160, as many as keep 2 x 64 tokens a batch: 1)
    assert shapes == {(2, 64), (1, 160)}


def test_packed_batches_reject_bad_arguments():
    with pytest.raises(ValueError, match="pooling"):
        list(packed_batches([[1, 2]], 2, "max"))
    with pytest.raises(ValueError, match="sequences"):
        list(packed_batches([[1, 2], []], 2, "avg"))
    with pytest.raises(ValueError, match="sequences"):
        list(packed_batches([], 2, "avg"))


def _fresh_model(pooling):
    # The pooling is part of the built graph (`first`/`last` compute the last
    # layer at the pooled row only): set it in the config, not on the pooler.
    return GLiClassClassifier.from_pretrained(MODEL_DIR, config_overrides={"pooling_strategy": pooling})


@pytest.mark.parametrize("pooling", sequence_packing.PACKABLE_POOLING)
def test_packed_text_vectors_equal_padded_ones(pooling):
    model = _fresh_model(pooling)
    model.pack_texts = False
    padded = np.asarray(model.encode_texts(TEXTS, batch_size=3))
    rows = model.preprocessor.encode_rows(TEXTS, [[] for _ in TEXTS], [None] * len(TEXTS), [None] * len(TEXTS))
    packed = model._packed_text_vectors([row.token_ids for row in rows], 3, pooling)
    assert packed.shape == padded.shape
    np.testing.assert_allclose(packed, padded, atol=1e-5, rtol=1e-5)  # "sum" vectors reach 60
    # and they are not all alike: a wrong pooling or mask would show
    assert np.abs(padded[0] - padded[1]).max() > 1e-3


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="torch runs exact shapes: it never packs")
def test_compiled_backends_pack_calls_with_more_texts_than_a_batch(monkeypatch):
    """jax, and tensorflow with XLA (`jit_compile`), pack by themselves."""
    model = _fresh_model("avg")
    if keras.backend.backend() == "tensorflow":
        assert model._text_pooling_to_pack(100, 8) is None  # no XLA: exact shapes
        model.jit_compile = True
    calls = []
    run = type(model)._run_vectors

    def spy(self, which, arrays):
        calls.append((which, arrays[next(iter(arrays))].shape))
        return run(self, which, arrays)

    monkeypatch.setattr(type(model), "_run_vectors", spy)
    labels = ["travel", "sport", "finance"]
    scores = model.predict_scores(TEXTS, labels, batch_size=3)
    packed_shapes = {shape for which, shape in calls if which == "packed_text"}
    assert packed_shapes and not any(which == "text" for which, _ in calls)
    calls.clear()
    model.pack_texts = False
    padded = model.predict_scores(TEXTS, labels, batch_size=3)
    assert any(which == "text" for which, _ in calls)
    assert len({shape for which, shape in calls if which == "text"}) > len(packed_shapes)
    for got, want in zip(scores, padded):
        np.testing.assert_allclose([got[k] for k in labels], [want[k] for k in labels], atol=1e-6)
    # one batch: nothing to pack
    calls.clear()
    model.pack_texts = True
    model.predict_scores(TEXTS[:3], labels, batch_size=3)
    assert [which for which, _ in calls if which.endswith("text")] == ["text"]


def test_unpackable_pooling_and_backbones_do_not_pack():
    model = _fresh_model("max")
    assert model._text_pooling_to_pack(100, 8) is None
    model = _fresh_model("avg")
    expected = "avg" if keras.backend.backend() == "jax" else None
    assert model._text_pooling_to_pack(100, 8) == expected
    assert model._text_pooling_to_pack(8, 8) is None


def test_only_bert_backbones_take_packed_rows():
    import keras_hub

    backbone = keras_hub.models.DebertaV3Backbone(
        vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=32, bucket_size=8,
    )
    encoder = BackboneEncoder(backbone)
    assert not encoder.supports_packing
    ids = np.ones((1, 6), "int32")
    with pytest.raises(ValueError, match="packed rows"):
        encoder(ids, ids, segment_ids=ids, position_ids=ids)
    assert BackboneEncoder(GLiClassClassifier.from_pretrained(MODEL_DIR).backbone).supports_packing
