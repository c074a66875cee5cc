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


def one_batch_structure(step_function):
    """A JAX train or test function that sees `(x, y)` for `(x, y, None)` batches.

    Keras' `train_on_batch(x, y)` and `test_on_batch(x, y)` hand their step
    `(x, y, None)`, while `fit` and `evaluate` over a dataset of `(x, y)`
    batches hand it `(x, y)`. JAX compiles per input structure, so the
    first `fit` after `train_on_batch` (or the reverse) compiled the whole
    train step again for a batch shape it already had (6 s for a
    DeBERTa-v3-small-sized model on 2 CPU cores). Dropping an empty sample
    weight gives both one structure and one compilation. Other backends,
    and batches with sample weights, are unchanged.
    """
    if keras.backend.backend() != "jax" or step_function is None:
        return step_function
    if getattr(step_function, "_gliclass_one_batch_structure", False):
        return step_function

    def function(state, batches):
        return step_function(state, map(_without_empty_sample_weight, batches))

    function._gliclass_one_batch_structure = True
    return function


def _without_empty_sample_weight(batch):
    if isinstance(batch, tuple) and len(batch) == 3 and batch[2] is None:
        return batch[:2]
    return batch
