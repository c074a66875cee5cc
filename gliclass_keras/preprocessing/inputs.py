"""Checking and normalising what users pass to `classify` and the preprocessor.

Everything here runs before any tokenization or tensor work, so bad input
fails fast with a message that names the argument.
"""

import math
import numbers

CLASS_TOKEN = "<<LABEL>>"
TEXT_TOKEN = "<<SEP>>"
EXAMPLE_TOKEN = "<<EXAMPLE>>"
SPECIAL_STRINGS = (CLASS_TOKEN, TEXT_TOKEN, EXAMPLE_TOKEN)

CLASSIFICATION_TYPES = {
    "single": "single-label",
    "single-label": "single-label",
    "single_label": "single-label",
    "multi": "multi-label",
    "multi-label": "multi-label",
    "multi_label": "multi-label",
}


def _check_no_special(name, value):
    for special in SPECIAL_STRINGS:
        if special in value:
            raise ValueError(
                f"`{name}` contains the reserved marker {special!r}, which GLiClass "
                f"uses to build its input. Received: {value!r}"
            )


def normalize_texts(texts):
    """A list of strings from `texts` (a string or a list/tuple of strings)."""
    if isinstance(texts, str):
        return [texts]
    if (
        not isinstance(texts, (list, tuple, dict, bytes))
        and hasattr(texts, "__iter__")
        and hasattr(texts, "__len__")
    ):
        texts = list(texts)  # a datasets Column, NumPy array, pandas Series...
    if not isinstance(texts, (list, tuple)):
        raise TypeError(
            f"`texts` must be a string or a list of strings. Received: {type(texts).__name__}"
        )
    if len(texts) == 0:
        raise ValueError("`texts` must not be empty.")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"`texts[{i}]` must be a string. Received: {type(text).__name__} ({text!r})"
            )
        _check_no_special(f"texts[{i}]", text)
    return list(texts)


def _check_label_list(name, labels):
    if not isinstance(labels, (list, tuple)):
        raise TypeError(f"`{name}` must be a list of strings. Received: {type(labels).__name__}")
    if len(labels) == 0:
        raise ValueError(f"`{name}` must contain at least one label. Received an empty list.")
    seen = set()
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            raise TypeError(
                f"`{name}[{i}]` must be a string. Received: {type(label).__name__} ({label!r})"
            )
        if label.strip() == "":
            raise ValueError(f"`{name}[{i}]` is an empty label.")
        _check_no_special(f"{name}[{i}]", label)
        if label in seen:
            raise ValueError(f"`{name}` contains the label {label!r} more than once.")
        seen.add(label)
    return list(labels)


def flatten_hierarchical_labels(labels, separator=".", prefix=""):
    """`{"sentiment": ["positive"]}` -> `["sentiment.positive"]`, as the reference does."""
    flat = []
    for key, value in labels.items():
        name = f"{prefix}{separator}{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.extend(flatten_hierarchical_labels(value, separator, name))
        elif isinstance(value, (list, tuple)):
            flat.extend(f"{name}{separator}{item}" for item in value)
        else:
            flat.append(f"{name}{separator}{value}")
    return flat


def normalize_labels(labels, num_texts):
    """Per-text label lists from shared or per-text `labels`.

    Returns `(per_text_labels, shared)` where `per_text_labels` has one list
    per text.
    """
    if isinstance(labels, dict):
        labels = flatten_hierarchical_labels(labels)
    if not isinstance(labels, (list, tuple)):
        raise TypeError(
            "`labels` must be a list of strings (shared by every text) or a list "
            f"of lists of strings (one per text). Received: {type(labels).__name__}"
        )
    if len(labels) == 0:
        raise ValueError("`labels` must contain at least one label. Received an empty list.")
    if all(isinstance(item, (list, tuple, dict)) for item in labels):
        if len(labels) != num_texts:
            raise ValueError(
                f"`labels` holds {len(labels)} per-text label lists but there are "
                f"{num_texts} texts; give one list per text or one shared list."
            )
        per_text = []
        for i, item in enumerate(labels):
            if isinstance(item, dict):
                item = flatten_hierarchical_labels(item)
            per_text.append(_check_label_list(f"labels[{i}]", item))
        return per_text, False
    shared = _check_label_list("labels", labels)
    return [shared] * num_texts, True


def normalize_prompts(prompt, num_texts):
    if prompt is None:
        return [None] * num_texts
    if isinstance(prompt, str):
        _check_no_special("prompt", prompt)
        return [prompt] * num_texts
    if isinstance(prompt, (list, tuple)):
        if len(prompt) != num_texts:
            raise ValueError(
                f"`prompt` is a list of {len(prompt)} prompts but there are {num_texts} texts."
            )
        for i, item in enumerate(prompt):
            if item is not None and not isinstance(item, str):
                raise TypeError(f"`prompt[{i}]` must be a string or None.")
            if item:
                _check_no_special(f"prompt[{i}]", item)
        return list(prompt)
    raise TypeError(
        f"`prompt` must be a string, a list of strings or None. Received: {type(prompt).__name__}"
    )


def _check_examples(name, examples):
    if not isinstance(examples, (list, tuple)):
        raise TypeError(f"`{name}` must be a list of dicts. Received: {type(examples).__name__}")
    checked = []
    for i, example in enumerate(examples):
        if example is None:
            continue
        if not isinstance(example, dict) or "text" not in example:
            raise TypeError(
                f"`{name}[{i}]` must be a dict with a 'text' key and a 'labels' "
                f"(or 'true_labels') key. Received: {example!r}"
            )
        text = example["text"]
        ex_labels = example.get("labels", example.get("true_labels", []))
        if not isinstance(text, str):
            raise TypeError(f"`{name}[{i}]['text']` must be a string.")
        _check_no_special(f"{name}[{i}]['text']", text)
        if isinstance(ex_labels, str):
            ex_labels = [ex_labels]
        if not isinstance(ex_labels, (list, tuple)) or not all(
            isinstance(label, str) for label in ex_labels
        ):
            raise TypeError(f"`{name}[{i}]` labels must be a list of strings.")
        for label in ex_labels:
            _check_no_special(f"{name}[{i}] labels", label)
        checked.append({"text": text, "labels": list(ex_labels)})
    return checked


def normalize_examples(examples, num_texts):
    """Per-text example lists from shared (list of dicts) or per-text (list of lists)."""
    if examples is None:
        return [[] for _ in range(num_texts)]
    if not isinstance(examples, (list, tuple)):
        raise TypeError(
            f"`examples` must be a list of dicts or a list of lists of dicts. "
            f"Received: {type(examples).__name__}"
        )
    if examples and all(item is None or isinstance(item, (list, tuple)) for item in examples):
        if len(examples) != num_texts:
            raise ValueError(
                f"`examples` holds {len(examples)} per-text lists but there are {num_texts} texts."
            )
        return [_check_examples(f"examples[{i}]", item or []) for i, item in enumerate(examples)]
    shared = _check_examples("examples", examples)
    return [shared] * num_texts


def normalize_classification_type(classification_type, num_texts):
    def one(name, value):
        if not isinstance(value, str) or value.strip().lower() not in CLASSIFICATION_TYPES:
            raise ValueError(
                f"`{name}` must be one of {sorted(CLASSIFICATION_TYPES)}. Received: {value!r}"
            )
        return CLASSIFICATION_TYPES[value.strip().lower()]

    if isinstance(classification_type, (list, tuple)):
        if len(classification_type) != num_texts:
            raise ValueError(
                f"`classification_type` is a list of {len(classification_type)} values "
                f"but there are {num_texts} texts."
            )
        return [one(f"classification_type[{i}]", v) for i, v in enumerate(classification_type)]
    return [one("classification_type", classification_type)] * num_texts


def normalize_thresholds(threshold, num_texts):
    def one(name, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"`{name}` must be a number in [0, 1]. Received: {value!r}")
        value = float(value)
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"`{name}` must be a number in [0, 1]. Received: {value!r}")
        return value

    if isinstance(threshold, (list, tuple)):
        if len(threshold) != num_texts:
            raise ValueError(
                f"`threshold` is a list of {len(threshold)} values but there are {num_texts} texts."
            )
        return [one(f"threshold[{i}]", v) for i, v in enumerate(threshold)]
    return [one("threshold", threshold)] * num_texts


def check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"`batch_size` must be a positive int. Received: {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received: {batch_size}")
    return int(batch_size)


def format_examples(examples):
    """The reference's few-shot block: `<<EXAMPLE>>text \\nLabels:\\n a, b` ... `<<SEP>>`."""
    if not examples:
        return ""
    parts = [
        f"{EXAMPLE_TOKEN}{ex['text']} \nLabels:\n {', '.join(ex['labels'])}" for ex in examples
    ]
    return "".join(parts) + TEXT_TOKEN
