"""`BiEncoderFusedInputBuilder`: the framework-free core of `GLiClassBiEncoderFusedPreprocessor`."""

import functools

from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing.bi_encoder_input_builder import BiEncoderInputBuilder
from gliclass_keras.preprocessing.encoded_rows import EncodedBiInput
from gliclass_keras.preprocessing.text_fitting import fit_text


class BiEncoderFusedInputBuilder(BiEncoderInputBuilder):
    """Turns texts and candidate labels into GLiClass bi-encoder-fused inputs, framework-free.

    All of `GLiClassBiEncoderFusedPreprocessor`'s logic (input format, text cutting, label
    chunking, warnings, batching; see its docstring) in plain Python and
    numpy: `GLiClassBiEncoderFusedPreprocessor` is this builder as a Keras layer, and
    `gliclass_keras.OnnxClassifier` uses the builder as it is. Arguments as
    `GLiClassBiEncoderFusedPreprocessor`'s, without the Keras layer arguments; the
    tokenizers are `FastTokenizer`s (a `GLiClassTokenizer` is one).

    Example:

    ```python
    tokenizer = FastTokenizer.from_file("checkpoint/tokenizer.json")
    builder = BiEncoderFusedInputBuilder(tokenizer, label_tokenizer)
    builder.format_input("Our team won.", ["sport", "travel"])[0]
    # "Our team won.<<LABEL>><<LABEL>><<SEP>>"
    ```
    """

    config_args = BiEncoderInputBuilder.config_args + ("prompt_first",)

    def __init__(
        self,
        tokenizer=None,
        label_tokenizer=None,
        max_length=1024,
        prompt_first=False,
        pad_token_id=0,
        label_pad_token_id=0,
    ):
        BiEncoderInputBuilder.__init__(
            self, tokenizer, label_tokenizer, max_length, pad_token_id, label_pad_token_id
        )
        if not isinstance(prompt_first, bool):
            raise TypeError(f"`prompt_first` must be a bool. Received: {prompt_first!r}")
        self.prompt_first = prompt_first

    # ----------------------------------------------------------- formatting
    def format_input(self, text, labels, prompt=None, examples=None):
        """The text encoder's input string and the character span of `text` in it."""
        label_part = (f"{prompt} " if prompt else "") + inputs_lib.CLASS_TOKEN * len(labels)
        label_part += inputs_lib.TEXT_TOKEN
        examples_part = inputs_lib.format_examples(examples)
        if self.prompt_first:
            start = len(label_part)
            return label_part + text + examples_part, (start, start + len(text))
        return text + label_part + examples_part, (0, len(text))

    def format_text(self, text, prompt=None):
        raise NotImplementedError(
            "A bi-encoder-fused input depends on the labels: use "
            "`format_input(text, labels, prompt, examples)`."
        )

    def encode_rows(self, texts, per_text_labels, prompts, per_text_examples, warn=True):
        """One row per text: the fused sequence (text cut to fit, every `<<LABEL>>` kept)."""
        self._require_tokenizer()
        label_ids = self._label_token_ids(per_text_labels)
        rows, truncated = [], []
        for i, (text, labels, prompt, examples) in enumerate(
            zip(texts, per_text_labels, prompts, per_text_examples)
        ):
            format_input = functools.partial(
                self.format_input, labels=labels, prompt=prompt, examples=examples
            )
            encoded = fit_text(self.tokenizer, format_input, text, self.max_length)
            if encoded is None:
                needed = len(self.tokenizer.encode_with_offsets(format_input("")[0])[0])
                raise ValueError(
                    f"The {len(labels)} label placeholders of `texts[{i}]`, with its prompt "
                    f"and examples, take {needed} tokens, more than max_length="
                    f"{self.max_length}: a bi-encoder-fused model needs every <<LABEL>> "
                    "in one sequence. Raise `max_length` or pass fewer labels (or a "
                    "shorter prompt or fewer examples)."
                )
            ids, cut = encoded
            if cut:
                truncated.append(i)
            rows.append(
                EncodedBiInput(
                    ids,
                    i,
                    list(range(len(labels))),
                    [list(label_ids[label]) for label in labels],
                    cut,
                )
            )
        if warn:
            self._warn_cut(truncated, kept="label")
        return rows
