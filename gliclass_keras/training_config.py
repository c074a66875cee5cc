"""`TrainingConfig`: the seed's training arguments, for Keras."""

import dataclasses
from typing import Optional

import keras

from gliclass_keras import optimizers as optimizers_lib
from gliclass_keras.utils.validation import check_positive_int

_NORM_MARKERS = ("Normalization", "LayerNorm", "RMSNorm")


@dataclasses.dataclass
class TrainingConfig:
    """Optimizer settings of the reference `TrainingArguments`, for `compile()`.

    The fields and defaults are those of the reference (`gliclass.training.
    TrainingArguments`, which extends Hugging Face's): `learning_rate=5e-5`,
    `weight_decay=0.0`, `others_lr=None`, `others_weight_decay=0.0`,
    `optim="adamw"` (AdamW, betas 0.9/0.999, epsilon 1e-8), gradients
    clipped to a global norm of `max_grad_norm=1.0`, `cache_dir=None`.

    Parameter groups (spec section 9): biases and normalization weights never
    decay. With `others_lr` set, the encoder (the backbone's weights) trains
    at `learning_rate` with `weight_decay`, and everything else (projectors,
    scorer, LSTM, `logit_scale`, segment embeddings, ...) at `others_lr`
    with `others_weight_decay`. Without it every weight trains at
    `learning_rate` with `weight_decay`.

    Args:
        learning_rate: float >= 0, the encoder's (and by default everyone's)
            learning rate.
        weight_decay: float >= 0, decoupled weight decay of the encoder.
        others_lr: float >= 0 or None, learning rate of the non-encoder
            weights.
        others_weight_decay: float >= 0, their weight decay (used only with
            `others_lr`).
        optim: one of `"adamw"` (also the Hugging Face names `"adamw_torch"`,
            `"adamw_torch_fused"`, `"adamw_hf"`), `"adam"`, `"sgd"`,
            `"rmsprop"`, `"adafactor"`, `"lion"`, `"adagrad"`: the Keras
            optimizer of that name, with parameter groups.
        adam_beta1, adam_beta2, adam_epsilon: Adam-family hyper-parameters.
        max_grad_norm: float > 0 or None, global gradient-norm clipping.
        lr_scheduler_type: `"constant"` (default; see docs/differences.md),
            `"linear"` or `"cosine"` (warm-up then decay to 0; these need
            `total_steps`).
        warmup_steps: int >= 0, warm-up steps of the linear/cosine schedules.
        warmup_ratio: float in [0, 1], warm-up as a fraction of
            `total_steps` (used when `warmup_steps` is 0).
        cache_dir: str or None, the `datasets` cache directory used when
            reading training files.
        seed: int, seed of label shuffling and example order.
        gradient_accumulation_steps: int >= 1 (Hugging Face's name). With
            N > 1 the weights are updated once every N batches, with the
            mean of the N batches' gradients: the Keras optimizer's own
            `gradient_accumulation_steps` (the optimizer's `iterations`, and
            so the learning-rate schedule, count updates, not batches; give
            `total_steps` in updates). Clipping (`max_grad_norm`) and weight
            decay apply once per update, to the averaged gradient, as in
            Hugging Face's Trainer. N accumulated batches of B examples equal
            one batch of N x B examples when each batch's loss is the mean
            over the same number of terms: the mean of N per-batch means is
            then the mean over the N x B examples. The GLiClass focal loss
            (`focal_loss_reduction="mean"`) averages over the valid label
            slots of the batch (padding slots excluded), so the equality is
            exact when every batch has the same number of valid slots (e.g.
            label lists of equal length); batches with different counts (or
            a smaller last batch) weigh their slots slightly differently, as
            in Hugging Face's Trainer without `num_items_in_batch`. With
            `focal_loss_reduction="sum"` each batch's loss is a sum, so the
            averaged gradient is 1/N of the large batch's.

    Example:

    ```python
    config = gliclass_keras.TrainingConfig(learning_rate=1e-5, others_lr=1e-4)
    model.compile(training_config=config)
    model.fit(train_data, epochs=3)

    # Batches of 8, one update every 4 of them (an effective batch of 32).
    config = gliclass_keras.TrainingConfig(gradient_accumulation_steps=4)
    ```
    """

    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    others_lr: Optional[float] = None
    others_weight_decay: float = 0.0
    optim: str = "adamw"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: Optional[float] = 1.0
    lr_scheduler_type: str = "constant"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    cache_dir: Optional[str] = None
    seed: int = 42
    gradient_accumulation_steps: int = 1

    def __post_init__(self):
        def non_negative(name, allow_none=False):
            value = getattr(self, name)
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"`{name}` must be a number >= 0. Received: {value!r}")

        for name in ("learning_rate", "weight_decay", "others_weight_decay", "adam_epsilon"):
            non_negative(name)
        non_negative("others_lr", allow_none=True)
        if self.max_grad_norm is not None and not (
            isinstance(self.max_grad_norm, (int, float)) and self.max_grad_norm > 0
        ):
            raise ValueError(f"`max_grad_norm` must be > 0 or None. Received: {self.max_grad_norm!r}")
        for name in ("adam_beta1", "adam_beta2"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1). Received: {value!r}")
        if self.optim not in optimizers_lib.OPTIMIZERS:
            raise ValueError(
                f"Unknown `optim` {self.optim!r}; expected one of "
                f"{sorted(optimizers_lib.OPTIMIZERS)}."
            )
        if self.lr_scheduler_type not in ("constant", "linear", "cosine"):
            raise ValueError(
                "`lr_scheduler_type` must be 'constant', 'linear' or 'cosine'. "
                f"Received: {self.lr_scheduler_type!r}"
            )
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"`warmup_steps` must be an int >= 0. Received: {self.warmup_steps!r}")
        if not isinstance(self.warmup_ratio, (int, float)) or not 0.0 <= self.warmup_ratio <= 1.0:
            raise ValueError(f"`warmup_ratio` must be in [0, 1]. Received: {self.warmup_ratio!r}")
        check_positive_int("gradient_accumulation_steps", self.gradient_accumulation_steps)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown TrainingConfig fields: {unknown}")
        return cls(**values)

    # ------------------------------------------------------------ groups
    def parameter_groups(self, model):
        """The four groups of spec section 9, as lists of variables.

        Returns a dict with keys `"encoder_decay"`, `"encoder_no_decay"`,
        `"others_decay"` and `"others_no_decay"`. The encoder is every
        backbone of `model` (`model.backbone_variables()`).
        """
        encoder = {id(v) for v in model.backbone_variables()}
        no_decay = set()
        for layer in model._flatten_layers(include_self=False):
            if any(marker in type(layer).__name__ for marker in _NORM_MARKERS):
                no_decay |= {id(v) for v in layer.weights}
        groups = {"encoder_decay": [], "encoder_no_decay": [], "others_decay": [], "others_no_decay": []}
        for variable in model.trainable_variables:
            part = "encoder" if id(variable) in encoder else "others"
            skip = id(variable) in no_decay or "bias" in variable.name
            groups[f"{part}_{'no_decay' if skip else 'decay'}"].append(variable)
        return groups

    def build_optimizer(self, model, total_steps=None):
        """The configured Keras optimizer, with parameter groups, for `model`.

        Args:
            model: a `GLiClassClassifier`.
            total_steps: int, number of optimizer steps of the run; needed by
                the linear and cosine schedules.
        """
        groups = self.parameter_groups(model)
        paths = [v.path for v in model.trainable_variables]
        if len(set(paths)) != len(paths):
            duplicates = sorted({p for p in paths if paths.count(p) > 1})
            raise ValueError(f"Variable paths must be unique to form parameter groups: {duplicates}")
        encoder_lr = float(self.learning_rate)
        others_lr = encoder_lr if self.others_lr is None else float(self.others_lr)
        others_decay = self.weight_decay if self.others_lr is None else self.others_weight_decay
        peak = max(encoder_lr, others_lr)
        lr_multipliers, weight_decays = {}, {}
        for group, variables in groups.items():
            lr = encoder_lr if group.startswith("encoder") else others_lr
            if group.endswith("no_decay"):
                decay = 0.0
            else:
                decay = self.weight_decay if group.startswith("encoder") else others_decay
            for variable in variables:
                lr_multipliers[variable.path] = lr / peak if peak > 0 else 0.0
                weight_decays[variable.path] = float(decay)
        learning_rate = peak
        if self.lr_scheduler_type != "constant":
            if total_steps is None:
                raise ValueError(
                    f"lr_scheduler_type={self.lr_scheduler_type!r} needs `total_steps` "
                    "(optimizer steps of the whole run), e.g. "
                    "`model.compile(training_config=config, total_steps=epochs * len(train_data))`."
                )
            warmup = self.warmup_steps or int(round(self.warmup_ratio * total_steps))
            learning_rate = optimizers_lib.WarmupDecay(
                peak, total_steps, warmup_steps=warmup, decay=self.lr_scheduler_type
            )
        kwargs = {
            "learning_rate": learning_rate,
            "lr_multipliers": lr_multipliers,
            "weight_decays": weight_decays,
            "global_clipnorm": self.max_grad_norm,
        }
        if self.gradient_accumulation_steps > 1:
            # Keras' own accumulation (it takes None or an int >= 2).
            kwargs["gradient_accumulation_steps"] = self.gradient_accumulation_steps
        optimizer_cls = optimizers_lib.OPTIMIZERS[self.optim]
        if issubclass(optimizer_cls, (keras.optimizers.Adam, keras.optimizers.AdamW)):
            kwargs.update(
                beta_1=self.adam_beta1, beta_2=self.adam_beta2, epsilon=self.adam_epsilon
            )
        if optimizer_cls is optimizers_lib.GroupedAdamW:
            kwargs["weight_decay"] = self.weight_decay
        return optimizer_cls(**kwargs)
