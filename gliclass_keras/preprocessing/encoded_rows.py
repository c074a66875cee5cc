"""The rows a GLiClass preprocessor encodes texts into, before padding.

A row is one model input: the token ids of a text (with its labels, for the
uni-encoder), the index of the text it scores and which of that text's labels
it holds (a text whose labels do not fit in `max_length` gives several rows).
Architectures whose labels or class prompt are a separate sequence carry
those token ids too. `GLiClassPreprocessorBase.collate` pads a list of rows
into the model's input arrays.
"""

import dataclasses


@dataclasses.dataclass
class EncodedInput:
    """One uni-encoder row: token ids, and which labels of which text it scores."""

    token_ids: list
    text_index: int
    label_indices: list
    truncated_characters: int = 0


@dataclasses.dataclass
class EncodedBiInput:
    """One bi-encoder row: a text's token ids and those of each of its labels."""

    token_ids: list
    text_index: int
    label_indices: list
    label_token_ids: list
    truncated_characters: int = 0


@dataclasses.dataclass
class EncodedEncoderDecoderInput:
    """One encoder-decoder row: a text's token ids and its class prompt's."""

    token_ids: list
    text_index: int
    label_indices: list
    class_token_ids: list
    truncated_characters: int = 0
