"""Which exports a model quantized by Keras (`model.quantize(...)`) can go to.

Keras' quantized layers compute with integer tensors (an int8 kernel times
int8-quantized inputs, then rescaled). A TensorFlow SavedModel runs them as
they are, but the other formats cannot: traced to ONNX, an int8 model's
int8 `Einsum` nodes have no onnxruntime CPU kernel (the graph does not
load), and the LiteRT converter rejects the int8 operands of its
`fully_connected` ops (measured with Keras 3.15.1, jax2onnx 0.17.1,
onnxruntime 1.32, TensorFlow 2.21). Those exports fail here first, saying
what to do instead, rather than deep inside the converter or the runtime.
(Imports no framework.)
"""

# Export formats that cannot run a Keras-quantized model:
# (what fails on its integer ops, what to do instead).
UNSUPPORTED = {
    "onnx": (
        "onnxruntime has no CPU kernel for",
        "export the float model with `export_onnx(model, directory, quantize='int8')` "
        "(`gliclass-keras export --quantize int8`) for onnxruntime's own int8 quantization",
    ),
    "litert": (
        "the LiteRT converter rejects",
        "export the float model (LiteRT's converter quantizes with "
        "`tf.lite.Optimize.DEFAULT`), or use `format='tf_saved_model'`, which runs the "
        "quantized model",
    ),
}


def quantized_layers(model):
    """`model`'s layers that Keras quantized (`layer.quantization_mode` is set)."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False)
        if getattr(layer, "quantization_mode", None) is not None
    ]


def check_exportable(model, format):
    """Raise a `ValueError` if `model` is Keras-quantized and `format` cannot run it.

    Args:
        model: a `GLiClassClassifier`.
        format: `"onnx"` (a file or an `export_onnx` directory),
            `"litert"` or `"tf_saved_model"`.
    """
    if format not in UNSUPPORTED:
        return
    layers = quantized_layers(model)
    if not layers:
        return
    modes = "/".join(sorted({layer.quantization_mode for layer in layers}))
    failure, instead = UNSUPPORTED[format]
    raise ValueError(
        f"Cannot export this {type(model).__name__} to {format!r}: it was quantized by Keras "
        f"({modes}: {len(layers)} layers, e.g. {layers[0].path!r}), and {failure} the "
        f"integer ops its quantized layers compute with. Instead, {instead}."
    )
