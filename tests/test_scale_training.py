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


# AdamW (1e-3, tolerance 2e-5) passes as well; SGD alone runs in CI (the
# stricter check: its update is proportional to the gradient).
@pytest.mark.parametrize("optim,lr,tolerance", [("sgd", 0.5, 1e-6)])
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


# ------------------------------------------------------------ mixed precision
TEXTS = ["We won the football match", "A long trip to Paris by train", "Atoms bond into molecules"]
LABELS = ["sport", "travel", "science", "cooking"]
# One fixture per backbone family / architecture.
MIXED_FIXTURES = ["uni_deberta_default", "bi_bert_bert", "encdec_t5", "uni_modernbert_v3_textfirst"]
# Max |score_mixed - score_float32| over these fixtures' 3 x 4 scores,
# measured on CPU (torch, jax, tensorflow): mixed_bfloat16 <= 0.02
# (bi_bert_bert), mixed_float16 <= 0.004. The tolerances leave 2.5x room.
MIXED_TOLERANCES = {"mixed_bfloat16": 0.05, "mixed_float16": 0.01}


def _scores(model):
    return np.array([[row[label] for label in LABELS] for row in model.predict_scores(TEXTS, LABELS)])


@pytest.fixture
def restore_policy():
    yield
    keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("name", MIXED_FIXTURES)
def test_mixed_bfloat16_scores(name, restore_policy):
    path = REFERENCE_MODELS / name
    reference = _scores(GLiClassClassifier.from_pretrained(path))
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = GLiClassClassifier.from_pretrained(path)
    # float32 checkpoint -> float32 variables, bfloat16 compute, float32 logits
    assert {v.dtype for v in model.weights} == {"float32"}
    assert model.backbone.compute_dtype == "bfloat16"
    assert model.scorer.compute_dtype == "bfloat16"
    assert model.outputs[0].dtype == "float32"
    scores = _scores(model)
    drift = np.abs(scores - reference).max()
    assert 0 < drift <= MIXED_TOLERANCES["mixed_bfloat16"], drift
    classified = {row["label"]: row["score"] for row in model.classify(TEXTS[:1], LABELS, threshold=0.0)[0]}
    # (alone in its batch the text is padded differently: within tolerance)
    np.testing.assert_allclose(
        [classified[label] for label in LABELS], reference[0], atol=MIXED_TOLERANCES["mixed_bfloat16"]
    )


def test_mixed_bfloat16_fit(restore_policy):
    """A training step under mixed_bfloat16: finite float32 loss, float32 weights that move."""
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = _model()
    model.compile(training_config=gliclass_keras.TrainingConfig(learning_rate=1e-3), metrics=[])
    before = [keras.ops.convert_to_numpy(v) for v in model.trainable_weights]
    data = model.make_dataset(EQUAL_RECORDS, batch_size=4, training=False)
    loss = model.fit(data, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss) and loss > 0, loss
    after = [keras.ops.convert_to_numpy(v) for v in model.trainable_weights]
    assert all(a.dtype == np.float32 for a in after)
    assert max(np.abs(a - b).max() for a, b in zip(after, before)) > 0


@pytest.mark.parametrize("name", ["uni_deberta_default", "uni_modernbert_v3_textfirst"])
def test_mixed_float16_builds_and_predicts(name, restore_policy):
    """float16 is a GPU policy; on CPU it only has to build and predict.

    T5 is left out: keras-hub's `T5MultiHeadAttention` masks with
    `(1 - mask) * -1e9`, which is `0 * -inf = NaN` in float16 on jax and
    tensorflow (T5 is known not to run in float16; use mixed_bfloat16).
    """
    path = REFERENCE_MODELS / name
    reference = _scores(GLiClassClassifier.from_pretrained(path))
    keras.config.set_dtype_policy("mixed_float16")
    model = GLiClassClassifier.from_pretrained(path)
    assert model.backbone.compute_dtype == "float16"
    drift = np.abs(_scores(model) - reference).max()
    assert drift <= MIXED_TOLERANCES["mixed_float16"], drift


def test_every_layer_takes_the_backbones_policy(restore_policy):
    """A model whose backbone was built mixed keeps the policy in every layer of
    ours when rebuilt under a float32 global policy (`dtype=` is passed down,
    not read from the global policy). keras-hub's attention Softmax is float32
    by design; the model and its inputs carry no computation."""
    keras.config.set_dtype_policy("mixed_bfloat16")
    source = GLiClassClassifier.from_pretrained(MODEL_DIR)
    keras.config.set_dtype_policy("float32")
    model = GLiClassClassifier.from_config(source.get_config())
    others = {
        type(layer).__name__
        for layer in model._flatten_layers(include_self=False)
        if layer.dtype_policy.name != "mixed_bfloat16"
    }
    assert others <= {"InputLayer", "Softmax"}, others
    assert model.outputs[0].dtype == "float32"
    model.set_weights(source.get_weights())
    x = source.preprocessor(TEXTS, LABELS)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(source(x)), atol=1e-6
    )


# ----------------------------------------------------------------------- LoRA
def _lora_layers(model):
    return [
        layer
        for backbone in model._backbones()
        for layer in backbone._flatten_layers(include_self=False)
        if getattr(layer, "lora_enabled", False)
    ]


def _head_trainable(model):
    backbone = {id(v) for v in model.backbone_weights()}
    return [v for v in model.trainable_weights if id(v) not in backbone]


def _numpy(variables):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in variables}


@pytest.mark.parametrize(
    "name,adapted_per_layer",
    [
        ("uni_deberta_default", 2),  # query, value
        ("bi_bert_bert", 2),  # both backbones
        ("uni_modernbert_v3_textfirst", 1),  # fused qkv_dense
        ("encdec_t5", 2),  # query_projector, value_projector of every attention
    ],
)
def test_enable_lora_trains_exactly_the_adapters_and_the_head(name, adapted_per_layer):
    model = GLiClassClassifier.from_pretrained(REFERENCE_MODELS / name)
    head_before = _head_trainable(model)
    scores = _scores(model)
    model.enable_lora(4)
    assert model.lora_rank == 4
    layers = _lora_layers(model)
    num_layers = sum(b.num_layers for b in model._backbones())
    assert len(layers) >= adapted_per_layer * num_layers
    adapters = [v for layer in layers for v in (layer.lora_kernel_a, layer.lora_kernel_b)]
    assert all(v.shape[-1] == 4 or v.shape[0] == 4 for v in adapters)
    expected = {id(v) for v in adapters} | {id(v) for v in head_before}
    assert {id(v) for v in model.trainable_weights} == expected
    assert len(head_before) > 0
    paths = [v.path for v in model.trainable_weights]
    assert len(set(paths)) == len(paths)  # parameter groups are keyed by path
    # lora_kernel_b starts at zero: the scores are unchanged
    np.testing.assert_allclose(_scores(model), scores, atol=1e-6)
    with pytest.raises(ValueError, match="already enabled"):
        model.enable_lora(4)


def test_enable_lora_validates_its_arguments():
    model = GLiClassClassifier.from_pretrained(MODEL_DIR)
    for bad in (0, -2, 2.0, True):
        with pytest.raises(ValueError, match="rank"):
            model.enable_lora(bad)
    with pytest.raises(TypeError, match="target_layer_names"):
        model.enable_lora(2, target_layer_names="query")
    with pytest.raises(ValueError, match="target_layer_names"):
        model.enable_lora(2, target_layer_names=["no_such_layer"])


def test_lora_fit_save_and_load(tmp_path):
    """fit changes only the adapters and the head; `.lora.h5` and `.keras`
    round trips keep the scores (1e-5) and the LoRA state."""
    model = _model()
    model.enable_lora(4)
    model.compile(training_config=gliclass_keras.TrainingConfig(learning_rate=1e-2), metrics=[])
    trainable = {v.path for v in model.trainable_weights}
    before = _numpy(model.weights)
    data = model.make_dataset(EQUAL_RECORDS, batch_size=2, training=False)
    model.fit(data, epochs=1, verbose=0)  # two steps: lora_kernel_a moves once b != 0
    after = _numpy(model.weights)
    changed = {path for path in after if not np.array_equal(after[path], before[path])}
    assert changed == trainable, (sorted(changed - trainable)[:5], sorted(trainable - changed)[:5])
    scores = _scores(model)

    # adapters + head only
    lora_file = tmp_path / "model.lora.h5"
    model.save_lora_weights(lora_file)
    keras_file = tmp_path / "model.keras"
    model.save(keras_file)
    assert lora_file.stat().st_size < 0.25 * keras_file.stat().st_size
    fresh = _model()
    fresh.load_lora_weights(lora_file)
    assert fresh.lora_rank == 4
    np.testing.assert_allclose(_scores(fresh), scores, atol=1e-5)
    other = _model()
    other.enable_lora(2)
    with pytest.raises(ValueError, match="rank"):
        other.load_lora_weights(lora_file)
    with pytest.raises(ValueError, match="lora.h5"):
        model.save_lora_weights(tmp_path / "model.h5")

    # .keras: same scores, same trainable adapters (not merged and zeroed)
    loaded = keras.saving.load_model(keras_file)
    assert loaded.lora_rank == 4
    np.testing.assert_allclose(_scores(loaded), scores, atol=1e-5)
    assert {v.path for v in loaded.trainable_weights} == trainable
    reloaded = _numpy(loaded.weights)
    for path, value in after.items():
        if "lora_kernel" in path:
            np.testing.assert_array_equal(reloaded[path], value)
    # and it trains on
    loaded.fit(data, epochs=1, verbose=0)
    resumed = _numpy(loaded.weights)
    assert any(
        not np.array_equal(resumed[p], reloaded[p]) for p in resumed if "lora_kernel_a" in p
    )
