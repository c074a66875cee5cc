"""`GLiClassClassifier.export`: ONNX file, SavedModel (serving signature) and LiteRT, with dynamic axes."""

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


def test_keras_int8_quantization_of_a_fresh_model():
    from onnx_exports import load_reference_model

    texts = ["One day I will see the world and every ocean in it.", "Stocks fell."]
    labels = ["sport", "travel", "science", "finance"]
    reference = np.stack(keras_model(NAME).predict_logits(texts, labels))
    model = load_reference_model(NAME)  # never called: Keras alone would refuse to quantize it
    model.quantize("int8")
    kernels = [w for w in model.weights if w.path.endswith("kernel") and "int8" in str(w.dtype)]
    assert kernels, "no kernel was quantized"
    quantized = np.stack(model.predict_logits(texts, labels))
    assert not np.array_equal(quantized, reference)
    # Measured on this tiny random model (torch): about 0.03 of the logits' range.
    assert np.max(np.abs(quantized - reference)) <= 0.25 * (reference.max() - reference.min())
