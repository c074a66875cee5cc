"""`GLiClassBiEncoderFusedPreprocessor`: texts and labels to bi-encoder-fused inputs."""

import functools

from gliclass_keras.api_export import register
from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing.bi_encoder_preprocessor import GLiClassBiEncoderPreprocessor
from gliclass_keras.preprocessing.encoded_rows import EncodedBiInput
from gliclass_keras.preprocessing.text_fitting import fit_text


@register
class GLiClassBiEncoderFusedPreprocessor(GLiClassBiEncoderPreprocessor):
    """Turns texts and candidate labels into GLiClass bi-encoder-fused inputs.

    The labels are tokenized one by one with the label tokenizer, as for the
    bi-encoder (`GLiClassBiEncoderPreprocessor`). The text encoder's
    sequence holds the text and one `<<LABEL>>` placeholder per label (the
    model writes each label's vector there), built as the reference
    `BiEncoderZeroShotClassificationPipeline` builds it:

    ```
    label_part = (prompt + " " if prompt) + "<<LABEL>>" * num_labels + "<<SEP>>"
    examples   = "<<EXAMPLE>>text \\nLabels:\\n a, b" ... "<<SEP>>"   (if any)
    prompt_first: label_part + text + examples
    otherwise:    text + label_part + examples
    ```

    tokenized with the text tokenizer (special tokens added). Training data
    (`GLiClassDataset`) is built the same way, so a model is fine-tuned on
    the format it classifies with.

    Unlike the reference, which cuts the sequence at `max_length` from the
    right (and then fails when a `<<LABEL>>` is cut away), an over-long input
    loses the end of its *text* only; every `<<LABEL>>` is kept, with a
    warning (counted in `GLiClassDataset.stats` during training). When the
    placeholders, prompt and examples alone do not fit, a `ValueError` is
    raised. Labels longer than `max_length` label tokens are cut, as the
    reference cuts them.

    Outputs: the five arrays of `GLiClassBiEncoderPreprocessor`, with
    `token_ids` and `padding_mask` holding the fused sequences.

    Args:
        tokenizer: a `GLiClassTokenizer` for the texts; its vocabulary holds
            `<<LABEL>>`, `<<SEP>>` and `<<EXAMPLE>>`.
        label_tokenizer: a `GLiClassTokenizer` for the labels.
        max_length: int. Longest sequence (and label) in tokens (the
            reference pipeline's default is 1024).
        prompt_first: bool. Put the prompt and the label placeholders
            before the text (the checkpoint's `prompt_first`).
        pad_token_id: int. Padding id of the text tokenizer.
        label_pad_token_id: int. Padding id of the label tokenizer.

    Example:

    ```python
    preprocessor = GLiClassBiEncoderFusedPreprocessor(tokenizer, label_tokenizer)
    preprocessor.format_input("Our team won.", ["sport", "travel"])[0]
    # "Our team won.<<LABEL>><<LABEL>><<SEP>>"
    batch = preprocessor(["Our team won."], ["sport", "travel"])
    batch["label_token_ids"].shape  # (1, 2, label_length)
    ```
    """

    config_args = GLiClassBiEncoderPreprocessor.config_args + ("prompt_first",)

    def __init__(
        self, tokenizer=None, label_tokenizer=None, max_length=1024, prompt_first=False, **kwargs
    ):
        super().__init__(tokenizer, label_tokenizer, max_length, **kwargs)
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
