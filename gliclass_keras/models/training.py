"""Training defaults of GLiClass models: the loss, metrics and data a config implies.

Plain functions used by `GLiClassClassifier.compile`, `fit`, `evaluate` and
`predict` (the Keras entry points stay on the model class, where a reader
finds them).
"""

import warnings

import keras

from gliclass_keras import losses as losses_lib
from gliclass_keras import metrics as metrics_lib
from gliclass_keras.training_config import TrainingConfig
from gliclass_keras.utils import shapes


def split_targets(y):
    """`(targets, label_ids)` from a dataset's `y` dict or plain targets."""
    if isinstance(y, dict) and "targets" in y:
        return y["targets"], y.get("label_ids")
    return y, None


def resolve_training_config(training_config, current=None):
    """A `TrainingConfig` (or `RLConfig`) from what `compile` was given."""
    if training_config is None:
        return current or TrainingConfig()
    if isinstance(training_config, dict):
        return TrainingConfig.from_dict(training_config)
    if not isinstance(training_config, TrainingConfig):
        raise TypeError(
            "`training_config` must be a TrainingConfig, an RLConfig or a dict. "
            f"Received: {type(training_config).__name__}"
        )
    return training_config


def default_loss(config):
    """The loss of `config.problem_type` (`gliclass_keras.losses.get_loss`)."""
    return losses_lib.get_loss(
        config.problem_type,
        focal_loss_alpha=config.focal_loss_alpha,
        focal_loss_gamma=config.focal_loss_gamma,
        focal_loss_reduction=config.focal_loss_reduction,
        ignore_index=getattr(config, "ignore_index", -100),
    )


def default_metrics(config):
    """Micro and macro F1, multi- or single-label as the problem type (none for regression)."""
    if config.problem_type == "regression":
        return []
    kind = (
        "multi-label"
        if config.problem_type == "multi_label_classification"
        else "single-label"
    )
    return [
        metrics_lib.F1Score("micro", classification_type=kind),
        metrics_lib.F1Score("macro", classification_type=kind),
    ]


def split_label_metrics(metrics):
    """`(label_metrics, other_metrics)`: F1 metrics need each slot's label id."""
    metrics = list(metrics or [])
    label_metrics = [m for m in metrics if isinstance(m, metrics_lib.F1Score)]
    return label_metrics, [m for m in metrics if not isinstance(m, metrics_lib.F1Score)]


def restore_reward_components(serialized):
    """Reward components saved in a compile config, or None (with a warning) if unrestorable."""
    if serialized is None:
        return None
    try:
        return [(name, keras.saving.deserialize_keras_object(fn)) for name, fn in serialized]
    except Exception as error:  # e.g. an unregistered function
        warnings.warn(
            "Could not restore the RL reward components saved with this model "
            f"({error}); it is compiled with the default F1 reward. Register custom "
            "rewards with `keras.saving.register_keras_serializable` to save them.",
            stacklevel=3,
        )
        return None


def call_reraising_dataset_errors(function, datasets, **kwargs):
    """Call `function`; re-raise a dataset's own error that tf.data wrapped."""
    try:
        return function(**kwargs)
    except Exception as error:
        for dataset in datasets:
            pending = dataset is not None and dataset.pending_error
            if pending and pending is not error:
                raise pending from None
        raise


def make_step_function(model, kind, keras_make_function):
    """The train or test function of `model`: Keras' own, sharing one trace between its callers.

    Keras' `train_on_batch(x, y)` hands its step `(x, y, None)`, while
    `fit` over a dataset of `(x, y)` batches hands it `(x, y)`; on
    TensorFlow `fit` also runs its step inside a second `tf.function` over
    a `tf.data` iterator. Each difference traced (TensorFlow) or compiled
    (JAX) the whole step again: on a DeBERTa-v3-small-sized model and 2 CPU
    cores the first `fit` after `train_on_batch` spent 6 s (JAX) and 8 s
    (TensorFlow) on it. Here an empty sample weight is dropped, so both see
    `(x, y)`, and on TensorFlow (default strategy, one step per execution,
    not eager) the step is one `tf.function` traced once for inputs of
    every shape (as `shapes.predict_on_batch` does for predict), which
    `fit`, `evaluate` and the `*_on_batch` methods all call. Batches with
    sample weights, and torch, are unchanged.

    Args:
        model: the compiled `keras.Model`.
        kind: `"train"` or `"test"`: which of its steps (`train_step`,
            `test_step`) the function runs.
        keras_make_function: makes Keras' own function and returns it (the
            `keras.Model.make_train_function` or `make_test_function`).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        function = _tensorflow_step_function(model, kind)
        if function is not None:
            return function
    function = keras_make_function()
    if backend != "jax":
        return function

    def jax_function(state, batches):
        return function(state, map(_without_empty_sample_weight, batches))

    return jax_function


def _tensorflow_step_function(model, kind):
    import tensorflow as tf

    if (
        model.run_eagerly
        or model.steps_per_execution != 1
        or getattr(model, "_distribute_strategy", None) is not None
        or tf.distribute.has_strategy()
    ):
        return None  # Keras' function, which handles all of these
    traced = tf.function(
        getattr(model, f"{kind}_step"),
        reduce_retracing=True,
        jit_compile=model.jit_compile,
        autograph=False,
    )

    def function(batches):
        for batch in batches:  # one batch: `steps_per_execution` is 1
            batch = _without_empty_sample_weight(
                keras.tree.map_structure(
                    lambda x: None if isinstance(x, tf.experimental.Optional) else x, batch
                )
            )
            if traced.experimental_get_tracing_count() == 0:
                optimizer = getattr(model, "optimizer", None)
                if kind == "train" and optimizer is not None and not optimizer.built:
                    # built here, not by the first trace: a `tf.function`
                    # that creates variables traces a second time
                    optimizer.build(model.trainable_variables)
                traced.get_concrete_function(shapes.any_shape_specs(batch))
            return traced(batch)
        raise StopIteration

    return function


def _without_empty_sample_weight(batch):
    if isinstance(batch, tuple) and len(batch) == 3 and batch[2] is None:
        return batch[:2]
    return batch
