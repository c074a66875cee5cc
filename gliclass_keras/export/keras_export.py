"""`GLiClassClassifier.export`: Keras' `model.export` formats with GLiClass's input signature.

Keras cannot infer the signature of a GLiClass model that was built but
never called, and its ONNX path on JAX names every `None` axis apart, so
tensors that share the sequence axis no longer broadcast. This module
fills in the model's dict signature (every axis but the static ones
dynamic) and routes `format="onnx"` to `onnx_export.export_model_graph`,
which keeps the batch, sequence and label axes symbolic on every backend.
"""

import keras

from gliclass_keras.export import quantized_models

FORMATS = ("onnx", "tf_saved_model", "litert")


def input_signature(model):
    """`[{name: keras.InputSpec}]`: the model's inputs with their dynamic axes."""
    return [
        {
            name: keras.InputSpec(shape=tensor.shape, dtype=tensor.dtype, name=name)
            for name, tensor in model.input.items()
        }
    ]


def export(model, filepath, format="tf_saved_model", verbose=None, input_signature_=None, **kwargs):
    """Export `model` to `filepath` (see `GLiClassClassifier.export`)."""
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}. Received: {format!r}")
    quantized_models.check_exportable(model, format)
    if format == "onnx":
        from gliclass_keras.export import onnx_export

        unknown = sorted(set(kwargs) - {"opset_version", "verify"})
        if unknown or input_signature_ is not None:
            raise TypeError(
                "ONNX export of a GLiClass model takes `opset_version` and `verify` only; "
                f"received {unknown + (['input_signature'] if input_signature_ is not None else [])}"
            )
        onnx_export.export_model_graph(
            model, filepath, opset=kwargs.get("opset_version"), verify=kwargs.get("verify", True)
        )
        if verbose is not False:
            print(f"Saved artifact at '{filepath}'.")
        return
    if format in ("tf_saved_model", "litert") and keras.config.backend() != "tensorflow":
        raise ValueError(
            f"`format={format!r}` export of GLiClass models is tested on the tensorflow backend; "
            f"this model runs on {keras.config.backend()!r}. Save it (`model.save`) and export it "
            "under KERAS_BACKEND=tensorflow, or use `format='onnx'`."
        )
    signature = input_signature_ if input_signature_ is not None else input_signature(model)
    keras.Model.export(
        model, filepath, format=format, verbose=verbose, input_signature=signature, **kwargs
    )
