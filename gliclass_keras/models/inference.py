"""Zero-shot inference (`classify`, `predict_scores`, `predict_logits`) shared by GLiClass models."""

import keras
import numpy as np

from gliclass_keras.data.gliclass_dataset import bucket_labels as _bucket_labels
from gliclass_keras.data.gliclass_dataset import bucket_length as _bucket_length
from gliclass_keras.models.label_embeddings import LabelEmbeddings
from gliclass_keras.preprocessing import inputs as inputs_lib


class ZeroShotInferenceMixin:
    """Raw texts and labels in, per-label scores out.

    The model needs a `preprocessor` with `_encode_checked` (rows with
    `token_ids`, `text_index` and `label_indices`) and `collate`; a model
    whose inputs need more than the preprocessor's default padding
    overrides `_collate_rows`. It also holds the functional-model plumbing
    both GLiClass model classes share (`_finish_functional_init`, the torch
    `__setattr__` workaround).
    """

    def _finish_functional_init(self, config):
        """Store the config once the functional graph is built (both model classes)."""
        self.config = config
        self._initialized = True
        if keras.backend.backend() == "tensorflow":
            # Keras turns XLA off on CPU-only machines by default; for these
            # models it is faster on CPU too (measured in benchmarks/inference.py).
            self.jit_compile = True

    def __setattr__(self, name, value):
        # As keras-hub's Task: on torch, attributes set before the functional
        # `__init__` bypass torch.nn.Module's hook; every layer with weights is
        # tracked through the functional graph.
        if keras.config.backend() == "torch" and not hasattr(self, "_initialized"):
            return object.__setattr__(self, name, value)
        return super().__setattr__(name, value)

    def _collate_rows(self, rows, length, num_labels, static_shapes):
        """The model's input arrays for a batch of encoded rows."""
        return self.preprocessor.collate(rows, sequence_length=length, num_labels=num_labels)

    def _run_by_length(self, rows, batch_size, run):
        """Apply `run(batch_rows, length, static_shapes)` to length-sorted batches of rows.

        `run` returns one output per row of its batch; the outputs come back
        in the rows' order. Sorting by length keeps padding low. On jax and
        tensorflow, whose predict functions are compiled per input shape,
        batches are padded to a few bucketed shapes (full batch, bucketed
        length; `run` pads any other axis); torch runs eagerly and gets
        exact shapes.
        """
        static_shapes = keras.backend.backend() != "torch"
        order = sorted(range(len(rows)), key=lambda r: len(rows[r].token_ids))
        results = [None] * len(rows)
        for start in range(0, len(order), batch_size):
            batch = [rows[r] for r in order[start : start + batch_size]]
            real = len(batch)
            length = max(len(row.token_ids) for row in batch)
            if static_shapes:
                length = _bucket_length(length)
                batch = batch + [batch[0]] * (batch_size - real)
            outputs = run(batch, length, static_shapes)
            for i in range(real):
                results[order[start + i]] = outputs[i]
        return results

    def _predict_rows(self, rows, batch_size):
        """Logits (numpy, one vector per row) for encoded rows, batched by length."""
        num_labels = max(len(row.label_indices) for row in rows)
        if keras.backend.backend() != "torch":
            num_labels = _bucket_labels(num_labels)

        def run(batch, length, static_shapes):
            arrays = self._collate_rows(batch, length, num_labels, static_shapes)
            logits = np.asarray(self.predict_on_batch(arrays))
            return [logits[i, : len(row.label_indices)] for i, row in enumerate(batch)]

        return self._run_by_length(rows, batch_size, run)

    def classify(
        self,
        texts,
        labels,
        threshold=0.5,
        classification_type="multi-label",
        batch_size=8,
        prompt=None,
        examples=None,
    ):
        """Zero-shot classification of `texts` against candidate `labels`.

        Args:
            texts: a string or a list of strings.
            labels: a list of label strings shared by every text, a list
                of such lists, one per text, or (bi-encoders) the
                `LabelEmbeddings` returned by `encode_labels`.
            threshold: float in [0, 1] (or one per text): the multi-label
                cut-off on sigmoid scores.
            classification_type: `"multi-label"` (sigmoid, every label scoring
                at least `threshold`, in label order) or `"single-label"`
                (softmax over the text's labels, the top one); the
                reference's spellings `"multi"`, `"single"`, `"single_label"`
                and so on are accepted, as is one value per text.
            batch_size: int >= 1, texts per forward pass.
            prompt: optional task description, a string or one per text.
            examples: optional few-shot examples, a list of
                `{"text": ..., "labels": [...]}` dicts shared by every text,
                or one such list per text.

        Returns:
            A list with, per text, a list of `{"label": str, "score": float}`.
        """
        all_scores, kinds, cutoffs = self._label_scores(
            texts, labels, classification_type, batch_size, prompt, examples, threshold
        )
        results = []
        for text_scores, kind, cutoff in zip(all_scores, kinds, cutoffs):
            names = list(text_scores)
            values = [text_scores[name] for name in names]
            if kind == "single-label":
                best = int(np.argmax(values))
                results.append([{"label": names[best], "score": values[best]}])
            else:
                results.append(
                    [{"label": n, "score": v} for n, v in zip(names, values) if v >= cutoff]
                )
        return results

    def predict_logits(self, texts, labels, batch_size=8, prompt=None, examples=None):
        """Every label's logit for every text: a list of float32 arrays in label order.

        Arguments as in `classify`. Texts are batched by length (see
        `_predict_rows` for the shapes each backend sees).
        """
        checked = self._check_inputs(texts, labels, prompt, examples, batch_size)
        return self._logits(*checked)

    def predict_scores(
        self,
        texts,
        labels,
        classification_type="multi-label",
        batch_size=8,
        prompt=None,
        examples=None,
    ):
        """Every label's score for every text, as a list of `{label: score}` dicts.

        Scores are sigmoid probabilities (multi-label) or a softmax over the
        text's labels (single-label). Arguments as in `classify`.
        """
        return self._label_scores(
            texts, labels, classification_type, batch_size, prompt, examples, 0.5
        )[0]

    def _check_inputs(self, texts, labels, prompt, examples, batch_size):
        if self.preprocessor is None:
            raise ValueError(
                "This model has no preprocessor; build it with one (from_pretrained "
                "does) to classify raw texts."
            )
        texts = inputs_lib.normalize_texts(texts)
        label_embeddings = None
        if isinstance(labels, LabelEmbeddings):
            if not hasattr(self, "encode_labels"):
                raise TypeError(
                    f"`labels` is a LabelEmbeddings, which only bi-encoder models accept; "
                    f"give this {type(self).__name__} a list of label strings."
                )
            self._check_label_embeddings(labels)
            label_embeddings = labels
            per_text_labels = [labels.labels] * len(texts)
        else:
            per_text_labels, _ = inputs_lib.normalize_labels(labels, len(texts))
        prompts = inputs_lib.normalize_prompts(prompt, len(texts))
        per_text_examples = inputs_lib.normalize_examples(examples, len(texts))
        batch_size = inputs_lib.check_batch_size(batch_size)
        return texts, per_text_labels, prompts, per_text_examples, batch_size, label_embeddings

    def _logits(
        self, texts, per_text_labels, prompts, per_text_examples, batch_size, label_embeddings=None
    ):
        if label_embeddings is not None:
            return self._cached_logits(
                texts, prompts, per_text_examples, batch_size, label_embeddings
            )
        rows = self.preprocessor._encode_checked(texts, per_text_labels, prompts, per_text_examples)
        row_logits = self._predict_rows(rows, batch_size)
        full = [np.zeros(len(label_list), dtype="float32") for label_list in per_text_labels]
        for row, logits in zip(rows, row_logits):
            full[row.text_index][row.label_indices] = logits
        return full

    def _label_scores(
        self, texts, labels, classification_type, batch_size, prompt, examples, threshold
    ):
        checked = self._check_inputs(texts, labels, prompt, examples, batch_size)
        texts, per_text_labels = checked[0], checked[1]
        kinds = inputs_lib.normalize_classification_type(classification_type, len(texts))
        cutoffs = inputs_lib.normalize_thresholds(threshold, len(texts))
        full = self._logits(*checked)
        all_scores = []
        for logits, label_list, kind in zip(full, per_text_labels, kinds):
            logits = logits.astype("float64")
            if kind == "single-label":
                exp = np.exp(logits - logits.max())
                probs = exp / exp.sum()
            else:
                probs = 1.0 / (1.0 + np.exp(-logits))
            all_scores.append({name: float(p) for name, p in zip(label_list, probs)})
        return all_scores, kinds, cutoffs

