"""`LabelCacheAPI`: a bi-encoder's label-vector cache and text vectors, framework-free.

A bi-encoder encodes texts and labels apart, so label vectors can be computed
once (`encode_labels`, a `LabelEmbeddings`) and scored against any number of
texts. `GLiClassBiEncoderClassifier` (Keras) and
`gliclass_keras.OnnxClassifier` (onnxruntime) both inherit this mixin, next
to `ZeroShotAPI`; each only says how to run its three sub-graphs and how
wide its class vectors are:

* `_run_vectors(which, arrays)`: `which` is `"text"` (inputs `token_ids`,
  `padding_mask` -> text vectors `(batch, hidden)`), `"label"` (inputs
  `label_token_ids`, `label_padding_mask` `(1, N, M)` and `label_mask`
  `(1, N)` -> class vectors `(1, N, hidden)`) or `"score"` (inputs `text`
  `(B, hidden)`, `classes` `(B, N, hidden)`, `label_mask` `(B, N)` ->
  logits `(B, N)`);
* `_class_vector_width()`: `hidden`.

A class may also pack texts (`gliclass_keras.preprocessing.sequence_packing`):
`_text_pooling_to_pack(num_texts, batch_size)` returns the pooling strategy
to pack a call's texts with, or None (the default) to pad them batch by
batch; packed batches run through the `"packed_text"` sub-graph (inputs
`token_ids`, `position_ids`, `segment_ids` `(rows, length)` and
`pooling_weights` `(rows, slots, length)` -> text vectors `(rows, slots,
hidden)`).
"""

import numpy as np

from gliclass_keras.models import zero_shot
from gliclass_keras.models.label_embeddings import LabelEmbeddings
from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing import sequence_packing
from gliclass_keras.utils import shapes

# Cached label vectors scored per forward pass (`encode_labels`).
LABEL_CHUNK = 512


class LabelCacheAPI:
    """Mixin: `encode_labels`, `encode_texts` and scoring against cached labels.

    See the module docstring for what a class using it supplies.

    Example:

    ```python
    cache = model.encode_labels(["sport", "travel", "science"])
    model.classify(["Our team won the match."], cache, threshold=0.5)
    ```
    """

    def _run_vectors(self, which, arrays):
        """The output of the `"text"`, `"label"` or `"score"` sub-graph for `arrays`."""
        raise NotImplementedError

    def _class_vector_width(self):
        """The width of the class vectors the scorer takes."""
        raise NotImplementedError

    def _label_chunk(self):
        """How many cached label vectors are scored per forward pass."""
        return LABEL_CHUNK

    def _text_pooling_to_pack(self, num_texts, batch_size):
        """The pooling strategy to pack `num_texts` texts with, or None not to pack them."""
        return None

    def encode_labels(self, labels, batch_size=64):
        """Encode `labels` once, for classifying any number of texts against them.

        Each label goes through the label backbone and the label head (the
        bi-encoder and classes projectors, and L2 normalisation when the
        config asks for it), exactly as in a full forward pass. Pass the
        result in place of `labels` to `classify`, `predict_scores` or
        `predict_logits`: each text then costs one text-encoder pass and a
        dot-product-sized scoring step, whatever the number of labels.

        Args:
            labels: list of unique label strings (or a hierarchical dict,
                flattened as in `classify`).
            batch_size: int >= 1, labels per forward pass of the label
                backbone. Defaults to 64.

        Returns:
            A `LabelEmbeddings` with one vector per label.

        Example:

        ```python
        cache = model.encode_labels([f"topic {i}" for i in range(1000)])
        model.classify(["Our team won the match."], cache, threshold=0.3)
        ```
        """
        if self.preprocessor is None:
            raise ValueError("This model has no preprocessor; `encode_labels` needs its label tokenizer.")
        labels = inputs_lib.normalize_labels(labels, 1)[0][0]
        batch_size = inputs_lib.check_batch_size(batch_size)
        backend = self.preprocessor._truncating_backend("label")
        encoded = [list(e.ids) for e in backend.encode_batch(labels)]
        static_shapes = self._uses_static_shapes()
        vectors = []
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            # label slots rounded up to a multiple of 8 under static shapes:
            # few compiled shapes, and 5 labels no longer fill 64 slots
            count = shapes.padded_labels(len(chunk), static_shapes)
            token_ids, padding_mask = self.preprocessor.collate_labels(
                [chunk], count, static_shapes=static_shapes
            )
            label_mask = np.zeros((1, count), dtype="int32")
            label_mask[0, : len(chunk)] = 1
            out = self._run_vectors(
                "label",
                {
                    "label_token_ids": token_ids,
                    "label_padding_mask": padding_mask,
                    "label_mask": label_mask,
                },
            )
            vectors.append(np.asarray(out)[0, : len(chunk)])
        return LabelEmbeddings(labels, np.concatenate(vectors, axis=0))

    def _shared_label_embeddings(self, per_text_labels, per_text_examples):
        """`encode_labels` of the label list every text shares, or None.

        A bi-encoder's label vectors do not depend on the text, so when all
        texts of a call have the same labels, each label
        is encoded once per call instead of once per text: the label tower
        then costs the same for 1 text or 10,000, and static-shape backends
        (JAX, TensorFlow) no longer pad every text's labels to a bucket.
        """
        first = per_text_labels[0]
        # Examples do not matter: a bi-encoder ignores them (its
        # preprocessor warns, on this path too, in `_text_vectors`).
        if any(labels != first for labels in per_text_labels):
            return None
        return self.encode_labels(list(first))

    def _check_label_embeddings(self, label_embeddings):
        width = self._class_vector_width()
        if label_embeddings.vectors.shape[1] != width:
            raise ValueError(
                f"`labels` holds label vectors of width {label_embeddings.vectors.shape[1]}, "
                f"but this model's class vectors have width {width}: encode the labels "
                "with this model's `encode_labels`."
            )

    def encode_texts(self, texts, batch_size=32, prompt=None):
        """Text vectors after the text head: `(len(texts), hidden)` float32.

        What each text is scored with against `encode_labels` vectors (the
        logits are the scaled dot products): L2-normalised when
        `normalize_features` is set. Useful for search or clustering.

        Args:
            texts: a string or a list of strings.
            batch_size: int >= 1.
            prompt: optional task description, a string or one per text.
        """
        texts, prompts, per_text_examples = self._check_text_inputs(texts, prompt, batch_size)
        return self._text_vectors(texts, prompts, per_text_examples, batch_size)

    def _check_text_inputs(self, texts, prompt, batch_size):
        if self.preprocessor is None:
            raise ValueError("This model has no preprocessor; `encode_texts` needs its tokenizer.")
        texts = inputs_lib.normalize_texts(texts)
        prompts = inputs_lib.normalize_prompts(prompt, len(texts))
        inputs_lib.check_batch_size(batch_size)
        return texts, prompts, [None] * len(texts)

    def _text_vectors(self, texts, prompts, per_text_examples, batch_size):
        rows = self.preprocessor.encode_rows(texts, [[] for _ in texts], prompts, per_text_examples)
        pooling = self._text_pooling_to_pack(len(rows), batch_size)
        if pooling is not None:
            return self._packed_text_vectors([row.token_ids for row in rows], batch_size, pooling)

        def run(batch, static_shapes):
            token_ids, padding_mask = self.preprocessor.pad_rows(
                [row.token_ids for row in batch], self.preprocessor.pad_token_id,
                static_shapes=static_shapes,
            )
            out = self._run_vectors(
                "text", {"token_ids": token_ids, "padding_mask": padding_mask}
            )
            return list(np.asarray(out))

        rows_out = zero_shot.run_by_length(rows, batch_size, run, self._uses_static_shapes())
        return np.stack(rows_out).astype("float32")

    def _packed_text_vectors(self, sequences, batch_size, pooling):
        """Text vectors of token id `sequences`, encoded in packed rows."""
        out = None
        batches = sequence_packing.packed_batches(
            sequences, batch_size, pooling, pad_token_id=self.preprocessor.pad_token_id
        )
        for arrays, placements in batches:
            vectors = np.asarray(self._run_vectors("packed_text", arrays))
            if out is None:
                out = np.zeros((len(sequences), vectors.shape[-1]), dtype="float32")
            index, row, slot = (np.asarray(axis) for axis in zip(*placements))
            out[index] = vectors[row, slot]
        return out

    def _cached_logits(self, texts, prompts, per_text_examples, batch_size, label_embeddings):
        """Logits of every text against precomputed `LabelEmbeddings`."""
        text_vectors = self._text_vectors(texts, prompts, per_text_examples, batch_size)
        vectors = label_embeddings.vectors
        num_labels = len(vectors)
        static_shapes = self._uses_static_shapes()
        chunk = shapes.padded_labels(min(self._label_chunk(), num_labels), static_shapes)
        logits = np.zeros((len(texts), num_labels), dtype="float32")
        for start in range(0, len(texts), batch_size):
            text_batch = text_vectors[start : start + batch_size]
            real = len(text_batch)
            if static_shapes:
                text_batch = shapes.fill_with_first_row(text_batch, batch_size)
            for first in range(0, num_labels, chunk):
                part = vectors[first : first + chunk]
                count = len(part)
                size = chunk if static_shapes else count
                classes = np.zeros((len(text_batch), size, vectors.shape[1]), dtype="float32")
                classes[:, :count] = part[None]
                label_mask = np.zeros((len(text_batch), size), dtype="int32")
                label_mask[:, :count] = 1
                out = self._run_vectors(
                    "score", {"text": text_batch, "classes": classes, "label_mask": label_mask}
                )
                logits[start : start + real, first : first + count] = np.asarray(out)[
                    :real, :count
                ]
        return list(logits)
