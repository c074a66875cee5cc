"""`long_text="windows"`: long documents scored by overlapping windows, aggregated per label."""

import functools
import json

import numpy as np
import pytest

from conftest import REFERENCE_MODELS

import gliclass_keras
from gliclass_keras.preprocessing.long_text import split_windows

# Every architecture: labels read with the text (uni-encoder, fused,
# encoder-decoders) or separately (bi-encoder).
NAMES = ["uni_deberta_default", "bi_bert_bert", "bifused_deberta_bert", "encdec_t5", "encdeccls_t5"]
LABELS = ["travel", "sport", "science"]
FILLER = "the committee met again on tuesday and discussed the agenda at length. "


@functools.lru_cache(maxsize=None)
def model(name):
    return gliclass_keras.GLiClassClassifier.from_pretrained(REFERENCE_MODELS / name, max_length=48)


def test_windows_cover_the_text_with_the_given_overlap():
    tokenizer = model("uni_deberta_default").preprocessor.tokenizer
    text = " ".join(f"word{i}" for i in range(40))
    windows = split_windows(tokenizer, text, window_size=16, window_overlap=4)
    assert len(windows) > 2
    assert windows[0] == text[: len(windows[0])] and text.endswith(windows[-1])
    _, offsets = tokenizer.encode_with_offsets(text, add_special_tokens=False)
    counts = [len(tokenizer.encode_with_offsets(w, add_special_tokens=False)[0]) for w in windows]
    assert max(counts) <= 16 + 1  # a piece may re-tokenize at a window's edge
    # Consecutive windows overlap: each starts before the previous one ends.
    positions = [text.index(w) for w in windows]
    assert all(b < a + len(w) for a, b, w in zip(positions, positions[1:], windows))
    assert split_windows(tokenizer, "short text", 16, 4) == ["short text"]


@pytest.mark.parametrize("name", NAMES)
def test_windows_score_every_window_and_take_the_max(name):
    m = model(name)
    document = FILLER * 4 + "We flew to Rome and walked along the river for a week."
    got = m.predict_logits([document], LABELS, long_text="windows", window_size=16, window_overlap=4)[0]
    windows = split_windows(m.preprocessor.tokenizer, document, 16, 4)
    assert len(windows) >= 3
    each = np.stack(m.predict_logits(windows, LABELS))
    np.testing.assert_allclose(got, each.max(axis=0), atol=1e-6)
    mean = m.predict_logits(
        [document], LABELS, long_text="windows", window_size=16, window_overlap=4,
        window_aggregation="mean",
    )[0]
    np.testing.assert_allclose(mean, each.mean(axis=0), atol=1e-6)
    # The last window (the only one with the evidence at the end) counts;
    # truncation never reads it.
    last = np.asarray(m.predict_logits([windows[-1]], LABELS)[0])
    assert np.all(got >= last - 1e-6)
    with pytest.warns(UserWarning, match="cut"):
        truncated = m.predict_logits([document], LABELS)[0]
    assert not np.allclose(truncated, got, atol=1e-4)


def test_short_texts_are_scored_as_with_truncate():
    m = model("uni_deberta_default")
    texts = ["One day I will see the world!", "Our team won."]
    plain = m.predict_scores(texts, LABELS)
    windowed = m.predict_scores(texts, LABELS, long_text="windows", window_size=20)
    for a, b in zip(plain, windowed):
        np.testing.assert_allclose(list(a.values()), list(b.values()), atol=1e-7)


def test_evidence_past_the_first_window_is_found_by_the_default_preset():
    # A real zero-shot model: the only sport sentence is at the end.
    m = gliclass_keras.GLiClassClassifier.from_preset("default", max_length=64)
    labels = ["sport", "cooking", "politics"]
    document = (
        "Preheat the oven and butter the dish. Chop the onions finely, then fry them "
        "slowly until golden. Stir in the flour, add warm milk little by little, and "
        "season with salt, pepper and nutmeg. " * 3
        + "In the evening our team won the football match in extra time."
    )
    with pytest.warns(UserWarning, match="cut"):
        cut = m.predict_scores([document], labels)[0]
    windowed = m.predict_scores([document], labels, long_text="windows", window_size=32)[0]
    assert windowed["sport"] > 0.5 > cut["sport"], (cut, windowed)
    assert windowed["sport"] > cut["sport"] + 0.2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(long_text="chunks"), "long_text"),
        (dict(long_text="windows", window_size=1), "window_size"),
        (dict(long_text="windows", window_size=8, window_overlap=8), "window_overlap"),
        (dict(long_text="windows", window_overlap=-1), "window_overlap"),
        (dict(long_text="windows", window_aggregation="sum"), "window_aggregation"),
    ],
)
def test_bad_window_arguments_are_named(kwargs, match):
    m = model("uni_deberta_default")
    m.predict_on_batch = None  # no tensor work may start
    with pytest.raises(ValueError, match=match):
        m.classify(["text"], LABELS, **kwargs)
    del m.predict_on_batch


def test_cli_windows(capsys):
    from gliclass_keras.cli import main

    document = "Knead the dough and let it rest. " * 30 + "We won the final match."
    code = main([
        "classify", "--labels", "sport,cooking", "--threshold", "0", "--long-text", "windows",
        "--window-size", "32", "--window-overlap", "8", document,
    ])
    assert code == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    want = gliclass_keras.GLiClassClassifier.from_preset("default").predict_scores(
        [document], ["sport", "cooking"], long_text="windows", window_size=32, window_overlap=8
    )[0]
    got = {p["label"]: p["score"] for p in line["predictions"]}
    np.testing.assert_allclose([got["sport"], got["cooking"]], [want["sport"], want["cooking"]], atol=1e-6)
    assert got["sport"] > 0.5  # the last window's evidence
