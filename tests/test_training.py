"""Training with compile()/fit(): losses in the model, data, groups, resume."""

import json

import keras
import numpy as np
import pytest

from conftest import REFERENCE_MODELS

import gliclass_keras
from gliclass_keras import GLiClassClassifier

MODEL_DIR = REFERENCE_MODELS / "uni_deberta_default"

RECORDS = [
    {"text": "We won the football match", "all_labels": ["sport", "travel", "science"], "true_labels": ["sport"]},
    {"text": "A long trip to Paris by train", "all_labels": ["sport", "travel"], "true_labels": ["travel"]},
    {"text": "Atoms bond into molecules", "all_labels": ["science", "travel", "sport", "cooking"], "true_labels": {"science": 1.0}},
    {"text": "Bake the bread for an hour", "all_labels": ["cooking", "science"], "true_labels": ["cooking"]},
] * 3


def _no_dropout(model):
    # the head's dropout is a config field; the backbone's (0.1) is not
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    return model


def _model(**overrides):
    overrides.setdefault("dropout", 0.0)
    return _no_dropout(GLiClassClassifier.from_pretrained(MODEL_DIR, config_overrides=overrides))


def _oracle():
    oracle = np.load(MODEL_DIR / "oracle.npz")
    meta = json.loads((MODEL_DIR / "oracle.json").read_text())
    x = {
        "token_ids": oracle["A_in_input_ids"].astype("int32"),
        "padding_mask": oracle["A_in_attention_mask"].astype("int32"),
        "label_mask": oracle["A_out_class_mask"].astype("int32"),
    }
    return oracle, meta, x


@pytest.mark.parametrize(
    "overrides,targets,key",
    [
        ({}, "multi", "A_loss_multi_focal_default"),
        ({"focal_loss_alpha": -1, "focal_loss_gamma": 0}, "multi", "A_loss_multi_bce_nofocal"),
        ({"focal_loss_reduction": "sum"}, "multi", "A_loss_multi_focal_sum"),
        ({"contrastive_loss_coef": 0.5}, "multi", "A_loss_multi_focal_contrastive"),
        ({"problem_type": "single_label_classification"}, "single", "A_loss_single_ce_num_labels_patched"),
    ],
)
def test_compiled_loss_equals_reference(overrides, targets, key):
    """evaluate() of the compiled default loss = the reference model's loss."""
    oracle, meta, x = _oracle()
    model = _model(**overrides)
    model.compile()
    if targets == "multi":
        y = np.asarray(meta["multi_targets"], dtype="float32")
    else:
        single = np.asarray(meta["single_targets"])
        y = np.eye(x["label_mask"].shape[1], dtype="float32")[single]
    loss = model.evaluate(x, y, batch_size=3, verbose=0, return_dict=True)["loss"]
    assert abs(loss - float(oracle[key])) <= 1e-5 * max(1.0, abs(float(oracle[key]))), (loss, float(oracle[key]))


def test_fit_lowers_loss_and_reports_f1():
    model = _model()
    model.compile(training_config=gliclass_keras.TrainingConfig(learning_rate=2e-3))
    history = model.fit(RECORDS, batch_size=4, epochs=4, verbose=0).history
    assert history["loss"][-1] < 0.7 * history["loss"][0], history["loss"]
    assert set(history) == {"loss", "micro_f1", "macro_f1"}
    assert all(0.0 <= v <= 1.0 for v in history["macro_f1"])


def test_train_on_batch_fit_and_evaluate_share_one_traced_step():
    """`train_on_batch` gives its step `(x, y, None)`, `fit` gives `(x, y)` (on TensorFlow
    from inside a `tf.data` loop): each step is traced once per batch shape on JAX and
    once for all shapes on TensorFlow, whoever calls it. Validation batches take
    `fit`'s `batch_size`."""
    from gliclass_keras.models import training as training_lib

    model = _model()
    model.compile()
    traces = {"train": 0, "test": 0}

    def counting(kind, step):
        def counted(*args):
            traces[kind] += 1
            return step(*args)

        return counted

    model.train_step = counting("train", model.train_step)
    model.test_step = counting("test", model.test_step)
    records = RECORDS[:4]
    x, y = model.make_dataset(records, batch_size=4, training=True)[0]
    first = float(model.train_on_batch(x, y, return_dict=True)["loss"])
    history = model.fit(records, batch_size=4, epochs=2, verbose=0, validation_data=records).history
    # a batch of another length: TensorFlow's trace takes every shape
    longer = [dict(r, text=r["text"] + " and then some more words" * 4) for r in RECORDS[4:8]]
    history["loss"] += model.fit(longer, batch_size=4, epochs=1, verbose=0).history["loss"]
    tested = model.test_on_batch(*model.make_dataset(records, 4, training=False)[0], return_dict=True)["loss"]
    evaluated = model.evaluate(records, batch_size=4, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(first) and all(np.isfinite(history["loss"])), (first, history)
    np.testing.assert_allclose(tested, evaluated, rtol=1e-5)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        # one trace for every shape (and none more for creating optimizer variables)
        assert traces == {"train": 1, "test": 1}, traces
    elif backend == "jax":
        # compiled per batch shape (two lengths), never per caller
        assert traces == {"train": 2, "test": 1}, traces
    else:  # torch runs the steps themselves
        assert traces["train"] == 1 + 2 + 1 and traces["test"] == 2 + 1 + 1, traces
    # a batch with sample weights keeps them
    batch = ({"a": 1}, 2, np.ones(3))
    assert training_lib._without_empty_sample_weight(batch) is batch
    assert training_lib._without_empty_sample_weight(({"a": 1}, 2, None)) == ({"a": 1}, 2)


def test_fit_single_label_records():
    """Single-label cross-entropy through the records path (unknown slot count on tf)."""
    model = _model(problem_type="single_label_classification")
    model.compile(training_config=gliclass_keras.TrainingConfig(learning_rate=2e-3))
    history = model.fit(RECORDS, batch_size=4, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0], history["loss"]
    x = {key: value[:2] for key, value in _oracle()[2].items()}
    logits = model.predict(x, verbose=0)
    one_hot = np.eye(logits.shape[1], dtype="float32")[[0, 1]]
    expected = -np.mean(np.sum(one_hot * (logits - np.log(np.sum(np.exp(logits), -1, keepdims=True))), -1))
    got = model.evaluate(x, one_hot, batch_size=2, verbose=0, return_dict=True)["loss"]
    assert abs(got - expected) < 1e-5


def test_save_after_fit_reload_and_resume(tmp_path):
    model = _model()
    model.compile(training_config=gliclass_keras.TrainingConfig(learning_rate=1e-3, seed=7))
    model.fit(RECORDS, batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "trained.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        restored.predict(RECORDS, verbose=0), model.predict(RECORDS, verbose=0), atol=1e-6
    )
    _no_dropout(restored)
    assert restored.training_config == model.training_config
    assert int(restored.optimizer.iterations) == int(model.optimizer.iterations) == 3
    # the same second epoch from memory and from the file: same weights
    model.fit(RECORDS, batch_size=4, epochs=1, verbose=0)
    restored.fit(RECORDS, batch_size=4, epochs=1, verbose=0)
    assert int(restored.optimizer.iterations) == 6
    np.testing.assert_allclose(
        restored.predict(RECORDS, verbose=0), model.predict(RECORDS, verbose=0), atol=2e-5
    )
    assert [m.name for m in restored.metrics if "f1" in m.name] == ["micro_f1", "macro_f1"]


def test_broken_batch_raises_instead_of_being_skipped():
    model = _model()
    model.compile()
    broken = RECORDS[:6] + [
        {"text": "Oops", "all_labels": ["sport", "travel"], "true_labels": ["politics"]}
    ] + RECORDS[6:]
    with pytest.raises(ValueError, match=r"record 6: true_labels \['politics'\] are not in all_labels"):
        model.fit(broken, batch_size=4, epochs=1, verbose=0)


def _snapshot(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


@pytest.mark.parametrize("frozen", ["others", "encoder"])
def test_zero_learning_rate_freezes_its_group(frozen):
    model = _model(normalize_features=True)  # adds logit_scale to the head
    if frozen == "others":
        config = gliclass_keras.TrainingConfig(learning_rate=1e-3, others_lr=0.0, weight_decay=0.1)
    else:
        config = gliclass_keras.TrainingConfig(learning_rate=0.0, others_lr=1e-3, others_weight_decay=0.1)
    model.compile(training_config=config)
    encoder = model.backbone_variables()
    encoder_ids = {id(v) for v in encoder}
    head = [v for v in model.trainable_variables if id(v) not in encoder_ids]
    assert any("logit_scale" in v.path for v in head)
    before_encoder, before_head = _snapshot(encoder), _snapshot(head)
    model.fit(RECORDS, batch_size=4, epochs=1, verbose=0)
    moved = lambda before, after: [not np.array_equal(a, b) for a, b in zip(before, after)]
    encoder_moved = moved(before_encoder, _snapshot(encoder))
    head_moved = moved(before_head, _snapshot(head))
    if frozen == "others":
        assert not any(head_moved)
        assert sum(encoder_moved) >= 0.9 * len(encoder_moved)
    else:
        assert not any(encoder_moved)
        assert all(head_moved)


def test_parameter_groups_follow_the_reference_rules():
    model = _model(normalize_features=True)
    groups = gliclass_keras.TrainingConfig(others_lr=1e-4).parameter_groups(model)
    paths = {name: {v.path for v in variables} for name, variables in groups.items()}
    assert sum(len(v) for v in groups.values()) == len(model.trainable_variables)
    assert "token_embedding/embeddings" in paths["encoder_decay"]
    assert "embeddings_layer_norm/gamma" in paths["encoder_no_decay"]
    assert any(p.endswith("/bias") for p in paths["encoder_no_decay"])
    assert not any(p.endswith("/bias") or "norm" in p for p in paths["encoder_decay"] | paths["others_decay"])
    assert "logit_scale/logit_scale" in paths["others_decay"] or any(
        "logit_scale" in p for p in paths["others_decay"]
    )
    assert "text_projector/linear_1/bias" in paths["others_no_decay"]
    optimizer = gliclass_keras.TrainingConfig(
        learning_rate=1e-5, weight_decay=0.01, others_lr=1e-4, others_weight_decay=0.1
    ).build_optimizer(model)
    assert isinstance(optimizer, gliclass_keras.optimizers.GroupedAdamW)
    assert float(optimizer.learning_rate) == pytest.approx(1e-4)
    assert optimizer.lr_multipliers["token_embedding/embeddings"] == pytest.approx(0.1)
    assert optimizer.lr_multipliers["text_projector/linear_1/kernel"] == pytest.approx(1.0)
    assert optimizer.weight_decays["token_embedding/embeddings"] == pytest.approx(0.01)
    assert optimizer.weight_decays["text_projector/linear_1/kernel"] == pytest.approx(0.1)
    assert optimizer.weight_decays["text_projector/linear_1/bias"] == 0.0
    assert optimizer.global_clipnorm == 1.0


def test_grouped_adamw_matches_torch_adamw():
    """One group at 2x the rate, one without decay: torch.optim.AdamW's numbers."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0, b0 = rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(2,)).astype("float32")
    grads = [(rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(2,)).astype("float32")) for _ in range(3)]
    w, b = keras.Variable(w0, name="kernel"), keras.Variable(b0, name="bias")
    optimizer = gliclass_keras.optimizers.GroupedAdamW(
        learning_rate=0.1,
        weight_decay=0.05,
        epsilon=1e-8,
        lr_multipliers={b.path: 0.5},
        weight_decays={b.path: 0.0},
    )
    for gw, gb in grads:
        optimizer.apply([keras.ops.convert_to_tensor(gw), keras.ops.convert_to_tensor(gb)], [w, b])
    tw, tb = torch.nn.Parameter(torch.tensor(w0)), torch.nn.Parameter(torch.tensor(b0))
    reference = torch.optim.AdamW(
        [{"params": [tw], "lr": 0.1, "weight_decay": 0.05}, {"params": [tb], "lr": 0.05, "weight_decay": 0.0}],
        eps=1e-8,
    )
    for gw, gb in grads:
        tw.grad, tb.grad = torch.tensor(gw), torch.tensor(gb)
        reference.step()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w), tw.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(b), tb.detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("name", ["GroupedAdamW", "GroupedAdam", "GroupedSGD", "GroupedRMSprop"])
def test_grouped_optimizers_fast_update_equals_keras_update(monkeypatch, name):
    """The torch multi-tensor/fused and TensorFlow fused updates give Keras' own update's weights.

    Three variables in two learning-rate groups, two decays and a schedule-free
    rate; on torch the fast path must run (checked), and on TensorFlow the
    fused Adam kernel for Adam and AdamW (checked); jax takes Keras' own
    update in both runs.
    """
    from gliclass_keras import optimizers as optimizers_lib

    rng = np.random.default_rng(1)
    initial = [rng.normal(size=shape).astype("float32") for shape in ((4, 3), (3,), (5, 3))]
    grads = [[rng.normal(size=v.shape).astype("float32") for v in initial] for _ in range(3)]

    def train(fast):
        if not fast:
            monkeypatch.setattr(optimizers_lib, "_uses_torch_parallel_update", lambda optimizer: False)
            monkeypatch.setattr(optimizers_lib, "_TENSORFLOW_FUSED_ADAM", False)
        variables = [keras.Variable(v, name=f"v{i}") for i, v in enumerate(initial)]
        optimizer = getattr(gliclass_keras.optimizers, name)(
            learning_rate=0.05,
            weight_decay=0.1,
            global_clipnorm=1.0,
            lr_multipliers={variables[1].path: 3.0},
            weight_decays={variables[2].path: 0.0},
        )
        calls = []
        if fast and keras.backend.backend() == "torch":
            original = optimizers_lib._uses_torch_parallel_update
            monkeypatch.setattr(
                optimizers_lib, "_uses_torch_parallel_update", lambda o: calls.append(1) or original(o)
            )
        if fast and keras.backend.backend() == "tensorflow":
            original_tf = optimizers_lib._uses_tensorflow_fused_adam
            monkeypatch.setattr(
                optimizers_lib,
                "_uses_tensorflow_fused_adam",
                lambda o, g: calls.append(original_tf(o, g)) or calls[-1],
            )
        for step in grads:
            optimizer.apply([keras.ops.convert_to_tensor(g) for g in step], variables)
        monkeypatch.undo()
        if fast and keras.backend.backend() == "torch":
            assert calls and optimizers_lib._uses_torch_parallel_update(optimizer)
        if fast and keras.backend.backend() == "tensorflow":
            # the fused kernel ran for every update of Adam and AdamW only
            assert calls == [name in ("GroupedAdamW", "GroupedAdam")] * 9
        return [keras.ops.convert_to_numpy(v) for v in variables]

    fast, keras_update = train(True), train(False)
    for a, b, start in zip(fast, keras_update, initial):
        assert np.abs(b - start).max() > 0.01  # the weights moved
        # Keras computes 1 - beta_2**t in float32 (0.001 with a 1.3e-5 relative
        # error at t=1); the fused torch kernel gets it in float64, as
        # torch.optim does: updates of up to 0.45 differ by 2.6e-6 (Adam).
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch `.grad` buffers")
@pytest.mark.parametrize("clip_norm", [1.0, 100.0])
def test_torch_gradient_buffers_are_clipped_in_place_with_keras_numbers(clip_norm):
    """The variables' own `.grad`s are clipped in place (as `clip_grad_norm_`), to Keras' values.

    Gradients handed in as copies keep Keras' clipped-copy path and stay
    untouched; both give the same weights bit for bit.
    """
    import torch

    rng = np.random.default_rng(2)
    initial = [rng.normal(size=shape).astype("float32") for shape in ((4, 3), (3,))]
    steps = [[3.0 * rng.normal(size=v.shape).astype("float32") for v in initial] for _ in range(2)]

    def train(as_buffers):
        variables = [keras.Variable(v, name=f"w{i}") for i, v in enumerate(initial)]
        optimizer = gliclass_keras.optimizers.GroupedAdamW(learning_rate=0.05, global_clipnorm=clip_norm)
        handed = []
        for step in steps:
            grads = [torch.tensor(g) for g in step]
            if as_buffers:
                for variable, g in zip(variables, grads):
                    variable.value.grad = g
                grads = [variable.value.grad for variable in variables]
            optimizer.apply(grads, variables)
            handed.append([g.numpy().copy() for g in grads])
        return [keras.ops.convert_to_numpy(v) for v in variables], handed

    in_place, handed_in_place = train(True)
    copied, handed_copies = train(False)
    for a, b in zip(in_place, copied):
        np.testing.assert_array_equal(a, b)
    norm = np.sqrt(sum(float(np.sum(g.astype("float64") ** 2)) for g in steps[-1]))
    scale = min(1.0, clip_norm / norm)
    for got, original in zip(handed_in_place[-1], steps[-1]):
        np.testing.assert_allclose(got, original * scale, rtol=1e-5)  # clipped in place
    for got, original in zip(handed_copies[-1], steps[-1]):
        np.testing.assert_array_equal(got, original)  # copies handed in stay as they were
    assert (scale < 1.0) == (clip_norm == 1.0)


def test_warmup_decay_schedule_is_huggingface_linear():
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    schedule = gliclass_keras.optimizers.WarmupDecay(1.0, total_steps=10, warmup_steps=3)
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    reference = transformers.get_linear_schedule_with_warmup(optimizer, 3, 10)
    for step in range(12):
        assert float(schedule(step)) == pytest.approx(reference.get_last_lr()[0], abs=1e-6)
        optimizer.step()
        reference.step()


def test_training_config_validation_and_schedules():
    with pytest.raises(ValueError, match="optim"):
        gliclass_keras.TrainingConfig(optim="adamw_8bit")
    with pytest.raises(ValueError, match="others_lr"):
        gliclass_keras.TrainingConfig(others_lr=-1.0)
    with pytest.raises(ValueError, match="Unknown TrainingConfig fields"):
        gliclass_keras.TrainingConfig.from_dict({"learning_rate": 1e-5, "lr": 3})
    config = gliclass_keras.TrainingConfig()
    assert (config.cache_dir, config.others_lr, config.others_weight_decay) == (None, None, 0.0)
    assert (config.learning_rate, config.weight_decay, config.optim) == (5e-5, 0.0, "adamw")
    model = _model()
    with pytest.raises(ValueError, match="total_steps"):
        gliclass_keras.TrainingConfig(lr_scheduler_type="linear").build_optimizer(model)
    optimizer = gliclass_keras.TrainingConfig(
        lr_scheduler_type="cosine", warmup_ratio=0.1, optim="sgd"
    ).build_optimizer(model, total_steps=100)
    assert isinstance(optimizer, gliclass_keras.optimizers.GroupedSGD)
    assert optimizer._learning_rate.warmup_steps == 10


@pytest.mark.parametrize(
    "name", ["uni_modernbert_v3_textfirst", "uni_t5encoder_avg", "encdec_t5", "bi_bert_bert"]
)
def test_fit_trains_every_backbone_and_architecture(name):
    """Two steps on one batch lower the loss: ModernBERT and T5-encoder
    uni-encoders, the T5 encoder-decoder and the bi-encoder (DeBERTa and BERT
    uni-encoders, encoder-decoder-cls and bi-encoder-fused are trained in
    their own tests)."""
    model = _no_dropout(
        GLiClassClassifier.from_pretrained(REFERENCE_MODELS / name, config_overrides={"dropout": 0.0})
    )
    model.compile(training_config=gliclass_keras.TrainingConfig(learning_rate=1e-4), metrics=[])
    # Labels kept in order, so the second epoch's loss differs only by the update.
    batch = model.make_dataset(RECORDS[:4], batch_size=4, training=False)
    history = model.fit(batch, epochs=2, verbose=0).history
    assert history["loss"][1] < history["loss"][0], history["loss"]
