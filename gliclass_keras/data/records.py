"""Reading and checking GLiClass training records.

A record is the reference's training format:

```python
{
    "text": "The match ended in a draw.",
    "all_labels": ["sport", "politics", "travel"],   # candidates
    "true_labels": ["sport"],                          # or {"sport": 0.9, ...}
    "prompt": "Classify the topic.",                   # optional
    "examples": [{"text": "...", "labels": ["..."]}],  # optional few-shot
}
```
"""

import math
import os
import pathlib
import sys

from gliclass_keras.preprocessing import inputs as inputs_lib

PROBLEM_TYPES = (
    "multi_label_classification",
    "single_label_classification",
    "regression",
    None,
)


def is_hf_dataset(data, iterable_only=False):
    """True for a `datasets.Dataset` / `datasets.IterableDataset` (`IterableDataset` only
    with `iterable_only`).

    Reads `datasets` only if it is imported (such objects cannot exist
    otherwise), so lists of records never import it (with pandas and pyarrow,
    about 100 MB of a process).
    """
    datasets = sys.modules.get("datasets")
    if datasets is None:
        return False
    types = (datasets.IterableDataset,) if iterable_only else (datasets.Dataset, datasets.IterableDataset)
    return isinstance(data, types)


def is_record_data(data):
    """True for the raw record sources `load_records` accepts."""
    if isinstance(data, (str, os.PathLike)):
        return True
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], dict):
        return True
    return is_hf_dataset(data)


def load_records(data, cache_dir=None, streaming=False):
    """Records from a `datasets.Dataset`, a list of dicts or a JSON/JSONL file.

    Files are read with `datasets.load_dataset("json", ...)` into its
    memory-mapped Arrow cache (`cache_dir`), or lazily with `streaming=True`
    (an `IterableDataset`: nothing is held in memory).

    Returns a `datasets.Dataset`, a `datasets.IterableDataset` or the list.
    """
    if isinstance(data, (str, os.PathLike)):
        path = pathlib.Path(data)
        if not path.exists():
            raise ValueError(f"Training data file {str(path)!r} does not exist.")
        if path.suffix not in (".json", ".jsonl"):
            raise ValueError(
                f"Training data files must be .json or .jsonl. Received: {str(path)!r}"
            )
        import datasets

        return datasets.load_dataset(
            "json",
            data_files=str(path),
            split="train",
            cache_dir=cache_dir,
            streaming=streaming,
        )
    if is_hf_dataset(data):
        return data
    if isinstance(data, tuple):
        data = list(data)
    if isinstance(data, list):
        if not data:
            raise ValueError("The training data is empty.")
        for index, record in enumerate(data[:1]):
            if not isinstance(record, dict):
                raise TypeError(f"Record {index} must be a dict. Received: {type(record).__name__}")
        return data
    raise TypeError(
        "Training data must be a datasets.Dataset, a datasets.IterableDataset, a list "
        f"of dicts or a path to a .json/.jsonl file. Received: {type(data).__name__}"
    )


def _drop_none(mapping):
    # Arrow stores dicts with differing keys as structs: missing keys read back as None.
    return {k: v for k, v in mapping.items() if v is not None}


def check_record(record, index, problem_type, require_targets=True):
    """Validate one record; returns `(text, labels, targets, prompt, examples)`.

    `targets` is a list of floats aligned with `labels` (1/0 for listed true
    labels, the given values for a dict of scores); all zeros when
    `require_targets=False` and the record has no `true_labels`.
    """
    where = f"record {index}"
    if not isinstance(record, dict):
        raise TypeError(f"{where} must be a dict. Received: {type(record).__name__}")
    if not require_targets and record.get("true_labels") is None:
        record = {**record, "true_labels": []}
        problem_type = "multi_label_classification"
    for key in ("text", "all_labels", "true_labels"):
        if key not in record:
            raise ValueError(f"{where} has no {key!r} field. Received keys: {sorted(record)}")
    text = record["text"]
    if not isinstance(text, str):
        raise TypeError(f"{where}: 'text' must be a string. Received: {type(text).__name__}")
    inputs_lib._check_no_special(f"{where} text", text)
    labels = inputs_lib._check_label_list(f"{where} all_labels", record["all_labels"])
    true_labels = record["true_labels"]
    if isinstance(true_labels, str):
        true_labels = [true_labels]
    if isinstance(true_labels, dict):
        scores = _drop_none(true_labels)
        unknown = [label for label in scores if label not in labels]
        if unknown:
            raise ValueError(f"{where}: true_labels {unknown} are not in all_labels {labels}.")
        targets = []
        for label in labels:
            value = scores.get(label, 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{where}: the score of {label!r} must be a finite number. Received: {value!r}")
            if problem_type != "regression" and not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"{where}: the score of {label!r} must be in [0, 1] for "
                    f"problem_type={problem_type!r}. Received: {value!r}"
                )
            targets.append(float(value))
    elif isinstance(true_labels, (list, tuple)):
        unknown = [label for label in true_labels if label not in labels]
        if unknown:
            raise ValueError(f"{where}: true_labels {unknown} are not in all_labels {labels}.")
        chosen = set(true_labels)
        targets = [1.0 if label in chosen else 0.0 for label in labels]
    else:
        raise TypeError(
            f"{where}: 'true_labels' must be a list of labels or a dict of label scores. "
            f"Received: {type(true_labels).__name__}"
        )
    if problem_type == "single_label_classification":
        positives = sum(1 for t in targets if t > 0)
        if isinstance(true_labels, (list, tuple)) and positives != 1:
            raise ValueError(
                f"{where}: single_label_classification needs exactly one true label. "
                f"Received: {list(true_labels)}"
            )
        if positives == 0:
            raise ValueError(f"{where}: single_label_classification needs a true label.")
    prompt = record.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise TypeError(f"{where}: 'prompt' must be a string. Received: {type(prompt).__name__}")
        inputs_lib._check_no_special(f"{where} prompt", prompt)
    examples = record.get("examples") or []
    examples = inputs_lib._check_examples(f"{where} examples", list(examples))
    return text, labels, targets, prompt or None, examples
