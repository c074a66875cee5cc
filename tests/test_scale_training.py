"""Training at scale on one device: gradient accumulation, mixed precision, LoRA."""

import keras
import numpy as np
import pytest

from conftest import REFERENCE_MODELS

import gliclass_keras
from gliclass_keras import GLiClassClassifier

MODEL_DIR = REFERENCE_MODELS / "uni_deberta_default"

# Every record has three labels, so every batch has the same number of valid
# label slots and a mean-reduced loss normalizes alike (see TrainingConfig).
EQUAL_RECORDS = [
    {"text": "We won the football match", "all_labels": ["sport", "travel", "science"], "true_labels": ["sport"]},
    {"text": "A long trip to Paris by train", "all_labels": ["sport", "travel", "cooking"], "true_labels": ["travel"]},
    {"text": "Atoms bond into molecules", "all_labels": ["science", "travel", "sport"], "true_labels": ["science"]},
    {"text": "Bake the bread for an hour", "all_labels": ["cooking", "science", "travel"], "true_labels": ["cooking"]},
]


def _no_dropout(model):
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    return model


def _model(path=MODEL_DIR):
    return _no_dropout(GLiClassClassifier.from_pretrained(path, config_overrides={"dropout": 0.0}))


# ------------------------------------------------------ gradient accumulation
def test_gradient_accumulation_steps_validated_and_serialized():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="gradient_accumulation_steps"):
            gliclass_keras.TrainingConfig(gradient_accumulation_steps=bad)
    config = gliclass_keras.TrainingConfig(gradient_accumulation_steps=4)
    assert gliclass_keras.TrainingConfig.from_dict(config.to_dict()) == config
    old = config.to_dict()
    del old["gradient_accumulation_steps"]  # a config saved before the field
    assert gliclass_keras.TrainingConfig.from_dict(old).gradient_accumulation_steps == 1


@pytest.mark.parametrize("optim,lr,tolerance", [("sgd", 0.5, 1e-6), ("adamw", 1e-3, 2e-5)])
def test_accumulated_steps_equal_one_large_batch(optim, lr, tolerance):
    """2 accumulated batches of 2 = 1 batch of 4: same weights after the update.

    Parameter groups (`others_lr`), weight decay and global-norm clipping
    (active here: the SGD update is clipped) are on. Measured on CPU, max
    |w_accumulated - w_large_batch| over every weight, for a largest update
    of 0.069 (SGD) and 0.002 (AdamW): SGD 6e-8 (torch, jax) and 7e-8
    (tensorflow); AdamW 1.3e-6 (torch), 7.2e-6 (jax), 2.4e-6 (tensorflow)
    (Adam's first step divides by sqrt(v), amplifying rounding where a
    gradient is ~0). Two separate updates instead would differ by ~0.07.
    """
    weights = {}
    for steps, batch_size in ((1, 4), (2, 2)):
        model = _model()
        config = gliclass_keras.TrainingConfig(
            optim=optim, learning_rate=lr, weight_decay=0.01, others_lr=2 * lr,
            gradient_accumulation_steps=steps,
        )
        model.compile(training_config=config, metrics=[])
        if steps > 1:
            assert model.optimizer.gradient_accumulation_steps == steps
        before = [np.array(w) for w in model.trainable_weights]
        data = model.make_dataset(EQUAL_RECORDS, batch_size=batch_size, training=False)
        model.fit(data, epochs=1, verbose=0)
        assert int(model.optimizer.iterations) == 1
        weights[steps] = [np.array(w) for w in model.trainable_weights]
    update = max(np.abs(a - b).max() for a, b in zip(weights[1], before))
    diff = max(np.abs(a - b).max() for a, b in zip(weights[1], weights[2]))
    assert update > 1e-3, update
    assert diff <= tolerance, (diff, update)


def test_accumulation_off_takes_every_batch_as_a_step():
    """Without accumulation two batches of 2 are two updates (the test above
    would fail if accumulation were silently dropped)."""
    model = _model()
    model.compile(training_config=gliclass_keras.TrainingConfig(optim="sgd", learning_rate=0.5), metrics=[])
    assert model.optimizer.gradient_accumulation_steps is None
    model.fit(model.make_dataset(EQUAL_RECORDS, batch_size=2, training=False), epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 2
