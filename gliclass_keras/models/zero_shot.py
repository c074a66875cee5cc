"""Zero-shot inference helpers: batching encoded rows, logits to scores to labels.

Plain functions used by `GLiClassClassifier.classify`, `predict_scores`,
`predict_logits` (and the bi-encoder's label cache). They hold no state: the
model passes its preprocessor and a function that runs one padded batch.
"""

import numpy as np

from gliclass_keras.utils import shapes


def run_by_length(rows, batch_size, run, static_shapes=None):
    """Apply `run(batch_rows, static_shapes)` to length-sorted batches of rows.

    `run` returns one output per row of the batch it is given; the outputs
    come back in the rows' order. Sorting by length keeps padding low. Under
    a static-shape policy (`gliclass_keras.utils.shapes`), every batch is
    filled up to `batch_size` by repeating its first row, so compiled
    functions see few shapes; the filler rows' outputs are dropped.
    """
    if static_shapes is None:
        static_shapes = shapes.uses_static_shapes()
    order = sorted(range(len(rows)), key=lambda r: len(rows[r].token_ids))
    results = [None] * len(rows)
    for start in range(0, len(order), batch_size):
        batch = [rows[r] for r in order[start : start + batch_size]]
        real = len(batch)
        if static_shapes:
            batch = batch + [batch[0]] * (batch_size - real)
        outputs = run(batch, static_shapes)
        for i in range(real):
            results[order[start + i]] = outputs[i]
    return results


def merge_row_logits(rows, row_logits, per_text_labels):
    """Per-text logit vectors (label order) from rows that may each hold a chunk of labels."""
    full = [np.zeros(len(labels), dtype="float32") for labels in per_text_labels]
    for row, logits in zip(rows, row_logits):
        full[row.text_index][row.label_indices] = logits
    return full


def scores_from_logits(logits, classification_type):
    """Sigmoid (multi-label) or softmax over the text's labels (single-label), in float64."""
    logits = np.asarray(logits, dtype="float64")
    if classification_type == "single-label":
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()
    return 1.0 / (1.0 + np.exp(-logits))


def predictions(text_scores, classification_type, threshold):
    """`[{"label", "score"}, ...]` for one text: the top label, or every label at or above `threshold`."""
    names = list(text_scores)
    values = [text_scores[name] for name in names]
    if classification_type == "single-label":
        best = int(np.argmax(values))
        return [{"label": names[best], "score": values[best]}]
    return [{"label": n, "score": v} for n, v in zip(names, values) if v >= threshold]
