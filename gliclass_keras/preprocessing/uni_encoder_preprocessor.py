"""`GLiClassPreprocessor`: raw texts and labels to GLiClass model inputs."""

from gliclass_keras.api_export import register
from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing.base import GLiClassPreprocessorBase
from gliclass_keras.preprocessing.encoded_rows import EncodedInput
from gliclass_keras.preprocessing.text_fitting import chunk_labels
from gliclass_keras.preprocessing.text_fitting import fit_text


@register
class GLiClassPreprocessor(GLiClassPreprocessorBase):
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

    config_args = ("max_length", "prompt_first", "pad_token_id", "sequence_length_multiple")

    def __init__(
        self,
        tokenizer=None,
        max_length=1024,
        prompt_first=False,
        pad_token_id=0,
        sequence_length_multiple=1,
        **kwargs,
    ):
        super().__init__(max_length=max_length, pad_token_id=pad_token_id, **kwargs)
        if (
            isinstance(sequence_length_multiple, bool)
            or not isinstance(sequence_length_multiple, int)
            or sequence_length_multiple < 1
        ):
            raise ValueError(
                "`sequence_length_multiple` must be a positive int. "
                f"Received: {sequence_length_multiple!r}"
            )
        self.tokenizer = self._checked_tokenizer("tokenizer", tokenizer)
        self.prompt_first = bool(prompt_first)
        self.sequence_length_multiple = sequence_length_multiple

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

    def encode_rows(self, texts, per_text_labels, prompts, per_text_examples, warn=True):
        """One row per text, or one per label chunk when its labels do not fit."""
        self._require_tokenizer()
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
        if warn:
            self._warn_cut(truncated, kept="label")
            self._warn_chunked(chunked)
        return rows

    # ------------------------------------------------------------- batching
    def collate(self, rows, num_labels=None, static_shapes=False, sequence_length=None):
        """Pad rows into `token_ids`, `padding_mask` and `label_mask` arrays.

        Without a static-shape policy or a `sequence_length`, the length is
        the longest row rounded up to `sequence_length_multiple`.
        """
        if sequence_length is None and not static_shapes:
            longest = max(len(row.token_ids) for row in rows)
            multiple = self.sequence_length_multiple
            sequence_length = -(-longest // multiple) * multiple
        token_ids, padding_mask = self.pad_rows(
            [row.token_ids for row in rows], self.pad_token_id, sequence_length, static_shapes
        )
        num_labels = self.label_slots(rows, num_labels, static_shapes)
        return {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "label_mask": self.label_mask(rows, num_labels),
        }
