"""Per-backend gradient plumbing of `RLTrainer` (chosen once, at import).

Each class implements `train_step` and `test_step` around the trainer's
backend-neutral `rl_iteration` (forward pass and PPO loss),
`clip_gradients` and `update_trackers`: a tape on TensorFlow, autograd on
torch, and a pure `value_and_grad` over the trainer's state on JAX.
"""

import keras


def _greedy_step(trainer, data):
    x, targets = trainer._split(data)
    _, results = trainer.rl_iteration(x, targets, training=False)
    return trainer.update_trackers([results])


class TensorFlowRLSteps:
    def train_step(self, data):
        import tensorflow as tf

        x, targets = self._split(data)
        variables = self.trainable_variables
        previous, history = None, []
        for _ in range(self.config.num_rl_iters):
            with tf.GradientTape() as tape:
                loss, results = self.rl_iteration(x, targets, previous)
            grads = self.clip_gradients(tape.gradient(loss, variables))
            self.optimizer.apply(grads, variables)
            previous = tf.stop_gradient(results["log_probs"])
            history.append(results)
        return self.update_trackers(history)

    def test_step(self, data):
        return _greedy_step(self, data)


class TorchRLSteps:
    def train_step(self, data):
        import torch

        x, targets = self._split(data)
        variables = self.trainable_variables
        previous, history = None, []
        for _ in range(self.config.num_rl_iters):
            for variable in variables:
                variable.value.grad = None
            loss, results = self.rl_iteration(x, targets, previous)
            loss.backward()
            grads = self.clip_gradients([v.value.grad for v in variables])
            with torch.no_grad():
                self.optimizer.apply(grads, variables)
            previous = results["log_probs"].detach()
            history.append({k: v.detach() for k, v in results.items()})
        return self.update_trackers(history)

    def test_step(self, data):
        import torch

        with torch.no_grad():
            return _greedy_step(self, data)


class JaxRLSteps:
    def _stateless(self, function, variables, values, *args):
        """Run `function(*args)` with `variables` read as `values`.

        Returns `(output, new values of variables)`.
        """
        with keras.StatelessScope(state_mapping=list(zip(variables, values)), collect_losses=True) as scope:
            output = function(*args)
        new_values = []
        for variable, value in zip(variables, values):
            current = scope.get_current_value(variable)
            new_values.append(value if current is None else current)
        return output, new_values

    def train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_values, metrics_values = state
        x, targets = self._split(data)
        n_trainable = len(trainable)
        variables = self.trainable_variables + self.non_trainable_variables

        def loss_fn(trainable, non_trainable, previous):
            (loss, results), values = self._stateless(
                self.rl_iteration, variables, list(trainable) + list(non_trainable), x, targets, previous
            )
            return loss, (results, values[n_trainable:])

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        previous, history = None, []
        for _ in range(self.config.num_rl_iters):
            (_, (results, non_trainable)), grads = grad_fn(trainable, non_trainable, previous)
            grads = self.clip_gradients(grads)
            trainable, optimizer_values = self.optimizer.stateless_apply(optimizer_values, grads, trainable)
            previous = jax.lax.stop_gradient(results["log_probs"])
            history.append(results)
        logs, metrics_values = self._stateless(
            self.update_trackers, self.metrics_variables, metrics_values, history
        )
        return logs, (trainable, non_trainable, optimizer_values, metrics_values)

    def test_step(self, state, data):
        trainable, non_trainable, metrics_values = state
        variables = self.trainable_variables + self.non_trainable_variables + self.metrics_variables
        logs, values = self._stateless(
            _greedy_step, variables, list(trainable) + list(non_trainable) + list(metrics_values), self, data
        )
        n = len(trainable) + len(non_trainable)
        return logs, (trainable, values[len(trainable) : n], values[n:])


class UnsupportedRLSteps:
    def train_step(self, *args):
        raise NotImplementedError(
            f"RL training runs on the torch, jax and tensorflow backends, not {keras.backend.backend()!r}."
        )

    test_step = train_step


BackendRLSteps = {
    "tensorflow": TensorFlowRLSteps,
    "torch": TorchRLSteps,
    "jax": JaxRLSteps,
}.get(keras.backend.backend(), UnsupportedRLSteps)
