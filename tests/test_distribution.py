"""Data- and model-parallel GLiClass on keras.distribution (JAX, virtual CPU devices).

`distribution_worker.py` runs in two subprocesses (2 devices with a 1x2
batch x model mesh, 4 devices with 2x2), since the device count must be set
before JAX starts. Each compares, in one process and from the same weights,
a one-device model with the same model under `DataParallel` or
`ModelParallel`: scores (`predict_scores`, `classify`), `evaluate` loss,
`predict` logits, and the weights after `fit` on the same global batches
(SGD, dropout off, clipping on). Batches hold 3 records, which the batch
axis does not divide, so the dataset's filler rows are exercised.

The subprocesses run JAX whatever the suite's backend, so they run once, in
the torch job (the shortest of the three).
"""

import json
import os
import subprocess
import sys

import keras
import pytest

from conftest import REFERENCE_MODELS

from gliclass_keras import GLiClassClassifier
from gliclass_keras.models import layout_map as layout_map_lib

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distribution_worker.py")
TOLERANCE = 1e-5
# A real update, so that equal weights after `fit` mean equal updates.
MIN_UPDATE = 1e-2

runs_workers = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="the JAX subprocesses run once, in the torch job",
)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    directory = tmp_path_factory.mktemp("distribution")
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    runs = {}
    for devices, mesh in ((2, "1x2"), (4, "2x2")):
        out = directory / f"{devices}.json"
        log = open(directory / f"{devices}.log", "w")
        process = subprocess.Popen(
            [sys.executable, WORKER, str(devices), mesh, str(out)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        runs[devices] = (process, out, log)
    result = {}
    for devices, (process, out, log) in runs.items():
        code = process.wait(timeout=1200)
        log.close()
        text = (directory / f"{devices}.log").read_text()
        assert code == 0, text[-4000:]
        result[devices] = json.loads(out.read_text())
    return result


def _check_equal_to_one_device(name, result, trained):
    assert result["scores"] <= TOLERANCE, (name, result)
    assert result["same_top_labels"], name
    if trained:
        assert result["loss"] <= TOLERANCE, (name, result)
        assert result["predict"] <= TOLERANCE, (name, result)
        assert result["update"] >= MIN_UPDATE, (name, result)
        assert result["weights"] <= TOLERANCE, (name, result)


@runs_workers
@pytest.mark.parametrize("devices", [2, 4])
def test_data_parallel_equals_one_device(reports, devices):
    report = reports[devices]
    expected = (
        {"uni_deberta_default", "bi_bert_bert", "bifused_deberta_bert", "encdec_t5"}
        if devices == 2
        else {"uni_deberta_default"}
    )
    assert set(report["data_parallel"]) == expected
    for name, result in report["data_parallel"].items():
        _check_equal_to_one_device(name, result, trained=True)


@runs_workers
@pytest.mark.parametrize("devices", [2, 4])
def test_model_parallel_shards_and_equals_one_device(reports, devices):
    report = reports[devices]
    assert len(report["model_parallel"]) == (7 if devices == 2 else 2)
    trained = 0
    for name, result in report["model_parallel"].items():
        assert result["replicated"] == [], name
        _check_equal_to_one_device(name, result, trained="weights" in result)
        trained += "weights" in result
    assert trained == 1


@runs_workers
def test_layout_map_shards_every_large_weight_of_every_fixture(reports):
    coverage = reports[2]["coverage"]
    assert sorted(coverage) == sorted(os.listdir(REFERENCE_MODELS))
    for name, result in coverage.items():
        assert result["unmatched"] == [], name
        assert result["replicated"] == [], name
        assert result["sharded"] >= 17, (name, result)


@runs_workers
def test_keras_file_loads_sharded_under_model_parallel(reports):
    loaded = reports[4]["load_model"]
    assert loaded["type"] == "GLiClassUniEncoderClassifier"
    assert loaded["replicated"] == []
    assert loaded["scores"] <= TOLERANCE


@runs_workers
def test_preset_loads_sharded_under_model_parallel(reports):
    preset = reports[4]["from_preset"]
    assert preset["unmatched"] == [] and preset["replicated"] == [], preset
    assert preset["scores"] <= TOLERANCE, preset


# ------------------------------------------------------- layout map (in-process)
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="keras.distribution is JAX-only")
def test_get_layout_map_checks_its_arguments():
    import jax

    mesh = keras.distribution.DeviceMesh((1, 1), ["batch", "model"], jax.devices()[:1])
    with pytest.raises(TypeError, match="device_mesh"):
        GLiClassClassifier.get_layout_map("mesh")
    with pytest.raises(ValueError, match="model_parallel_dim_name"):
        GLiClassClassifier.get_layout_map(mesh, model_parallel_dim_name="tensor")
    with pytest.raises(ValueError, match="data_parallel_dim_name"):
        GLiClassClassifier.get_layout_map(mesh, data_parallel_dim_name="data")
    with pytest.raises(ValueError, match="different mesh axes"):
        GLiClassClassifier.get_layout_map(mesh, "model", "model")
    layout_map = GLiClassClassifier.get_layout_map(mesh, data_parallel_dim_name=None)
    layout = layout_map["disentangled_attention_encoder_layer_3/self_attention_layer/query/kernel"]
    assert tuple(layout.axes) == (None, "model", None)
    layout = layout_map["label_backbone/transformer_layer_0/feedforward_output_dense/kernel"]
    assert tuple(layout.axes) == ("model", None)
    # Norms, biases and activations stay replicated.
    assert layout_map["transformer_layer_0/feedforward_layer_norm/gamma"] is None
    assert layout_map["transformer_layer_0/feedforward_output_dense/bias"] is None
    assert layout_map["transformer_layer_0/feedforward_output_dense/output"] is None


def test_layout_rules_are_disjoint():
    """A path matching two rules makes LayoutMap raise: no two rules may overlap."""
    import re

    paths = [
        "transformer_layer_0/self_attention_layer/attention_output/kernel",
        "disentangled_attention_encoder_layer_0/self_attention_layer/attention_output/kernel",
        "transformer_encoder_layer_0/self_attention/output_projector/kernel",
        "transformer_decoder_layer_1/output_projector/kernel",
        "label_backbone/transformer_layer_2/feedforward_intermediate_dense/kernel",
        "transformer_layer_1/mlp_output_dense/kernel",
        "scorer/mlp_2/kernel",
        "scorer/out_mlp_0/kernel",
        "text_lstm/forward_lstm/lstm_cell/recurrent_kernel",
    ]
    for path in paths:
        matches = [p for p, _ in layout_map_lib.RULES if re.fullmatch(layout_map_lib._ANY + p, path)]
        assert len(matches) == 1, (path, matches)
