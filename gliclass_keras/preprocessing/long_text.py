"""Long documents: overlapping token windows, scored separately and aggregated per label.

By default (`long_text="truncate"`) a text longer than `max_length` loses its
end, so evidence there is never read. With `long_text="windows"` a text whose
tokens exceed `window_size` is split into windows of `window_size` tokens that
overlap by `window_overlap` tokens; every window is scored against all of the
text's labels, and each label keeps the largest (`"max"`) or the average
(`"mean"`) logit over the windows. A text that fits in one window is scored
exactly as with `"truncate"`.
"""

import numpy as np

from gliclass_keras.utils.validation import check_choice
from gliclass_keras.utils.validation import check_int_at_least

LONG_TEXT_MODES = ("truncate", "windows")
WINDOW_AGGREGATIONS = ("max", "mean")


def check_window_arguments(long_text, window_size, window_overlap, window_aggregation, max_length):
    """Checked `(long_text, window_size, window_overlap, window_aggregation)`, defaults filled in.

    `window_size` defaults to half of `max_length` (the other half leaves
    room for the labels, prompt and examples of uni-encoder inputs), and
    `window_overlap` to a quarter of the window.
    """
    check_choice("long_text", long_text, LONG_TEXT_MODES)
    check_choice("window_aggregation", window_aggregation, WINDOW_AGGREGATIONS)
    if window_size is None:
        window_size = max(max_length // 2, 2)
    check_int_at_least("window_size", window_size, 2)
    if window_overlap is None:
        window_overlap = window_size // 4
    check_int_at_least("window_overlap", window_overlap, 0)
    if window_overlap >= window_size:
        raise ValueError(
            "`window_overlap` must be smaller than `window_size`. "
            f"Received: window_overlap={window_overlap}, window_size={window_size}"
        )
    return long_text, window_size, window_overlap, window_aggregation


def split_windows(tokenizer, text, window_size, window_overlap):
    """The substrings of `text` covered by overlapping windows of `window_size` tokens.

    Windows start every `window_size - window_overlap` tokens; the last one
    ends at the text's last token. Each window is the text from its first
    token's first character to its last token's last character, so nothing
    between tokens is lost. A text of at most `window_size` tokens is one
    window, the text itself.
    """
    _, offsets = tokenizer.encode_with_offsets(text, add_special_tokens=False)
    spans = [(start, end) for start, end in offsets if end > start]
    if len(spans) <= window_size:
        return [text]
    stride = window_size - window_overlap
    starts = list(range(0, len(spans) - window_size, stride)) + [len(spans) - window_size]
    return [text[spans[first][0] : spans[first + window_size - 1][1]] for first in starts]


def aggregate(window_logits, how):
    """Per-label `"max"` or `"mean"` of a list of equal-length logit vectors."""
    stacked = np.stack(window_logits)
    return (stacked.max(axis=0) if how == "max" else stacked.mean(axis=0)).astype("float32")
