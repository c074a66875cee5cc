"""`deferred_random_initialization`: random initializers run only for weights left unassigned."""

import keras
import numpy as np
import pytest

from gliclass_keras.utils.deferred_initialization import deferred_random_initialization


class CountingNormal(keras.initializers.RandomNormal):
    """A seeded random initializer that counts its calls."""

    calls = 0

    def __call__(self, shape, dtype=None):
        CountingNormal.calls += 1
        return super().__call__(shape, dtype=dtype)


def build(seed=3):
    """A small model with random, zero and constant initializers (fixed seeds)."""
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(
        5, kernel_initializer=CountingNormal(seed=seed), bias_initializer="ones", name="first"
    )(inputs)
    outputs = keras.layers.Dense(
        2, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1), name="second"
    )(hidden)
    embedding = keras.layers.Embedding(7, 3, embeddings_initializer=CountingNormal(seed=seed + 2))
    embedding.build((None,))
    return keras.Model(inputs, outputs), embedding


def values(model, embedding):
    return [keras.ops.convert_to_numpy(v) for v in model.weights + embedding.weights]


def test_unassigned_weights_get_exactly_their_initializer_values():
    expected = values(*build())
    with deferred_random_initialization():
        model, embedding = build()
        # inside, random weights are placeholders (zeros), the others are as usual
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("first").kernel), 0.0)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("first").bias), 1.0)
        model.get_layer("first").kernel.assign(np.full((4, 5), 0.5, "float32"))
    got = values(model, embedding)
    np.testing.assert_array_equal(got[0], np.full((4, 5), 0.5, "float32"))  # assigned
    for index in range(1, len(expected)):  # bias, second layer and embedding: as Keras builds them
        np.testing.assert_array_equal(got[index], expected[index])
    assert np.abs(expected[2]).sum() > 0 and np.abs(expected[4]).sum() > 0


def test_initializers_of_assigned_weights_never_run():
    CountingNormal.calls = 0
    with deferred_random_initialization():
        model, embedding = build()
        model.get_layer("first").kernel.assign(np.zeros((4, 5), "float32"))
        embedding.embeddings.assign(np.zeros((7, 3), "float32"))
    assert CountingNormal.calls == 0
    CountingNormal.calls = 0
    build()
    assert CountingNormal.calls == 2


def test_keras_variable_is_restored_even_after_an_error():
    initialize = keras.Variable._initialize_with_initializer
    assign = keras.Variable.assign
    with pytest.raises(RuntimeError, match="boom"):
        with deferred_random_initialization():
            model, _ = build()
            raise RuntimeError("boom")
    assert keras.Variable._initialize_with_initializer is initialize
    assert keras.Variable.assign is assign
    # what was built before the error got its real values
    assert np.abs(keras.ops.convert_to_numpy(model.get_layer("first").kernel)).sum() > 0


def test_a_nested_context_leaves_the_work_to_the_outer_one():
    expected = values(*build())
    with deferred_random_initialization():
        with deferred_random_initialization():
            model, embedding = build()
        # still deferred after the inner context: the outer one finishes
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("second").kernel), 0.0)
        model.get_layer("first").kernel.assign(np.ones((4, 5), "float32"))
    got = values(model, embedding)
    np.testing.assert_array_equal(got[0], 1.0)
    for index in range(1, len(expected)):
        np.testing.assert_array_equal(got[index], expected[index])
