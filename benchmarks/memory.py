"""
Title: Peak memory of classify and of a training step: gliclass-keras vs. the reference
Author: gliclass-keras contributors
Date created: 2026/12/06
Last modified: 2026/12/06
Description: Resident memory (RSS) of a process that classifies with, and then trains,
    the benchmark checkpoint: the reference package and gliclass-keras on each backend.
Accelerator: whatever each framework sees (CPU here; on a GPU the RSS columns are host
    memory, and the device's own peak is printed where the framework reports it)

## What is measured

Each contender runs in its own process on the random DeBERTa-v3-small-sized checkpoint
of `benchmarks/checkpoint.py`, the same 64 tweets x 10 labels:

1. **loaded**: RSS right after importing the framework and loading the model;
2. **classify**: peak RSS while `classify` (the reference's `ZeroShotClassificationPipeline`)
   scores the 64 tweets at batch 8, after one warm-up call;
3. **train step**: peak RSS during training steps (batch 8, 10 labels, focal loss,
   AdamW, clipping; the steps of `benchmarks/train.py`), after one warm-up step so the
   optimizer state already exists.

Peaks come from a thread that reads `/proc/self/statm` every 2 ms (and
`ru_maxrss` where there is no `/proc`), so they include every transient buffer of the
step. Ratios are ours / the reference's: below 1.00x uses less memory.

```shell
python -m benchmarks.memory
python -m benchmarks.memory --backends torch
```
"""

import argparse
import os
import threading
import time

if __package__:
    from . import checkpoint
    from . import harness
    from . import train
else:  # python benchmarks/memory.py
    import checkpoint
    import harness
    import train


def rss_bytes():
    """The process's resident set size now, in bytes."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakRss:
    """`with PeakRss() as peak: ...`, then `peak.bytes`: the highest RSS seen inside."""

    def __init__(self, interval=0.002):
        self.interval = interval
        self.bytes = 0
        self._stop = threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            self.bytes = max(self.bytes, rss_bytes())
            time.sleep(self.interval)

    def __enter__(self):
        self.bytes = rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.bytes = max(self.bytes, rss_bytes())


def measure(classify, train_step, batches, steps, loaded_bytes):
    import gc

    result = {"loaded_mb": loaded_bytes / 1e6}
    classify()
    gc.collect()
    with PeakRss() as peak:
        classify()
    result["classify_peak_mb"] = peak.bytes / 1e6
    train_step(batches[0])
    gc.collect()
    with PeakRss() as peak:
        for i in range(steps):
            train_step(batches[(1 + i) % len(batches)])
    result["train_peak_mb"] = peak.bytes / 1e6
    return result


def run_reference(work):
    import torch

    harness.set_torch_threads(work["torch_threads"])
    torch.manual_seed(0)
    from gliclass import ZeroShotClassificationPipeline

    # The token ids are those gliclass-keras builds (and `benchmarks/train.py`
    # uses), made in a child process so this one never holds Keras.
    batches = work["reference_batches"]
    model, tokenizer = harness.load_reference(work["checkpoint"])
    loaded = rss_bytes()
    pipe = ZeroShotClassificationPipeline(
        model, tokenizer, classification_type="multi-label", device="cpu", progress_bar=False
    )
    train_step = train.reference_trainer(model)

    def classify():
        with torch.no_grad():
            return pipe(work["texts"], train.LABELS, threshold=0.5, batch_size=work["batch_size"])

    def step(batch):
        model.train()
        x, targets = batch
        train_step(x["token_ids"], x["padding_mask"], targets)
        model.eval()

    result = measure(classify, step, batches, work["steps"], loaded)
    result["device"] = harness.device_description("cpu")
    return result


def run_keras(work, backend):
    os.environ["KERAS_BACKEND"] = backend
    if backend == "torch":
        harness.set_torch_threads(work["torch_threads"])
    import gliclass_keras

    # As a user's script: gliclass-keras first, so it imports Keras without
    # the other backends' frameworks (`gliclass_keras.utils.framework_imports`).
    model = gliclass_keras.GLiClassClassifier.from_pretrained(work["checkpoint"])
    loaded = rss_bytes()
    # No keras.utils.set_random_seed: it imports TensorFlow to seed it, on any backend.
    model.compile()
    batches = train.keras_batches(model, work["records"], work["batch_size"], static_shapes=None)

    def classify():
        return model.classify(work["texts"], train.LABELS, threshold=0.5, batch_size=work["batch_size"])

    def step(batch):
        model.train_on_batch(*batch)

    result = measure(classify, step, batches, work["steps"], loaded)
    result["device"] = harness.device_description(backend)
    return result


def reference_batches(work):
    """The reference's training batches as plain lists (built with the torch backend)."""
    os.environ["KERAS_BACKEND"] = "torch"
    import gliclass_keras

    model = gliclass_keras.GLiClassClassifier.from_pretrained(work["checkpoint"])
    batches = train.keras_batches(model, work["records"], work["batch_size"], static_shapes=False)
    return [
        ({k: v.tolist() for k, v in x.items()}, y["targets"].tolist()) for x, y in batches
    ]


def worker(args):
    import json

    with open(args.work_file) as f:
        work = json.load(f)
    if args.worker == "batches":
        harness.print_result(reference_batches(work))
    elif args.worker == "reference":
        harness.print_result(run_reference(work))
    else:
        harness.print_result(run_keras(work, args.worker))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("##")[0])
    parser.add_argument("--backends", default="torch,jax,tensorflow")
    parser.add_argument("--steps", type=int, default=3, help="measured training steps")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--torch-threads", type=int, default=os.cpu_count())
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/gliclass_keras_bench"))
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", default=None)
    parser.add_argument("--work-file", default=None)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    import json
    import tempfile

    ckpt = checkpoint.ensure_checkpoint(args.cache_dir, args.vocab_size, args.seed)
    records = train.make_records(max(args.texts, (args.steps + 1) * args.batch_size), args.seed)
    work = dict(
        checkpoint=ckpt,
        records=records,
        texts=[r["text"] for r in records[: args.texts]],
        batch_size=args.batch_size,
        steps=args.steps,
        torch_threads=args.torch_threads,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(work, f)
    work["reference_batches"] = harness.run_worker(
        "memory", ["--worker", "batches", "--work-file", f.name], "batches"
    )
    with open(f.name, "w") as out:
        json.dump(work, out)
    names = ["reference"] + [b.strip() for b in args.backends.split(",") if b.strip()]
    results = {}
    for name in names:
        print(f"== {name} (load {harness.loadavg()})", flush=True)
        env = harness.worker_env(**({} if name == "reference" else {"KERAS_BACKEND": name}))
        results[name] = harness.run_worker(
            "memory", ["--worker", name, "--work-file", f.name], name, env=env
        )
        print(f"  {json.dumps(results[name])}", flush=True)
    os.remove(f.name)

    print(f"\n{args.texts} tweets x {len(train.LABELS)} labels, batch {args.batch_size}, "
          f"{args.steps} measured training steps; RSS in MB")
    print("| contender | device | loaded | classify peak | ratio | train step peak | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    ref = results["reference"]
    for name, r in results.items():
        label = "reference gliclass 0.1.21 (torch)" if name == "reference" else f"gliclass-keras {name}"
        print(f"| {label} | {r['device']} | {r['loaded_mb']:.0f} | {r['classify_peak_mb']:.0f} | "
              f"{r['classify_peak_mb'] / ref['classify_peak_mb']:.2f}x | {r['train_peak_mb']:.0f} | "
              f"{r['train_peak_mb'] / ref['train_peak_mb']:.2f}x |")
    return results


if __name__ == "__main__":
    main()
