"""`GLiClassTokenizer`: a `FastTokenizer` as a Keras layer, saved in `.keras` files."""

import os

import keras

from gliclass_keras.api_export import register
from gliclass_keras.preprocessing.fast_tokenizer import TOKENIZER_ASSET
from gliclass_keras.preprocessing.fast_tokenizer import FastTokenizer


@register
class GLiClassTokenizer(FastTokenizer, keras.layers.Layer):
    """The Hugging Face fast tokenizer of a GLiClass checkpoint, as a Keras layer.

    It reads a `tokenizer.json` (which already holds the added `<<LABEL>>`,
    `<<SEP>>` and `<<EXAMPLE>>` tokens of a GLiClass checkpoint) and runs it
    with the `tokenizers` library, so token ids are the reference's to the
    digit. Truncation and padding settings stored in the file are discarded:
    many checkpoints carry a stale `truncation`/`padding` block, and
    gliclass-keras does its own (see `GLiClassPreprocessor`). The file is saved
    as an asset inside `.keras` archives. All tokenization is
    `FastTokenizer`'s (framework-free); this class adds the Keras layer and
    its asset handling.

    Args:
        tokenizer_json: str. The contents of a `tokenizer.json` file. May be
            `None` when the tokenizer is restored from a `.keras` file (its
            asset is then loaded by `load_assets`).

    Example:

    ```python
    tokenizer = GLiClassTokenizer.from_file("checkpoint/tokenizer.json")
    ids = tokenizer.encode(["<<LABEL>>sport<<SEP>>Our team won."])[0]
    ```
    """

    def __init__(self, tokenizer_json=None, **kwargs):
        kwargs.setdefault("trainable", False)
        keras.layers.Layer.__init__(self, **kwargs)
        self.built = True  # no weights (see GLiClassPreprocessor)
        FastTokenizer.__init__(self, tokenizer_json)

    def call(self, inputs):
        return self.encode(inputs)

    def save_assets(self, dir_path):
        with open(os.path.join(dir_path, TOKENIZER_ASSET), "w", encoding="utf-8") as f:
            f.write(self.tokenizer_json)

    def load_assets(self, dir_path):
        with open(os.path.join(dir_path, TOKENIZER_ASSET), encoding="utf-8") as f:
            self.set_tokenizer_json(f.read())

    def get_config(self):
        # The vocabulary travels as an asset, not in the JSON config.
        return super().get_config()
