"""ONNX export directories of the reference fixtures, made once per test session.

`exported(name)` exports `tests/fixtures/reference/<name>` with
`gliclass_keras.export.onnx_export.export_onnx` into a temporary directory
shared by every test module (the export traces with JAX; on the torch and
TensorFlow backends `export_onnx` itself hands the model to a JAX
subprocess).
"""

import atexit
import hashlib
import json
import pathlib
import shutil
import tempfile

import gliclass_keras

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "reference"
_ROOT = None
_MODELS = {}


def keras_model(name):
    """The Keras model of fixture `name` (cached)."""
    if name not in _MODELS:
        _MODELS[name] = gliclass_keras.GLiClassClassifier.from_pretrained(FIXTURES / name)
    return _MODELS[name]


def exported(name, quantize=None):
    """The export directory of fixture `name` (made on first use)."""
    global _ROOT
    from gliclass_keras.export.onnx_export import export_onnx
    from gliclass_keras.export.onnx_export import quantize_int8

    if _ROOT is None:
        _ROOT = pathlib.Path(tempfile.mkdtemp(prefix="gliclass_onnx_"))
        atexit.register(shutil.rmtree, _ROOT, True)
    directory = _ROOT / (name + ("" if quantize is None else f"_{quantize}"))
    if (directory / "gliclass_export.json").exists():
        return directory
    if quantize is None:
        # The tests compare the graphs with the model on real inputs themselves.
        export_onnx(keras_model(name), directory, verify=False)
    else:
        shutil.copytree(exported(name), directory)
        quantize_int8(directory)
    return directory


def load_reference_model(name, calibration=None, **preprocessor_kwargs):
    """A reference fixture as a new Keras model (with `calibration` set, if given)."""
    model = gliclass_keras.GLiClassClassifier.from_pretrained(FIXTURES / name, **preprocessor_kwargs)
    model.calibration = calibration
    return model


def cached_export(name, root, calibration=None, **preprocessor_kwargs):
    """`exported(name)` with another calibration or preprocessor settings, under `root`.

    The graphs do not depend on either (every axis is symbolic), so the
    session's export is copied and its `gliclass_export.json` rewritten as
    `export_onnx` would write it for `load_reference_model(name,
    calibration, **preprocessor_kwargs)`.
    """
    key = json.dumps([name, calibration, preprocessor_kwargs], sort_keys=True)
    out = pathlib.Path(root) / f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    if (out / "gliclass_export.json").exists():
        return out
    shutil.copytree(exported(name), out)
    config = json.loads((out / "gliclass_export.json").read_text())
    config["calibration"] = calibration
    config["preprocessor"]["config"].update(preprocessor_kwargs)
    (out / "gliclass_export.json").write_text(json.dumps(config, indent=2))
    return out
