"""Reward components for PPO training.

A reward component is a function `fn(probs, actions, targets, valid_mask)`
of `(batch, label_slots)` tensors that returns one reward per example,
shape `(batch, 1)`, written with `keras.ops` so that it runs inside the
compiled train step of every backend:

* `probs`: the policy's label probabilities, `sigmoid(logits)`;
* `actions`: the sampled (or thresholded) 0/1 decisions;
* `targets`: the record's targets (0/1, or soft values) with padded slots
  set to 0;
* `valid_mask`: 1.0 on real label slots, 0.0 on padding.

Components are given to `compile` as a list of `(name, fn)` pairs; their sum
is the reward, and each one's batch mean is logged as `reward_<name>`.

Example: reward the F1 score, minus a small cost per predicted label.

```python
from keras import ops

def brevity(probs, actions, targets, valid_mask):
    return -0.05 * ops.sum(actions * valid_mask, axis=-1, keepdims=True)

model.compile(
    training_config=gliclass_keras.RLConfig(),
    reward_components=[("f1", gliclass_keras.rewards.f1_reward), ("brevity", brevity)],
)
```
"""

import keras
from keras import ops

from gliclass_keras.api_export import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
def f1_reward(probs, actions, targets, valid_mask):
    """Per-example F1 between the chosen labels and the true labels.

    The reference `default_f1_reward`: the predicted set is the valid slots
    with action 1, the true set the valid slots with target exactly 1; F1 is
    0 when either set is empty. Returns `(batch, 1)`.
    """
    del probs
    predicted = ops.cast(ops.equal(actions * valid_mask, 1.0), "float32")
    true = ops.cast(ops.equal(targets * valid_mask, 1.0), "float32")
    hits = ops.sum(predicted * true, axis=-1, keepdims=True)
    total = ops.sum(predicted, axis=-1, keepdims=True) + ops.sum(true, axis=-1, keepdims=True)
    return ops.where(total > 0, 2.0 * hits / ops.maximum(total, 1.0), ops.zeros_like(total))


@keras.saving.register_keras_serializable(package=PACKAGE)
def accuracy_reward(probs, actions, targets, valid_mask):
    """Fraction of an example's valid label slots decided correctly, `(batch, 1)`."""
    del probs
    true = ops.cast(ops.equal(targets, 1.0), "float32")
    right = ops.cast(ops.equal(actions, true), "float32") * valid_mask
    count = ops.sum(valid_mask, axis=-1, keepdims=True)
    return ops.sum(right, axis=-1, keepdims=True) / ops.maximum(count, 1.0)


DEFAULT_REWARD_COMPONENTS = (("f1", f1_reward),)


def standardize_reward_components(reward_components):
    """Validate `reward_components`; returns a tuple of `(name, fn)` pairs.

    Accepts a list of `(name, fn)` pairs (the reference's documented form) or
    a dict `{name: fn}` (the form its code reads); `None` gives the F1
    reward.
    """
    if reward_components is None:
        return DEFAULT_REWARD_COMPONENTS
    if isinstance(reward_components, dict):
        reward_components = list(reward_components.items())
    if not isinstance(reward_components, (list, tuple)) or not reward_components:
        raise TypeError(
            "`reward_components` must be a non-empty list of (name, fn) pairs or a dict "
            f"{{name: fn}}. Received: {reward_components!r}"
        )
    pairs, names = [], set()
    for item in reward_components:
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise TypeError(f"Each reward component must be a (name, fn) pair. Received: {item!r}")
        name, fn = item
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"A reward component's name must be an identifier string. Received: {name!r}")
        if name in names:
            raise ValueError(f"Duplicate reward component name {name!r}.")
        if not callable(fn):
            raise TypeError(f"Reward component {name!r} must be callable. Received: {fn!r}")
        names.add(name)
        pairs.append((name, fn))
    return tuple(pairs)
