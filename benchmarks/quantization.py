"""
Title: int8 quantization of a GLiClass model: size, speed and quality
Author: gliclass-keras contributors
Date created: 2026/11/30
Last modified: 2026/11/30
Description: The default preset in float32 and int8, as a Keras model
    (`model.quantize("int8")`) and as an ONNX export (onnxruntime dynamic
    quantization), on the built-in evaluation sets.
Accelerator: whatever the Keras backend and onnxruntime see (CPU here)

For each of four variants (Keras float32, Keras int8, ONNX float32, ONNX
int8) it reports the weights' size, texts/s of zero-shot scoring on the
evaluation sets, the share of texts whose top label equals the float32
model's (Keras int8 against Keras float32, ONNX against Keras float32), and
macro-F1 on each built-in set (`python -m gliclass_keras.evaluate`'s
protocol and sets, `--limit` texts each, seeded sample).

```shell
KERAS_BACKEND=torch python -m benchmarks.quantization --limit 1000
```
"""

import argparse
import os
import shutil
import tempfile
import time

import numpy as np


def keras_weight_bytes(model):
    return int(sum(np.asarray(v.numpy()).nbytes for v in model.weights))


def onnx_bytes(directory):
    import json

    with open(os.path.join(directory, "gliclass_export.json")) as f:
        graphs = json.load(f)["graphs"].values()
    # The bi-encoder's full graph repeats its towers' weights: count what a
    # deployment of OnnxClassifier loads (the towers when present).
    files = [g for g in graphs if g != "model.onnx"] or ["model.onnx"]
    # jax2onnx keeps large weights in `<graph>.data` next to the graph.
    paths = [os.path.join(directory, g) for g in files]
    return sum(os.path.getsize(p) + (os.path.getsize(p + ".data") if os.path.exists(p + ".data") else 0)
               for p in paths)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("For each")[0].strip())
    parser.add_argument("--model", default="default", help="preset, checkpoint or .keras file")
    parser.add_argument("--limit", type=int, default=1000, help="texts per evaluation set")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--keep", default=None, help="keep the ONNX exports in this directory")
    parser.add_argument(
        "--variants", default="keras-float32,keras-int8,onnx-float32,onnx-int8",
        help="comma-separated subset (keras-int8 is slow on CPU: Keras dequantizes on the fly)",
    )
    args = parser.parse_args(argv)

    import keras
    import onnxruntime

    import gliclass_keras
    from gliclass_keras.evaluate.evaluation_sets import installed_builtin_sets
    from gliclass_keras.evaluate.evaluation_sets import load_evaluation_set
    from gliclass_keras.evaluate.zero_shot import score_matrix
    from gliclass_keras.evaluate.zero_shot import top_label_metrics
    from gliclass_keras.export.onnx_export import export_onnx
    from gliclass_keras.export.onnx_export import quantize_int8

    sets = [load_evaluation_set(name).sample(args.limit, seed=0) for name in installed_builtin_sets()]
    model = gliclass_keras.GLiClassClassifier.from_preset(args.model)
    root = args.keep or tempfile.mkdtemp(prefix="gliclass_quant_")
    float_dir, int8_dir = os.path.join(root, "float32"), os.path.join(root, "int8")
    if not os.path.isfile(os.path.join(float_dir, "gliclass_export.json")):
        export_onnx(model, float_dir)
    if not os.path.isfile(os.path.join(int8_dir, "gliclass_export.json")):
        shutil.copytree(float_dir, int8_dir, dirs_exist_ok=True)
        quantize_int8(int8_dir)

    wanted = {v.strip() for v in args.variants.split(",")} | {"keras-float32"}
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    variants = {"Keras float32": (model, keras_weight_bytes(model))}
    if "keras-int8" in wanted:
        quantized = gliclass_keras.GLiClassClassifier.from_preset(args.model)
        quantized.quantize("int8")
        variants["Keras int8"] = (quantized, keras_weight_bytes(quantized))
    for name, directory in (("float32", float_dir), ("int8", int8_dir)):
        if f"onnx-{name}" in wanted:
            onnx_model = gliclass_keras.OnnxClassifier(directory, session_options=options)
            variants[f"ONNX {name}"] = (onnx_model, onnx_bytes(directory))
    results, tops = {}, {}
    for name, (classifier, size) in variants.items():
        per_set, seconds, texts = {}, 0.0, 0
        for evaluation_set in sets:
            score_matrix(classifier, evaluation_set.texts[:64], evaluation_set.labels, args.batch_size)
            start = time.perf_counter()
            scores = score_matrix(classifier, evaluation_set.texts, evaluation_set.labels, args.batch_size)
            seconds += time.perf_counter() - start
            texts += len(evaluation_set.texts)
            per_set[evaluation_set.name] = top_label_metrics(scores, evaluation_set)["macro_f1"]
            tops[(name, evaluation_set.name)] = np.asarray(scores).argmax(axis=1)
        results[name] = dict(size=size, texts_per_s=texts / seconds, f1=per_set)
        print(f"{name}: done ({texts / seconds:.1f} texts/s)", flush=True)

    reference = "Keras float32"
    names = [s.name for s in sets]
    print(f"\nModel {args.model!r}, backend {keras.config.backend()}, {args.limit} texts per set, "
          f"batch {args.batch_size}, onnxruntime {onnxruntime.__version__} ({args.threads} threads)\n")
    print("| variant | weights (MB) | texts/s | top label = float32's | "
          + " | ".join(f"macro-F1 {n}" for n in names) + " | mean macro-F1 change |")
    print("|---|---:|---:|---:|" + "---:|" * len(names) + "---:|")
    for name, res in results.items():
        agree = np.mean(np.concatenate([tops[(name, n)] == tops[(reference, n)] for n in names]))
        change = np.mean([res["f1"][n] - results[reference]["f1"][n] for n in names])
        print(f"| {name} | {res['size'] / 1e6:.1f} | {res['texts_per_s']:.1f} | {agree:.1%} | "
              + " | ".join(f"{res['f1'][n]:.3f}" for n in names) + f" | {change:+.3f} |")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
