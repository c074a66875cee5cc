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

`expected_calibration_error` and `brier_score` measure the result; the
evaluation CLI reports both next to macro-F1.
"""

import numpy as np

# Temperatures are kept in this range (a fit on degenerate data must not
# produce a model whose scores are all 0.5 or all 0/1).
MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 100.0


def check_calibration(calibration):
    """A checked `{"temperature": float > 0, "bias": float}` dict, or None."""
    if calibration is None:
        return None
    if not isinstance(calibration, dict) or set(calibration) != {"temperature", "bias"}:
        raise ValueError(
            "`calibration` must be None or a dict with the keys 'temperature' and 'bias'. "
            f"Received: {calibration!r}"
        )
    temperature, bias = calibration["temperature"], calibration["bias"]
    for name, value in (("temperature", temperature), ("bias", bias)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise ValueError(f"`calibration['{name}']` must be a finite number. Received: {value!r}")
    if temperature <= 0:
        raise ValueError(f"`calibration['temperature']` must be > 0. Received: {temperature!r}")
    return {"temperature": float(temperature), "bias": float(bias)}


def calibrated_logits(logits, calibration, classification_type="multi-label"):
    """`logits / temperature (+ bias for multi-label)`; the logits themselves without calibration."""
    logits = np.asarray(logits, dtype="float64")
    if calibration is None:
        return logits
    scaled = logits / calibration["temperature"]
    if classification_type == "single-label":
        return scaled
    return scaled + calibration["bias"]


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _nll_and_grad(params, logits, targets):
    log_temperature, bias = params
    temperature = np.exp(log_temperature)
    z = logits / temperature + bias
    # BCE with logits, stable: softplus(z) - y * z.
    loss = np.mean(np.logaddexp(0.0, z) - targets * z)
    residual = (_sigmoid(z) - targets) / len(z)
    grad_bias = residual.sum()
    grad_log_temperature = (residual * (-logits / temperature)).sum()
    return loss, np.array([grad_log_temperature, grad_bias])


def binary_nll(logits, targets, calibration=None):
    """Mean binary cross-entropy of `sigmoid(calibrated logits)` against 0/1 targets."""
    z = calibrated_logits(logits, calibration)
    targets = np.asarray(targets, dtype="float64")
    return float(np.mean(np.logaddexp(0.0, z) - targets * z))


def fit_platt(logits, targets):
    """`{"temperature", "bias"}` minimising the BCE of `sigmoid(logits / T + b)` on 0/1 targets.

    Args:
        logits: 1-D array, one logit per (text, label) pair.
        targets: 1-D array of 0/1 (or soft) targets, aligned with `logits`.
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
    result = minimize(
        _nll_and_grad,
        x0=np.array([0.0, 0.0]),
        args=(logits, targets),
        jac=True,
        method="L-BFGS-B",
        bounds=[(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)), (-50.0, 50.0)],
    )
    return {"temperature": float(np.exp(result.x[0])), "bias": float(result.x[1])}


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


def probabilities(logits, calibration=None):
    """Multi-label scores `sigmoid(calibrated logits)`."""
    return _sigmoid(calibrated_logits(logits, calibration))
