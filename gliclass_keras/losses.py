"""GLiClass training losses (reference `gliclass/loss_functions.py` and
`GLiClassBaseModel.get_loss`, gliclass 0.1.21 semantics).

All losses take `y_pred` = logits of shape `(batch, num_label_slots)`.  Label
slots that only exist because the batch is padded to its longest label list
carry the logit `-1000` and the target `ignore_index` (`-100`); they never
contribute to a loss value.

Every loss returns the *already reduced* scalar of the reference for the whole
batch (the focal "mean" is a mean over the valid slots of the whole batch,
which cannot be written as a Keras per-sample loss followed by Keras'
`reduction`).  `__call__` is therefore overridden: Keras' own `reduction`
argument is not used, and `sample_weight` (shape `(batch,)`, `(batch, 1)` or
`(batch, num_label_slots)`) scales the per-slot / per-example terms of the
numerator only (like Keras' `"sum_over_batch_size"`, the normalizer is not
weighted).  `loss(y_true, y_pred)` equals the reference value, and
`model.compile(loss=...)` / `fit()` use exactly that value.
"""

import keras
from keras import ops

from gliclass_keras.api_export import register


def _standardize_reduction_mode(reduction_mode):
    if reduction_mode is None or reduction_mode in ("none", "mean"):
        return "mean"
    if reduction_mode == "sum":
        return "sum"
    raise ValueError(
        f"Invalid `reduction_mode` {reduction_mode!r}; expected one of "
        f"'mean', 'sum' (None and 'none' mean 'mean')."
    )


def _weights_like(sample_weight, values, dtype):
    """Broadcast `sample_weight` to `values` (rank 1 or 2)."""
    if sample_weight is None:
        return None
    sample_weight = ops.convert_to_tensor(sample_weight, dtype=dtype)
    rank = len(values.shape)
    while len(sample_weight.shape) < rank:
        sample_weight = ops.expand_dims(sample_weight, -1)
    if len(sample_weight.shape) > rank:
        sample_weight = ops.reshape(
            sample_weight, ops.shape(sample_weight)[: rank]
        )
    return ops.broadcast_to(sample_weight, ops.shape(values))


class _GLiClassLoss(keras.losses.Loss):
    """Base class: `call` returns the reduced scalar; no Keras reduction."""

    def __init__(self, ignore_index=-100, name=None, dtype=None):
        super().__init__(
            name=name, reduction="sum_over_batch_size", dtype=dtype
        )
        self.ignore_index = int(ignore_index)

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
            y_true = ops.convert_to_tensor(y_true, dtype=self.dtype)
            return self.compute(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        return self.compute(y_true, y_pred)

    def compute(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "ignore_index": self.ignore_index}


def focal_loss_with_logits(
    y_true, y_pred, alpha=0.5, gamma=2.0, ignore_index=-100
):
    """Element-wise focal loss with logits (reference `reduction="none"`).

    Returns `(loss, valid)`: the per-slot loss (already zero on ignored slots)
    and the float validity mask `y_true != ignore_index`.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    valid = ops.cast(ops.not_equal(y_true, ignore_index), y_pred.dtype)
    # ignored slots get a harmless target so that no inf/nan can leak into the
    # (zeroed) loss or its gradient
    t = ops.where(valid > 0, y_true, ops.zeros_like(y_true))
    x = y_pred
    # numerically stable BCE with logits
    bce = ops.maximum(x, 0.0) - x * t + ops.log1p(ops.exp(-ops.abs(x)))
    loss = bce * valid
    if gamma > 0:
        p = ops.sigmoid(x)
        p_t = p * t + (1.0 - p) * (1.0 - t)
        loss = loss * ops.power(1.0 - p_t, gamma)
    if alpha >= 0:
        alpha_t = alpha * t + (1.0 - alpha) * (1.0 - t)
        loss = alpha_t * loss
    return loss, valid


@register
class FocalLoss(_GLiClassLoss):
    """Multi-label focal loss with logits (GLiClass `multi_label_classification`).

    Per slot: `BCEWithLogits(x, t) * (1 - p_t) ** gamma` (if `gamma > 0`),
    weighted by `alpha * t + (1 - alpha) * (1 - t)` (if `alpha >= 0`), where
    `p = sigmoid(x)` and `p_t = p * t + (1 - p) * (1 - t)`.  Slots whose target
    equals `ignore_index` are left out.  `reduction_mode="mean"` returns
    `sum(loss * valid) / max(sum(valid), 1)` over the whole batch (gliclass
    0.1.21 `get_loss`); `"sum"` the masked sum.  Soft targets in `[0, 1]` are
    accepted.  `alpha=-1, gamma=0` is plain binary cross-entropy.

    Args:
        alpha: positive-class weight, negative to disable.
        gamma: focusing exponent, `<= 0` to disable.
        reduction_mode: `"mean"` (also `None` / `"none"`) or `"sum"`.
        ignore_index: target value of padded / ignored label slots.

    Example:

    ```python
    loss = gliclass_keras.losses.FocalLoss(alpha=0.5, gamma=2.0)
    logits = np.array([[2.0, -1.0, -1000.0]])
    targets = np.array([[1.0, 0.0, -100.0]])  # last slot is padding
    value = loss(targets, logits)
    model.compile(optimizer="adam", loss=loss)
    ```
    """

    def __init__(
        self,
        alpha=0.5,
        gamma=2.0,
        reduction_mode="mean",
        ignore_index=-100,
        name="focal_loss",
        dtype=None,
    ):
        super().__init__(ignore_index=ignore_index, name=name, dtype=dtype)
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.reduction_mode = _standardize_reduction_mode(reduction_mode)

    def compute(self, y_true, y_pred, sample_weight=None):
        loss, valid = focal_loss_with_logits(
            y_true,
            y_pred,
            alpha=self.alpha,
            gamma=self.gamma,
            ignore_index=self.ignore_index,
        )
        weights = _weights_like(sample_weight, loss, loss.dtype)
        if weights is not None:
            loss = loss * weights
        total = ops.sum(loss)
        if self.reduction_mode == "sum":
            return total
        return total / ops.maximum(ops.sum(valid), 1.0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "alpha": self.alpha,
                "gamma": self.gamma,
                "reduction_mode": self.reduction_mode,
            }
        )
        return config


@register
class LabelCrossEntropy(_GLiClassLoss):
    """Single-label softmax cross-entropy over an example's label slots.

    `y_true` is either an integer class index per example (shape `(B,)` or
    `(B, 1)`; examples whose index equals `ignore_index` are left out and the
    result is the mean over the remaining examples, like
    `torch.nn.CrossEntropyLoss`), or a one-hot / soft distribution of shape
    `(B, K)`, giving `-(log_softmax(logits) * y).sum(-1).mean()` (the
    reference `problem_type=None` branch; entries equal to `ignore_index` are
    treated as 0).  Padded slots carry the logit `-1000` and so get ~0
    probability.

    Args:
        ignore_index: index of ignored examples (index targets) / value of
            padded slots (soft targets).

    Example:

    ```python
    loss = gliclass_keras.losses.LabelCrossEntropy()
    logits = np.array([[2.0, -1.0, -1000.0], [0.5, 1.5, 0.0]])
    value = loss(np.array([0, 1]), logits)
    model.compile(optimizer="adam", loss=loss)
    ```
    """

    def __init__(self, ignore_index=-100, name="label_cross_entropy", dtype=None):
        super().__init__(ignore_index=ignore_index, name=name, dtype=dtype)

    def compute(self, y_true, y_pred, sample_weight=None):
        log_probs = ops.log_softmax(y_pred, axis=-1)
        num_slots = y_pred.shape[-1]
        # (B, K) targets are distributions, (B,) / (B, 1) class indices. Decided
        # on rank (and a known last dim of 1), since on tensorflow the slot
        # count is often unknown (None) when the step is traced.
        soft = len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] != 1
        if soft:
            y = ops.cast(y_true, log_probs.dtype)
            y = ops.where(
                ops.equal(y, self.ignore_index), ops.zeros_like(y), y
            )
            per_example = -ops.sum(log_probs * y, axis=-1)
            # rows whose every slot is ignored (batch filler) are left out
            row_valid = ops.cast(
                ops.any(ops.not_equal(y_true, self.ignore_index), axis=-1), per_example.dtype
            )
            per_example = per_example * row_valid
            weights = _weights_like(sample_weight, per_example, per_example.dtype)
            if weights is not None:
                per_example = per_example * weights
            return ops.sum(per_example) / ops.maximum(ops.sum(row_valid), 1.0)
        index = ops.reshape(y_true, (-1,))
        index = ops.cast(ops.round(ops.cast(index, "float32")), "int32")
        valid = ops.not_equal(index, self.ignore_index)
        safe_index = ops.where(valid, index, ops.zeros_like(index))
        depth = num_slots if num_slots is not None else ops.shape(y_pred)[-1]
        one_hot = ops.one_hot(safe_index, depth, dtype=log_probs.dtype)
        valid = ops.cast(valid, log_probs.dtype)
        per_example = -ops.sum(log_probs * one_hot, axis=-1) * valid
        weights = _weights_like(sample_weight, per_example, per_example.dtype)
        if weights is not None:
            per_example = per_example * weights
        return ops.sum(per_example) / ops.maximum(ops.sum(valid), 1.0)



@register
class RegressionLoss(_GLiClassLoss):
    """Mean squared error over the valid label slots (GLiClass `regression`).

    `mean((logits - y) ** 2)` over the slots whose target is not
    `ignore_index`; without ignored slots this is the reference
    `MSELoss()(logits, labels)`.

    Args:
        ignore_index: target value of padded / ignored label slots.

    Example:

    ```python
    loss = gliclass_keras.losses.RegressionLoss()
    value = loss(np.array([[0.2, 0.9, -100.0]]), np.array([[0.1, 1.2, -1000.0]]))
    model.compile(optimizer="adam", loss=loss)
    ```
    """

    def __init__(self, ignore_index=-100, name="regression_loss", dtype=None):
        super().__init__(ignore_index=ignore_index, name=name, dtype=dtype)

    def compute(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, y_pred.dtype)
        if len(y_true.shape) < len(y_pred.shape):
            y_true = ops.reshape(y_true, ops.shape(y_pred))
        valid = ops.cast(ops.not_equal(y_true, self.ignore_index), y_pred.dtype)
        t = ops.where(valid > 0, y_true, ops.zeros_like(y_true))
        err = ops.square(y_pred - t) * valid
        weights = _weights_like(sample_weight, err, err.dtype)
        if weights is not None:
            err = err * weights
        return ops.sum(err) / ops.maximum(ops.sum(valid), 1.0)



def sequence_contrastive_loss(class_embeddings, class_mask, padded_negatives=True):
    """Label-uniformity contrastive loss (reference `sequence_contrastive_loss`).

    `E = L2-normalize(class_embeddings)` `(B, K, D)`, `S = E @ E^T` (no
    temperature); per slot `k` the cross-entropy of row `S[b, k, :]` with
    target `k`; result `sum(ce * mask) / sum(mask)`.  With
    `padded_negatives=True` (the reference) padded slots still appear as
    negatives in every softmax, so the value depends on how far the batch is
    padded; `False` leaves them out (what `GLiClassClassifier` trains with).

    Args:
        class_embeddings: `(B, K, D)` label embeddings.
        class_mask: `(B, K)` 1 for real label slots, 0 for padding.
        padded_negatives: bool, keep padded slots in the softmax.

    Returns:
        scalar loss.
    """
    emb = ops.convert_to_tensor(class_embeddings)
    if keras.backend.standardize_dtype(emb.dtype) not in ("float32", "float64"):
        emb = ops.cast(emb, "float32")
    norm = ops.sqrt(ops.sum(ops.square(emb), axis=-1, keepdims=True))
    emb = emb / ops.maximum(norm, 1e-12)
    sim = ops.matmul(emb, ops.transpose(emb, (0, 2, 1)))
    if not padded_negatives:
        keep = ops.cast(class_mask, "bool")[:, None, :]
        sim = ops.where(keep, sim, ops.cast(-1e9, sim.dtype))
    log_probs = ops.log_softmax(sim, axis=-1)
    num_slots = sim.shape[-1]
    if num_slots is None:
        num_slots = ops.shape(sim)[-1]
    eye = ops.eye(num_slots, dtype=log_probs.dtype)
    ce = -ops.sum(log_probs * eye[None], axis=-1)
    mask = ops.cast(class_mask, ce.dtype)
    return ops.sum(ce * mask) / ops.maximum(ops.sum(mask), 1.0)


def get_loss(
    problem_type="multi_label_classification",
    focal_loss_alpha=0.5,
    focal_loss_gamma=2.0,
    focal_loss_reduction=None,
    ignore_index=-100,
):
    """Build the loss of a GLiClass config's `problem_type`.

    * `"multi_label_classification"` -> `FocalLoss(focal_loss_alpha,
      focal_loss_gamma, "sum" if focal_loss_reduction == "sum" else "mean")`
    * `"single_label_classification"` and `None` -> `LabelCrossEntropy`
      (index targets, or soft `(B, K)` targets for `None`'s 2-D branch)
    * `"regression"` -> `RegressionLoss`

    The `contrastive_loss_coef` term is not part of these losses (it needs the
    label embeddings): see `sequence_contrastive_loss`.
    """
    if problem_type == "multi_label_classification":
        return FocalLoss(
            alpha=focal_loss_alpha,
            gamma=focal_loss_gamma,
            reduction_mode=_standardize_reduction_mode(focal_loss_reduction),
            ignore_index=ignore_index,
        )
    if problem_type in ("single_label_classification", None):
        return LabelCrossEntropy(ignore_index=ignore_index)
    if problem_type == "regression":
        return RegressionLoss(ignore_index=ignore_index)
    raise ValueError(
        f"Unknown problem_type {problem_type!r}; expected "
        "'multi_label_classification', 'single_label_classification', "
        "'regression' or None."
    )
