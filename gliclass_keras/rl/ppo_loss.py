"""The PPO objective of GLiClass RL training, in `keras.ops`.

One backend-neutral function, `ppo_loss`, is the whole objective; the
per-backend train steps (`rl_trainer.py`) only take its gradient. It is the
reference `RLTrainer.compute_loss` (spec section 10) with three fixes:
coefficients at `-1` are off, the KL and entropy terms average over real
label slots only, and examples without any real label slot (batch filler)
count for nothing.
"""

from keras import ops

EPSILON = 1e-8
_LOG_EPSILON = -18.420680743952367  # log(1e-8)


def _log_probs(logits):
    """`(log(p + 1e-8), log(1 - p + 1e-8))` for `p = sigmoid(logits)`.

    The reference's expressions, computed from the logits: `1 - p` is
    `sigmoid(-logits)`, never a float32 difference that rounds to 0 (whose
    log, times a zero action, made NaN gradients under XLA).
    """
    log_p = ops.logaddexp(ops.log_sigmoid(logits), _LOG_EPSILON)
    log_q = ops.logaddexp(ops.log_sigmoid(-logits), _LOG_EPSILON)
    return log_p, log_q


def action_log_probs(logits, actions, labels_smoothing=-1):
    """`log pi(action)` per label slot, with optional action smoothing."""
    if labels_smoothing > 0:
        actions = actions * (1.0 - labels_smoothing) + 0.5 * labels_smoothing
    log_p, log_q = _log_probs(logits)
    return actions * log_p + (1.0 - actions) * log_q


def ppo_loss(
    logits,
    targets,
    actions,
    rewards,
    config,
    log_prob_prev=None,
    values=None,
    reference_probs=None,
    ignore_index=-100,
):
    """The PPO loss of one inner iteration.

    Args:
        logits: `(batch, label_slots)` policy logits.
        targets: `(batch, label_slots)` targets, `ignore_index` on padding.
        actions: `(batch, label_slots)` 0/1 actions (no gradient).
        rewards: `(batch, 1)` total reward of each example (no gradient).
        config: an `RLConfig`.
        log_prob_prev: `(batch, label_slots)` log-probabilities of the
            previous inner iteration, or None (ratio 1).
        values: `(batch, 1)` value-model estimates, or None (the batch mean
            reward is the baseline).
        reference_probs: `(batch, label_slots)` reference-model
            probabilities, or None.

    Returns:
        dict with `loss` (scalar), `log_probs` (`(batch, label_slots)`, for
        the next iteration), `policy_loss`, `value_loss`, `kl` and
        `entropy` (scalars; 0 when off).
    """
    logits = ops.convert_to_tensor(logits)
    dtype = logits.dtype
    targets = ops.cast(targets, dtype)
    valid = ops.cast(ops.not_equal(targets, ignore_index), dtype)
    targets = targets * valid
    actions = ops.stop_gradient(ops.cast(actions, dtype))
    rewards = ops.stop_gradient(ops.cast(rewards, dtype))
    row_valid = ops.cast(ops.any(valid > 0, axis=-1, keepdims=True), dtype)
    rows = ops.maximum(ops.sum(row_valid), 1.0)
    slots = ops.maximum(ops.sum(valid), 1.0)

    probs = ops.sigmoid(logits)
    if values is not None:
        values = ops.cast(values, dtype)
        value_loss = ops.sum(ops.square(values - rewards) * row_valid) / rows
        baseline = values
    else:
        value_loss = ops.zeros((), dtype)
        baseline = ops.sum(rewards * row_valid) / rows
    advantages = ops.stop_gradient(rewards - baseline)

    log_probs = action_log_probs(logits, actions, config.labels_smoothing)
    previous = ops.stop_gradient(log_probs if log_prob_prev is None else ops.cast(log_prob_prev, dtype))
    ratio = ops.exp(log_probs - previous)
    clipped = ops.clip(ratio, 1.0 - config.cliprange, 1.0 + config.cliprange)
    elements = -ops.minimum(ratio * advantages, clipped * advantages) * valid
    if config.enabled("gamma"):
        p_t = probs * targets + (1.0 - probs) * (1.0 - targets)
        elements = elements * ops.power(p_t, config.gamma)
    if config.enabled("alpha"):
        elements = (config.alpha * targets + (1.0 - config.alpha) * (1.0 - targets)) * elements
    policy_loss = ops.sum(elements) / rows
    loss = policy_loss + value_loss

    kl = ops.zeros((), dtype)
    if reference_probs is not None and config.enabled("kl_beta"):
        log_ratio = ops.log(ops.cast(reference_probs, dtype) + EPSILON) - log_probs
        kl = ops.sum((ops.exp(log_ratio) - log_ratio - 1.0) * valid) / slots
        loss = loss + config.kl_beta * kl
    entropy = ops.zeros((), dtype)
    if config.enabled("entropy_beta"):
        log_p, log_q = _log_probs(logits)
        per_slot = -(probs * log_p + ops.sigmoid(-logits) * log_q)
        entropy = ops.sum(per_slot * valid) / slots
        loss = loss + config.entropy_beta * entropy
    return {
        "loss": loss,
        "log_probs": log_probs,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "kl": kl,
        "entropy": entropy,
    }
