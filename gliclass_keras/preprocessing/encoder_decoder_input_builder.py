"""`EncoderDecoderInputBuilder`: the framework-free core of `GLiClassEncoderDecoderPreprocessor`."""

from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing.input_builder import InputBuilder
from gliclass_keras.preprocessing.encoded_rows import EncodedEncoderDecoderInput
from gliclass_keras.preprocessing.text_fitting import chunk_labels
from gliclass_keras.preprocessing.text_fitting import fit_text


class EncoderDecoderInputBuilder(InputBuilder):
    """Turns texts and candidate labels into GLiClass encoder-decoder inputs, framework-free.

    All of `GLiClassEncoderDecoderPreprocessor`'s logic (input format, text cutting, label
    chunking, warnings, batching; see its docstring) in plain Python and
    numpy: `GLiClassEncoderDecoderPreprocessor` is this builder as a Keras layer, and
    `gliclass_keras.OnnxClassifier` uses the builder as it is. Arguments as
    `GLiClassEncoderDecoderPreprocessor`'s, without the Keras layer arguments; the
    tokenizers are `FastTokenizer`s (a `GLiClassTokenizer` is one).

    Example:

    ```python
    tokenizer = FastTokenizer.from_file("checkpoint/tokenizer.json")
    builder = EncoderDecoderInputBuilder(tokenizer)
    batch = builder(["Our team won."], ["sport", "travel"])
    batch["class_token_ids"].shape  # (1, class_length)
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

    def __init__(self, tokenizer=None, max_length=1024, pad_token_id=0):
        InputBuilder.__init__(self, max_length=max_length, pad_token_id=pad_token_id)
        self.tokenizer = self._checked_tokenizer("tokenizer", tokenizer)

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

    def encode_rows(self, texts, per_text_labels, prompts, per_text_examples, warn=True):
        """One row per text (or per label chunk): the text side and the class side."""
        self._require_tokenizer()
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
        if warn:
            self._warn_cut(truncated, kept="example")
            self._warn_chunked(chunked)
        return rows

    # ------------------------------------------------------------- batching
    def collate(
        self, rows, num_labels=None, static_shapes=False, sequence_length=None, class_length=None
    ):
        """Pad rows into the model's five input arrays."""
        token_ids, padding_mask = self.pad_rows(
            [row.token_ids for row in rows], self.pad_token_id, sequence_length, static_shapes
        )
        class_token_ids, class_padding_mask = self.pad_rows(
            [row.class_token_ids for row in rows],
            self.pad_token_id,
            class_length,
            static_shapes,
            "class_length",
        )
        num_labels = self.label_slots(rows, num_labels, static_shapes)
        return {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "class_token_ids": class_token_ids,
            "class_padding_mask": class_padding_mask,
            "label_mask": self.label_mask(rows, num_labels),
        }
