"""Test export directories for `OnnxClassifier`, written from Keras models.

`write_export(model, directory)` writes the export format that
`gliclass_keras.export.onnx_classifier` reads (see its module docstring)
from a Keras model, tracing it with `jax2onnx` (JAX backend only). It
stands in for the real exporter: once `gliclass_keras.export.onnx_export.
export_onnx(model, directory)` exists, `write_export` should simply call it.

`cached_export(name, root, **kwargs)` exports a reference fixture once per
`root` (a pytest tmp dir): in this process on jax, else in a subprocess
running `python tests/onnx_exports.py NAME OUT` with `KERAS_BACKEND=jax`, so
the ONNX tests run whatever backend the suite uses.
"""

import hashlib
import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).parent
REFERENCE_MODELS = HERE / "fixtures" / "reference"

# Symbolic ONNX axes: batch, sequence, labels, label length.
_AXES = {
    "token_ids": ("B", "L"),
    "padding_mask": ("B", "L"),
    "label_mask": ("B", "N"),
    "label_token_ids": ("B", "N", "M"),
    "label_padding_mask": ("B", "N", "M"),
    "class_token_ids": ("B", "C"),
    "class_padding_mask": ("B", "C"),
}


def _to_onnx(call, specs, path):
    """Write `call(*arrays)` traced with `jax2onnx` for `specs` (`{name: (shape, dtype)}`)."""
    import jax
    import jax2onnx

    names = list(specs)
    jax2onnx.to_onnx(
        call,
        inputs=[jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in specs.values()],
        input_names=names,
        return_mode="file",
        output_path=str(path),
    )


def _export_model(keras_model, names, specs, path):
    def call(*arrays):
        return keras_model(dict(zip(names, arrays)), training=False)

    _to_onnx(call, specs, path)


def write_export(model, directory):
    """Write `model`'s export directory (see the module docstring). JAX backend only."""
    import keras
    import numpy as np

    if keras.backend.backend() != "jax":
        raise RuntimeError("write_export traces with jax2onnx: run it with KERAS_BACKEND=jax.")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    preprocessor = model.preprocessor
    names = list(model.input.keys()) if isinstance(model.input, dict) else list(model.input_names)
    specs = {name: (_AXES[name], np.int32) for name in names}
    _export_model(model, names, specs, directory / "model.onnx")
    graphs = {"model": "model.onnx"}
    if model.config.architecture_type == "bi-encoder":
        vector_models = model._vector_models()
        hidden = int(model._vector_tensors["classes"].shape[-1])
        towers = {
            "text_encoder": (
                vector_models["text"],
                {name: (("B", "L"), np.int32) for name in ("token_ids", "padding_mask")},
            ),
            "label_encoder": (
                vector_models["label"],
                {
                    "label_token_ids": ((1, "N", "M"), np.int32),
                    "label_padding_mask": ((1, "N", "M"), np.int32),
                    "label_mask": ((1, "N"), np.int32),
                },
            ),
            "scorer": (
                vector_models["score"],
                {
                    "text": (("B", hidden), np.float32),
                    "classes": (("B", "N", hidden), np.float32),
                    "label_mask": (("B", "N"), np.int32),
                },
            ),
        }
        for graph, (sub_model, sub_specs) in towers.items():
            _export_model(sub_model, list(sub_specs), sub_specs, directory / f"{graph}.onnx")
            graphs[graph] = f"{graph}.onnx"
    tokenizers = {}
    for arg in preprocessor.tokenizer_args:
        file = "tokenizer.json" if arg == "tokenizer" else f"{arg}.json"
        (directory / file).write_text(getattr(preprocessor, arg).tokenizer_json, encoding="utf-8")
        tokenizers[arg] = file
    config = {
        "format_version": 1,
        "architecture_type": model.config.architecture_type,
        "preprocessor": {
            "class_name": type(preprocessor).__name__,
            "config": {name: getattr(preprocessor, name) for name in preprocessor.config_args},
        },
        "tokenizers": tokenizers,
        "calibration": model.calibration,
        "graphs": graphs,
        "inputs": names,
        "quantization": None,
    }
    (directory / "gliclass_export.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return directory


def load_reference_model(name, calibration=None, **preprocessor_kwargs):
    """A reference fixture as a Keras model (with `calibration` set, if given)."""
    from gliclass_keras.models.gliclass_classifier import GLiClassClassifier

    model = GLiClassClassifier.from_pretrained(REFERENCE_MODELS / name, **preprocessor_kwargs)
    model.calibration = calibration
    return model


def cached_export(name, root, calibration=None, **preprocessor_kwargs):
    """The export directory of reference fixture `name` under `root`, written once."""
    import keras

    key = json.dumps([name, calibration, preprocessor_kwargs], sort_keys=True)
    out = pathlib.Path(root) / f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    if (out / "gliclass_export.json").exists():
        return out
    if keras.backend.backend() == "jax":
        write_export(load_reference_model(name, calibration, **preprocessor_kwargs), out)
        return out
    repo = str(HERE.parent)
    path = os.pathsep.join([repo] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=path)
    subprocess.run(
        [sys.executable, str(pathlib.Path(__file__)), name, str(out), key],
        check=True,
        env=env,
        cwd=repo,
    )
    return out


if __name__ == "__main__":
    _, fixture, target, spec = sys.argv
    _, calibration_arg, kwargs = json.loads(spec)
    write_export(load_reference_model(fixture, calibration_arg, **kwargs), target)
