"""`RLTrainer`: PPO training of a GLiClass model through `fit()`.

The trainer is a Keras model around the policy (the GLiClass model being
trained), an optional value model and an optional frozen reference model, so
that every variable the PPO step touches is one of its own: Keras then
threads them through the compiled train step on each backend (the JAX step
is a pure function of that state). The objective is one backend-neutral
function (`ppo_loss.ppo_loss`); `backend_steps.py` holds the gradient
plumbing of torch, JAX and TensorFlow.

Users rarely build it by hand: `model.compile(training_config=RLConfig(...))`
then `model.fit(...)` does.
"""

import keras
from keras import ops

from gliclass_keras.rl import backend_steps
from gliclass_keras.rl.ppo_loss import ppo_loss
from gliclass_keras.rl.rewards import standardize_reward_components
from gliclass_keras.rl.rl_config import RLConfig


def _global_norm_clip(grads, clip_norm):
    """`grads` scaled to a global norm of at most `clip_norm` (None passes)."""
    present = [g for g in grads if g is not None]
    if clip_norm is None or not present:
        return grads
    norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in present))
    scale = ops.minimum(1.0, clip_norm / ops.maximum(norm, 1e-6))
    return [None if g is None else g * ops.cast(scale, g.dtype) for g in grads]


class RLTrainer(backend_steps.BackendRLSteps, keras.Model):
    """PPO training of a GLiClass model (the reference `RLTrainer`).

    Each batch gets `config.num_rl_iters` updates. An update runs the policy,
    samples actions (Bernoulli or threshold), scores them with the reward
    components, and takes a gradient step on `ppo_loss`; the value model (if
    any) is trained by MSE towards the reward in the same step, and the
    reference model (if any, frozen) gives the KL term. Policy and value
    gradients are clipped separately to `config.max_grad_norm`. The logs
    (progress bar and `History`) hold `loss`, `reward` (the total),
    `reward_<name>` per component, and `value_loss`, `kl`, `entropy` when
    those are on; each is the mean over the epoch's updates.

    Validation (`validation_data`) acts greedily (`sigmoid(logit) >
    config.threshold`) and reports the same quantities.

    Args:
        policy: the GLiClass model to train (any of the four classes).
        config: an `RLConfig`.
        reward_components: list of `(name, fn)` pairs (see
            `gliclass_keras.rewards`), default F1.
        value_model: None, or a Keras model taking the policy's inputs and
            returning `(batch, n >= 1)`; column 0 is the value estimate (a
            GLiClass model works: its first label slot's logit, as in the
            reference). Trained at `config.learning_rate`, no weight decay.
        reference_model: None, or a Keras model taking the policy's inputs
            and returning label logits (e.g. a copy of the starting model);
            frozen. Used when `config.kl_beta` is on.
        optimizer: default `config.build_optimizer(policy)` (the policy's
            parameter groups) with the value model as one more group; an
            optimizer given here is copied (from its config), and its
            `global_clipnorm`, if any, clips policy and value together.
        total_steps: int, optimizer updates of the run (batches x epochs x
            `num_rl_iters`), for the linear and cosine schedules.
        run_eagerly: bool, run the step without compiling it (debugging;
            fast for tiny models on TensorFlow).

    Example:

    ```python
    model.compile(training_config=gliclass_keras.RLConfig(num_rl_iters=2))
    model.fit(train_records, epochs=2)  # builds an RLTrainer and fits it
    ```
    """

    def __init__(
        self,
        policy,
        config,
        reward_components=None,
        value_model=None,
        reference_model=None,
        optimizer=None,
        total_steps=None,
        run_eagerly=False,
        **kwargs,
    ):
        if not isinstance(config, RLConfig):
            raise TypeError(f"`config` must be an RLConfig. Received: {type(config).__name__}")
        if not isinstance(policy, keras.Model):
            raise TypeError(f"`policy` must be a Keras model. Received: {type(policy).__name__}")
        if not policy.built:
            raise ValueError("The policy must be built before RL training.")
        for name, model in (("value_model", value_model), ("reference_model", reference_model)):
            if model is None:
                continue
            if not isinstance(model, keras.Model):
                raise TypeError(f"`{name}` must be a Keras model or None. Received: {type(model).__name__}")
            if model is policy:
                raise ValueError(f"`{name}` must be a separate model, not the policy itself.")
            if not model.built:
                raise ValueError(f"`{name}` must be built (call it once on a batch, or load it).")
        if value_model is not None and value_model is reference_model:
            raise ValueError("`value_model` and `reference_model` must be separate models.")
        if config.enabled("kl_beta") and reference_model is None:
            raise ValueError(
                "`kl_beta` is set but no `reference_model` was given (reference and value models are "
                "not saved with a model: after loading, pass them to compile() again)."
            )
        if reference_model is not None and not config.enabled("kl_beta"):
            raise ValueError(
                "A `reference_model` was given but `kl_beta` is off (-1 or 0): set "
                "RLConfig(kl_beta=...) > 0 to use it."
            )
        super().__init__(name=kwargs.pop("name", "rl_trainer"), **kwargs)
        self.policy = policy
        self.config = config
        self.reward_components = standardize_reward_components(reward_components)
        self.value_model = value_model
        self.reference_model = reference_model
        if reference_model is not None:
            reference_model.trainable = False
        self.seed_generator = keras.random.SeedGenerator(config.seed)
        self.ignore_index = getattr(getattr(policy, "config", None), "ignore_index", -100)
        self._trackers = {"loss": keras.metrics.Mean(name="loss"), "reward": keras.metrics.Mean(name="reward")}
        for name, _ in self.reward_components:
            self._trackers[f"reward_{name}"] = keras.metrics.Mean(name=f"reward_{name}")
        if value_model is not None:
            self._trackers["value_loss"] = keras.metrics.Mean(name="value_loss")
        if reference_model is not None:
            self._trackers["kl"] = keras.metrics.Mean(name="kl")
        if config.enabled("entropy_beta"):
            self._trackers["entropy"] = keras.metrics.Mean(name="entropy")
        self.built = True
        policy_variables = {id(v) for v in policy.trainable_variables}
        self._policy_slots = [id(v) in policy_variables for v in self.trainable_variables]
        if optimizer is None:
            optimizer = self._default_optimizer(total_steps)
        else:  # a fresh copy: the policy's own optimizer stays the policy's
            optimizer = keras.optimizers.get(optimizer)
            optimizer = optimizer.__class__.from_config(optimizer.get_config())
        self.compile(
            optimizer=optimizer,
            run_eagerly=run_eagerly,
            jit_compile=keras.backend.backend() == "jax" and not run_eagerly,
        )

    def _default_optimizer(self, total_steps):
        optimizer = self.config.build_optimizer(self.policy, total_steps=total_steps)
        optimizer.global_clipnorm = None  # clipped per model in the step
        if self.value_model is not None:
            peak = max(self.config.learning_rate, self.config.others_lr or 0.0)
            multiplier = self.config.learning_rate / peak if peak > 0 else 0.0
            optimizer.set_variable_group(self.value_model.trainable_variables, multiplier, 0.0)
        return optimizer

    def call(self, inputs, training=False):
        return self.policy(inputs, training=training)

    @property
    def metrics(self):
        return list(self._trackers.values())

    # ------------------------------------------------------- shared maths
    def _split(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(y, dict):
            y = y["targets"]
        if y is None:
            raise ValueError("RL training needs targets: records with `true_labels`.")
        return x, y

    def actions_for(self, probs, greedy=False):
        """Bernoulli samples of `probs`, or `probs > threshold`."""
        if greedy or self.config.get_actions == "threshold":
            return ops.cast(probs > self.config.threshold, probs.dtype)
        noise = keras.random.uniform(ops.shape(probs), seed=self.seed_generator, dtype=probs.dtype)
        return ops.cast(noise < probs, probs.dtype)

    def rl_iteration(self, x, targets, log_prob_prev=None, training=True):
        """One forward pass and loss; returns `(loss, results dict)`."""
        logits = self.policy(x, training=training)
        probs = ops.sigmoid(logits)
        actions = ops.stop_gradient(self.actions_for(ops.stop_gradient(probs), greedy=not training))
        targets = ops.cast(targets, logits.dtype)
        valid = ops.cast(ops.not_equal(targets, self.ignore_index), logits.dtype)
        clean_targets = targets * valid
        components = {}
        for name, fn in self.reward_components:
            value = fn(ops.stop_gradient(probs), actions, clean_targets, valid)
            components[name] = ops.stop_gradient(ops.reshape(ops.cast(value, logits.dtype), (-1, 1)))
        rewards = sum(components.values())
        values = None
        if self.value_model is not None:
            values = self.value_model(x, training=training)[:, :1]
        reference_probs = None
        if self.reference_model is not None:
            reference_probs = ops.stop_gradient(ops.sigmoid(self.reference_model(x, training=False)))
        results = ppo_loss(
            logits,
            targets,
            actions,
            rewards,
            self.config,
            log_prob_prev=log_prob_prev,
            values=values,
            reference_probs=reference_probs,
            ignore_index=self.ignore_index,
        )
        row_valid = ops.cast(ops.any(valid > 0, axis=-1, keepdims=True), logits.dtype)
        rows = ops.maximum(ops.sum(row_valid), 1.0)
        results["reward"] = ops.sum(rewards * row_valid) / rows
        for name, value in components.items():
            results[f"reward_{name}"] = ops.sum(value * row_valid) / rows
        return results["loss"], results

    def clip_gradients(self, grads):
        """Policy and value gradients each clipped to `max_grad_norm`."""
        clip = self.config.max_grad_norm
        if clip is None:
            return grads
        policy = _global_norm_clip([g if p else None for g, p in zip(grads, self._policy_slots)], clip)
        value = _global_norm_clip([None if p else g for g, p in zip(grads, self._policy_slots)], clip)
        return [pg if p else vg for pg, vg, p in zip(policy, value, self._policy_slots)]

    def update_trackers(self, results_per_iteration):
        for results in results_per_iteration:
            for key, tracker in self._trackers.items():
                tracker.update_state(results[key])
        return {key: tracker.result() for key, tracker in self._trackers.items()}

    # ------------------------------------------------------------ saving
    def save(self, filepath, *args, **kwargs):
        """Saves the policy (callbacks such as `ModelCheckpoint` call this)."""
        return self.policy.save(filepath, *args, **kwargs)

    def save_weights(self, filepath, *args, **kwargs):
        """Saves the policy's weights."""
        return self.policy.save_weights(filepath, *args, **kwargs)
