"""Reusing a compiled sequence length instead of compiling a new one (`utils/compiled_lengths.py`)."""

import keras
import numpy as np

from conftest import REFERENCE_MODELS
from gliclass_keras import GLiClassClassifier
from gliclass_keras.utils import compiled_lengths
from gliclass_keras.utils import shapes
from gliclass_keras.utils.compiled_lengths import CompiledLengths

SIG = (("padding_mask", (8,)), ("token_ids", (8,)))


def test_a_batch_pads_to_a_compiled_length_until_padding_has_cost_a_compilation():
    lengths = CompiledLengths()
    assert lengths.choose(SIG, 96) == 96  # nothing compiled yet
    lengths.record(SIG, 96, 1.2)  # first call: compiling included
    # Only a first call seen: it stands for both the step and the compilation,
    # so half of it is lost per batch of 48 and the second batch compiles.
    assert lengths.choose(SIG, 48) == 96
    assert lengths.choose(SIG, 48) == 48
    lengths.record(SIG, 48, 1.0)
    assert lengths.choose(SIG, 48) == 48  # compiled now

    lengths = CompiledLengths()
    lengths.record(SIG, 96, 1.2)
    lengths.record(SIG, 96, 0.1)  # compiling costs 1.1 s, a step 0.1 s
    # a batch of 64 loses a third of 0.1 s: reused until 1.1 s is lost
    choices = [lengths.choose(SIG, 64) for _ in range(40)]
    assert choices[:32] == [96] * 32
    assert choices[33] == 64
    # at most twice its own length, and only within its signature
    assert lengths.choose(SIG, 40) == 40
    other = (("padding_mask", (16,)), ("token_ids", (16,)))
    assert lengths.choose(other, 64) == 64
    # the shortest compiled length that is long enough
    lengths.record(SIG, 80, 1.3)
    lengths.record(SIG, 80, 0.09)
    assert lengths.choose(SIG, 48) == 80


def test_only_sequence_inputs_are_padded_and_padding_is_masked():
    ids = np.array([[5, 6, 7], [8, 9, 3]], "int32")  # 3: the pad id here
    mask = np.array([[1, 1, 1], [1, 1, 0]], "int32")
    labels = np.ones((2, 4), "int32")
    arrays = {"token_ids": ids, "padding_mask": mask, "label_mask": labels}
    assert compiled_lengths.signature(arrays) == (
        ("label_mask", (2, 4)), ("padding_mask", (2,)), ("token_ids", (2,)),
    )
    assert compiled_lengths.signature({"text": ids, "classes": ids}) is None
    assert compiled_lengths.signature({**arrays, "decoder_token_ids": ids}) is None
    padded = compiled_lengths.pad_sequences(arrays, 5)
    np.testing.assert_array_equal(padded["token_ids"], [[5, 6, 7, 3, 3], [8, 9, 3, 3, 3]])
    np.testing.assert_array_equal(padded["padding_mask"], [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])
    assert padded["label_mask"] is labels
    assert compiled_lengths.pad_sequences(arrays, 3) is arrays


TEXTS = [
    "Goal!",
    "Knead the dough and bake it.",
    "We took the night train from Vienna to Venice and slept all the way there.",
    "The striker scored twice in the final minutes of a match that had looked lost for the home side, "
    "and the crowd sang until midnight.",
    "Cells divide by mitosis.",
    "It will be sunny and warm all weekend, with a light breeze from the sea in the afternoon.",
]
LABELS = ["sport", "travel", "science", "cooking", "weather"]


def test_compiled_functions_run_fewer_lengths_with_the_same_scores(monkeypatch):
    model = GLiClassClassifier.from_pretrained(REFERENCE_MODELS / "uni_deberta_default")
    if keras.backend.backend() == "tensorflow":
        model.jit_compile = True  # XLA: compiled per shape, as on jax
    static = model._uses_static_shapes()
    assert static == (keras.backend.backend() != "torch")
    buckets = []
    run = shapes.run_on_whole_shards

    def recording(function, arrays):
        buckets.append(arrays["token_ids"].shape[1])
        return run(function, arrays)

    with monkeypatch.context() as patch:
        patch.setattr(compiled_lengths, "MAX_STRETCH", 1)  # never pad further
        patch.setattr(shapes, "run_on_whole_shards", recording)
        alone = np.stack(model.predict_logits(TEXTS, LABELS, batch_size=1))
    own_lengths = set(buckets)
    model = GLiClassClassifier.from_pretrained(REFERENCE_MODELS / "uni_deberta_default")
    if keras.backend.backend() == "tensorflow":
        model.jit_compile = True
    buckets.clear()
    with monkeypatch.context() as patch:
        patch.setattr(shapes, "run_on_whole_shards", recording)
        reused = np.stack(model.predict_logits(TEXTS, LABELS, batch_size=1))
    np.testing.assert_allclose(reused, alone, atol=1e-5)
    if not static:
        assert "_gliclass_compiled_lengths" not in model.__dict__
        return
    assert len(own_lengths) >= 3, own_lengths  # the texts fall in several buckets ...
    assert len(set(buckets)) < len(own_lengths), (buckets, own_lengths)  # ... fewer are compiled
    assert buckets == sorted(buckets, reverse=True)  # longest first
