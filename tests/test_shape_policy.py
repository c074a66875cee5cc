"""The shape policy (`gliclass_keras.utils.shapes`): which batches are padded to buckets.

JAX compiles per input shape, so its batches are padded to a few bucketed
shapes; torch runs eagerly and TensorFlow (without XLA, its default on CPU)
runs one graph traced for every shape, so their batches keep their own
lengths. `model.jit_compile = True` on TensorFlow turns XLA and the buckets
on. Scores are the same either way.
"""

import keras
import numpy as np
import pytest

from conftest import REFERENCE_MODELS

from gliclass_keras import GLiClassClassifier
from gliclass_keras.utils import shapes

LABELS = ["sport", "travel", "science"]
TEXTS = [
    "Goal!",
    "We took the night train from Vienna to Venice and slept all the way.",
    "Cells divide by mitosis, and the two daughter cells share the chromosomes equally.",
    "Knead the dough.",
    "The striker scored twice in the final minutes of a match that had looked lost for the home side.",
]


def test_the_policy_of_each_backend():
    assert shapes.uses_static_shapes("jax")
    assert shapes.uses_static_shapes("jax", jit_compile=False)
    assert not shapes.uses_static_shapes("torch")
    assert not shapes.uses_static_shapes("tensorflow")
    assert shapes.uses_static_shapes("tensorflow", jit_compile=True)


def _lengths_and_logits(model, monkeypatch):
    """Sequence lengths of every batch the model runs, and the logits of TEXTS."""
    lengths = []
    run = shapes.predict_on_batch

    def recording(model_or_tower, arrays):
        for key in ("token_ids", "label_token_ids"):
            if key in arrays:
                lengths.append(arrays[key].shape[-1])
        return run(model_or_tower, arrays)

    monkeypatch.setattr(shapes, "predict_on_batch", recording)
    # one text per batch: every batch has its own length
    logits = np.stack(model.predict_logits(TEXTS, LABELS, batch_size=1))
    monkeypatch.setattr(shapes, "predict_on_batch", run)
    return lengths, logits


@pytest.mark.parametrize("name", ["uni_deberta_default", "bi_bert_bert"])
def test_batches_are_bucketed_only_where_shapes_are_compiled(name, monkeypatch):
    model = GLiClassClassifier.from_pretrained(REFERENCE_MODELS / name)
    lengths, logits = _lengths_and_logits(model, monkeypatch)
    bucketed = set(lengths) <= set(shapes.LENGTH_BUCKETS)
    if keras.backend.backend() == "jax":
        assert bucketed, lengths
        return
    # torch and tensorflow: the batches keep their own lengths
    assert not bucketed, lengths
    assert len(set(lengths)) >= 4, lengths
    if keras.backend.backend() == "torch":
        return
    # tensorflow: one trace served every length ...
    functions = (
        [tower.predict_function for tower in model._vector_models().values()]
        if hasattr(model, "_vector_models")
        else [model.predict_function]
    )
    for function in functions:
        if function is not None:
            assert function.experimental_get_tracing_count() == 1
    # ... and XLA on request compiles bucketed shapes, with the same scores
    model.jit_compile = True
    xla_lengths, xla_logits = _lengths_and_logits(model, monkeypatch)
    assert set(xla_lengths) <= set(shapes.LENGTH_BUCKETS), xla_lengths
    np.testing.assert_allclose(xla_logits, logits, atol=1e-5)
    model.jit_compile = False
    again, again_logits = _lengths_and_logits(model, monkeypatch)
    assert again == lengths
    np.testing.assert_allclose(again_logits, logits, atol=1e-5)
