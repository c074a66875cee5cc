"""
Title: classify() speed and score drift under mixed_bfloat16
Author: gliclass-keras contributors
Date created: 2026/11/30
Last modified: 2026/11/30
Description: Texts per second of `classify` with the float32 and the
    mixed_bfloat16 dtype policies, and the largest score difference.
Accelerator: None (CPU; runs unchanged on whatever device the backend sees)

Each policy runs in its own process (a policy must be set before the model is
built): `GLiClassClassifier.from_preset("default")` classifies `--texts`
short texts against 6 labels, batch 8, after one warm-up pass (compilation
on jax and tensorflow); the best of `--repeats` passes is reported.

```shell
KERAS_BACKEND=jax python -m benchmarks.mixed_precision
```
"""

import argparse
import json
import os
import subprocess
import sys
import time

LABELS = ["sport", "travel", "science", "politics", "cooking", "music"]
TEXTS = [
    "We won the football match in the last minute.",
    "A long trip to Paris by train, then a ferry to the islands.",
    "Atoms bond into molecules when they share electrons.",
    "The parliament voted on the new budget yesterday.",
    "Bake the bread for an hour at a high temperature.",
    "The orchestra played a symphony by Beethoven.",
]


def measure(policy, count, repeats):
    import keras
    import numpy as np

    keras.config.set_dtype_policy(policy)
    from gliclass_keras import GLiClassClassifier

    model = GLiClassClassifier.from_preset("default")
    texts = (TEXTS * (count // len(TEXTS) + 1))[:count]
    model.classify(texts, LABELS, batch_size=8)  # warm-up / compilation
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.classify(texts, LABELS, batch_size=8)
        best = min(best, time.perf_counter() - start)
    scores = model.predict_scores(TEXTS, LABELS)
    return {
        "texts_per_second": count / best,
        "scores": np.array([[row[label] for label in LABELS] for row in scores]).tolist(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--policy", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.policy:
        print(json.dumps(measure(args.policy, args.texts, args.repeats)))
        return
    import numpy as np

    results = {}
    for policy in ("float32", "mixed_bfloat16"):
        output = subprocess.run(
            [sys.executable, "-m", "benchmarks.mixed_precision", "--policy", policy,
             "--texts", str(args.texts), "--repeats", str(args.repeats)],
            capture_output=True, text=True, check=True, env=os.environ,
        ).stdout
        results[policy] = json.loads(output.strip().splitlines()[-1])
    drift = np.abs(np.array(results["mixed_bfloat16"]["scores"]) - np.array(results["float32"]["scores"])).max()
    import keras

    print(f"backend {keras.backend.backend()}, {args.texts} texts x {len(LABELS)} labels, batch 8")
    for policy, result in results.items():
        print(f"{policy:>15}: {result['texts_per_second']:.1f} texts/s")
    print(f"max |score(mixed_bfloat16) - score(float32)|: {drift:.4f}")


if __name__ == "__main__":
    main()
