"""The `gliclass-keras` command line.

```
gliclass-keras classify --model PATH --labels sport,travel "Our team won." "I love Rome."
echo "Our team won." | gliclass-keras classify --model PATH --labels sport,travel --single-label
gliclass-keras export --model PATH --format onnx --output DIR [--quantize int8]
```

`PATH` is a preset name, a reference checkpoint directory, a `.keras` file or
an ONNX export directory (made by `export`; it is run by `OnnxClassifier`,
with no deep-learning framework imported). Texts come from
the arguments, or one per line from standard input when none are given. Each
text gives one JSON line: `{"text": ..., "predictions": [{"label", "score"}]}`.
"""

import argparse
import json
import os
import sys


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="gliclass-keras", description="GLiClass zero-shot text classification (Keras 3)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    classify = commands.add_parser("classify", help="classify texts against candidate labels")
    classify.add_argument(
        "--model",
        default="default",
        help="a preset name (default: 'default', offline MiniLM bi-encoder), a GLiClass checkpoint "
        "directory, a .keras file or a Hugging Face id",
    )
    classify.add_argument("--labels", required=True, help="comma-separated candidate labels")
    classify.add_argument(
        "--single-label", action="store_true", help="pick one label per text (softmax)"
    )
    classify.add_argument(
        "--threshold", type=float, default=0.5, help="multi-label score cut-off (default 0.5)"
    )
    classify.add_argument("--batch-size", type=int, default=8)
    classify.add_argument("--prompt", default=None, help="optional task description")
    classify.add_argument(
        "--long-text",
        choices=("truncate", "windows"),
        default="truncate",
        help="texts longer than the model's max_length: cut their end (default) or score "
        "overlapping windows and aggregate per label",
    )
    classify.add_argument("--window-size", type=int, default=None, help="tokens per window")
    classify.add_argument(
        "--window-overlap", type=int, default=None, help="tokens shared by consecutive windows"
    )
    classify.add_argument(
        "--window-aggregation", choices=("max", "mean"), default="max",
        help="how a label's window logits are combined (default max)",
    )
    classify.add_argument("texts", nargs="*", help="texts (default: one per line on stdin)")

    export = commands.add_parser("export", help="export a model for inference outside Keras")
    export.add_argument("--model", default="default", help="as for classify")
    export.add_argument(
        "--format",
        choices=("onnx", "tf_saved_model", "litert"),
        default="onnx",
        help="onnx: a directory OnnxClassifier runs (any backend, traced by JAX); "
        "tf_saved_model, litert: tensorflow backend (default: onnx)",
    )
    export.add_argument("--output", required=True, help="directory to write")
    export.add_argument(
        "--quantize", choices=("int8",), default=None, help="onnx only: int8 weights (dynamic quantization)"
    )
    return parser


def is_onnx_export(path):
    """Whether `path` is an ONNX export directory (it holds `gliclass_export.json`)."""
    return os.path.isfile(os.path.join(os.fspath(path), "gliclass_export.json"))


def _export(args):
    if args.format != "onnx":
        if args.quantize:
            raise ValueError("`--quantize` applies to `--format onnx` only.")
        # SavedModel and LiteRT export need the tensorflow backend.
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    model = load_model(args.model)
    if args.format == "onnx":
        from gliclass_keras.export.onnx_export import export_onnx

        export_onnx(model, args.output, quantize=args.quantize)
    else:
        os.makedirs(args.output, exist_ok=True)
        target = args.output if args.format == "tf_saved_model" else os.path.join(args.output, "model.tflite")
        model.export(target, format=args.format, verbose=False)
    print(json.dumps({"format": args.format, "output": args.output, "quantize": args.quantize}))
    return 0


def load_model(path):
    """A GLiClass model from a preset name, checkpoint directory, `.keras` file, Hugging Face id or ONNX export."""
    if is_onnx_export(path):
        from gliclass_keras.export.onnx_classifier import OnnxClassifier

        return OnnxClassifier(path)
    import gliclass_keras
    from gliclass_keras.utils import compilation_cache

    # JAX: reuse what earlier runs compiled (GLICLASS_KERAS_COMPILATION_CACHE=0: off).
    compilation_cache.command_line_cache()
    return gliclass_keras.GLiClassClassifier.from_preset(path)


def run_one_batch_eagerly(model, num_texts, batch_size):
    """On TensorFlow, a job of one batch runs the model eagerly.

    Tracing a graph costs more than running it once (MiniLM: about 0.5 s
    per tower against 0.1-0.2 s for one eager batch), and a command-line
    process ends after its job. Other backends, ONNX exports and jobs of
    several batches are left as they are.
    """
    if num_texts > batch_size or not hasattr(model, "run_eagerly"):
        return
    from gliclass_keras.utils.framework_imports import configured_backend

    if configured_backend() == "tensorflow" and not model.run_eagerly:
        model.run_eagerly = True


def main(argv=None):
    args = _build_parser().parse_args(argv)
    if args.command == "export":
        try:
            return _export(args)
        except (ValueError, TypeError, FileNotFoundError, ConnectionError) as error:
            print(f"gliclass-keras: {error}", file=sys.stderr)
            return 2
    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    texts = args.texts
    if not texts:
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        print("gliclass-keras: no texts given (as arguments or on stdin)", file=sys.stderr)
        return 2
    try:
        model = load_model(args.model)
        run_one_batch_eagerly(model, len(texts), args.batch_size)
        results = model.classify(
            texts,
            labels,
            threshold=args.threshold,
            classification_type="single-label" if args.single_label else "multi-label",
            batch_size=args.batch_size,
            prompt=args.prompt,
            long_text=args.long_text,
            window_size=args.window_size,
            window_overlap=args.window_overlap,
            window_aggregation=args.window_aggregation,
        )
    except (ValueError, TypeError, FileNotFoundError, ConnectionError) as error:
        print(f"gliclass-keras: {error}", file=sys.stderr)
        return 2
    for text, predictions in zip(texts, results):
        print(json.dumps({"text": text, "predictions": predictions}, ensure_ascii=False))
    return 0


def run():
    """The `gliclass-keras` command: `main()`, then the process ends as soon as its output is out.

    Python's own shutdown (tearing down the modules of Keras, keras-hub and
    the backend's framework) takes about a second after the answer is
    printed and does nothing a finished command needs: standard output and
    error are flushed, and the process exits with `main()`'s status.
    """
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    run()
