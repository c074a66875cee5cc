"""`GLiClassClassifier.export`: ONNX file, SavedModel (serving signature) and LiteRT, with dynamic axes."""

import gc
from unittest import mock

import keras
import numpy as np
import pytest
from onnx_exports import keras_model

NAME = "uni_deberta_default"
BATCHES = [
    (["Our team won the match today.", "hi"], ["sport", "travel", "science"]),
    (["a b c d e f g h i j k l m n o p", "x", "y"], ["a", "b", "c", "d", "e"]),
]
TENSORFLOW = keras.config.backend() == "tensorflow"


def _batches(model):
    for texts, labels in BATCHES:
        arrays = model.preprocessor.collate(model.preprocessor.encode(texts, labels))
        yield arrays, np.asarray(model.predict_on_batch(arrays))


@pytest.mark.skipif(keras.config.backend() != "jax", reason="test_onnx_export covers the other backends' route")
def test_export_onnx_file(tmp_path):
    import onnxruntime

    model = keras_model(NAME)
    path = tmp_path / "model.onnx"
    model.export(path, format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["logits"]
    for arrays, expected in _batches(model):
        np.testing.assert_allclose(session.run(None, arrays)[0], expected, atol=1e-4, rtol=0)


@pytest.mark.skipif(not TENSORFLOW, reason="SavedModel export runs on the tensorflow backend")
def test_export_tf_saved_model_serving_signature(tmp_path):
    import tensorflow as tf

    model = keras_model(NAME)
    model.export(tmp_path / "saved", format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    assert "serving_default" in loaded.signatures
    serving = loaded.signatures["serving_default"]
    for arrays, expected in _batches(model):
        outputs = serving(**{k: tf.constant(v) for k, v in arrays.items()})
        (got,) = outputs.values()
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-4, rtol=0)


@pytest.mark.skipif(not TENSORFLOW, reason="LiteRT export runs on the tensorflow backend")
def test_export_litert_dynamic_shapes(tmp_path):
    import tensorflow as tf

    model = keras_model(NAME)
    path = tmp_path / "model.tflite"
    model.export(path, format="litert", verbose=False)
    interpreter = tf.lite.Interpreter(model_path=str(path))
    details = interpreter.get_input_details()
    names = {d["index"]: next(k for k in sorted(model.input, key=len, reverse=True) if k in d["name"]) for d in details}
    for arrays, expected in _batches(model):
        for d in details:
            interpreter.resize_tensor_input(d["index"], arrays[names[d["index"]]].shape)
        interpreter.allocate_tensors()
        for d in details:
            interpreter.set_tensor(d["index"], arrays[names[d["index"]]])
        interpreter.invoke()
        got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_export_rejects_unknown_formats_and_backends(tmp_path):
    model = keras_model(NAME)
    with pytest.raises(ValueError, match="format"):
        model.export(tmp_path / "x", format="coreml")
    if not TENSORFLOW:
        with pytest.raises(ValueError, match="tensorflow backend"):
            model.export(tmp_path / "x", format="litert")


INT8_TEXTS = ["One day I will see the world and every ocean in it.", "Stocks fell."]
INT8_LABELS = ["sport", "travel", "science", "finance"]
# One fixture per architecture (and the ModernBERT uni-encoder with an MLP scorer).
INT8_FIXTURES = [
    "uni_deberta_default",
    "bi_bert_bert",
    "bifused_deberta_bert",
    "encdec_t5",
    "uni_modernbert_edge",
]


def _logits(model):
    return np.stack(model.predict_logits(INT8_TEXTS, INT8_LABELS))


def _int8_model(name):
    """Fixture `name`, loaded and int8-quantized before it ever ran.

    Keras' `quantize` runs a full `gc.collect()` for every float kernel it
    drops (to free device memory at once), 0.2-0.7 s each in a test process:
    most of a test's time. Here they are skipped; the quantized model is the
    same.
    """
    from onnx_exports import load_reference_model

    model = load_reference_model(name)
    with mock.patch.object(gc, "collect", lambda *args: 0):
        model.quantize("int8")
    return model


def _quantized_values(model):
    """`{path: value}` of the int8 kernels/embeddings and their scales."""
    quantized = {w.path for w in model.weights if "int8" in str(w.dtype)}
    assert quantized, "no weight was quantized"
    layers = {path.rsplit("/", 1)[0] for path in quantized}
    names = ("kernel_scale", "embeddings_scale")
    scales = {f"{layer}/{name}" for layer in layers for name in names}
    return {
        w.path: keras.ops.convert_to_numpy(w) for w in model.weights if w.path in quantized | scales
    }


def _save_and_load(model, path):
    model.save(path)
    return keras.saving.load_model(path)


def test_keras_int8_quantization_of_a_fresh_model():
    reference = _logits(keras_model(NAME))
    model = _int8_model(NAME)  # never called: Keras alone would refuse to quantize it
    kernels = [w for w in model.weights if w.path.endswith("kernel") and "int8" in str(w.dtype)]
    assert kernels, "no kernel was quantized"
    quantized = _logits(model)
    assert not np.array_equal(quantized, reference)
    # Measured on this tiny random model (torch): about 0.03 of the logits' range.
    assert np.max(np.abs(quantized - reference)) <= 0.25 * (reference.max() - reference.min())


@pytest.mark.parametrize("name", INT8_FIXTURES)
def test_int8_model_reloads_from_a_keras_file(name, tmp_path):
    model = _int8_model(name)
    expected = _logits(model)
    saved = _quantized_values(model)
    # The head's quantized layers (projectors, MLP scorer) travel in the
    # config by path; the backbones keep their own (keras-hub's) map.
    head = keras.dtype_policies.deserialize(model.get_config()["dtype"])
    assert {"text_projector/linear_1", "classes_projector/linear_2"} <= set(head)
    assert {head[path].name for path in head} == {"int8_from_float32"}

    loaded = _save_and_load(model, tmp_path / "int8.keras")
    assert type(loaded) is type(model)
    got = _quantized_values(loaded)
    assert sorted(got) == sorted(saved)
    assert any(path.startswith("text_projector/") for path in got)
    for path, value in saved.items():
        assert got[path].dtype == value.dtype, path
        np.testing.assert_array_equal(got[path], value, err_msg=path)
    np.testing.assert_allclose(_logits(loaded), expected, atol=1e-5, rtol=0)


def test_reloaded_int8_model_saves_again(tmp_path):
    """Keras 3.15 cannot save a quantized layer that takes its policy from a
    `DTypePolicyMap`; the model resolves each one to its own policy."""
    model = _int8_model(NAME)
    expected = _logits(model)
    loaded = _save_and_load(model, tmp_path / "once.keras")
    again = _save_and_load(loaded, tmp_path / "twice.keras")
    assert type(again) is type(model)
    assert again.get_config()["dtype"] == model.get_config()["dtype"]
    np.testing.assert_allclose(_logits(again), expected, atol=1e-5, rtol=0)


def test_int8_model_with_lora_reloads_with_its_kernel_scales_and_adapters(tmp_path):
    # (LoRA layers save their own variables: before, an int8 one dropped its
    # kernel_scale, which came back as ones.)
    model = _int8_model(NAME)
    model.enable_lora(2)
    rng = np.random.default_rng(0)
    adapted = [layer for layer in model._flatten_layers() if getattr(layer, "lora_enabled", False)]
    assert {layer.quantization_mode for layer in adapted} == {"int8"}
    for layer in adapted:  # trained adapters: they change the logits
        layer.lora_kernel_b.assign(rng.normal(0, 0.05, layer.lora_kernel_b.shape).astype("float32"))
    expected = _logits(model)
    saved = _quantized_values(model)
    loaded = _save_and_load(model, tmp_path / "int8_lora.keras")
    assert loaded.lora_rank == 2
    got = _quantized_values(loaded)
    assert any(path.endswith("self_attention_layer/query/kernel_scale") for path in got)
    for path, value in saved.items():
        np.testing.assert_array_equal(got[path], value, err_msg=path)
    np.testing.assert_allclose(_logits(loaded), expected, atol=1e-5, rtol=0)


def test_mixed_precision_int8_model_reloads_with_its_policies(tmp_path):
    # Every head layer keeps the policy it was given: bfloat16 compute, and
    # the quantized ones int8 from mixed_bfloat16.
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = _int8_model(NAME)
        expected = _logits(model)
        loaded = _save_and_load(model, tmp_path / "int8_bf16.keras")
    finally:
        keras.config.set_dtype_policy("float32")
    for layer in (loaded.text_projector, loaded.scorer, loaded.classes_projector.linear_1):
        assert layer.compute_dtype == "bfloat16", layer.path
    assert loaded.text_projector.linear_1.dtype_policy.name == "int8_from_mixed_bfloat16"
    assert loaded.text_projector.linear_1._kernel.dtype == "int8"
    np.testing.assert_allclose(_logits(loaded), expected, atol=1e-5, rtol=0)


def test_float_model_config_holds_no_dtype_map():
    # Unquantized models' configs (and so their .keras files) are unchanged.
    assert "dtype" not in keras_model(NAME).get_config()


def test_quantized_config_that_does_not_match_the_model_fails_clearly():
    config = _int8_model(NAME).get_config()
    policies = config["dtype"]["config"]["policy_map"]
    policies["scorer/not_a_layer"] = policies.pop("text_projector/linear_1")
    with pytest.raises(ValueError, match=r"Cannot rebuild this quantized.*scorer/not_a_layer"):
        type(keras_model(NAME)).from_config(config)


def test_int8_model_refuses_onnx_and_litert_export_clearly(tmp_path):
    from gliclass_keras.export.onnx_export import export_onnx

    model = _int8_model(NAME)
    for format in ("onnx", "litert"):
        message = f"Cannot export .* to '{format}': it was quantized by Keras"
        with pytest.raises(ValueError, match=message):
            model.export(tmp_path / "int8_model", format=format)
    with pytest.raises(ValueError, match="quantize='int8'"):
        export_onnx(model, tmp_path / "int8_onnx")
    assert not (tmp_path / "int8_onnx" / "model.onnx").exists()


@pytest.mark.skipif(not TENSORFLOW, reason="SavedModel export runs on the tensorflow backend")
def test_int8_model_exports_tf_saved_model(tmp_path):
    import tensorflow as tf

    model = _int8_model(NAME)
    model.export(tmp_path / "saved", format="tf_saved_model", verbose=False)
    serving = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    for arrays, expected in _batches(model):
        (got,) = serving(**{k: tf.constant(v) for k, v in arrays.items()}).values()
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-5, rtol=0)
