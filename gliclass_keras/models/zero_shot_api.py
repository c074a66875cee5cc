"""`ZeroShotAPI`: `classify`, `predict_scores` and `predict_logits`, framework-free.

The zero-shot API of every GLiClass model, whatever runs it: argument
checking, label chunks (rows) merged back per text, long-text windows,
calibration and scores. `GLiClassClassifier` (Keras) and
`gliclass_keras.OnnxClassifier` (onnxruntime) both inherit it; each only
says how to run one padded batch:

* `preprocessor`: an input builder (`gliclass_keras.preprocessing.
  input_builder`), e.g. a `GLiClassPreprocessor` or an
  `UniEncoderInputBuilder`;
* `calibration`: `None` or `{"temperature", "bias"}`
  (`gliclass_keras.models.calibration`);
* `_run_batch(arrays)`: the logits `(batch, num_labels)` of the arrays
  `preprocessor.collate` made;
* `_uses_static_shapes()`: whether batches are padded to bucketed shapes
  (`gliclass_keras.utils.shapes`).

Bi-encoders also take precomputed `LabelEmbeddings` in place of `labels`
(see `gliclass_keras.models.label_cache_api`).
"""

import numpy as np

from gliclass_keras.models import calibration as calibration_lib
from gliclass_keras.models import zero_shot
from gliclass_keras.models.label_embeddings import LabelEmbeddings
from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing import long_text as long_text_lib
from gliclass_keras.utils import shapes


class ZeroShotAPI:
    """Mixin: the zero-shot API of a GLiClass model (see the module docstring).

    Example:

    ```python
    class MyRunner(ZeroShotAPI):
        def __init__(self, preprocessor, run):
            self.preprocessor, self.calibration, self._run = preprocessor, None, run

        def _run_batch(self, arrays):
            return self._run(arrays)

        def _uses_static_shapes(self):
            return False

    MyRunner(builder, run).classify(["Our team won."], ["sport", "travel"])
    ```
    """

    def _run_batch(self, arrays):
        """The logits `(batch, num_labels)` of one padded batch of model inputs."""
        raise NotImplementedError

    def _uses_static_shapes(self):
        """Whether batches are padded to a few bucketed shapes (compiled backends)."""
        raise NotImplementedError

    def classify(
        self,
        texts,
        labels,
        threshold=0.5,
        classification_type="multi-label",
        batch_size=8,
        prompt=None,
        examples=None,
        long_text="truncate",
        window_size=None,
        window_overlap=None,
        window_aggregation="max",
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
            long_text: `"truncate"` (default: a text longer than the
                model's `max_length` loses its end, with a warning) or
                `"windows"`: a text longer than `window_size` tokens is
                split into overlapping windows, each scored against all of
                its labels, and each label keeps the `window_aggregation` of
                its logits over the windows, so evidence anywhere in a long
                document counts (see `gliclass_keras.preprocessing.long_text`).
            window_size: int >= 2, tokens per window (`"windows"` only);
                default half of the preprocessor's `max_length`, leaving room
                for the labels.
            window_overlap: int, tokens shared by consecutive windows;
                default a quarter of `window_size`.
            window_aggregation: `"max"` (default) or `"mean"` of each
                label's logits over the windows.

        Returns:
            A list with, per text, a list of `{"label": str, "score": float}`.

        Example:

        ```python
        model.classify(
            [long_report], ["finance", "sport", "health"],
            long_text="windows", window_size=256, window_overlap=64,
        )
        ```
        """
        windows = dict(
            long_text=long_text,
            window_size=window_size,
            window_overlap=window_overlap,
            window_aggregation=window_aggregation,
        )
        all_scores, kinds, cutoffs = self._label_scores(
            texts, labels, classification_type, batch_size, prompt, examples, threshold, windows
        )
        return [
            zero_shot.predictions(scores, kind, cutoff)
            for scores, kind, cutoff in zip(all_scores, kinds, cutoffs)
        ]

    def predict_logits(self, texts, labels, batch_size=8, prompt=None, examples=None, **windows):
        """Every label's logit for every text: a list of float32 arrays in label order.

        Arguments as in `classify` (including `long_text` and the window
        options). Texts are batched by length; Keras models on jax and
        tensorflow pad batches to a few bucketed shapes
        (`gliclass_keras.utils.shapes`), and bi-encoders there pack the
        texts of a call with more than `batch_size` of them into rows of
        one length (`gliclass_keras.preprocessing.sequence_packing`).
        """
        checked = self._check_inputs(texts, labels, prompt, examples, batch_size, windows)
        return self._logits(*checked)

    def predict_scores(
        self,
        texts,
        labels,
        classification_type="multi-label",
        batch_size=8,
        prompt=None,
        examples=None,
        **windows,
    ):
        """Every label's score for every text, as a list of `{label: score}` dicts.

        Scores are sigmoid probabilities (multi-label) or a softmax over the
        text's labels (single-label). Arguments as in `classify` (including
        `long_text` and the window options).
        """
        return self._label_scores(
            texts, labels, classification_type, batch_size, prompt, examples, 0.5, windows
        )[0]

    def _check_inputs(self, texts, labels, prompt, examples, batch_size, windows=None):
        if self.preprocessor is None:
            raise ValueError(
                "This model has no preprocessor; build it with one (from_pretrained "
                "does) to classify raw texts."
            )
        texts = inputs_lib.normalize_texts(texts)
        label_embeddings = None
        if isinstance(labels, LabelEmbeddings):
            self._check_label_embeddings(labels)
            label_embeddings = labels
            per_text_labels = [labels.labels] * len(texts)
        else:
            per_text_labels, _ = inputs_lib.normalize_labels(labels, len(texts))
        prompts = inputs_lib.normalize_prompts(prompt, len(texts))
        per_text_examples = inputs_lib.normalize_examples(examples, len(texts))
        batch_size = inputs_lib.check_batch_size(batch_size)
        windows = self._check_windows(windows or {})
        return (
            texts, per_text_labels, prompts, per_text_examples, batch_size, label_embeddings, windows
        )

    def _check_windows(self, windows):
        """`None` (truncate) or `(window_size, window_overlap, window_aggregation)`."""
        unknown = sorted(set(windows) - {"long_text", "window_size", "window_overlap", "window_aggregation"})
        if unknown:
            raise TypeError(f"Unexpected keyword arguments: {unknown}")
        long_text, size, overlap, how = long_text_lib.check_window_arguments(
            windows.get("long_text", "truncate"),
            windows.get("window_size"),
            windows.get("window_overlap"),
            windows.get("window_aggregation", "max"),
            self.preprocessor.max_length,
        )
        return None if long_text == "truncate" else (size, overlap, how)

    def _check_label_embeddings(self, label_embeddings):
        raise TypeError(
            "`labels` is a LabelEmbeddings, which only bi-encoder models accept; "
            f"give this {type(self).__name__} a list of label strings."
        )

    def _predict_rows(self, rows, batch_size):
        """Logits (numpy, one vector per row) for encoded rows, batched by length."""
        static_shapes = self._uses_static_shapes()
        num_labels = shapes.padded_labels(
            max(len(row.label_indices) for row in rows), static_shapes
        )

        def run(batch, static_shapes):
            arrays = self.preprocessor.collate(
                batch, num_labels=num_labels, static_shapes=static_shapes
            )
            logits = np.asarray(self._run_batch(arrays))
            return [logits[i, : len(row.label_indices)] for i, row in enumerate(batch)]

        return zero_shot.run_by_length(rows, batch_size, run, static_shapes)

    def _logits(
        self,
        texts,
        per_text_labels,
        prompts,
        per_text_examples,
        batch_size,
        label_embeddings=None,
        windows=None,
    ):
        if windows is not None:
            return self._window_logits(
                texts, per_text_labels, prompts, per_text_examples, batch_size, label_embeddings, windows
            )
        if label_embeddings is None:
            label_embeddings = self._shared_label_embeddings(per_text_labels, per_text_examples)
        if label_embeddings is not None:
            return self._cached_logits(
                texts, prompts, per_text_examples, batch_size, label_embeddings
            )
        rows = self.preprocessor.encode_rows(texts, per_text_labels, prompts, per_text_examples)
        return zero_shot.merge_row_logits(
            rows, self._predict_rows(rows, batch_size), per_text_labels
        )

    def _shared_label_embeddings(self, per_text_labels, per_text_examples):
        """Label vectors to score every text against, when encoding labels once is exact.

        None here: every text is run with its labels. Bi-encoders
        (`LabelCacheAPI`) encode a label list all texts share once per call.
        """
        return None

    def _window_logits(
        self, texts, per_text_labels, prompts, per_text_examples, batch_size, label_embeddings, windows
    ):
        """Logits of every window of every text, aggregated per label (`long_text="windows"`)."""
        size, overlap, how = windows
        owners, window_texts = [], []
        for index, text in enumerate(texts):
            for window in long_text_lib.split_windows(self.preprocessor.tokenizer, text, size, overlap):
                owners.append(index)
                window_texts.append(window)
        window_logits = self._logits(
            window_texts,
            [per_text_labels[i] for i in owners],
            [prompts[i] for i in owners],
            [per_text_examples[i] for i in owners],
            batch_size,
            label_embeddings,
        )
        grouped = [[] for _ in texts]
        for owner, logits in zip(owners, window_logits):
            grouped[owner].append(logits)
        return [long_text_lib.aggregate(group, how) for group in grouped]

    def _label_scores(
        self, texts, labels, classification_type, batch_size, prompt, examples, threshold, windows
    ):
        checked = self._check_inputs(texts, labels, prompt, examples, batch_size, windows)
        texts, per_text_labels = checked[0], checked[1]
        kinds = inputs_lib.normalize_classification_type(classification_type, len(texts))
        cutoffs = inputs_lib.normalize_thresholds(threshold, len(texts))
        all_scores = []
        for logits, label_list, kind in zip(self._logits(*checked), per_text_labels, kinds):
            probs = zero_shot.scores_from_logits(
                calibration_lib.calibrated_logits(logits, self.calibration, kind), kind
            )
            all_scores.append({name: float(p) for name, p in zip(label_list, probs)})
        return all_scores, kinds, cutoffs
