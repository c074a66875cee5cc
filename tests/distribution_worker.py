"""Runs GLiClass models under keras.distribution on virtual CPU devices (JAX).

Started by `test_distribution.py` in a subprocess, because the device count
must be set (`XLA_FLAGS`) before JAX starts:

    python tests/distribution_worker.py DEVICES MESH OUT.json

`MESH` is `BATCHxMODEL` for the model-parallel runs (`2x2`, `1x2`). Every
quantity is computed twice in this process, on one device (no distribution)
and under the distribution, from the same weights and the same global
batches; the JSON holds the largest differences, and the tests compare them
with 1e-5.
"""

import json
import os
import sys
import tempfile

DEVICES = int(sys.argv[1])
MESH = tuple(int(n) for n in sys.argv[2].split("x"))
OUT = sys.argv[3]
# Keeps the flags the suite runs with (conftest.py), adds the device count.
# On a loaded machine (CI runs three test jobs at once) a device can reach a
# collective long after the others, past XLA's default 40 s abort.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + f" --xla_force_host_platform_device_count={DEVICES}"
    + " --xla_cpu_collective_call_terminate_timeout_seconds=900"
).strip()
# XLA's CPU client runs the virtual devices on a thread pool as large as the
# core count (or NPROC): with fewer threads than devices, devices blocked in a
# collective can keep their partners from ever running (a deadlock, seen with
# 4 devices on 2 cores). NPROC raises the pool above the device count.
os.environ["NPROC"] = str(max(16, 2 * DEVICES))
os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import gliclass_keras  # noqa: E402
from gliclass_keras import GLiClassClassifier  # noqa: E402
from gliclass_keras.models.layout_map import unsharded_weights  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "reference")
RECORDS = [
    {"text": "We won the football match", "all_labels": ["sport", "travel", "science"], "true_labels": ["sport"]},
    {"text": "A long trip to Paris by train", "all_labels": ["sport", "travel", "cooking"], "true_labels": ["travel"]},
    {"text": "Atoms bond into molecules", "all_labels": ["science", "travel", "sport"], "true_labels": ["science"]},
    {"text": "Bake the bread for an hour", "all_labels": ["cooking", "science", "travel"], "true_labels": ["cooking"]},
    {"text": "The striker scored twice", "all_labels": ["sport", "cooking", "science"], "true_labels": ["sport"]},
    {"text": "Our flight to Rome was late", "all_labels": ["travel", "sport", "science"], "true_labels": ["travel"]},
]
TEXTS = [r["text"] for r in RECORDS] + ["Elections are next week"]
LABELS = ["sport", "travel", "science", "cooking", "politics"]
# 3 records per batch: not a multiple of the batch axis (2 or 4 devices), so
# the dataset's filler rows are exercised.
BATCH = 3
# Kernels and embeddings of at least this many values must be sharded (the
# fixtures' hidden size is 24-32: every attention, feed-forward and head
# kernel, and the embeddings, is at least 768 values). Biases and norm
# scales stay replicated by design.
MIN_SHARDED = 512
# One fixture per backbone family and architecture.
FAMILIES = (
    "uni_deberta_default", "uni_bert_default", "uni_modernbert_edge", "uni_t5encoder_avg",
    "bi_bert_bert", "bifused_deberta_bert", "encdec_t5",
)


def load(name, distribution):
    keras.distribution.set_distribution(distribution)
    model = GLiClassClassifier.from_pretrained(
        os.path.join(FIXTURES, name), config_overrides={"dropout": 0.0}
    )
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    return model


def scores(model):
    single = model.predict_scores(TEXTS, LABELS, batch_size=BATCH)
    ranked = model.classify(TEXTS, LABELS, classification_type="single-label", batch_size=BATCH)
    return (
        np.array([[row[label] for label in LABELS] for row in single]),
        [row[0]["label"] for row in ranked],
    )


def train(model):
    """evaluate, predict and 2 fit steps (SGD, clipping on) from the same weights."""
    config = gliclass_keras.TrainingConfig(optim="sgd", learning_rate=0.5, others_lr=1.0)
    model.compile(training_config=config)
    loss = model.evaluate(RECORDS, batch_size=BATCH, verbose=0, return_dict=True)["loss"]
    predicted = np.asarray(model.predict(RECORDS, batch_size=BATCH, verbose=0))
    before = [np.array(w.numpy()) for w in model.trainable_weights]
    model.fit(RECORDS, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    after = [np.array(w.numpy()) for w in model.trainable_weights]
    update = max(float(np.abs(a - b).max()) for a, b in zip(after, before))
    return loss, predicted, after, update


def largest(a, b):
    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b))


def compare(name, distribution, fit=True):
    """The model on one device, then under `distribution`; the largest differences."""
    runs = []
    for current in (None, distribution):
        model = load(name, current)
        outputs = scores(model) + (train(model) if fit else ())
        runs.append(outputs)
    keras.distribution.set_distribution(None)
    (s1, top1, *trained1), (s2, top2, *trained2) = runs
    result = {"scores": float(np.abs(s1 - s2).max()), "same_top_labels": top1 == top2}
    if fit:
        (l1, p1, w1, update), (l2, p2, w2, _) = trained1, trained2
        result.update(
            loss=abs(l1 - l2),
            # logits can be large (scaled dot products): relative beyond |1|
            predict=float((np.abs(p1 - p2) / np.maximum(1.0, np.abs(p1))).max()),
            weights=largest(w1, w2),
            update=update,
        )
    return model, result


def replicated_large_weights(model):
    """Paths of large kernels (2+ dimensions) whose jax array is whole on every device."""
    return [
        v.path
        for v in model.weights
        if len(v.shape) >= 2
        and np.prod(v.shape) >= MIN_SHARDED
        and v.value.sharding.is_fully_replicated
    ]


def main():
    devices = jax.devices()
    assert len(devices) == DEVICES, devices
    report = {"devices": DEVICES, "data_parallel": {}, "model_parallel": {}, "coverage": {}}
    # Two devices: every architecture; four: one of each kind of check.
    if DEVICES == 2:
        data_parallel_fixtures = ("uni_deberta_default", "bi_bert_bert", "bifused_deberta_bert", "encdec_t5")
        model_parallel_fixtures = FAMILIES
        trained = ("uni_deberta_default",)
    else:
        data_parallel_fixtures = ("uni_deberta_default",)
        model_parallel_fixtures = ("bi_bert_bert", "uni_modernbert_edge")
        trained = ("bi_bert_bert",)

    data_parallel = keras.distribution.DataParallel(devices=devices)
    for name in data_parallel_fixtures:
        _, report["data_parallel"][name] = compare(name, data_parallel)

    mesh = keras.distribution.DeviceMesh(MESH, ["batch", "model"], devices)
    layout_map = GLiClassClassifier.get_layout_map(mesh)
    model_parallel = keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    for name in model_parallel_fixtures:
        model, result = compare(name, model_parallel, fit=name in trained)
        result["replicated"] = replicated_large_weights(model)
        report["model_parallel"][name] = result

    if DEVICES == 2:
        # Every fixture (every pooler, scorer and head layer): built sharded.
        for name in sorted(os.listdir(FIXTURES)):
            model = load(name, model_parallel)
            report["coverage"][name] = {
                "unmatched": unsharded_weights(model, layout_map, MIN_SHARDED),
                "replicated": replicated_large_weights(model),
                "sharded": sum(not v.value.sharding.is_fully_replicated for v in model.weights),
            }
            keras.distribution.set_distribution(None)
    else:
        # A .keras file saved on one device loads sharded under ModelParallel.
        one = load("uni_deberta_default", None)
        expected, _ = scores(one)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            one.save(path)
            keras.distribution.set_distribution(model_parallel)
            loaded = keras.saving.load_model(path)
            got, _ = scores(loaded)
            report["load_model"] = {
                "scores": float(np.abs(expected - got).max()),
                "replicated": replicated_large_weights(loaded),
                "type": type(loaded).__name__,
            }
            keras.distribution.set_distribution(None)
        # The shipped preset (MiniLM bi-encoder), loaded under ModelParallel.
        expected, _ = scores(GLiClassClassifier.from_preset("default"))
        keras.distribution.set_distribution(model_parallel)
        preset = GLiClassClassifier.from_preset("default")
        got, _ = scores(preset)
        report["from_preset"] = {
            "scores": float(np.abs(expected - got).max()),
            "unmatched": unsharded_weights(preset, layout_map, MIN_SHARDED),
            "replicated": replicated_large_weights(preset),
        }
        keras.distribution.set_distribution(None)

    with open(OUT, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
