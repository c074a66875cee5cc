"""`FastTokenizer`: a checkpoint's `tokenizer.json`, run by the `tokenizers` library.

Framework-free: `GLiClassTokenizer` (the Keras layer saved in `.keras` files)
extends it, and `gliclass_keras.OnnxClassifier` uses it as it is.
"""

import os

import tokenizers

TOKENIZER_ASSET = "tokenizer.json"


class FastTokenizer:
    """The Hugging Face fast tokenizer of a GLiClass checkpoint.

    It reads a `tokenizer.json` (which already holds the added `<<LABEL>>`,
    `<<SEP>>` and `<<EXAMPLE>>` tokens of a GLiClass checkpoint) and runs it
    with the `tokenizers` library, so token ids are the reference's to the
    digit. Truncation and padding settings stored in the file are discarded:
    many checkpoints carry a stale `truncation`/`padding` block, and
    gliclass-keras does its own (see `GLiClassPreprocessor`).

    Args:
        tokenizer_json: str. The contents of a `tokenizer.json` file, or
            `None` (set it later with `set_tokenizer_json`).

    Example:

    ```python
    tokenizer = FastTokenizer.from_file("checkpoint/tokenizer.json")
    ids = tokenizer.encode(["<<LABEL>>sport<<SEP>>Our team won."])[0]
    ```
    """

    def __init__(self, tokenizer_json=None):
        self._tokenizer = None
        self.tokenizer_json = None
        if tokenizer_json is not None:
            self.set_tokenizer_json(tokenizer_json)

    @classmethod
    def from_file(cls, path, **kwargs):
        """Load a `tokenizer.json` file (or a directory holding one)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, TOKENIZER_ASSET)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"No tokenizer.json at {path!r}. gliclass-keras reads the fast "
                "tokenizer file that `save_pretrained` writes next to config.json."
            )
        with open(path, encoding="utf-8") as f:
            return cls(f.read(), **kwargs)

    @classmethod
    def from_str(cls, tokenizer_json, **kwargs):
        """A tokenizer from the text of a `tokenizer.json` file."""
        return cls(tokenizer_json, **kwargs)

    def set_tokenizer_json(self, tokenizer_json):
        if not isinstance(tokenizer_json, str):
            raise TypeError(
                "`tokenizer_json` must be the text of a tokenizer.json file. "
                f"Received: {type(tokenizer_json).__name__}"
            )
        tokenizer = tokenizers.Tokenizer.from_str(tokenizer_json)
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self.tokenizer_json = tokenizer_json

    @property
    def backend(self):
        """The underlying `tokenizers.Tokenizer`."""
        if self._tokenizer is None:
            raise ValueError(f"This {type(self).__name__} has no vocabulary loaded yet.")
        return self._tokenizer

    def token_to_id(self, token):
        return self.backend.token_to_id(token)

    def id_to_token(self, token_id):
        return self.backend.id_to_token(token_id)

    def vocabulary_size(self):
        return self.backend.get_vocab_size(with_added_tokens=True)

    def special_token_id(self, *candidates):
        """The id of the first of `candidates` that is in the vocabulary, or None."""
        for token in candidates:
            token_id = self.backend.token_to_id(token)
            if token_id is not None:
                return token_id
        return None

    def encode(self, strings, add_special_tokens=True):
        """Token ids (lists of ints) for a list of strings, untruncated."""
        encodings = self.backend.encode_batch(list(strings), add_special_tokens=add_special_tokens)
        return [e.ids for e in encodings]

    def encode_with_offsets(self, string, add_special_tokens=True):
        """`(ids, offsets)` of one string; offsets are character spans into it."""
        encoding = self.backend.encode(string, add_special_tokens=add_special_tokens)
        return encoding.ids, encoding.offsets
