"""`InputBuilder`: what every GLiClass preprocessor shares, framework-free.

A GLiClass preprocessor turns raw texts and candidate labels into the model's
input arrays in two steps, which models, the training dataset and the label
cache all use:

* `encode_rows(texts, per_text_labels, prompts, per_text_examples)` builds
  one row per model input (`gliclass_keras.preprocessing.encoded_rows`),
  from arguments already checked by `gliclass_keras.preprocessing.inputs`
  (`encode` checks them first);
* `collate(rows, num_labels=None, static_shapes=False)` pads rows into
  arrays. Under a static-shape policy every length is bucketed
  (`gliclass_keras.utils.shapes`), so compiled backends see few shapes; the
  caller only says how many label slots it wants.

Everything here is plain Python and numpy: the Keras preprocessor layers
(`GLiClassPreprocessorBase` and its subclasses, saved in `.keras` files)
combine these builders with `keras.layers.Layer`, and
`gliclass_keras.OnnxClassifier` uses the builders as they are.

Subclasses implement `encode_rows` and `collate` (with `pad_rows` and
`label_mask` as building blocks), declare `tokenizer_args` (the tokenizer
constructor arguments, serialized as Keras objects), `config_args` (the other
constructor arguments, stored as they are) and `input_ranks` (rank of each
model input, for `tf.data` signatures).
"""

import warnings

import numpy as np

from gliclass_keras.preprocessing import inputs as inputs_lib
from gliclass_keras.preprocessing.fast_tokenizer import FastTokenizer
from gliclass_keras.utils import shapes


class InputBuilder:
    """Base class of the GLiClass input builders (see the module docstring).

    Args:
        max_length: int. Longest sequence in tokens (the reference
            pipeline's default is 1024).
        pad_token_id: int. Id used for padding.
    """

    tokenizer_args = ("tokenizer",)
    config_args = ("max_length", "pad_token_id")
    input_ranks = {"token_ids": 2, "padding_mask": 2, "label_mask": 2}
    min_max_length = 4
    # The tokenizer class the builder accepts (the Keras layers ask for a
    # `GLiClassTokenizer`, which `.keras` files can save).
    tokenizer_cls = FastTokenizer

    def __init__(self, max_length=1024, pad_token_id=0):
        minimum = self.min_max_length
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < minimum:
            raise ValueError(f"`max_length` must be an int >= {minimum}. Received: {max_length!r}")
        if isinstance(pad_token_id, bool) or not isinstance(pad_token_id, (int, np.integer)):
            raise TypeError(f"`pad_token_id` must be an int. Received: {pad_token_id!r}")
        self.max_length = max_length
        self.pad_token_id = int(pad_token_id)

    @classmethod
    def _checked_tokenizer(cls, name, tokenizer):
        if tokenizer is not None and not isinstance(tokenizer, cls.tokenizer_cls):
            raise TypeError(
                f"`{name}` must be a {cls.tokenizer_cls.__name__}. "
                f"Received: {type(tokenizer).__name__}"
            )
        return tokenizer

    def _require_tokenizer(self, name="tokenizer"):
        if getattr(self, name) is None:
            raise ValueError(f"This {type(self).__name__} has no {name}.")

    # ------------------------------------------------------------- encoding
    def encode(self, texts, labels, prompt=None, examples=None, warn=True):
        """Check the arguments as `classify` does, then `encode_rows`.

        Most texts give one row; a text whose labels do not fit in
        `max_length` may give one row per label chunk.
        """
        texts = inputs_lib.normalize_texts(texts)
        per_text_labels, _ = inputs_lib.normalize_labels(labels, len(texts))
        prompts = inputs_lib.normalize_prompts(prompt, len(texts))
        per_text_examples = inputs_lib.normalize_examples(examples, len(texts))
        return self.encode_rows(texts, per_text_labels, prompts, per_text_examples, warn)

    def encode_rows(self, texts, per_text_labels, prompts, per_text_examples, warn=True):
        """Rows for checked, per-text arguments (lists as long as `texts`)."""
        raise NotImplementedError

    def _warn_cut(self, truncated, kept=None):
        """Warn that the texts at indices `truncated` lost their ends.

        `kept` names what was kept whole (`"label"`, `"example"`), if anything.
        """
        if truncated:
            detail = f" with their {kept}s; the end of each text was cut and every {kept} kept"
            warnings.warn(
                f"{len(truncated)} text(s) (indices {truncated[:10]}) were longer than "
                f"max_length={self.max_length} tokens"
                + (detail if kept else "; the end of each text was cut")
                + ".",
                stacklevel=4,
            )

    def _warn_chunked(self, chunked):
        """Warn that the labels of `(index, chunks)` texts are scored in chunks."""
        if chunked:
            warnings.warn(
                f"The labels of {len(chunked)} text(s) (index, chunks: {chunked[:10]}) do "
                f"not fit in max_length={self.max_length} tokens; they are scored in chunks.",
                stacklevel=4,
            )

    # ------------------------------------------------------------- batching
    @staticmethod
    def pad_rows(sequences, pad_token_id, length=None, static_shapes=False, name="sequence_length"):
        """`(ids, mask)` int32 arrays `(len(sequences), length)` of right-padded sequences.

        `length` defaults to the longest sequence, bucketed under a static-shape
        policy; a given `length` shorter than a sequence raises a `ValueError`.
        """
        longest = max([len(ids) for ids in sequences] or [1])
        if length is None:
            length = shapes.padded_length(longest, static_shapes)
        elif length < longest:
            raise ValueError(f"`{name}`={length} is shorter than a row ({longest}).")
        ids = np.full((len(sequences), length), pad_token_id, dtype="int32")
        mask = np.zeros((len(sequences), length), dtype="int32")
        for r, row_ids in enumerate(sequences):
            ids[r, : len(row_ids)] = row_ids
            mask[r, : len(row_ids)] = 1
        return ids, mask

    @staticmethod
    def label_slots(rows, num_labels=None, static_shapes=False):
        """The number of label slots of a batch: at least every row's labels."""
        most = max(len(row.label_indices) for row in rows)
        if num_labels is None:
            return shapes.padded_labels(most, static_shapes)
        return max(num_labels, most)

    @staticmethod
    def label_mask(rows, num_labels):
        """`(len(rows), num_labels)` int32, 1 for each row's real label slots."""
        mask = np.zeros((len(rows), num_labels), dtype="int32")
        for r, row in enumerate(rows):
            mask[r, : len(row.label_indices)] = 1
        return mask

    def collate(self, rows, num_labels=None, static_shapes=False, **lengths):
        """Pad rows into the model's input arrays (see the subclass)."""
        raise NotImplementedError

    def call(self, texts, labels, prompt=None, examples=None):
        rows = self.encode(texts, labels, prompt=prompt, examples=examples)
        if len(rows) != len({row.text_index for row in rows}):
            raise ValueError(
                "Some texts need their labels scored in several chunks (they do not fit "
                f"in max_length={self.max_length}); use the model's `classify`, which "
                "merges chunks, or raise `max_length`."
            )
        return self.collate(rows)

    def __call__(self, texts, labels, prompt=None, examples=None):
        # Plain Python: no Keras tensor conversion of string inputs.
        return self.call(texts, labels, prompt=prompt, examples=examples)
