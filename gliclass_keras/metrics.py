"""Micro and macro F1 over GLiClass label slots, equal to scikit-learn's.

GLiClass scores a different list of candidate labels for every text, so a
label slot is not a class: the class of slot `k` of example `b` is the
*name* of that label. `GLiClassDataset` sends each slot's class as an integer
id (`label_ids`, one id per distinct label name, `-1` for padding) and
`GLiClassClassifier` hands it to these metrics. Given plain `(y_true,
y_pred)` arrays, slot `k` is class `k`.
"""

import math

import keras
from keras import ops

from gliclass_keras.api_export import register

# Distinct label names a metric can track (and a `GLiClassDataset` can number).
MAX_LABEL_IDS = 4096


@register
class F1Score(keras.metrics.Metric):
    """Micro or macro F1 of GLiClass predictions, the way scikit-learn counts.

    `y_true` holds one target per label slot (`1`/`0`, or a soft score,
    counted as positive when `>= 0.5`); slots whose target is
    `ignore_index` (`-100`, padding) are left out. `y_pred` holds logits.

    * `classification_type="multi-label"`: a slot is predicted positive when
      `sigmoid(logit) >= threshold`. Equal to
      `sklearn.metrics.f1_score(Y_true, Y_pred, average=...)` on the
      multi-label indicator matrices whose columns are every label that was a
      candidate at least once (slots that were never candidates count as
      negatives; a column without true or predicted positives has F1 0, as in
      scikit-learn).
    * `classification_type="single-label"`: the predicted class is the slot
      with the highest logit and the true class the slot with the highest
      target. Equal to `f1_score(y_true, y_pred, average=...)` on the label
      names (macro averages over the classes that occur in `y_true` or
      `y_pred`; micro F1 is accuracy).

    Args:
        average: `"micro"` or `"macro"`.
        classification_type: `"multi-label"` or `"single-label"`.
        threshold: float in (0, 1), multi-label decision threshold on
            sigmoid scores.
        max_classes: int, distinct classes tracked (label ids must be below).
        ignore_index: target value of padded slots.

    Example:

    ```python
    metric = gliclass_keras.metrics.F1Score(average="macro")
    metric.update_state([[1.0, 0.0, -100.0]], [[2.3, -0.4, -1000.0]])
    float(metric.result())  # 1.0
    model.compile(metrics=[metric])
    ```
    """

    def __init__(
        self,
        average="micro",
        classification_type="multi-label",
        threshold=0.5,
        max_classes=MAX_LABEL_IDS,
        ignore_index=-100,
        name=None,
        dtype=None,
    ):
        if average not in ("micro", "macro"):
            raise ValueError(f"`average` must be 'micro' or 'macro'. Received: {average!r}")
        if classification_type not in ("multi-label", "single-label"):
            raise ValueError(
                "`classification_type` must be 'multi-label' or 'single-label'. "
                f"Received: {classification_type!r}"
            )
        threshold = float(threshold)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"`threshold` must be in (0, 1). Received: {threshold!r}")
        if isinstance(max_classes, bool) or not isinstance(max_classes, int) or max_classes < 1:
            raise ValueError(f"`max_classes` must be a positive int. Received: {max_classes!r}")
        if name is None:
            name = f"{average}_f1"
        super().__init__(name=name, dtype=dtype or "float32")
        self.average = average
        self.classification_type = classification_type
        self.threshold = threshold
        self.max_classes = max_classes
        self.ignore_index = int(ignore_index)
        shape = (max_classes,)
        self.true_positives = self.add_variable(shape, initializer="zeros", name="true_positives")
        self.false_positives = self.add_variable(shape, initializer="zeros", name="false_positives")
        self.false_negatives = self.add_variable(shape, initializer="zeros", name="false_negatives")
        self.candidates = self.add_variable(shape, initializer="zeros", name="candidates")

    def update_state(self, y_true, y_pred, sample_weight=None, label_ids=None):
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
        if len(y_true.shape) == 1:
            y_true = ops.expand_dims(y_true, -1)
        if len(y_pred.shape) == 1:
            y_pred = ops.expand_dims(y_pred, -1)
        valid = ops.not_equal(y_true, float(self.ignore_index))
        if label_ids is None:
            label_ids = ops.broadcast_to(
                ops.arange(ops.shape(y_pred)[-1], dtype="int32")[None, :], ops.shape(y_pred)
            )
        label_ids = ops.cast(label_ids, "int32")
        valid = ops.logical_and(valid, ops.greater_equal(label_ids, 0))
        valid_f = ops.cast(valid, "float32")
        if self.classification_type == "multi-label":
            cut = math.log(self.threshold / (1.0 - self.threshold))
            predicted = ops.cast(ops.greater_equal(y_pred, cut), "float32")
            actual = ops.cast(ops.greater_equal(y_true, 0.5), "float32")
        else:
            neg = ops.full_like(y_pred, -3.0e38)
            best = ops.argmax(ops.where(valid, y_pred, neg), axis=-1)
            truth = ops.argmax(ops.where(valid, y_true, neg), axis=-1)
            width = ops.shape(y_pred)[-1]
            predicted = ops.one_hot(best, width, dtype="float32")
            actual = ops.one_hot(truth, width, dtype="float32")
        weight = valid_f
        if sample_weight is not None:
            sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
            while len(sample_weight.shape) < 2:
                sample_weight = ops.expand_dims(sample_weight, -1)
            weight = weight * ops.broadcast_to(sample_weight, ops.shape(weight))
        safe_ids = ops.reshape(ops.where(valid, label_ids, ops.zeros_like(label_ids)), (-1,))

        def scatter(values):
            return ops.segment_sum(
                ops.reshape(values * weight, (-1,)), safe_ids, num_segments=self.max_classes
            )

        self.true_positives.assign_add(scatter(predicted * actual))
        self.false_positives.assign_add(scatter(predicted * (1.0 - actual)))
        self.false_negatives.assign_add(scatter((1.0 - predicted) * actual))
        self.candidates.assign_add(scatter(ops.ones_like(predicted)))

    def result(self):
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        if self.average == "micro":
            tp, fp, fn = ops.sum(tp), ops.sum(fp), ops.sum(fn)
            denominator = 2.0 * tp + fp + fn
            return ops.where(denominator > 0, 2.0 * tp / ops.maximum(denominator, 1e-12), 0.0)
        denominator = 2.0 * tp + fp + fn
        per_class = ops.where(denominator > 0, 2.0 * tp / ops.maximum(denominator, 1e-12), 0.0)
        if self.classification_type == "multi-label":
            counted = ops.cast(self.candidates > 0, "float32")
        else:
            counted = ops.cast(denominator > 0, "float32")
        return ops.sum(per_class * counted) / ops.maximum(ops.sum(counted), 1.0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "average": self.average,
                "classification_type": self.classification_type,
                "threshold": self.threshold,
                "max_classes": self.max_classes,
                "ignore_index": self.ignore_index,
            }
        )
        return config
