"""`GLiClassPreprocessor`: raw texts and labels to GLiClass model inputs."""

from gliclass_keras.api_export import register
from gliclass_keras.preprocessing.base import GLiClassPreprocessorBase
from gliclass_keras.preprocessing.uni_encoder_input_builder import UniEncoderInputBuilder


@register
class GLiClassPreprocessor(UniEncoderInputBuilder, GLiClassPreprocessorBase):
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

    The logic is `UniEncoderInputBuilder`'s (framework-free); this class makes it
    a Keras layer, saved in `.keras` files with its tokenizers.

    Args:
        tokenizer: a `GLiClassTokenizer`.
        max_length: int. Longest sequence in tokens (the reference pipeline's
            default is 1024).
        prompt_first: bool. Put the labels (and prompt) before the text.
        pad_token_id: int. Id used for padding.
        sequence_length_multiple: int. Pad the sequence length of a batch up
            to a multiple of this, so compiled backends see few shapes.
        **kwargs: `keras.layers.Layer` arguments.

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
        self._init_layer(kwargs)
        UniEncoderInputBuilder.__init__(
            self, tokenizer, max_length, prompt_first, pad_token_id, sequence_length_multiple
        )
