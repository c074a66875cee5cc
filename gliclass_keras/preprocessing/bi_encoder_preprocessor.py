"""`GLiClassBiEncoderPreprocessor`: texts and labels to bi-encoder inputs."""

import dataclasses
import warnings

import keras
import numpy as np
import tokenizers

from gliclass_keras.api_export import register
from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing.tokenizer import GLiClassTokenizer


@dataclasses.dataclass
class EncodedBiInput:
    """One bi-encoder row: a text's token ids and those of each of its labels."""

    token_ids: list
    text_index: int
    label_indices: list
    label_token_ids: list
    truncated_characters: int = 0


@register
class GLiClassBiEncoderPreprocessor(keras.layers.Layer):
    """Turns texts and candidate labels into GLiClass bi-encoder inputs.

    As the reference `BiEncoderZeroShotClassificationPipeline`: each text
    (`f"{prompt} {text}"` when a prompt is given) is tokenized alone with the
    text tokenizer, and each label alone with the label tokenizer (special
    tokens added by both). Both are cut at `max_length` tokens the way
    Hugging Face's `truncation=True` cuts them (the closing special token is
    kept). Few-shot examples are not part of a bi-encoder's input; the
    reference ignores them, and so does this preprocessor (with a warning).

    Outputs: `token_ids` and `padding_mask` `(batch, length)`;
    `label_token_ids` and `label_padding_mask`
    `(batch, num_labels, label_length)`; `label_mask` `(batch, num_labels)`,
    1 for each real label slot. Texts may have label lists of different
    lengths.

    Args:
        tokenizer: a `GLiClassTokenizer` for the texts.
        label_tokenizer: a `GLiClassTokenizer` for the labels.
        max_length: int. Longest text or label in tokens (the reference
            pipeline's default is 1024).
        pad_token_id: int. Padding id of the text tokenizer.
        label_pad_token_id: int. Padding id of the label tokenizer.

    Example:

    ```python
    preprocessor = GLiClassBiEncoderPreprocessor(tokenizer, label_tokenizer)
    batch = preprocessor(["Our team won."], ["sport", "travel"])
    batch["label_token_ids"].shape  # (1, 2, label_length)
    ```
    """

    def __init__(
        self,
        tokenizer=None,
        label_tokenizer=None,
        max_length=1024,
        pad_token_id=0,
        label_pad_token_id=0,
        **kwargs,
    ):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"`max_length` must be an int >= 2. Received: {max_length!r}")
        for name, value in (("tokenizer", tokenizer), ("label_tokenizer", label_tokenizer)):
            if value is not None and not isinstance(value, GLiClassTokenizer):
                raise TypeError(
                    f"`{name}` must be a GLiClassTokenizer. Received: {type(value).__name__}"
                )
        self.tokenizer = tokenizer
        self.label_tokenizer = label_tokenizer
        self.max_length = max_length
        self.pad_token_id = int(pad_token_id)
        self.label_pad_token_id = int(label_pad_token_id)
        self._truncating = {}
        self.built = True  # no weights (see GLiClassPreprocessor)

    # ------------------------------------------------------------- encoding
    def _truncating_backend(self, which):
        """A copy of a tokenizer with Hugging Face-style truncation at `max_length`."""
        tokenizer = self.tokenizer if which == "text" else self.label_tokenizer
        if tokenizer is None:
            raise ValueError(f"This GLiClassBiEncoderPreprocessor has no {which} tokenizer.")
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

    def _encode_checked(self, texts, per_text_labels, prompts, per_text_examples, warn=True):
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
        if warn and truncated:
            warnings.warn(
                f"{len(truncated)} text(s) (indices {truncated[:10]}) were longer than "
                f"max_length={self.max_length} tokens; their ends were cut.",
                stacklevel=3,
            )
        if warn and any(per_text_examples):
            warnings.warn(
                "Bi-encoder models do not use few-shot examples (neither does the "
                "reference); they were ignored.",
                stacklevel=3,
            )
        return rows

    def encode(self, texts, labels, prompt=None, examples=None, warn=True):
        """Encode texts and their labels into a list of `EncodedBiInput` rows (one per text)."""
        texts = inputs_lib.normalize_texts(texts)
        per_text_labels, _ = inputs_lib.normalize_labels(labels, len(texts))
        prompts = inputs_lib.normalize_prompts(prompt, len(texts))
        per_text_examples = inputs_lib.normalize_examples(examples, len(texts))
        return self._encode_checked(texts, per_text_labels, prompts, per_text_examples, warn)

    # ------------------------------------------------------------- batching
    def collate(self, rows, sequence_length=None, num_labels=None, label_length=None):
        """Pad rows into the model's five input arrays."""
        longest = max(len(row.token_ids) for row in rows)
        if sequence_length is None:
            sequence_length = longest
        elif sequence_length < longest:
            raise ValueError(f"`sequence_length`={sequence_length} is shorter than a row ({longest}).")
        longest_label = max(
            [len(ids) for row in rows for ids in row.label_token_ids] or [1]
        )
        if label_length is None:
            label_length = longest_label
        elif label_length < longest_label:
            raise ValueError(f"`label_length`={label_length} is shorter than a label ({longest_label}).")
        most_labels = max(len(row.label_indices) for row in rows)
        num_labels = most_labels if num_labels is None else max(num_labels, most_labels)
        batch = len(rows)
        token_ids = np.full((batch, sequence_length), self.pad_token_id, dtype="int32")
        padding_mask = np.zeros((batch, sequence_length), dtype="int32")
        label_token_ids = np.full(
            (batch, num_labels, label_length), self.label_pad_token_id, dtype="int32"
        )
        label_padding_mask = np.zeros((batch, num_labels, label_length), dtype="int32")
        label_mask = np.zeros((batch, num_labels), dtype="int32")
        for r, row in enumerate(rows):
            token_ids[r, : len(row.token_ids)] = row.token_ids
            padding_mask[r, : len(row.token_ids)] = 1
            label_mask[r, : len(row.label_indices)] = 1
            for k, ids in enumerate(row.label_token_ids):
                label_token_ids[r, k, : len(ids)] = ids
                label_padding_mask[r, k, : len(ids)] = 1
        return {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "label_token_ids": label_token_ids,
            "label_padding_mask": label_padding_mask,
            "label_mask": label_mask,
        }

    # Rank of each model input, for `tf.data` signatures (GLiClassDataset).
    input_ranks = {
        "token_ids": 2,
        "padding_mask": 2,
        "label_token_ids": 3,
        "label_padding_mask": 3,
        "label_mask": 2,
    }

    def call(self, texts, labels, prompt=None, examples=None):
        return self.collate(self.encode(texts, labels, prompt=prompt, examples=examples))

    def __call__(self, texts, labels, prompt=None, examples=None):
        # Plain Python: no Keras tensor conversion of string inputs.
        return self.call(texts, labels, prompt=prompt, examples=examples)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
                "label_tokenizer": keras.saving.serialize_keras_object(self.label_tokenizer),
                "max_length": self.max_length,
                "pad_token_id": self.pad_token_id,
                "label_pad_token_id": self.label_pad_token_id,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("tokenizer", "label_tokenizer"):
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
