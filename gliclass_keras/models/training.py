"""`compile`, `fit`, `evaluate` and `predict` for GLiClass models.

`TrainingMixin` goes before `keras.Model` in a GLiClass model's bases. It
adds config-driven `compile()` defaults (keras-hub style), lets `fit`,
`evaluate` and `predict` take training records directly (see
`GLiClassDataset`), and routes each label slot's name id to the F1 metrics.
Gradients are Keras' own `train_step` on every backend: only
`compute_loss` and `compute_metrics` are customised.
"""

import keras
import numpy as np

from gliclass_keras import losses as losses_lib
from gliclass_keras import metrics as metrics_lib
from gliclass_keras.data import records as records_lib
from gliclass_keras.data.gliclass_dataset import GLiClassDataset
from gliclass_keras.training_config import TrainingConfig


def _split_targets(y):
    """`(targets, label_ids)` from a dataset's `y` dict or plain targets."""
    if isinstance(y, dict) and "targets" in y:
        return y["targets"], y.get("label_ids")
    return y, None


class TrainingMixin:
    """Training entry points shared by GLiClass models (see module docstring)."""

    # -------------------------------------------------------------- compile
    def compile(
        self,
        optimizer="auto",
        loss="auto",
        metrics="auto",
        training_config=None,
        total_steps=None,
        reward_components=None,
        value_model=None,
        reference_model=None,
        **kwargs,
    ):
        """Configure training, with defaults from the model's config.

        * `optimizer="auto"`: `training_config.build_optimizer(self)`, AdamW
          with the reference Trainer's parameter groups (see
          `TrainingConfig`).
        * `loss="auto"`: the loss of `config.problem_type`
          (`gliclass_keras.losses.get_loss`: focal loss with the config's
          alpha, gamma and reduction for multi-label, cross-entropy over
          each example's labels for single-label, MSE for regression); the
          `contrastive_loss_coef` term is added by the model itself.
        * `metrics="auto"`: micro and macro F1 (`gliclass_keras.metrics.
          F1Score`), multi- or single-label as the problem type.

        Any of them can be given explicitly, as for `keras.Model.compile`.

        With an `RLConfig` as `training_config`, `fit` trains with PPO (an
        `RLTrainer` around this model; `evaluate` and `predict` are
        unchanged):

        ```python
        model.compile(
            training_config=gliclass_keras.RLConfig(num_rl_iters=2),
            reward_components=[("f1", gliclass_keras.rewards.f1_reward)],
        )
        model.fit(train_records, epochs=3)
        ```

        Args:
            training_config: a `TrainingConfig` or `RLConfig` (or a dict of
                `TrainingConfig` fields); default `TrainingConfig()`. It also
                sets the seed and `datasets` cache used when `fit` reads raw
                records.
            total_steps: int, optimizer steps of the run, for the linear and
                cosine learning-rate schedules.
            reward_components, value_model, reference_model: RL only (see
                `RLTrainer`): the rewards (default F1), an optional value
                model and an optional frozen reference model.
            **kwargs: passed to `keras.Model.compile`.
        """
        from gliclass_keras.rl.rl_config import RLConfig
        from gliclass_keras.rl.rewards import standardize_reward_components

        if training_config is None:
            training_config = getattr(self, "_training_config", None) or TrainingConfig()
        elif isinstance(training_config, dict):
            training_config = TrainingConfig.from_dict(training_config)
        elif not isinstance(training_config, TrainingConfig):
            raise TypeError(
                "`training_config` must be a TrainingConfig, an RLConfig or a dict. "
                f"Received: {type(training_config).__name__}"
            )
        rl = None
        if isinstance(training_config, RLConfig):
            rl = {
                "reward_components": standardize_reward_components(reward_components),
                "value_model": value_model,
                "reference_model": reference_model,
                "optimizer": None if optimizer == "auto" else optimizer,  # see RLTrainer
                "total_steps": total_steps,
                "run_eagerly": bool(kwargs.get("run_eagerly", False)),
            }
        elif reward_components is not None or value_model is not None or reference_model is not None:
            raise ValueError(
                "`reward_components`, `value_model` and `reference_model` are for RL training: "
                "pass `training_config=gliclass_keras.RLConfig(...)` with them."
            )
        object.__setattr__(self, "_training_config", training_config)
        object.__setattr__(self, "_rl_settings", rl)
        object.__setattr__(self, "_rl_trainer", None)
        config = self.config
        if optimizer == "auto":
            optimizer = training_config.build_optimizer(self, total_steps=total_steps)
        if loss == "auto":
            loss = losses_lib.get_loss(
                config.problem_type,
                focal_loss_alpha=config.focal_loss_alpha,
                focal_loss_gamma=config.focal_loss_gamma,
                focal_loss_reduction=config.focal_loss_reduction,
                ignore_index=getattr(config, "ignore_index", -100),
            )
        if metrics == "auto":
            kind = (
                "multi-label"
                if config.problem_type == "multi_label_classification"
                else "single-label"
            )
            metrics = [] if config.problem_type == "regression" else [
                metrics_lib.F1Score("micro", classification_type=kind),
                metrics_lib.F1Score("macro", classification_type=kind),
            ]
        metrics = list(metrics or [])
        label_metrics = [m for m in metrics if isinstance(m, metrics_lib.F1Score)]
        other_metrics = [m for m in metrics if not isinstance(m, metrics_lib.F1Score)]
        xla_training = True
        if kwargs.get("jit_compile", "auto") == "auto" and keras.backend.backend() == "tensorflow":
            # As for inference (see __init__): XLA for predict and evaluate,
            # which Keras turns off on CPU. Not for the train step: there it
            # is no faster on CPU (measured: 3.0 s per step with and without
            # on benchmarks/train.py) and compiling it costs tens of seconds.
            kwargs["jit_compile"] = True
            xla_training = False
        super().compile(optimizer=optimizer, loss=loss, metrics=other_metrics, **kwargs)
        object.__setattr__(self, "_xla_training", xla_training)
        object.__setattr__(self, "_label_metrics", tuple(label_metrics))
        if rl is not None and not getattr(self, "_restoring_compile", False):
            self._fit_trainer()  # argument errors now, not at fit()

    def make_train_function(self, force=False):
        if getattr(self, "_xla_training", True) or not self.jit_compile:
            return super().make_train_function(force=force)
        # The train step without XLA (see `compile`); predict keeps it.
        self._jit_compile = False
        try:
            return super().make_train_function(force=force)
        finally:
            self._jit_compile = True

    def get_compile_config(self):
        config = super().get_compile_config()
        if not config:
            return config
        label_metrics = getattr(self, "_label_metrics", ())
        if label_metrics:
            metrics = list(config.get("metrics") or [])
            metrics += [keras.saving.serialize_keras_object(m) for m in label_metrics]
            config["metrics"] = metrics
        training_config = getattr(self, "_training_config", None)
        if training_config is not None:
            config["training_config"] = training_config.to_dict()
            config["training_config_class"] = type(training_config).__name__
        rl = getattr(self, "_rl_settings", None)
        if rl is not None:
            # value and reference models are not saved with the policy
            config["reward_components"] = [
                [name, keras.saving.serialize_keras_object(fn)] for name, fn in rl["reward_components"]
            ]
        return config

    def compile_from_config(self, config):
        from gliclass_keras.rl.rl_config import RLConfig

        config = dict(config)
        training_config = config.pop("training_config", None)
        config_class = config.pop("training_config_class", "TrainingConfig")
        reward_components = config.pop("reward_components", None)
        if training_config is not None and config_class == "RLConfig":
            training_config = RLConfig.from_dict(training_config)
        config = keras.saving.deserialize_keras_object(config)
        if reward_components is not None:
            try:
                reward_components = [
                    (name, keras.saving.deserialize_keras_object(fn)) for name, fn in reward_components
                ]
            except Exception as error:  # e.g. an unregistered function
                import warnings

                warnings.warn(
                    "Could not restore the RL reward components saved with this model "
                    f"({error}); it is compiled with the default F1 reward. Register custom "
                    "rewards with `keras.saving.register_keras_serializable` to save them.",
                    stacklevel=2,
                )
                reward_components = None
        rl_kwargs = {"reward_components": reward_components} if isinstance(training_config, RLConfig) else {}
        # Value and reference models are not saved: an RL model is restored
        # without them, and fit() asks for them if its config needs them.
        object.__setattr__(self, "_restoring_compile", True)
        try:
            self.compile(training_config=training_config, **rl_kwargs, **config)
        finally:
            object.__setattr__(self, "_restoring_compile", False)
        if self.built and not isinstance(training_config, RLConfig):
            # (under an RLConfig, fit() trains with the RLTrainer's optimizer)
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        return super().metrics + list(getattr(self, "_label_metrics", ()))

    # ----------------------------------------------------- loss and metrics
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        targets, _ = _split_targets(y)
        return super().compute_loss(
            x=x, y=targets, y_pred=y_pred, sample_weight=sample_weight, training=training
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        targets, label_ids = _split_targets(y)
        for metric in getattr(self, "_label_metrics", ()):
            metric.update_state(targets, y_pred, sample_weight=sample_weight, label_ids=label_ids)
        return super().compute_metrics(x, targets, y_pred, sample_weight)

    # ----------------------------------------------------------------- data
    def make_dataset(self, data, batch_size=8, training=True, **kwargs):
        """A `GLiClassDataset` of `data` for this model.

        `training=True` shuffles records and labels each epoch; `False`
        keeps both in order (evaluation, prediction). Seed and `datasets`
        cache come from the compiled `TrainingConfig`; `**kwargs` go to
        `GLiClassDataset` (e.g. `streaming=True`).
        """
        training_config = getattr(self, "_training_config", None) or TrainingConfig()
        kwargs.setdefault("shuffle", training)
        kwargs.setdefault("shuffle_labels", training)
        kwargs.setdefault("seed", training_config.seed)
        kwargs.setdefault("cache_dir", training_config.cache_dir)
        return GLiClassDataset(
            data,
            self.preprocessor,
            batch_size=batch_size,
            problem_type=self.config.problem_type,
            **kwargs,
        )

    def _as_batches(self, data, batch_size, training):
        """`(batches for Keras, the GLiClassDataset or None)`."""
        if isinstance(data, GLiClassDataset):
            dataset = data
        elif records_lib.is_record_data(data):
            dataset = self.make_dataset(data, batch_size=batch_size or 8, training=training)
        else:
            return data, None
        dataset.pending_error = None
        if keras.backend.backend() == "tensorflow":
            return dataset.as_tf_dataset(), dataset
        return dataset, dataset

    @staticmethod
    def _run(function, datasets, **kwargs):
        """Call `function`; re-raise a dataset's own error that tf.data wrapped."""
        try:
            return function(**kwargs)
        except Exception as error:
            for dataset in datasets:
                pending = dataset is not None and dataset.pending_error
                if pending and pending is not error:
                    raise pending from None
            raise

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, **kwargs):
        """`keras.Model.fit`, also taking training records.

        `x` can be a `GLiClassDataset`, a `datasets.Dataset` /
        `IterableDataset`, a list of record dicts or a `.json`/`.jsonl` path
        (records are batched by `batch_size`, default 8); `validation_data`
        likewise (kept in order, labels not shuffled). A stream needs
        `steps_per_epoch`.
        """
        data, dataset = self._as_batches(x, batch_size, training=True)
        val_dataset = None
        trainer = self._fit_trainer()
        if dataset is not None:
            if y is not None:
                raise ValueError("`y` must be None when `x` holds training records (with their labels).")
            if dataset.streaming and kwargs.get("steps_per_epoch") is None:
                raise ValueError(
                    "Streamed training data has no length: pass `steps_per_epoch` to fit()."
                )
            batch_size = None
            kwargs["shuffle"] = False  # GLiClassDataset shuffles, seeded, per epoch
        if validation_data is not None:
            validation_batch_size = kwargs.pop("validation_batch_size", None)
            validation_data, val_dataset = self._as_batches(
                validation_data, validation_batch_size or batch_size or 8, training=False
            )
            if val_dataset is not None and val_dataset.streaming and kwargs.get("validation_steps") is None:
                raise ValueError("Streamed validation data needs `validation_steps`.")
        return self._run(
            super().fit if trainer is None else trainer.fit,
            (dataset, val_dataset),
            x=data,
            y=y,
            batch_size=batch_size,
            validation_data=validation_data,
            **kwargs,
        )

    def _fit_trainer(self):
        """The `RLTrainer` that `fit` runs under an `RLConfig`, else None."""
        rl = getattr(self, "_rl_settings", None)
        if rl is None:
            return None
        if getattr(self, "_rl_trainer", None) is None:
            from gliclass_keras.rl.rl_trainer import RLTrainer

            object.__setattr__(self, "_rl_trainer", RLTrainer(self, self._training_config, **rl))
        return self._rl_trainer

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        """`keras.Model.evaluate`, also taking training records (in order)."""
        data, dataset = self._as_batches(x, batch_size, training=False)
        if dataset is not None:
            if y is not None:
                raise ValueError("`y` must be None when `x` holds records with their labels.")
            if dataset.streaming and kwargs.get("steps") is None:
                raise ValueError("Streamed evaluation data needs `steps`.")
            batch_size = None
        return self._run(super().evaluate, (dataset,), x=data, y=y, batch_size=batch_size, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        """`keras.Model.predict`, also taking records.

        For records (anything `fit` takes) it returns a float32 array
        `(num_records, most_labels)`: record `i`'s logits in the order of its
        `all_labels`, `-1000` after its last label. Other inputs go to
        `keras.Model.predict` unchanged.
        """
        if not (isinstance(x, GLiClassDataset) or records_lib.is_record_data(x)):
            return super().predict(x, batch_size=batch_size, **kwargs)
        if isinstance(x, GLiClassDataset):
            if x.shuffle or x.shuffle_labels:
                raise ValueError(
                    "predict() needs records in order: build the GLiClassDataset with "
                    "shuffle=False, shuffle_labels=False (or pass the records themselves)."
                )
            dataset = x
        else:
            dataset = self.make_dataset(x, batch_size=batch_size or 8, training=False)
        steps = kwargs.pop("steps", None)
        verbose = kwargs.pop("verbose", "auto")
        if kwargs:
            raise ValueError(f"Unsupported predict() arguments for records: {sorted(kwargs)}")
        if dataset.streaming and steps is None:
            raise ValueError("Streamed data needs `steps` in predict().")
        total = steps if steps is not None else len(dataset)
        progress = keras.utils.Progbar(total) if verbose not in (0, "silent") else None
        per_record = []
        for index in range(total):
            positions, batch = dataset._batch_records(index)
            rows, _, _ = dataset.encode_records(positions, batch, require_targets=False)
            row_logits = self._predict_rows(rows, dataset.batch_size)
            start = len(per_record)
            per_record += [np.zeros(len(record["all_labels"]), dtype="float32") for record in batch]
            for row, logits in zip(rows, row_logits):
                per_record[start + row.text_index][row.label_indices] = logits
            if progress is not None:
                progress.update(index + 1)
        width = max(len(v) for v in per_record)
        out = np.full((len(per_record), width), -1000.0, dtype="float32")
        for i, values in enumerate(per_record):
            out[i, : len(values)] = values
        return out

