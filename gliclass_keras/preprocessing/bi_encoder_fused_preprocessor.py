"""`GLiClassBiEncoderFusedPreprocessor`: texts and labels to bi-encoder-fused inputs."""

from gliclass_keras.api_export import register
from gliclass_keras.preprocessing.bi_encoder_preprocessor import GLiClassBiEncoderPreprocessor
from gliclass_keras.preprocessing.bi_encoder_fused_input_builder import BiEncoderFusedInputBuilder


@register
class GLiClassBiEncoderFusedPreprocessor(BiEncoderFusedInputBuilder, GLiClassBiEncoderPreprocessor):
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

    The logic is `BiEncoderFusedInputBuilder`'s (framework-free); this class makes it
    a Keras layer, saved in `.keras` files with its tokenizers.

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
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    preprocessor = GLiClassBiEncoderFusedPreprocessor(tokenizer, label_tokenizer)
    preprocessor.format_input("Our team won.", ["sport", "travel"])[0]
    # "Our team won.<<LABEL>><<LABEL>><<SEP>>"
    batch = preprocessor(["Our team won."], ["sport", "travel"])
    batch["label_token_ids"].shape  # (1, 2, label_length)
    ```
    """

    def __init__(
        self,
        tokenizer=None,
        label_tokenizer=None,
        max_length=1024,
        prompt_first=False,
        pad_token_id=0,
        label_pad_token_id=0,
        **kwargs,
    ):
        self._init_layer(kwargs)
        BiEncoderFusedInputBuilder.__init__(
            self,
            tokenizer,
            label_tokenizer,
            max_length,
            prompt_first,
            pad_token_id,
            label_pad_token_id,
        )
