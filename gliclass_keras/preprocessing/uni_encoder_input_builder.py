"""`UniEncoderInputBuilder`: the framework-free core of `GLiClassPreprocessor`."""

from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing.input_builder import InputBuilder
from gliclass_keras.preprocessing.encoded_rows import EncodedInput
from gliclass_keras.preprocessing.text_fitting import chunk_labels
from gliclass_keras.preprocessing.text_fitting import fit_text


class UniEncoderInputBuilder(InputBuilder):
    """Turns texts and candidate labels into GLiClass uni-encoder inputs, framework-free.

    All of `GLiClassPreprocessor`'s logic (input format, text cutting, label
    chunking, warnings, batching; see its docstring) in plain Python and
    numpy: `GLiClassPreprocessor` is this builder as a Keras layer, and
    `gliclass_keras.OnnxClassifier` uses the builder as it is. Arguments as
    `GLiClassPreprocessor`'s, without the Keras layer arguments; the
    tokenizers are `FastTokenizer`s (a `GLiClassTokenizer` is one).

    Example:

    ```python
    tokenizer = FastTokenizer.from_file("checkpoint/tokenizer.json")
    builder = UniEncoderInputBuilder(tokenizer, prompt_first=True)
    batch = builder(["Our team won."], ["sport", "travel"])
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
    ):
        InputBuilder.__init__(self, max_length=max_length, pad_token_id=pad_token_id)
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
