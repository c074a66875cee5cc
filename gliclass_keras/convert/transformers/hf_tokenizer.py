"""The tokenizer half of the converter contract, the same for every family.

GLiClass-Keras runs a checkpoint's fast tokenizer file (`tokenizer.json`)
whatever the backbone family, so every converter module exposes this one
`convert_tokenizer`.
"""


def convert_tokenizer(cls, path_or_tokenizer_json, **kwargs):
    """Build a tokenizer of class `cls` from a Hugging Face `tokenizer.json`.

    Args:
        cls: the tokenizer class, e.g.
            `gliclass_keras.preprocessing.tokenizer.GLiClassTokenizer`; it is
            built as `cls(tokenizer_json, **kwargs)` or with
            `cls.from_file(path, **kwargs)`.
        path_or_tokenizer_json: str or path-like. A `tokenizer.json` file, a
            directory holding one (a Hugging Face checkpoint), or the text of
            such a file.
        **kwargs: passed on to `cls`.

    Example:
    ```python
    tokenizer = convert_bert.convert_tokenizer(GLiClassTokenizer, "checkpoint")
    ```
    """
    if isinstance(path_or_tokenizer_json, str) and path_or_tokenizer_json.lstrip().startswith("{"):
        return cls(path_or_tokenizer_json, **kwargs)
    return cls.from_file(path_or_tokenizer_json, **kwargs)
