"""The zero-shot protocol of the reference evaluation script.

Single-label: each text is classified against all of its set's label names,
the top-scoring label is the prediction, and the score is scikit-learn's
macro-F1 over the set (accuracy is reported too).
"""

import time

import keras
import numpy as np
from sklearn.metrics import f1_score


def score_matrix(model, texts, labels, batch_size=16, progress=None):
    """`(len(texts), len(labels))` scores of a GLiClass model or a baseline.

    A GLiClass model's logits are used (the top label is the same as with
    its sigmoid or softmax scores).
    """
    if hasattr(model, "predict_logits"):
        if hasattr(model, "encode_labels"):  # bi-encoder: encode the labels once
            labels = model.encode_labels(labels)
        rows = []
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start : start + batch_size])
            rows.append(np.asarray(model.predict_logits(chunk, labels, batch_size=batch_size)))
            if progress is not None:
                progress.add(len(chunk))
        return np.concatenate(rows)
    scores = model.predict_scores(list(texts), labels, batch_size=batch_size)
    if progress is not None:
        progress.add(len(texts))
    return np.asarray(scores)


def top_label_metrics(scores, evaluation_set):
    """Macro-F1 (over the set's labels) and accuracy of the top-scoring label.

    `scores`: `(len(texts), len(labels))`, columns in `evaluation_set.labels`
    order. Returns a dict: `macro_f1`, `accuracy`.
    """
    predicted = [evaluation_set.labels[i] for i in np.asarray(scores).argmax(axis=1)]
    truths = evaluation_set.truths
    return {
        "macro_f1": float(f1_score(truths, predicted, labels=evaluation_set.labels, average="macro")),
        "accuracy": float(np.mean([p == t for p, t in zip(predicted, truths)])),
    }


def calibration_metrics(logits, evaluation_set, calibration=None, bins=10):
    """ECE and Brier score of a GLiClass model's multi-label scores on a single-label set.

    Every (text, label) pair is one multi-label prediction: its score is
    `sigmoid` of the (calibrated) logit, its target 1 for the text's true
    label and 0 for the others.
    """
    from gliclass_keras.models import calibration as calibration_lib

    index = {label: i for i, label in enumerate(evaluation_set.labels)}
    targets = np.zeros(np.shape(logits))
    targets[np.arange(len(targets)), [index[t] for t in evaluation_set.truths]] = 1.0
    probabilities = calibration_lib.probabilities(logits, calibration)
    return {
        "ece": calibration_lib.expected_calibration_error(probabilities, targets, bins),
        "brier": calibration_lib.brier_score(probabilities, targets),
    }


def evaluate_zero_shot(model, evaluation_set, batch_size=16, verbose=1):
    """Macro-F1 and accuracy of `model` on one `EvaluationSet`.

    Returns a dict: `name`, `examples`, `labels`, `macro_f1`, `accuracy`,
    `seconds`, and for GLiClass models `ece` and `brier` of the multi-label
    scores (`calibration_metrics`; `None` for baselines without
    probabilities).
    """
    progress = keras.utils.Progbar(len(evaluation_set.texts)) if verbose else None
    start = time.perf_counter()
    scores = score_matrix(model, evaluation_set.texts, evaluation_set.labels, batch_size, progress)
    seconds = time.perf_counter() - start
    calibration = {"ece": None, "brier": None}
    if hasattr(model, "predict_logits"):
        calibration = calibration_metrics(scores, evaluation_set, getattr(model, "calibration", None))
    return {
        "name": evaluation_set.name,
        "examples": len(evaluation_set.truths),
        "labels": len(evaluation_set.labels),
        **top_label_metrics(scores, evaluation_set),
        **calibration,
        "seconds": seconds,
    }


def format_calibration_table(results_by_model):
    """A Markdown table: one row per set, ECE / Brier of each GLiClass model's multi-label scores."""
    models = [m for m, rs in results_by_model.items() if any(r.get("ece") is not None for r in rs)]
    if not models:
        return ""
    sets = list(dict.fromkeys(r["name"] for m in models for r in results_by_model[m]))
    lookup = {(m, r["name"]): r for m in models for r in results_by_model[m]}
    lines = [
        "| set | " + " | ".join(f"{m} ECE / Brier" for m in models) + " |",
        "|---|" + "---:|" * len(models),
    ]
    for name in sets:
        cells = [
            f"{lookup[(m, name)]['ece']:.3f} / {lookup[(m, name)]['brier']:.3f}"
            if (m, name) in lookup else "n/a"
            for m in models
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_table(results_by_model):
    """A Markdown table: one row per set, macro-F1 (accuracy) per model."""
    models = list(results_by_model)
    sets = list(dict.fromkeys(r["name"] for rs in results_by_model.values() for r in rs))
    lookup = {(m, r["name"]): r for m, rs in results_by_model.items() for r in rs}
    header = "| set | examples | labels | " + " | ".join(f"{m} macro-F1 (acc.)" for m in models) + " |"
    lines = [header, "|---|---:|---:|" + "---:|" * len(models)]
    for name in sets:
        first = next(lookup[(m, name)] for m in models if (m, name) in lookup)
        cells = []
        for m in models:
            r = lookup.get((m, name))
            cells.append("n/a" if r is None else f"{r['macro_f1']:.3f} ({r['accuracy']:.3f})")
        lines.append(f"| {name} | {first['examples']} | {first['labels']} | " + " | ".join(cells) + " |")
    if len(sets) > 1:
        means = []
        for m in models:
            values = [lookup[(m, s)]["macro_f1"] for s in sets if (m, s) in lookup]
            means.append(f"{np.mean(values):.3f}" if values else "n/a")
        lines.append("| **mean** | | | " + " | ".join(means) + " |")
    return "\n".join(lines)
