"""Score calibration: a temperature and a bias on the logits (Platt scaling), and its measures.

A GLiClass model's multi-label scores are `sigmoid(logit)`; how well a score
of 0.7 means "right 70% of the time" depends on the model and the label set
(users of the reference see every score near 0.99). `fit_platt` fits
`sigmoid(logit / temperature + bias)` to labelled (text, label) pairs by
minimising their binary cross-entropy; `GLiClassClassifier.calibrate` stores
the result in the model, so `classify` and `predict_scores` use it and it is
saved in `.keras` files. Single-label scores are a softmax of
`logit / temperature` (a shared bias cancels). `predict_logits` stays the raw
model output.

With labelled records whose label lists differ in length, the fit can add
a label-count term, `sigmoid(logit / temperature + bias - label_count_weight
* log(num_labels))`: the chance that one of 2 candidates applies is not the
chance that one of 20 does, and one bias cannot serve both (a zero-shot
`default` preset is asked about 2 sentiment labels and 20 topics alike).
`num_labels` is the number of labels scored with the text in one call.

`expected_calibration_error` and `brier_score` measure the result; the
evaluation CLI reports both next to macro-F1.
"""

import numpy as np

# Temperatures are kept in this range (a fit on degenerate data must not
# produce a model whose scores are all 0.5 or all 0/1).
MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 100.0


CALIBRATION_KEYS = ("temperature", "bias")
OPTIONAL_CALIBRATION_KEYS = ("label_count_weight",)


def check_calibration(calibration):
    """A checked calibration dict, or None.

    `{"temperature": float > 0, "bias": float}`, optionally with
    `"label_count_weight": float` (the label-count term, see the module).
    """
    if calibration is None:
        return None
    if (
        not isinstance(calibration, dict)
        or not set(CALIBRATION_KEYS) <= set(calibration)
        or not set(calibration) <= set(CALIBRATION_KEYS + OPTIONAL_CALIBRATION_KEYS)
    ):
        raise ValueError(
            "`calibration` must be None or a dict with the keys 'temperature' and 'bias' "
            f"(and optionally 'label_count_weight'). Received: {calibration!r}"
        )
    for name, value in calibration.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise ValueError(f"`calibration['{name}']` must be a finite number. Received: {value!r}")
    if calibration["temperature"] <= 0:
        raise ValueError(
            f"`calibration['temperature']` must be > 0. Received: {calibration['temperature']!r}"
        )
    return {name: float(value) for name, value in calibration.items()}


def calibrated_logits(logits, calibration, classification_type="multi-label", num_labels=None):
    """`logits / temperature (+ bias - label_count_weight * log(num_labels) for multi-label)`.

    The logits themselves without calibration. `num_labels` (a number or an
    array broadcasting against `logits`) is how many labels each text was
    scored with; by default the length of the last axis of `logits` (one
    row of labels per text).
    """
    logits = np.asarray(logits, dtype="float64")
    if calibration is None:
        return logits
    scaled = logits / calibration["temperature"]
    if classification_type == "single-label":
        return scaled
    scaled = scaled + calibration["bias"]
    weight = calibration.get("label_count_weight", 0.0)
    if weight:
        if num_labels is None:
            num_labels = logits.shape[-1] if logits.ndim else 1
        scaled = scaled - weight * np.log(np.maximum(np.asarray(num_labels, dtype="float64"), 1.0))
    return scaled


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _nll_and_grad(params, logits, targets, log_counts):
    log_temperature, bias = params[:2]
    temperature = np.exp(log_temperature)
    z = logits / temperature + bias
    if log_counts is not None:
        z = z - params[2] * log_counts
    # BCE with logits, stable: softplus(z) - y * z.
    loss = np.mean(np.logaddexp(0.0, z) - targets * z)
    residual = (_sigmoid(z) - targets) / len(z)
    grad = [(residual * (-logits / temperature)).sum(), residual.sum()]
    if log_counts is not None:
        grad.append(-(residual * log_counts).sum())
    return loss, np.array(grad)


def binary_nll(logits, targets, calibration=None, num_labels=None):
    """Mean binary cross-entropy of `sigmoid(calibrated logits)` against 0/1 targets."""
    z = calibrated_logits(logits, calibration, num_labels=_flat_counts(logits, num_labels))
    targets = np.asarray(targets, dtype="float64")
    return float(np.mean(np.logaddexp(0.0, z) - targets * z))


def _flat_counts(logits, num_labels):
    # Flat (pair) logits have no label axis: a missing count means "1 label
    # each", i.e. no label-count term.
    if num_labels is None and np.ndim(logits) <= 1:
        return 1.0
    return num_labels


def fit_platt(logits, targets, num_labels=None):
    """The calibration minimising the BCE of `sigmoid(logits / T + b [- w log(num_labels)])`.

    Args:
        logits: 1-D array, one logit per (text, label) pair.
        targets: 1-D array of 0/1 (or soft) targets, aligned with `logits`.
        num_labels: None, or a 1-D array aligned with `logits`: how many
            labels the pair's text was scored with. When given and not all
            equal, the label-count weight `w` is fitted as well.

    Returns:
        `{"temperature", "bias"}`, plus `"label_count_weight"` when fitted.
    """
    from scipy.optimize import minimize

    logits = np.asarray(logits, dtype="float64").ravel()
    targets = np.asarray(targets, dtype="float64").ravel()
    if logits.shape != targets.shape or logits.size == 0:
        raise ValueError(
            "`logits` and `targets` must be non-empty and of the same length. "
            f"Received: {logits.shape} and {targets.shape}"
        )
    if np.all(targets == targets[0]):
        raise ValueError(
            "Calibration needs both matching and non-matching (text, label) pairs; "
            f"every target is {targets[0]}."
        )
    log_counts = None
    if num_labels is not None:
        counts = np.asarray(num_labels, dtype="float64").ravel()
        if counts.shape != logits.shape or np.any(counts < 1):
            raise ValueError(
                "`num_labels` must hold one count >= 1 per logit. "
                f"Received shape {counts.shape} for {logits.shape} logits."
            )
        if np.any(counts != counts[0]):
            log_counts = np.log(counts)
    start = [0.0, 0.0] + ([0.0] if log_counts is not None else [])
    bounds = [(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)), (-50.0, 50.0)]
    bounds += [(-20.0, 20.0)] if log_counts is not None else []
    result = minimize(
        _nll_and_grad,
        x0=np.array(start),
        args=(logits, targets, log_counts),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
    )
    fitted = {"temperature": float(np.exp(result.x[0])), "bias": float(result.x[1])}
    if log_counts is not None:
        fitted["label_count_weight"] = float(result.x[2])
    return fitted


def expected_calibration_error(probabilities, targets, bins=10):
    """ECE: the bin-weighted mean |accuracy - confidence| over `bins` equal-width bins.

    Every (text, label) score is one prediction "this label applies" with
    its probability; `targets` says whether it does.
    """
    probabilities = np.asarray(probabilities, dtype="float64").ravel()
    targets = np.asarray(targets, dtype="float64").ravel()
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(targets[members].mean() - probabilities[members].mean())
    return float(error)


def brier_score(probabilities, targets):
    """Mean squared difference between probabilities and 0/1 targets."""
    probabilities = np.asarray(probabilities, dtype="float64").ravel()
    targets = np.asarray(targets, dtype="float64").ravel()
    return float(np.mean((probabilities - targets) ** 2))


def reliability(probabilities, targets, bins=10):
    """`(mean confidence, accuracy, count)` per non-empty bin, for a reliability diagram."""
    probabilities = np.asarray(probabilities, dtype="float64").ravel()
    targets = np.asarray(targets, dtype="float64").ravel()
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        members = which == b
        if members.any():
            rows.append(
                (float(probabilities[members].mean()), float(targets[members].mean()), int(members.sum()))
            )
    return rows


def probabilities(logits, calibration=None, num_labels=None):
    """Multi-label scores `sigmoid(calibrated logits)` (`num_labels`: see `calibrated_logits`)."""
    return _sigmoid(calibrated_logits(logits, calibration, num_labels=_flat_counts(logits, num_labels)))
