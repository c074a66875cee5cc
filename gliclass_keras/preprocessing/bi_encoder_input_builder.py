"""`BiEncoderInputBuilder`: the framework-free core of `GLiClassBiEncoderPreprocessor`."""

import warnings

import numpy as np
import tokenizers

from gliclass_keras.preprocessing.input_builder import InputBuilder
from gliclass_keras.preprocessing.encoded_rows import EncodedBiInput


class BiEncoderInputBuilder(InputBuilder):
    """Turns texts and candidate labels into GLiClass bi-encoder inputs, framework-free.

    All of `GLiClassBiEncoderPreprocessor`'s logic (input format, text cutting, label
    chunking, warnings, batching; see its docstring) in plain Python and
    numpy: `GLiClassBiEncoderPreprocessor` is this builder as a Keras layer, and
    `gliclass_keras.OnnxClassifier` uses the builder as it is. Arguments as
    `GLiClassBiEncoderPreprocessor`'s, without the Keras layer arguments; the
    tokenizers are `FastTokenizer`s (a `GLiClassTokenizer` is one).

    Example:

    ```python
    tokenizer = FastTokenizer.from_file("checkpoint/tokenizer.json")
    builder = BiEncoderInputBuilder(tokenizer, label_tokenizer)
    batch = builder(["Our team won."], ["sport", "travel"])
    batch["label_token_ids"].shape  # (1, 2, label_length)
    ```
    """

    tokenizer_args = ("tokenizer", "label_tokenizer")
    config_args = ("max_length", "pad_token_id", "label_pad_token_id")
    min_max_length = 2
    # Rank of each model input, for `tf.data` signatures (GLiClassDataset).
    input_ranks = {
        "token_ids": 2,
        "padding_mask": 2,
        "label_token_ids": 3,
        "label_padding_mask": 3,
        "label_mask": 2,
    }

    def __init__(
        self,
        tokenizer=None,
        label_tokenizer=None,
        max_length=1024,
        pad_token_id=0,
        label_pad_token_id=0,
    ):
        InputBuilder.__init__(self, max_length=max_length, pad_token_id=pad_token_id)
        self.tokenizer = self._checked_tokenizer("tokenizer", tokenizer)
        self.label_tokenizer = self._checked_tokenizer("label_tokenizer", label_tokenizer)
        self.label_pad_token_id = int(label_pad_token_id)
        self._truncating = {}

    # ------------------------------------------------------------- encoding
    def _truncating_backend(self, which):
        """A copy of a tokenizer with Hugging Face-style truncation at `max_length`."""
        tokenizer = self.tokenizer if which == "text" else self.label_tokenizer
        if tokenizer is None:
            raise ValueError(f"This {type(self).__name__} has no {which} tokenizer.")
        cached = self._truncating.get(which)
        if cached is not None and cached[0] is tokenizer.tokenizer_json:
            return cached[1]
        backend = tokenizers.Tokenizer.from_str(tokenizer.tokenizer_json)
        backend.no_padding()
        backend.enable_truncation(self.max_length)
        self._truncating[which] = (tokenizer.tokenizer_json, backend)
        return backend

    def format_text(self, text, prompt=None):
        """The text encoder's input string (`f"{prompt} {text}"` with a prompt)."""
        return f"{prompt} {text}" if prompt else text

    def _label_token_ids(self, per_text_labels):
        """`{label: token ids}` for every distinct label, by the label tokenizer."""
        label_backend = self._truncating_backend("label")
        unique = sorted({label for labels in per_text_labels for label in labels})
        return dict(zip(unique, (e.ids for e in label_backend.encode_batch(unique))))

    def encode_rows(self, texts, per_text_labels, prompts, per_text_examples, warn=True):
        """One row per text: its token ids and each of its labels' (cut at `max_length`)."""
        text_backend = self._truncating_backend("text")
        strings = [self.format_text(text, prompt) for text, prompt in zip(texts, prompts)]
        encodings = text_backend.encode_batch(strings)
        label_ids = self._label_token_ids(per_text_labels)
        rows, truncated = [], []
        for i, (encoding, labels) in enumerate(zip(encodings, per_text_labels)):
            cut = 0
            if encoding.overflowing:
                kept = encoding.offsets[-2][1] if len(encoding.offsets) > 1 else 0
                cut = max(len(strings[i]) - kept, 1)
                truncated.append(i)
            rows.append(
                EncodedBiInput(
                    list(encoding.ids),
                    i,
                    list(range(len(labels))),
                    [list(label_ids[label]) for label in labels],
                    cut,
                )
            )
        if warn:
            self._warn_cut(truncated)
        if warn and any(per_text_examples):
            warnings.warn(
                "Bi-encoder models do not use few-shot examples (neither does the "
                "reference); they were ignored.",
                stacklevel=3,
            )
        return rows

    # ------------------------------------------------------------- batching
    def collate_labels(self, label_token_ids, num_labels, label_length=None, static_shapes=False):
        """`(ids, mask)` of shape `(len(label_token_ids), num_labels, label_length)`.

        `label_token_ids[r]` lists row `r`'s labels' token ids; slots past a
        row's labels stay padding.
        """
        flat = [ids for row in label_token_ids for ids in row]
        ids, mask = self.pad_rows(
            flat, self.label_pad_token_id, label_length, static_shapes, "label_length"
        )
        length = ids.shape[1]
        batch = len(label_token_ids)
        out_ids = np.full((batch, num_labels, length), self.label_pad_token_id, dtype="int32")
        out_mask = np.zeros((batch, num_labels, length), dtype="int32")
        start = 0
        for r, row in enumerate(label_token_ids):
            out_ids[r, : len(row)] = ids[start : start + len(row)]
            out_mask[r, : len(row)] = mask[start : start + len(row)]
            start += len(row)
        return out_ids, out_mask

    def collate(
        self, rows, num_labels=None, static_shapes=False, sequence_length=None, label_length=None
    ):
        """Pad rows into the model's five input arrays."""
        token_ids, padding_mask = self.pad_rows(
            [row.token_ids for row in rows], self.pad_token_id, sequence_length, static_shapes
        )
        num_labels = self.label_slots(rows, num_labels, static_shapes)
        label_token_ids, label_padding_mask = self.collate_labels(
            [row.label_token_ids for row in rows], num_labels, label_length, static_shapes
        )
        return {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "label_token_ids": label_token_ids,
            "label_padding_mask": label_padding_mask,
            "label_mask": self.label_mask(rows, num_labels),
        }
