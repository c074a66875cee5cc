"""
Title: Cold start: from a fresh process to the first answer
Author: gliclass-keras contributors
Date created: 2026/12/06
Last modified: 2026/12/06
Description: Seconds from starting a process to its JSON answer for one text and three
    labels: the reference pipeline, `gliclass-keras classify` on each backend, and an
    ONNX export directory run by `OnnxClassifier`.
Accelerator: None (CPU; each process uses whatever device its framework finds)

## What is timed

The README's first job, "One day I will see the world!" against travel, sport and
science (single-label), on one model: the MiniLM bi-encoder that `benchmarks/labels.py`
builds with the reference package (`--cache-dir`). Each contender is a new Python process
started with `subprocess` and timed until it exits (it prints one JSON line):

* **reference**: `python -c` importing `gliclass`, loading the checkpoint and running
  `ZeroShotClassificationPipeline` on the text (what a reference user runs);
* **gliclass-keras / BACKEND**: `python -m gliclass_keras.cli classify --model CKPT
  --single-label --labels travel,sport,science TEXT` with `KERAS_BACKEND=BACKEND`;
  `default-backend` leaves `KERAS_BACKEND` unset (Keras' default, tensorflow), as the
  README's first command does. On jax the command line keeps compiled programs on disk
  (`GLICLASS_KERAS_COMPILATION_CACHE`, here a directory under `--cache-dir` that the
  untimed first run fills); `jax-no-cache` turns that off;
* **gliclass-keras / onnx**: the same command on an ONNX export of the checkpoint
  (`gliclass-keras export --format onnx`, made once and cached).

Each contender runs `--repeats` times, round-robin, after one untimed run that warms the
file cache; the table shows the median and the ratio to the reference (below 1.00x is
faster).

```shell
python -m benchmarks.cold_start
```
"""

import argparse
import json
import os
import subprocess
import sys
import time

if __package__:
    from . import harness
    from . import labels as labels_benchmark
else:  # python benchmarks/cold_start.py
    import harness
    import labels as labels_benchmark

TEXT = "One day I will see the world!"
LABELS = ["travel", "sport", "science"]

REFERENCE = """
import json, sys
import torch
from gliclass import GLiClassModel, ZeroShotClassificationPipeline
from transformers import AutoTokenizer
path, text, labels = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
model = GLiClassModel.from_pretrained(path).eval()
tokenizer = AutoTokenizer.from_pretrained(path)
pipe = ZeroShotClassificationPipeline(
    model, tokenizer, classification_type="single-label", device="cpu", progress_bar=False
)
with torch.no_grad():
    print(json.dumps(pipe(text, labels)))
"""


def timed(command, env):
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=harness.REPO_ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{command[:4]} failed:\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout.strip().splitlines()[-1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("##")[0])
    parser.add_argument("--backends", default="default-backend,torch,jax,jax-no-cache,tensorflow,onnx")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/gliclass-keras-benchmarks"))
    args = parser.parse_args(argv)

    root = labels_benchmark.checkpoint_dir(args.cache_dir)
    if not os.path.isdir(os.path.join(root, "bi")):
        labels_benchmark.main(["--labels", "1", "--texts", "1", "--repeats", "1", "--backends", "torch",
                               "--no-reference", "--cache-dir", args.cache_dir])
    checkpoint = os.path.join(root, "bi")
    cli = [sys.executable, "-m", "gliclass_keras.cli", "classify", "--single-label",
           "--labels", ",".join(LABELS)]
    contenders = {"reference": ([sys.executable, "-c", REFERENCE, checkpoint, TEXT, ",".join(LABELS)],
                                harness.worker_env(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))}
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if name == "onnx":
            export_dir = os.path.join(root, "bi_onnx")
            if not os.path.isfile(os.path.join(export_dir, "gliclass_export.json")):
                subprocess.run([sys.executable, "-m", "gliclass_keras.cli", "export", "--model", checkpoint,
                                "--format", "onnx", "--output", export_dir],
                               cwd=harness.REPO_ROOT, env=harness.worker_env(KERAS_BACKEND="jax"),
                               check=True, capture_output=True)
            contenders["onnx"] = (cli + ["--model", export_dir, TEXT], harness.worker_env())
        elif name == "jax":
            # The command line keeps JAX's compiled programs on disk (filled
            # by the untimed first run); "jax-no-cache" turns that off.
            cache = os.path.join(os.path.abspath(os.path.expanduser(args.cache_dir)), "jax_compilation_cache")
            contenders[name] = (cli + ["--model", checkpoint, TEXT],
                                harness.worker_env(KERAS_BACKEND="jax", GLICLASS_KERAS_COMPILATION_CACHE=cache))
        elif name == "jax-no-cache":
            contenders[name] = (cli + ["--model", checkpoint, TEXT],
                                harness.worker_env(KERAS_BACKEND="jax", GLICLASS_KERAS_COMPILATION_CACHE="0"))
        elif name == "default-backend":
            # KERAS_BACKEND unset: Keras' default (tensorflow unless ~/.keras/keras.json says otherwise)
            env = harness.worker_env()
            env.pop("KERAS_BACKEND", None)
            contenders[name] = (cli + ["--model", checkpoint, TEXT], env)
        else:
            contenders[name] = (cli + ["--model", checkpoint, TEXT],
                                harness.worker_env(KERAS_BACKEND=name))
    times = {name: [] for name in contenders}
    answers = {}
    for name, (command, env) in contenders.items():
        _, answers[name] = timed(command, env)  # warm the file cache
    for round_ in range(args.repeats):
        for name, (command, env) in contenders.items():
            seconds, _ = timed(command, env)
            times[name].append(seconds)
            print(f"  round {round_ + 1}/{args.repeats} {name}: {seconds:.2f}s (load {harness.loadavg()})",
                  flush=True)
    print(f"\nCold start, one text x {len(LABELS)} labels, MiniLM bi-encoder {checkpoint}")
    print(f"Machine: {harness.cpu_model()}, {os.cpu_count()} CPUs")
    print("| contender | seconds (median) | ratio to the reference | answer |")
    print("|---|---:|---:|---|")
    reference = sorted(times["reference"])[len(times["reference"]) // 2]
    for name, values in times.items():
        median = sorted(values)[len(values) // 2]
        answer = answers[name]
        try:
            answer = json.dumps(json.loads(answer))[:80]
        except ValueError:
            pass
        label = "reference (gliclass 0.1.21)" if name == "reference" else f"gliclass-keras / {name}"
        print(f"| {label} | {median:.2f} | {median / reference:.2f}x | `{answer}` |")
    return times


if __name__ == "__main__":
    main()
