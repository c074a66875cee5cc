"""`GLiClassPreprocessor`: raw texts and labels to GLiClass model inputs."""

import dataclasses
import warnings

import keras
import numpy as np

from gliclass_keras.api_export import register
from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing.tokenizer import GLiClassTokenizer


@dataclasses.dataclass
class EncodedInput:
    """One model row: token ids, and which labels of which text it scores."""

    token_ids: list
    text_index: int
    label_indices: list
    truncated_characters: int = 0


def fit_text(tokenizer, build, text, max_length):
    """Token ids of `build(text)`, with the end of `text` cut until they fit.

    Args:
        tokenizer: a `GLiClassTokenizer`.
        build: `fn(kept_text) -> (string, (start, end))`, the full input
            string around `kept_text` and the character span of `kept_text`
            inside it.
        text: str, the text that may be cut.
        max_length: int, the most tokens allowed.

    Returns:
        `(ids, truncated_characters)`, or `None` when the input does not fit
        even with an empty text.
    """
    string, (start, end) = build(text)
    ids, offsets = tokenizer.encode_with_offsets(string)
    if len(ids) <= max_length:
        return ids, 0
    keep_chars = len(text)
    while True:
        excess = len(ids) - max_length
        text_tokens = [
            (s, e) for (s, e) in offsets if e > s and s >= start and e <= start + keep_chars
        ]
        if not text_tokens or keep_chars == 0:
            return None
        keep_tokens = max(len(text_tokens) - excess, 0)
        new_keep = text_tokens[keep_tokens][0] - start if keep_tokens < len(text_tokens) else 0
        keep_chars = max(min(new_keep, keep_chars - 1), 0)
        string, (start, end) = build(text[:keep_chars])
        ids, offsets = tokenizer.encode_with_offsets(string)
        if len(ids) <= max_length:
            return ids, len(text) - keep_chars


def chunk_labels(tokenizer, labels, build, budget, max_length, context):
    """Split `labels` into consecutive groups whose `build(group)` fits in `budget` tokens.

    Groups are filled greedily in label order; a label that does not fit in
    `budget` on its own gets a group of its own. Raises a `ValueError` when
    one label's input (described by `context`, e.g. "with the prompt") is
    longer than `max_length`. Returns lists of label indices.
    """
    chunks, current = [], []
    for index, label in enumerate(labels):
        trial = current + [index]
        ids, _ = tokenizer.encode_with_offsets(build([labels[i] for i in trial]))
        if len(ids) <= budget or not current:
            if len(ids) > max_length:
                raise ValueError(
                    f"The label {label!r}, {context}, takes {len(ids)} tokens, "
                    f"more than max_length={max_length}."
                )
            current = trial
        else:
            chunks.append(current)
            current = [index]
    chunks.append(current)
    return chunks


@register
class GLiClassPreprocessor(keras.layers.Layer):
    """Turns texts and candidate labels into GLiClass uni-encoder inputs.

    Each text becomes one sequence built exactly as the reference pipeline
    builds it:

    ```
    label_part = "<<LABEL>>l1<<LABEL>>l2...<<SEP>>" + prompt
    examples   = "<<EXAMPLE>>text \\nLabels:\\n a, b" ... "<<SEP>>"   (if any)
    prompt_first: label_part + text + examples
    otherwise:    text + label_part + examples
    ```

    tokenized with the checkpoint's own tokenizer (special tokens added). The
    outputs are `token_ids` and `padding_mask` of shape `(batch, length)` and
    `label_mask` of shape `(batch, num_labels)`, 1 for each real label slot.

    Unlike the reference, which cuts every sequence at `max_length` from the
    right (and so drops the labels of text-first models), an over-long input
    loses the end of its *text* only; every label is kept. When the labels
    alone do not fit, they are split into chunks that are scored separately
    (by `GLiClassClassifier.classify`). Either event is reported with a
    warning.

    Args:
        tokenizer: a `GLiClassTokenizer`.
        max_length: int. Longest sequence in tokens (the reference pipeline's
            default is 1024).
        prompt_first: bool. Put the labels (and prompt) before the text.
        pad_token_id: int. Id used for padding.
        sequence_length_multiple: int. Pad the sequence length of a batch up
            to a multiple of this, so compiled backends see few shapes.

    Example:

    ```python
    preprocessor = GLiClassPreprocessor(tokenizer, prompt_first=True)
    batch = preprocessor(["Our team won."], ["sport", "travel"])
    batch["token_ids"].shape, batch["label_mask"]  # (1, L), [[1, 1]]
    ```
    """

    def __init__(
        self,
        tokenizer=None,
        max_length=1024,
        prompt_first=False,
        pad_token_id=0,
        sequence_length_multiple=1,
        **kwargs,
    ):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 4:
            raise ValueError(f"`max_length` must be an int >= 4. Received: {max_length!r}")
        if (
            isinstance(sequence_length_multiple, bool)
            or not isinstance(sequence_length_multiple, int)
            or sequence_length_multiple < 1
        ):
            raise ValueError(
                "`sequence_length_multiple` must be a positive int. "
                f"Received: {sequence_length_multiple!r}"
            )
        if tokenizer is not None and not isinstance(tokenizer, GLiClassTokenizer):
            raise TypeError(
                f"`tokenizer` must be a GLiClassTokenizer. Received: {type(tokenizer).__name__}"
            )
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.prompt_first = bool(prompt_first)
        self.pad_token_id = int(pad_token_id)
        self.sequence_length_multiple = sequence_length_multiple
        # No weights: mark it built, or Keras' jax predict would run an extra
        # uncompiled pass on every call to build the model's unbuilt layers.
        self.built = True

    # ----------------------------------------------------------- formatting
    def format_input(self, text, labels, prompt=None, examples=None):
        """The input string and the character span of `text` inside it."""
        label_part = "".join(inputs_lib.CLASS_TOKEN + label for label in labels)
        label_part += inputs_lib.TEXT_TOKEN + (prompt or "")
        examples_part = inputs_lib.format_examples(examples)
        if self.prompt_first:
            start = len(label_part)
            return label_part + text + examples_part, (start, start + len(text))
        return text + label_part + examples_part, (0, len(text))

    def _encode_one(self, text, labels, prompt, examples):
        """Token ids for one (text, labels); the text is cut to fit `max_length`.

        Returns `(ids, truncated_characters)`, or `None` when the labels do
        not fit even with an empty text.
        """
        return fit_text(
            self.tokenizer,
            lambda kept: self.format_input(kept, labels, prompt, examples),
            text,
            self.max_length,
        )

    def _label_chunks(self, labels, prompt, examples):
        """Split `labels` into groups whose input, with no text, fits in half of `max_length`."""
        return chunk_labels(
            self.tokenizer,
            labels,
            lambda chunk: self.format_input("", chunk, prompt, examples)[0],
            budget=self.max_length // 2,
            max_length=self.max_length,
            context="with the prompt and examples",
        )

    def encode(self, texts, labels, prompt=None, examples=None, warn=True):
        """Encode texts against their labels into a list of `EncodedInput` rows.

        Most texts give one row. A text whose labels do not fit in
        `max_length` gives one row per label chunk.
        """
        if self.tokenizer is None:
            raise ValueError("This GLiClassPreprocessor has no tokenizer.")
        texts = inputs_lib.normalize_texts(texts)
        per_text_labels, _ = inputs_lib.normalize_labels(labels, len(texts))
        prompts = inputs_lib.normalize_prompts(prompt, len(texts))
        per_text_examples = inputs_lib.normalize_examples(examples, len(texts))
        return self._encode_checked(texts, per_text_labels, prompts, per_text_examples, warn)

    def _encode_checked(self, texts, per_text_labels, prompts, per_text_examples, warn=True):
        rows = []
        truncated, chunked = [], []
        for i, text in enumerate(texts):
            labels, prompt, examples = per_text_labels[i], prompts[i], per_text_examples[i]
            encoded = self._encode_one(text, labels, prompt, examples)
            if encoded is not None:
                ids, cut = encoded
                rows.append(EncodedInput(ids, i, list(range(len(labels))), cut))
                if cut:
                    truncated.append(i)
                continue
            chunks = self._label_chunks(labels, prompt, examples)
            chunked.append((i, len(chunks)))
            for chunk in chunks:
                ids, cut = self._encode_one(text, [labels[j] for j in chunk], prompt, examples)
                rows.append(EncodedInput(ids, i, chunk, cut))
                if cut and (not truncated or truncated[-1] != i):
                    truncated.append(i)
        if warn and truncated:
            warnings.warn(
                f"{len(truncated)} text(s) (indices {truncated[:10]}) were longer than "
                f"max_length={self.max_length} tokens with their labels; the end of "
                "each text was cut and every label kept.",
                stacklevel=3,
            )
        if warn and chunked:
            warnings.warn(
                f"The labels of {len(chunked)} text(s) (index, chunks: {chunked[:10]}) do "
                f"not fit in max_length={self.max_length} tokens; they are scored in chunks.",
                stacklevel=3,
            )
        return rows

    # ------------------------------------------------------------- batching
    def collate(self, rows, sequence_length=None, num_labels=None):
        """Pad rows into `token_ids`, `padding_mask` and `label_mask` arrays."""
        longest = max(len(row.token_ids) for row in rows)
        if sequence_length is None:
            multiple = self.sequence_length_multiple
            sequence_length = -(-longest // multiple) * multiple
        elif sequence_length < longest:
            raise ValueError(f"`sequence_length`={sequence_length} is shorter than a row ({longest}).")
        most_labels = max(len(row.label_indices) for row in rows)
        num_labels = most_labels if num_labels is None else max(num_labels, most_labels)
        token_ids = np.full((len(rows), sequence_length), self.pad_token_id, dtype="int32")
        padding_mask = np.zeros((len(rows), sequence_length), dtype="int32")
        label_mask = np.zeros((len(rows), num_labels), dtype="int32")
        for r, row in enumerate(rows):
            token_ids[r, : len(row.token_ids)] = row.token_ids
            padding_mask[r, : len(row.token_ids)] = 1
            label_mask[r, : len(row.label_indices)] = 1
        return {"token_ids": token_ids, "padding_mask": padding_mask, "label_mask": label_mask}

    def call(self, texts, labels, prompt=None, examples=None):
        rows = self.encode(texts, labels, prompt=prompt, examples=examples)
        if len(rows) != len(set(row.text_index for row in rows)):
            raise ValueError(
                "Some texts need their labels scored in several chunks (they do not fit "
                f"in max_length={self.max_length}); use `GLiClassClassifier.classify`, "
                "which merges chunks, or raise `max_length`."
            )
        return self.collate(rows)

    def __call__(self, texts, labels, prompt=None, examples=None):
        # Plain Python: no Keras tensor conversion of string inputs.
        return self.call(texts, labels, prompt=prompt, examples=examples)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
                "max_length": self.max_length,
                "prompt_first": self.prompt_first,
                "pad_token_id": self.pad_token_id,
                "sequence_length_multiple": self.sequence_length_multiple,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("tokenizer"), dict):
            config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)
