"""`LabelEmbeddings`: precomputed label vectors of a bi-encoder."""

import os

import numpy as np

from gliclass_keras.utils.files import read_file


class LabelEmbeddings:
    """A bi-encoder's label vectors, computed once and reused for any number of texts.

    Made by `GLiClassBiEncoderClassifier.encode_labels(labels)`: each label
    went through the label backbone, the pooler, the bi-encoder projector,
    the classes projector and (with `normalize_features`) L2 normalisation,
    so what is stored is exactly the class vector the scorer sees. Pass it
    in place of `labels` to `classify`, `predict_scores` or
    `predict_logits`: each text then costs one text-encoder pass, whatever
    the number of labels. Memory is `len(labels) * hidden_dim` floats.

    Args:
        labels: list of label strings, unique.
        vectors: float array `(len(labels), hidden_dim)`.

    Example:

    ```python
    cache = model.encode_labels(["sport", "travel", "science", ...])
    cache.save("labels.npz")
    cache = gliclass_keras.LabelEmbeddings.load("labels.npz")
    model.classify(["Our team won the match."], cache, threshold=0.5)
    ```
    """

    def __init__(self, labels, vectors):
        if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
            raise TypeError("`labels` must be a list of label strings.")
        vectors = np.asarray(vectors, dtype="float32")
        if vectors.ndim != 2 or vectors.shape[0] != len(labels):
            raise ValueError(
                f"`vectors` must have shape (len(labels), hidden_dim) = ({len(labels)}, ...). "
                f"Received: {vectors.shape}"
            )
        if len(set(labels)) != len(labels):
            raise ValueError("`labels` must be unique.")
        self.labels = list(labels)
        self.vectors = vectors

    def __len__(self):
        return len(self.labels)

    def __repr__(self):
        return (
            f"LabelEmbeddings({len(self.labels)} labels, hidden_dim={self.vectors.shape[1]})"
        )

    def save(self, path):
        """Write the labels and vectors to a `.npz` file."""
        np.savez(os.fspath(path), labels=np.asarray(self.labels, dtype=str), vectors=self.vectors)

    @classmethod
    def load(cls, path):
        """Read embeddings written by `save`."""
        def read(file):
            with np.load(file) as data:
                return [str(x) for x in data["labels"]], np.asarray(data["vectors"])

        labels, vectors = read_file(path, read, "label embeddings (.npz from `save`)")
        return cls(labels, vectors)
