"""`GLiClassEncoderDecoderPreprocessor`: texts and labels to encoder-decoder inputs."""

from gliclass_keras.api_export import register
from gliclass_keras.preprocessing.base import GLiClassPreprocessorBase
from gliclass_keras.preprocessing.encoder_decoder_input_builder import EncoderDecoderInputBuilder


@register
class GLiClassEncoderDecoderPreprocessor(EncoderDecoderInputBuilder, GLiClassPreprocessorBase):
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

    The logic is `EncoderDecoderInputBuilder`'s (framework-free); this class makes it
    a Keras layer, saved in `.keras` files with its tokenizers.

    Args:
        tokenizer: a `GLiClassTokenizer`.
        max_length: int. Longest sequence, on either side, in tokens (the
            reference pipeline's default is 1024).
        pad_token_id: int. Id used for padding.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    preprocessor = GLiClassEncoderDecoderPreprocessor(tokenizer)
    batch = preprocessor(["Our team won."], ["sport", "travel"])
    batch["class_token_ids"].shape  # (1, class_length)
    batch["label_mask"]  # [[1, 1]]
    ```
    """

    def __init__(self, tokenizer=None, max_length=1024, pad_token_id=0, **kwargs):
        self._init_layer(kwargs)
        EncoderDecoderInputBuilder.__init__(self, tokenizer, max_length, pad_token_id)
