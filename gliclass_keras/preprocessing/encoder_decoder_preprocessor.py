"""`GLiClassEncoderDecoderPreprocessor`: texts and labels to encoder-decoder inputs."""

import dataclasses
import warnings

import keras
import numpy as np

from gliclass_keras.api_export import register
from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing.preprocessor import chunk_labels
from gliclass_keras.preprocessing.preprocessor import fit_text
from gliclass_keras.preprocessing.tokenizer import GLiClassTokenizer


@dataclasses.dataclass
class EncodedEncoderDecoderInput:
    """One encoder-decoder row: a text's token ids and its class prompt's."""

    token_ids: list
    text_index: int
    label_indices: list
    class_token_ids: list
    truncated_characters: int = 0


@register
class GLiClassEncoderDecoderPreprocessor(keras.layers.Layer):
    """Turns texts and candidate labels into GLiClass encoder-decoder inputs.

    As the reference's `EncoderDecoderZeroShotClassificationPipeline`, each
    text gives two sequences, both tokenized with the checkpoint's one
    tokenizer (special tokens added):

    ```
    text side:  text + examples      examples = "<<EXAMPLE>>t \\nLabels:\\n a, b" ... "<<SEP>>"
    class side: "<<LABEL>>l1<<LABEL>>l2...<<SEP>>" + prompt
    ```

    For `architecture_type="encoder-decoder"` the text side goes to the
    encoder and the class side to the decoder; `"encoder-decoder-cls"`
    swaps them. The outputs are `token_ids` and `padding_mask`
    `(batch, length)` (text side), `class_token_ids` and
    `class_padding_mask` `(batch, class_length)` (class side) and
    `label_mask` `(batch, num_labels)`, 1 for each real label slot.

    Unlike the reference, which cuts both sequences at `max_length` from
    the right (losing few-shot examples, then text, and on the class side
    labels, whose logits then come from zero vectors), the same rules as
    `GLiClassPreprocessor` apply:

    * an over-long text side loses the end of its *text*; the examples are
      kept (a `ValueError` if the examples alone do not fit);
    * a class side longer than `max_length` is split into label chunks,
      each with every `<<LABEL>>` of its labels and the prompt, that are
      scored separately (`classify` merges them); no label is ever cut
      (a `ValueError` if one label with the prompt does not fit).

    Either event is reported with a warning.

    Args:
        tokenizer: a `GLiClassTokenizer`.
        max_length: int. Longest sequence, on either side, in tokens (the
            reference pipeline's default is 1024).
        pad_token_id: int. Id used for padding.

    Example:

    ```python
    preprocessor = GLiClassEncoderDecoderPreprocessor(tokenizer)
    batch = preprocessor(["Our team won."], ["sport", "travel"])
    batch["class_token_ids"].shape  # (1, class_length)
    batch["label_mask"]  # [[1, 1]]
    ```
    """

    # Rank of each model input, for `tf.data` signatures (GLiClassDataset).
    input_ranks = {
        "token_ids": 2,
        "padding_mask": 2,
        "class_token_ids": 2,
        "class_padding_mask": 2,
        "label_mask": 2,
    }

    def __init__(self, tokenizer=None, max_length=1024, pad_token_id=0, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 4:
            raise ValueError(f"`max_length` must be an int >= 4. Received: {max_length!r}")
        if tokenizer is not None and not isinstance(tokenizer, GLiClassTokenizer):
            raise TypeError(
                f"`tokenizer` must be a GLiClassTokenizer. Received: {type(tokenizer).__name__}"
            )
        if isinstance(pad_token_id, bool) or not isinstance(pad_token_id, (int, np.integer)):
            raise TypeError(f"`pad_token_id` must be an int. Received: {pad_token_id!r}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad_token_id = int(pad_token_id)
        self.built = True  # no weights (see GLiClassPreprocessor)

    # ----------------------------------------------------------- formatting
    def format_text(self, text, examples=None):
        """The text side's string and the character span of `text` in it."""
        return text + inputs_lib.format_examples(examples), (0, len(text))

    def format_class_prompt(self, labels, prompt=None):
        """The class side's string: `"<<LABEL>>l1<<LABEL>>l2...<<SEP>>" + prompt`."""
        label_part = "".join(inputs_lib.CLASS_TOKEN + label for label in labels)
        return label_part + inputs_lib.TEXT_TOKEN + (prompt or "")

    # ------------------------------------------------------------- encoding
    def _encode_text(self, text, examples, index):
        encoded = fit_text(
            self.tokenizer,
            lambda kept: self.format_text(kept, examples),
            text,
            self.max_length,
        )
        if encoded is None:
            raise ValueError(
                f"The few-shot examples of texts[{index}] take more than "
                f"max_length={self.max_length} tokens even without the text; "
                "pass fewer or shorter examples, or raise `max_length`."
            )
        return encoded

    def _encode_classes(self, labels, prompt):
        """`[(label_indices, class_token_ids), ...]`: one entry per label chunk."""
        ids = self.tokenizer.encode([self.format_class_prompt(labels, prompt)])[0]
        if len(ids) <= self.max_length:
            return [(list(range(len(labels))), ids)]
        chunks = chunk_labels(
            self.tokenizer,
            labels,
            lambda chunk: self.format_class_prompt(chunk, prompt),
            budget=self.max_length,
            max_length=self.max_length,
            context="with the prompt",
        )
        strings = [self.format_class_prompt([labels[i] for i in c], prompt) for c in chunks]
        return list(zip(chunks, self.tokenizer.encode(strings)))

    def _encode_checked(self, texts, per_text_labels, prompts, per_text_examples, warn=True):
        if self.tokenizer is None:
            raise ValueError("This GLiClassEncoderDecoderPreprocessor has no tokenizer.")
        rows, truncated, chunked = [], [], []
        class_cache = {}
        for i, text in enumerate(texts):
            labels, prompt = per_text_labels[i], prompts[i]
            ids, cut = self._encode_text(text, per_text_examples[i], i)
            if cut:
                truncated.append(i)
            key = (tuple(labels), prompt)
            if key not in class_cache:
                class_cache[key] = self._encode_classes(labels, prompt)
            chunks = class_cache[key]
            if len(chunks) > 1:
                chunked.append((i, len(chunks)))
            for label_indices, class_ids in chunks:
                rows.append(
                    EncodedEncoderDecoderInput(
                        list(ids), i, list(label_indices), list(class_ids), cut
                    )
                )
        if warn and truncated:
            warnings.warn(
                f"{len(truncated)} text(s) (indices {truncated[:10]}) were longer than "
                f"max_length={self.max_length} tokens with their examples; the end of "
                "each text was cut and every example kept.",
                stacklevel=3,
            )
        if warn and chunked:
            warnings.warn(
                f"The labels of {len(chunked)} text(s) (index, chunks: {chunked[:10]}) do "
                f"not fit in max_length={self.max_length} tokens; they are scored in chunks.",
                stacklevel=3,
            )
        return rows

    def encode(self, texts, labels, prompt=None, examples=None, warn=True):
        """Encode texts and their labels into `EncodedEncoderDecoderInput` rows.

        Most texts give one row; a text whose labels do not fit in
        `max_length` gives one row per label chunk.
        """
        texts = inputs_lib.normalize_texts(texts)
        per_text_labels, _ = inputs_lib.normalize_labels(labels, len(texts))
        prompts = inputs_lib.normalize_prompts(prompt, len(texts))
        per_text_examples = inputs_lib.normalize_examples(examples, len(texts))
        return self._encode_checked(texts, per_text_labels, prompts, per_text_examples, warn)

    # ------------------------------------------------------------- batching
    def collate(self, rows, sequence_length=None, num_labels=None, class_length=None):
        """Pad rows into the model's five input arrays."""

        def padded(sequences, length, name):
            longest = max(len(ids) for ids in sequences)
            if length is None:
                length = longest
            elif length < longest:
                raise ValueError(f"`{name}`={length} is shorter than a row ({longest}).")
            ids = np.full((len(sequences), length), self.pad_token_id, dtype="int32")
            mask = np.zeros((len(sequences), length), dtype="int32")
            for r, row_ids in enumerate(sequences):
                ids[r, : len(row_ids)] = row_ids
                mask[r, : len(row_ids)] = 1
            return ids, mask

        token_ids, padding_mask = padded(
            [row.token_ids for row in rows], sequence_length, "sequence_length"
        )
        class_token_ids, class_padding_mask = padded(
            [row.class_token_ids for row in rows], class_length, "class_length"
        )
        most_labels = max(len(row.label_indices) for row in rows)
        num_labels = most_labels if num_labels is None else max(num_labels, most_labels)
        label_mask = np.zeros((len(rows), num_labels), dtype="int32")
        for r, row in enumerate(rows):
            label_mask[r, : len(row.label_indices)] = 1
        return {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "class_token_ids": class_token_ids,
            "class_padding_mask": class_padding_mask,
            "label_mask": label_mask,
        }

    def call(self, texts, labels, prompt=None, examples=None):
        rows = self.encode(texts, labels, prompt=prompt, examples=examples)
        if len(rows) != len(set(row.text_index for row in rows)):
            raise ValueError(
                "Some texts need their labels scored in several chunks (they do not fit "
                f"in max_length={self.max_length}); use `classify`, which merges "
                "chunks, or raise `max_length`."
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
                "pad_token_id": self.pad_token_id,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("tokenizer"), dict):
            config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)
