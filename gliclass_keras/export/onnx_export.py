"""Export a GLiClass model to an ONNX directory that runs without any deep-learning framework.

`export_onnx(model, directory)` writes what `gliclass_keras.OnnxClassifier`
needs to classify with `onnxruntime`, `tokenizers` and `numpy` only:

* `model.onnx`: the whole model, inputs named as the Keras model's input
  dict (int32, the arrays its preprocessor's `collate` makes), one float32
  output `logits` `(batch, num_labels)`. The batch, sequence and label axes
  are symbolic, so one file serves inputs of any shape.
* bi-encoders also get their towers, so label vectors can be computed once
  and cached (`OnnxClassifier.encode_labels`): `text_encoder.onnx`
  (`token_ids`, `padding_mask` -> `text`), `label_encoder.onnx`
  (`label_token_ids`, `label_padding_mask`, `label_mask` -> `classes`) and
  `scorer.onnx` (`text`, `classes`, `label_mask` -> `logits`).
* `tokenizer.json` (and `label_tokenizer.json` for two-tokenizer models) and
  `gliclass_export.json`: the architecture, the preprocessor's settings,
  the calibration, the graphs and their inputs.

The graphs are traced by JAX (`jax2onnx`), which keeps `None` dimensions
symbolic. A model on the torch or TensorFlow backend is saved to a temporary
`.keras` file and exported by a JAX subprocess, so `export_onnx` works from
every backend. Every graph is checked against the Keras model on probe
inputs of two shapes before the function returns.
"""

import json
import logging
import os
import subprocess
import sys
import tempfile

import numpy as np

from gliclass_keras.export import quantized_models

EXPORT_CONFIG = "gliclass_export.json"
FORMAT_VERSION = 1
# Symbolic axis names of each graph input (None: the Keras input's static size).
INPUT_AXES = {
    "token_ids": ("batch", "sequence"),
    "padding_mask": ("batch", "sequence"),
    "label_mask": ("batch", "labels"),
    "label_token_ids": ("batch", "labels", "label_length"),
    "label_padding_mask": ("batch", "labels", "label_length"),
    "class_token_ids": ("batch", "class_length"),
    "class_padding_mask": ("batch", "class_length"),
    "text": ("batch", None),
    "classes": ("batch", "labels", None),
}
# Bi-encoder towers: `_vector_models()` key -> (graph name, output name).
TOWERS = {
    "text": ("text_encoder", "text"),
    "label": ("label_encoder", "classes"),
    "score": ("scorer", "logits"),
}
# Largest |onnx - keras| accepted on the probe inputs (float32 logits).
EXPORT_TOLERANCE = 1e-4


def export_onnx(model, directory, quantize=None, opset=None, verify=True):
    """Write `model` as an ONNX export directory (see the module docstring).

    Args:
        model: a `GLiClassClassifier` with a preprocessor.
        directory: str or path, created if needed; existing export files in
            it are replaced.
        quantize: `None` or `"int8"`: also quantize every graph's weights to
            int8 with onnxruntime's dynamic quantization (the float graphs
            are not kept).
        opset: ONNX opset; defaults to jax2onnx's.
        verify: compare each float graph with the Keras model on probe
            inputs of two shapes and raise if they differ by more than
            `EXPORT_TOLERANCE`.

    Returns:
        The directory, as a str.

    Example:

    ```python
    model = gliclass_keras.GLiClassClassifier.from_preset("default")
    gliclass_keras.export.export_onnx(model, "default_onnx")
    gliclass_keras.OnnxClassifier("default_onnx").classify(["Our team won."], ["sport", "travel"])
    ```
    """
    import keras

    if model.preprocessor is None:
        raise ValueError("`model` has no preprocessor; an export needs its tokenizer and settings.")
    if quantize not in (None, "int8"):
        raise ValueError(f"`quantize` must be None or 'int8'. Received: {quantize!r}")
    quantized_models.check_exportable(model, "onnx")
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    if keras.config.backend() == "jax":
        _export_graphs(model, directory, opset, verify)
    else:
        _export_graphs_in_jax(model, directory, opset, verify)
    _write_preprocessing(model, directory)
    if quantize == "int8":
        quantize_int8(directory)
    return directory


def graph_names(model):
    """`{role: file name}` of the graphs `export_onnx` writes for `model`."""
    names = {"model": "model.onnx"}
    if hasattr(model, "_vector_models"):
        names.update({name: f"{name}.onnx" for name, _ in TOWERS.values()})
    return names


# ------------------------------------------------------------------ graphs
def _export_graphs(model, directory, opset, verify):
    """Trace every graph of `model` (JAX backend) into `directory`."""
    graphs = {"model": (model, "logits")}
    if hasattr(model, "_vector_models"):
        towers = model._vector_models()
        for role, (name, output) in TOWERS.items():
            graphs[name] = (towers[role], output)
    for name, (graph_model, output) in graphs.items():
        path = os.path.join(directory, f"{name}.onnx")
        export_graph(graph_model, path, output_name=output, opset=opset)
        if verify:
            check_graph(graph_model, path)


def export_graph(model, path, output_name="logits", opset=None):
    """Trace a Keras functional `model` (dict inputs, one output) to ONNX with symbolic axes."""
    import jax
    import jax2onnx

    names = list(model.input)
    specs = []
    for name in names:
        keras_shape = tuple(model.input[name].shape)
        axes = INPUT_AXES.get(name, (None,) * len(keras_shape))
        shape = tuple(
            axis if size is None else size for axis, size in zip(axes, keras_shape)
        )
        if any(size is None for size in shape):
            raise ValueError(f"Input {name!r} of shape {keras_shape} has no symbolic axis names.")
        specs.append(jax.ShapeDtypeStruct(shape, np.dtype(model.input[name].dtype)))

    def forward(*arrays):
        return model(dict(zip(names, arrays)), training=False)

    kwargs = {} if opset is None else {"opset": opset}
    # onnx_ir warns about every shape constant it leaves untyped.
    logging.getLogger("onnx_ir.serde").setLevel(logging.ERROR)
    jax2onnx.to_onnx(
        forward,
        inputs=specs,
        input_names=names,
        output_names=[output_name],
        model_name=os.path.splitext(os.path.basename(path))[0],
        return_mode="file",
        output_path=os.fspath(path),
        **kwargs,
    )


def probe_inputs(model, seed=0):
    """Two random input dicts of different shapes for a graph of `model`'s inputs."""
    rng = np.random.default_rng(seed)
    batches = []
    for sizes in ({"batch": 2, "sequence": 7, "labels": 3, "label_length": 4, "class_length": 5},
                  {"batch": 3, "sequence": 12, "labels": 5, "label_length": 2, "class_length": 9}):
        arrays = {}
        for name, tensor in model.input.items():
            axes = INPUT_AXES.get(name, (None,) * len(tensor.shape))
            shape = tuple(
                sizes[axis] if size is None else size for axis, size in zip(axes, tensor.shape)
            )
            if "mask" in name:
                arrays[name] = np.ones(shape, dtype="int32")
                if name == "label_mask" and shape[-1] > 1:
                    arrays[name][0, -1] = 0
            elif str(tensor.dtype).startswith("int"):
                arrays[name] = rng.integers(4, 50, shape).astype("int32")
            else:
                arrays[name] = rng.normal(size=shape).astype("float32")
        batches.append(arrays)
    return batches


def check_graph(model, path, tolerance=EXPORT_TOLERANCE):
    """Raise if the ONNX graph at `path` and `model` disagree on `probe_inputs`."""
    import onnxruntime

    session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    for arrays in probe_inputs(model):
        expected = np.asarray(model.predict_on_batch(arrays), dtype="float32")
        got = session.run(None, arrays)[0]
        if got.shape != expected.shape:
            raise RuntimeError(
                f"The ONNX graph {path} does not reproduce the Keras model: output shape "
                f"{got.shape}, expected {expected.shape}."
            )
        # Probe inputs are random, so outputs can be far larger than real
        # logits: the tolerance is relative beyond |1|.
        bound = tolerance * max(1.0, float(np.max(np.abs(expected))))
        error = float(np.max(np.abs(got - expected)))
        if not error <= bound:
            raise RuntimeError(
                f"The ONNX graph {path} does not reproduce the Keras model: max |difference| "
                f"{error:.3g} (tolerance {bound:.3g} = {tolerance} x max(1, largest |output|))."
            )


def _export_graphs_in_jax(model, directory, opset, verify, graph_only=False):
    """Export from torch/tensorflow: a `.keras` copy traced by a JAX subprocess.

    Writes every graph into `directory`, or, with `graph_only`, the model's
    graph alone to the file `directory`.
    """
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "model.keras")
        model.save(path)
        command = [sys.executable, "-m", "gliclass_keras.export.onnx_export", path, directory]
        if graph_only:
            command.append("--graph-only")
        if opset is not None:
            command += ["--opset", str(opset)]
        if not verify:
            command.append("--no-verify")
        env = dict(os.environ, KERAS_BACKEND="jax")
        result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            "ONNX export through the JAX backend failed:\n" + result.stderr[-4000:]
        )


def export_model_graph(model, path, opset=None, verify=True):
    """Write the model's own graph (inputs in, `logits` out) to the file `path`.

    What `model.export(path, format="onnx")` does: one `.onnx` file with
    symbolic batch, sequence and label axes, from any backend.
    """
    import keras

    path = os.fspath(path)
    if keras.config.backend() != "jax":
        _export_graphs_in_jax(model, path, opset, verify, graph_only=True)
        return
    export_graph(model, path, opset=opset)
    if verify:
        check_graph(model, path)


# ----------------------------------------------------------- preprocessing
def _write_preprocessing(model, directory):
    """The tokenizer file(s) and `gliclass_export.json`."""
    preprocessor = model.preprocessor
    tokenizers = {}
    for name in preprocessor.tokenizer_args:
        tokenizer = getattr(preprocessor, name)
        if tokenizer is None:
            continue
        file_name = f"{name}.json"
        with open(os.path.join(directory, file_name), "w", encoding="utf-8") as f:
            f.write(tokenizer.tokenizer_json)
        tokenizers[name] = file_name
    graphs = graph_names(model)
    config = {
        "format_version": FORMAT_VERSION,
        "architecture_type": model.config.architecture_type,
        "preprocessor": {
            "class_name": type(preprocessor).__name__,
            "config": {name: getattr(preprocessor, name) for name in preprocessor.config_args},
        },
        "tokenizers": tokenizers,
        "calibration": model.calibration,
        "graphs": graphs,
        "inputs": list(model.input),
        "quantization": None,
    }
    with open(os.path.join(directory, EXPORT_CONFIG), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)


# ------------------------------------------------------------ quantization
def quantize_int8(directory, attention=True, per_channel=True):
    """Quantize every graph of an export directory to int8 weights, in place.

    onnxruntime's dynamic quantization: MatMul/Gemm weights become int8
    (activations are quantized on the fly); gathers (embeddings) and
    everything else stay float32.

    Args:
        directory: an export directory (`export_onnx`).
        attention: also quantize the attention projections (Keras
            `EinsumDense` kernels, exported as `Einsum`, which onnxruntime
            does not quantize: they are rewritten as `MatMul` first). Faster;
            False keeps them float32 and quantizes the feed-forward layers only.
        per_channel: one scale per output column (default) instead of one
            per matrix: measured on the default preset, 90% of top labels kept
            against 84% per matrix, for 7% less speed.
    """
    import onnx
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic

    path = os.path.join(directory, EXPORT_CONFIG)
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    for file_name in config["graphs"].values():
        graph = os.path.join(directory, file_name)
        quantized = graph + ".int8"
        model_input = graph
        if attention:
            # onnxruntime quantizes MatMul, not Einsum: the attention projections
            # (Keras EinsumDense) become MatMuls first, so they are quantized too.
            model_input = onnx.load(graph)
            einsums_as_matmuls(model_input.graph)
        quantize_dynamic(
            model_input,
            quantized,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm"],
            per_channel=per_channel,
        )
        os.replace(quantized, graph)
        # jax2onnx stores large float weights next to the graph; the
        # quantized graph holds its own.
        if os.path.exists(graph + ".data"):
            os.remove(graph + ".data")
    config["quantization"] = "int8"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)


def _einsum_as_matmul(equation, weight_shape):
    """How to run `einsum(equation, x, w)` as `MatMul`, or None when it cannot be.

    Returns `(x_merged, w_matrix_shape, out_free)`: `x` must end with the
    contracted axes and `w` start with them, the output being `x`'s other
    axes then `w`'s (the layout of Keras `Dense`/`EinsumDense` kernels).
    `x_merged`: how many trailing axes of `x` are merged into one;
    `out_free`: the sizes the output's last axis is split back into.
    """
    inputs, _, output = equation.replace(" ", "").partition("->")
    terms = inputs.split(",")
    if len(terms) != 2 or "." in equation:
        return None
    x, w = terms
    contracted = [letter for letter in w if letter in x and letter not in output]
    n = len(contracted)
    if (
        n == 0
        or len(w) != len(weight_shape)
        or x[len(x) - n:] != "".join(contracted)
        or w[:n] != "".join(contracted)
        or output != x[: len(x) - n] + w[n:]
        or len(set(x + w)) != len(x) + len(w) - n
    ):
        return None
    rows = int(np.prod(weight_shape[:n]))
    free = [int(size) for size in weight_shape[n:]]
    return n, (rows, int(np.prod(free))), free


def einsums_as_matmuls(graph):
    """Rewrite `Einsum(x, constant)` nodes of an ONNX graph as `MatMul` (+ `Reshape`).

    Same values (the same dot products); `MatMul` is what onnxruntime's
    dynamic quantization knows. Returns how many nodes were rewritten.
    """
    from onnx import helper
    from onnx import numpy_helper

    initializers = {init.name: init for init in graph.initializer}
    nodes = []
    rewritten = 0
    for node in graph.node:
        equation = next((a.s.decode() for a in node.attribute if a.name == "equation"), None)
        weight = initializers.get(node.input[1]) if node.op_type == "Einsum" and len(node.input) == 2 else None
        plan = None if weight is None else _einsum_as_matmul(equation, list(weight.dims))
        if plan is None:
            nodes.append(node)
            continue
        merged, matrix_shape, free = plan
        name = node.name or node.output[0]
        x = node.input[0]
        matrix = numpy_helper.from_array(
            numpy_helper.to_array(weight).reshape(matrix_shape), name=f"{name}_matrix"
        )
        graph.initializer.append(matrix)
        kept = len(equation.split(",")[0]) - merged
        if merged > 1:
            shape = numpy_helper.from_array(np.array([0] * kept + [-1], np.int64), f"{name}_x_shape")
            graph.initializer.append(shape)
            nodes.append(helper.make_node("Reshape", [x, shape.name], [f"{name}_x"], name=f"{name}_x"))
            x = f"{name}_x"
        if len(free) == 1:
            nodes.append(helper.make_node("MatMul", [x, matrix.name], [node.output[0]], name=name))
        else:
            shape = numpy_helper.from_array(np.array([0] * kept + free, np.int64), f"{name}_y_shape")
            graph.initializer.append(shape)
            nodes.append(helper.make_node("MatMul", [x, matrix.name], [f"{name}_y"], name=f"{name}_mm"))
            nodes.append(helper.make_node("Reshape", [f"{name}_y", shape.name], [node.output[0]], name=name))
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return rewritten


def _main(argv=None):
    """`python -m gliclass_keras.export.onnx_export MODEL.keras DIRECTORY` (JAX backend)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("directory")
    parser.add_argument("--opset", type=int)
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--graph-only", action="store_true", help="write the model graph to DIRECTORY as a file")
    args = parser.parse_args(argv)
    import keras

    import gliclass_keras  # noqa: F401  (registers the classes)

    model = keras.saving.load_model(args.model)
    if args.graph_only:
        export_model_graph(model, args.directory, opset=args.opset, verify=not args.no_verify)
        return
    os.makedirs(args.directory, exist_ok=True)
    _export_graphs(model, args.directory, args.opset, not args.no_verify)


if __name__ == "__main__":
    _main()
