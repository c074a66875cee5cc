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

    def recording(model_or_tower, arrays, *args):
        for key in ("token_ids", "label_token_ids"):
            if key in arrays:
                lengths.append(arrays[key].shape[-1])
        return run(model_or_tower, arrays, *args)

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


@pytest.mark.parametrize("name", ["uni_deberta_default", "bi_bert_bert"])
def test_run_eagerly_reaches_every_predict_function_and_scores_the_same(name):
    if keras.backend.backend() == "jax":
        pytest.skip("JAX runs eagerly op by op (one compile per op): covered on torch and tensorflow")
    model = GLiClassClassifier.from_pretrained(REFERENCE_MODELS / name)
    traced = np.stack(model.predict_logits(TEXTS, LABELS))
    towers = list(model._vector_models().values()) if hasattr(model, "_vector_models") else []
    model.run_eagerly = True
    eager = np.stack(model.predict_logits(TEXTS, LABELS))
    np.testing.assert_allclose(eager, traced, atol=1e-5)
    functions = [model.predict_function] + [tower.predict_function for tower in towers]
    for tower in towers:  # the bi-encoder's towers follow the whole model
        assert tower.run_eagerly
    if keras.backend.backend() == "tensorflow":
        # no tf.function is left: nothing was traced for the eager run
        assert not any(hasattr(f, "experimental_get_tracing_count") for f in functions if f is not None)
    model.run_eagerly = False
    np.testing.assert_allclose(np.stack(model.predict_logits(TEXTS, LABELS)), traced, atol=1e-6)
    for tower in towers:
        assert not tower.run_eagerly


def test_the_command_line_runs_one_batch_jobs_eagerly_on_tensorflow_only():
    from gliclass_keras.cli import run_one_batch_eagerly

    model = GLiClassClassifier.from_pretrained(REFERENCE_MODELS / "bi_bert_bert")
    run_one_batch_eagerly(model, num_texts=9, batch_size=8)
    assert not model.run_eagerly
    run_one_batch_eagerly(model, num_texts=8, batch_size=8)
    assert model.run_eagerly == (keras.backend.backend() == "tensorflow")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's graph trace")
def test_tensorflow_runs_the_label_tower_eagerly_until_it_is_called_often():
    from gliclass_keras.models import gliclass_bi_encoder

    model = GLiClassClassifier.from_pretrained(REFERENCE_MODELS / "bi_bert_bert")
    label_tower = model._vector_models()["label"]
    text_tower = model._vector_models()["text"]
    first = model.predict_logits(TEXTS, LABELS, batch_size=2)
    # one eager call of the label tower, no graph; the text tower is traced
    assert label_tower.predict_function is None
    assert label_tower.__dict__["_gliclass_eager_calls"] == 1
    assert text_tower.predict_function is not None
    for _ in range(gliclass_bi_encoder.LABEL_TOWER_EAGER_CALLS):
        later = model.predict_logits(TEXTS, LABELS, batch_size=2)
    assert label_tower.predict_function is not None  # traced once called often
    np.testing.assert_allclose(np.stack(later), np.stack(first), atol=1e-5)
    # the eager and the traced label vectors are the same
    traced = model.encode_labels(LABELS).vectors
    label_tower.__dict__["_gliclass_eager_calls"] = 0
    label_tower.predict_function = None
    eager = model.encode_labels(LABELS).vectors
    assert label_tower.predict_function is None
    np.testing.assert_allclose(eager, traced, atol=1e-6)


# ------------------------------------------------ compiled shapes (rent-or-buy)
def _shape(length, labels=8, rows=4):
    return {"token_ids": (rows, length), "padding_mask": (rows, length), "label_mask": (rows, labels)}


def test_a_new_shape_pads_up_to_a_compiled_one_until_that_wastes_a_compilation():
    memory = shapes.CompiledShapes(compile_cost_in_steps=1.0)
    assert memory.choose(_shape(80)) == _shape(80)  # first: compiled
    # a 64-token batch padded to 80 wastes a quarter of its step each time
    for _ in range(4):
        assert memory.choose(_shape(64)) == _shape(80)
    assert memory.wasted[shapes.CompiledShapes._key(_shape(64))] == pytest.approx(1.0)
    # a fifth would waste more than one compilation: 64 is compiled now, and stays
    assert memory.choose(_shape(64)) == _shape(64)
    assert memory.choose(_shape(64)) == _shape(64)
    # the cheapest compiled shape that holds a batch is the one it pads to
    assert memory.choose(_shape(48)) == _shape(64)
    assert [s["token_ids"][1] for s in memory.shapes] == [80, 64]


def test_only_shapes_at_least_as_large_on_every_axis_are_reused():
    memory = shapes.CompiledShapes()
    memory.choose(_shape(80, labels=8))
    assert memory.choose(_shape(64, labels=16)) == _shape(64, labels=16)  # more label slots
    assert memory.choose(_shape(96)) == _shape(96)  # longer
    assert memory.choose(_shape(32, rows=8)) == _shape(32, rows=8)  # other rows
    assert memory.choose(_shape(16, rows=2)) == _shape(16, rows=2)  # rows are never padded
    bi = dict(_shape(32), label_token_ids=(4, 8, 16))
    assert memory.choose(bi) == bi  # other arrays
    assert memory.choose(dict(_shape(16), label_token_ids=(4, 8, 8))) == bi
    # compile_cost_in_steps=0: every bucketed shape is its own
    never = shapes.CompiledShapes(compile_cost_in_steps=0)
    never.choose(_shape(80))
    assert never.choose(_shape(64)) == _shape(64)
    never.forget()
    assert never.shapes == [] and never.choose(_shape(16)) == _shape(16)
    # a dataset's memory goes to worker processes with it
    import pickle

    copy = pickle.loads(pickle.dumps(memory))
    assert copy.shapes == memory.shapes and copy.choose(_shape(16)) == _shape(64, labels=16)


@pytest.mark.parametrize("bad", [-1, "8", True, float("nan"), None])
def test_compiled_shapes_rejects_a_bad_compile_cost(bad):
    with pytest.raises(ValueError, match="compile_cost_in_steps"):
        shapes.CompiledShapes(compile_cost_in_steps=bad)


def test_pad_arrays_to_pads_each_array_with_its_value():
    arrays = {"token_ids": np.ones((2, 3), "int32"), "label_mask": np.ones((2, 2), "int32")}
    out = shapes.pad_arrays_to(arrays, {"token_ids": (2, 5), "label_mask": (2, 2)}, {"token_ids": 7})
    np.testing.assert_array_equal(out["token_ids"], [[1, 1, 1, 7, 7]] * 2)
    assert out["label_mask"] is arrays["label_mask"]
    with pytest.raises(ValueError, match="token_ids"):
        shapes.pad_arrays_to(arrays, {"token_ids": (2, 2), "label_mask": (2, 2)})
