"""`GLiClassBiEncoderPreprocessor`: texts and labels to bi-encoder inputs."""

from gliclass_keras.api_export import register
from gliclass_keras.preprocessing.base import GLiClassPreprocessorBase
from gliclass_keras.preprocessing.bi_encoder_input_builder import BiEncoderInputBuilder


@register
class GLiClassBiEncoderPreprocessor(BiEncoderInputBuilder, GLiClassPreprocessorBase):
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

    The logic is `BiEncoderInputBuilder`'s (framework-free); this class makes it
    a Keras layer, saved in `.keras` files with its tokenizers.

    Args:
        tokenizer: a `GLiClassTokenizer` for the texts.
        label_tokenizer: a `GLiClassTokenizer` for the labels.
        max_length: int. Longest text or label in tokens (the reference
            pipeline's default is 1024).
        pad_token_id: int. Padding id of the text tokenizer.
        label_pad_token_id: int. Padding id of the label tokenizer.
        **kwargs: `keras.layers.Layer` arguments.

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
        self._init_layer(kwargs)
        BiEncoderInputBuilder.__init__(
            self, tokenizer, label_tokenizer, max_length, pad_token_id, label_pad_token_id
        )
