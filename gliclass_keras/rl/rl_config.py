"""`RLConfig`: the seed's `RLTrainerConfig`, for Keras."""

import dataclasses

from gliclass_keras.training_config import TrainingConfig

DISABLED = -1


@dataclasses.dataclass
class RLConfig(TrainingConfig):
    """Settings of PPO training (`model.compile(training_config=RLConfig())`).

    Extends `TrainingConfig` (optimizer, learning rates, gradient clipping)
    with the fields and defaults of the reference `RLTrainerConfig`. Every
    coefficient set to `-1` is **disabled**. (In the reference `-1` is
    truthy: its default `entropy_beta=-1` adds an entropy bonus of weight 1
    and `kl_beta=-1` rewards divergence from the reference model; see
    docs/differences.md.)

    Per batch, `num_rl_iters` updates are made. Each samples actions from
    the policy (`get_actions`), scores them with the reward components, and
    minimises the clipped PPO objective

    ```
    ratio = exp(log_pi(actions) - log_pi_previous_iteration(actions))
    loss  = sum(-min(ratio * A, clip(ratio, 1 - cliprange, 1 + cliprange) * A)
                * focal weights) / examples + value_loss
            + kl_beta * KL(reference || policy) + entropy_beta * entropy
    ```

    with the advantage `A = reward - value` (the value model's estimate, or
    the batch mean reward without one).

    Args:
        cliprange: float > 0, PPO ratio clip range.
        num_rl_iters: int >= 1, updates per batch.
        gamma: focal exponent, `p_t ** gamma` on each label's term (`-1` or
            0: off).
        alpha: focal class weight in [0, 1], `alpha` on positive targets and
            `1 - alpha` on negatives (`-1`: off).
        labels_smoothing: float in [0, 1), smoothing of the sampled actions
            in the log-probabilities (`-1`: off).
        entropy_beta: float >= 0, weight of the mean Bernoulli entropy added
            to the loss (a positive value sharpens the policy; `-1`: off).
        kl_beta: float >= 0, weight of the KL term towards the reference
            model (`-1`: off; needs a `reference_model`).
        get_actions: `"bernoulli"` (sample each label) or `"threshold"`
            (`sigmoid(logit) > threshold`).
        threshold: float in [0, 1], used by `get_actions="threshold"` and by
            validation, which always acts greedily.
        seed: int, seed of action sampling (and of data order).
        **kwargs: the `TrainingConfig` fields.

    Example:

    ```python
    model.compile(
        training_config=gliclass_keras.RLConfig(learning_rate=1e-5, entropy_beta=0.01),
        reward_components=[("f1", gliclass_keras.rewards.f1_reward)],
    )
    history = model.fit(train_records, epochs=3)
    history.history["reward_f1"]
    ```
    """

    cliprange: float = 0.2
    num_rl_iters: int = 3
    gamma: float = DISABLED
    alpha: float = DISABLED
    labels_smoothing: float = DISABLED
    entropy_beta: float = DISABLED
    kl_beta: float = DISABLED
    get_actions: str = "bernoulli"
    threshold: float = 0.5

    def __post_init__(self):
        super().__post_init__()

        def number(name):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"`{name}` must be a number. Received: {value!r}")
            return value

        def disabled_or(name, ok, expected):
            value = number(name)
            if value != DISABLED and not ok(value):
                raise ValueError(f"`{name}` must be -1 (disabled) or {expected}. Received: {value!r}")

        if not number("cliprange") > 0:
            raise ValueError(f"`cliprange` must be > 0. Received: {self.cliprange!r}")
        if isinstance(self.num_rl_iters, bool) or not isinstance(self.num_rl_iters, int) or self.num_rl_iters < 1:
            raise ValueError(f"`num_rl_iters` must be an int >= 1. Received: {self.num_rl_iters!r}")
        disabled_or("gamma", lambda v: v >= 0, "a number >= 0")
        disabled_or("alpha", lambda v: 0 <= v <= 1, "a number in [0, 1]")
        disabled_or("labels_smoothing", lambda v: 0 <= v < 1, "a number in [0, 1)")
        disabled_or("entropy_beta", lambda v: v >= 0, "a number >= 0")
        disabled_or("kl_beta", lambda v: v >= 0, "a number >= 0")
        if self.get_actions not in ("bernoulli", "threshold"):
            raise ValueError(
                f"`get_actions` must be 'bernoulli' or 'threshold'. Received: {self.get_actions!r}"
            )
        if not 0 <= number("threshold") <= 1:
            raise ValueError(f"`threshold` must be in [0, 1]. Received: {self.threshold!r}")

    def enabled(self, name):
        """Whether coefficient `name` is on (not -1, and not a no-op 0)."""
        value = getattr(self, name)
        if name == "alpha":
            return value != DISABLED
        return value != DISABLED and value > 0
