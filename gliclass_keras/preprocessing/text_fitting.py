"""Fitting a text and its labels into `max_length` tokens without losing a label.

The reference cuts every sequence at `max_length` from the right, which drops
the labels of text-first inputs. GLiClass-Keras instead cuts the end of the
*text* (`fit_text`) and, when the labels alone do not fit, splits them into
chunks scored separately (`chunk_labels`).
"""


def fit_text(tokenizer, build, text, max_length):
    """Token ids of `build(text)`, with the end of `text` cut until they fit.

    Args:
        tokenizer: a `GLiClassTokenizer`.
        build: `fn(kept_text) -> (string, (start, end))`, the full input
            string around `kept_text` and the character span of `kept_text`
            inside it.
        text: str, the text that may be cut.
        max_length: int, the most tokens allowed.

    Returns:
        `(ids, truncated_characters)`, or `None` when the input does not fit
        even with an empty text.
    """
    string, (start, end) = build(text)
    ids, offsets = tokenizer.encode_with_offsets(string)
    if len(ids) <= max_length:
        return ids, 0
    keep_chars = len(text)
    while True:
        excess = len(ids) - max_length
        text_tokens = [
            (s, e) for (s, e) in offsets if e > s and s >= start and e <= start + keep_chars
        ]
        if not text_tokens or keep_chars == 0:
            return None
        keep_tokens = max(len(text_tokens) - excess, 0)
        new_keep = text_tokens[keep_tokens][0] - start if keep_tokens < len(text_tokens) else 0
        keep_chars = max(min(new_keep, keep_chars - 1), 0)
        string, (start, end) = build(text[:keep_chars])
        ids, offsets = tokenizer.encode_with_offsets(string)
        if len(ids) <= max_length:
            return ids, len(text) - keep_chars


def chunk_labels(tokenizer, labels, build, budget, max_length, context):
    """Split `labels` into consecutive groups whose `build(group)` fits in `budget` tokens.

    Groups are filled greedily in label order; a label that does not fit in
    `budget` on its own gets a group of its own. Raises a `ValueError` when
    one label's input (described by `context`, e.g. "with the prompt") is
    longer than `max_length`. Returns lists of label indices.
    """
    chunks, current = [], []
    for index, label in enumerate(labels):
        trial = current + [index]
        ids, _ = tokenizer.encode_with_offsets(build([labels[i] for i in trial]))
        if len(ids) <= budget or not current:
            if len(ids) > max_length:
                raise ValueError(
                    f"The label {label!r}, {context}, takes {len(ids)} tokens, "
                    f"more than max_length={max_length}."
                )
            current = trial
        else:
            chunks.append(current)
            current = [index]
    chunks.append(current)
    return chunks
