"""Tests of `gliclass_keras.losses` against the gliclass 0.1.21 reference."""

import json

import keras
import numpy as np
import pytest

from gliclass_keras import losses as gl
from conftest import REFERENCE_MODELS

FIXTURE_NAMES = [
    "uni_deberta_default",
    "uni_bert_default",
    "uni_deberta_normalized_rms",
    "uni_deberta_sum",
    "uni_deberta_layer1",
]


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def _close(actual, expected, atol=1e-5, rtol=1e-6):
    # Both sides compute the same loss from the same float32 logits, so
    # only the loss's own rounding differs: 1e-5, or for the large "sum"
    # losses 1e-6 of the value (~17 float32 unit roundoffs, 2^-24; the
    # terms are all positive, so the sum's error is relative to it).
    # Measured on an AVX2 machine (torch, jax, tensorflow, and jax with
    # XLA_FLAGS=--xla_cpu_max_isa=SSE4_2): at most 0.28 of this tolerance
    # (torch, a focal "sum" over 54 soft-target slots: 2.9e-6 on 10.1).
    actual = float(actual)
    expected = float(expected)
    assert abs(actual - expected) <= max(atol, rtol * abs(expected)), (
        actual,
        expected,
    )


def _load(name):
    directory = REFERENCE_MODELS / name
    oracle = np.load(directory / "oracle.npz")
    meta = json.loads((directory / "oracle.json").read_text())
    return oracle, meta


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_losses_match_reference_fixtures(name):
    oracle, meta = _load(name)
    logits = oracle["A_out_logits"].astype("float32")
    multi = np.asarray(meta["multi_targets"], dtype="float32")
    single = np.asarray(meta["single_targets"], dtype="int32")

    focal = gl.get_loss("multi_label_classification", 0.5, 2.0, None)
    _close(_np(focal(multi, logits)), oracle["A_loss_multi_focal_default"])

    bce = gl.get_loss("multi_label_classification", -1, 0, "none")
    _close(_np(bce(multi, logits)), oracle["A_loss_multi_bce_nofocal"])

    focal_sum = gl.get_loss("multi_label_classification", 0.5, 2.0, "sum")
    _close(_np(focal_sum(multi, logits)), oracle["A_loss_multi_focal_sum"])

    contrastive = gl.sequence_contrastive_loss(
        oracle["A_out_class_embeddings"].astype("float32"),
        oracle["A_out_class_mask"],
    )
    _close(
        _np(focal(multi, logits)) + 0.5 * _np(contrastive),
        oracle["A_loss_multi_focal_contrastive"],
    )

    ce = gl.get_loss("single_label_classification")
    _close(_np(ce(single, logits)), oracle["A_loss_single_ce_num_labels_patched"])
    _close(
        _np(ce(single[:, None], logits)),
        oracle["A_loss_single_ce_num_labels_patched"],
    )
    # one-hot targets -> soft CE branch, same value
    one_hot = np.eye(logits.shape[1], dtype="float32")[single]
    _close(
        _np(gl.get_loss(None)(one_hot, logits)),
        oracle["A_loss_single_ce_num_labels_patched"],
    )


def _torch_reference():
    torch = pytest.importorskip("torch")
    loss_functions = pytest.importorskip("gliclass.loss_functions")
    return torch, loss_functions


@pytest.mark.parametrize(
    "alpha,gamma,reduction",
    [
        (0.5, 2.0, "mean"),
        (-1.0, 0.0, "mean"),
        (0.25, 3.0, "sum"),
        (0.7, 0.0, "mean"),
        (0.25, 1.5, "sum"),
        (-1.0, 0.5, "mean"),
    ],
)
def test_focal_matches_torch_reference_soft_targets(alpha, gamma, reduction):
    torch, loss_functions = _torch_reference()
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(6, 9)) * 3).astype("float32")
    targets = rng.uniform(size=(6, 9)).astype("float32")
    targets[rng.uniform(size=targets.shape) < 0.25] = -100.0
    valid = targets != -100.0
    if float(gamma).is_integer():
        expected = loss_functions.focal_loss_with_logits(
            torch.tensor(logits),
            torch.tensor(targets),
            alpha=alpha,
            gamma=gamma,
            reduction=reduction,
        ).item()
    else:
        # with a non-integer gamma the reference turns ignored slots into NaN
        # ((1 - p_t) < 0 for the target -100, and NaN * 0 = NaN): compare
        # with its element-wise values on the valid slots instead
        per_slot = loss_functions.focal_loss_with_logits(
            torch.tensor(logits),
            torch.tensor(np.where(valid, targets, 0.0)),
            alpha=alpha,
            gamma=gamma,
            reduction="none",
        ).numpy()
        expected = np.where(valid, per_slot, 0.0).sum()
        if reduction == "mean":
            expected /= valid.sum()
    actual = gl.FocalLoss(alpha, gamma, reduction)(targets, logits)
    _close(_np(actual), expected)


def test_padded_slots_do_not_change_losses():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 5)).astype("float32")
    multi = (rng.uniform(size=(4, 5)) > 0.6).astype("float32")
    pad_logits = np.concatenate(
        [logits, np.full((4, 3), -1000.0, "float32")], axis=1
    )
    pad_multi = np.concatenate([multi, np.full((4, 3), -100.0, "float32")], 1)
    for loss in [
        gl.FocalLoss(),
        gl.FocalLoss(-1, 0),
        gl.FocalLoss(reduction_mode="sum"),
        gl.RegressionLoss(),
    ]:
        base = _np(loss(multi, logits))
        padded = _np(loss(pad_multi, pad_logits))
        assert np.isfinite(padded)
        _close(padded, base)
    single = np.array([0, 4, 2, 1], "int32")
    ce = gl.LabelCrossEntropy()
    _close(_np(ce(single, pad_logits)), _np(ce(single, logits)))
    # an ignored example is left out of the mean
    _close(
        _np(ce(np.array([0, 4, -100, 1]), logits)),
        _np(ce(single[[0, 1, 3]], logits[[0, 1, 3]])),
    )
    # soft targets with padded (-100) slots
    soft = rng.uniform(size=(4, 5)).astype("float32")
    soft /= soft.sum(-1, keepdims=True)
    pad_soft = np.concatenate([soft, np.full((4, 3), -100.0, "float32")], 1)
    _close(_np(ce(pad_soft, pad_logits)), _np(ce(soft, logits)))


def test_padded_slot_gradients_are_finite():
    logits = keras.Variable(
        np.array([[1.0, -2.0, -1000.0], [0.5, 0.1, -1000.0]], "float32")
    )
    targets = np.array([[1.0, 0.0, -100.0], [0.0, 1.0, -100.0]], "float32")
    backend = keras.backend.backend()
    loss = gl.FocalLoss()
    if backend == "torch":
        import torch

        value = loss(targets, logits.value)
        (grad,) = torch.autograd.grad(value, logits.value)
        grad = grad.numpy()
    elif backend == "jax":
        import jax

        grad = np.asarray(jax.grad(lambda x: loss(targets, x))(logits.value))
    else:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss(targets, logits.value)
        grad = tape.gradient(value, logits.value).numpy()
    assert np.all(np.isfinite(grad))
    assert np.all(grad[:, 2] == 0.0)


def test_contrastive_matches_torch_reference():
    torch, loss_functions = _torch_reference()
    rng = np.random.default_rng(2)
    embeds = rng.normal(size=(3, 6, 16)).astype("float32")
    mask = np.array(
        [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0]], "int64"
    )
    expected = loss_functions.sequence_contrastive_loss(
        torch.tensor(embeds), torch.tensor(mask)
    ).item()
    _close(_np(gl.sequence_contrastive_loss(embeds, mask)), expected)


def test_regression_matches_mse():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(3, 4)).astype("float32")
    targets = rng.uniform(size=(3, 4)).astype("float32")
    _close(
        _np(gl.get_loss("regression")(targets, logits)),
        np.mean((logits.astype(np.float64) - targets) ** 2),
    )


def test_get_loss_mapping():
    assert isinstance(gl.get_loss("multi_label_classification"), gl.FocalLoss)
    assert gl.get_loss("multi_label_classification").reduction_mode == "mean"
    for reduction in (None, "none", "mean"):
        loss = gl.get_loss("multi_label_classification", 0.1, 3, reduction, -7)
        assert loss.reduction_mode == "mean"
        assert (loss.alpha, loss.gamma, loss.ignore_index) == (0.1, 3.0, -7)
    assert gl.get_loss("multi_label_classification", 0.5, 2, "sum").reduction_mode == "sum"
    assert isinstance(gl.get_loss("single_label_classification"), gl.LabelCrossEntropy)
    assert isinstance(gl.get_loss(None), gl.LabelCrossEntropy)
    assert isinstance(gl.get_loss("regression"), gl.RegressionLoss)
    with pytest.raises(ValueError):
        gl.get_loss("bogus")
    with pytest.raises(ValueError):
        gl.FocalLoss(reduction_mode="max")


@pytest.mark.parametrize(
    "loss",
    [
        gl.FocalLoss(alpha=0.3, gamma=1.0, reduction_mode="sum", ignore_index=-5),
        gl.LabelCrossEntropy(ignore_index=-3),
        gl.RegressionLoss(ignore_index=-2),
    ],
)
def test_get_config_round_trip(loss):
    config = loss.get_config()
    clone = loss.__class__.from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(loss)
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(loss)
    assert restored.get_config() == config


def _fit_case(loss, y):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(8, 6)).astype("float32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    direct = _np(loss(y, model(x)))
    evaluated = model.evaluate(x, y, batch_size=8, verbose=0)
    _close(evaluated, direct)
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    values = history.history["loss"]
    assert len(values) == 2 and np.all(np.isfinite(values))
    _close(values[0], direct)
    assert values[1] < values[0]


@pytest.mark.parametrize("reduction_mode", ["mean", "sum"])
def test_focal_in_compile_fit(reduction_mode):
    rng = np.random.default_rng(5)
    y = (rng.uniform(size=(8, 5)) > 0.6).astype("float32")
    y[:3, 3:] = -100.0  # padded label slots
    _fit_case(gl.FocalLoss(reduction_mode=reduction_mode), y)


def test_cross_entropy_in_compile_fit():
    _fit_case(gl.LabelCrossEntropy(), np.array([0, 1, 2, 3, 4, 0, 1, 2], "int32"))
    soft = np.random.default_rng(6).uniform(size=(8, 5)).astype("float32")
    _fit_case(gl.LabelCrossEntropy(), soft / soft.sum(-1, keepdims=True))


def test_regression_in_compile_fit():
    y = np.random.default_rng(7).uniform(size=(8, 5)).astype("float32")
    y[0, 4] = -100.0
    _fit_case(gl.RegressionLoss(), y)


def test_sample_weight_scales_numerator():
    logits = np.array([[1.0, -1.0], [0.5, 2.0]], "float32")
    y = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    loss = gl.FocalLoss(reduction_mode="sum")
    full = _np(loss(y, logits))
    first = _np(loss(y[:1], logits[:1]))
    _close(_np(loss(y, logits, sample_weight=np.array([1.0, 0.0]))), first)
    _close(_np(loss(y, logits, sample_weight=np.ones((2, 2)))), full)
