"""`GLiClassConfig`: the reference `GLiClassModelConfig`, as a plain validated record."""

import dataclasses
import json
import math
import os
from typing import Any

POOLING_STRATEGIES = ("first", "last", "avg", "max", "sum", "rms", "abs_max", "abs_avg", "pass")
SCORER_TYPES = ("simple", "weighted-dot", "mlp", "hopfield", "cross-attn", "decoder-kv")
ARCHITECTURE_TYPES = (
    "uni-encoder",
    "bi-encoder",
    "bi-encoder-fused",
    "encoder-decoder",
    "encoder-decoder-cls",
    "decoder-kv",
)
PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression", None)
CLASS_TOKEN_POOLINGS = ("first", "average")
FOCAL_LOSS_REDUCTIONS = (None, "none", "mean", "sum")
RECURRENT_CONFIDENCE_MODES = ("relative", "absolute")


@dataclasses.dataclass
class GLiClassConfig:
    """Configuration of a GLiClass model, field for field the reference's.

    Every field of gliclass 0.1.21's `GLiClassModelConfig` is here with the same
    name and default, so a reference `config.json` reads in unchanged and writes
    back out readable by the reference. Fields that the reference derives from
    the encoder config when left unset (`hidden_size`, `vocab_size`,
    `class_token_index`, `text_token_index`, `example_token_index`,
    `pad_token_id`) are derived the same way at construction. Unknown keys of a
    reference config (for example `shuffle_labels`, written by its training
    script) are kept in `extra` and written back.

    Invalid values raise `ValueError` naming the field and listing what is
    valid.

    Example:

    ```python
    config = gliclass_keras.GLiClassConfig(
        encoder_config={"model_type": "bert", "hidden_size": 32, "vocab_size": 100},
        pooling_strategy="avg",
        scorer_type="mlp",
    )
    config.class_token_index  # 100: the id of <<LABEL>>
    config = gliclass_keras.GLiClassConfig.from_json(config.to_json())
    ```
    """

    encoder_config: dict | None = None
    encoder_model: str | None = None
    label_model_config: dict | None = None
    label_model_name: str | None = None
    class_token_index: int = -1
    text_token_index: int = -1
    example_token_index: int = -1
    ignore_index: int = -100
    hidden_size: int | None = None
    projector_hidden_act: str = "gelu"
    vocab_size: int | None = None
    problem_type: str | None = "single_label_classification"
    max_num_classes: int = 25
    use_lstm: bool = False
    initializer_range: float = 0.03
    scorer_type: str = "simple"
    scorer_num_heads: int = 16
    scorer_mlp_hidden_size: int = 1024
    scorer_attn_dropout: float = 0.1
    pooling_strategy: str = "first"
    class_token_pooling: str = "first"
    focal_loss_alpha: float = 0.5
    focal_loss_gamma: float = 2
    focal_loss_reduction: str | None = None
    logit_scale_init_value: float = 2.6592
    normalize_features: bool = False
    extract_text_features: bool = False
    max_labels_alloc: Any = "dynamic"
    contrastive_loss_coef: float = 0
    architecture_type: str = "uni-encoder"
    prompt_first: bool = False
    squeeze_layers: bool = False
    layer_wise: bool = False
    encoder_layer_id: int = -1
    embed_class_token: bool = True
    dropout: float = 0.1
    use_segment_embeddings: bool = False
    scorer_encoder_num_layers: int = 2
    scorer_full_sequence: bool = False
    recurrent_steps: int = 1
    recurrent_min_steps: int = 1
    recurrent_inference: bool = True
    recurrent_inference_max_steps: int | None = None
    recurrent_halt_threshold: float = 0.01
    recurrent_improvement_coef: float = 0.1
    recurrent_improvement_margin: float = 0.05
    recurrent_bptt_steps: int | None = None
    recurrent_read_text: bool = False
    recurrent_confidence_coef: float = 0.0
    recurrent_confidence_mode: str = "relative"
    recurrent_confidence_margin: float = 0.0
    use_calibrator: bool = False
    calibrator_hidden_size: int = 256
    calibrator_beta_max: float = 3.0
    calibrator_dropout: float = 0.1
    calibrator_use_bias: bool = False
    multimodal: bool = False
    freeze_media_encoders: bool = True
    use_embedding_projection: bool | None = None
    pad_token_id: int | None = None
    extra: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self._validate()
        self._derive_from_encoder_config()

    # ------------------------------------------------------------------ checks
    def _validate(self):
        _check_choice("pooling_strategy", self.pooling_strategy, POOLING_STRATEGIES)
        _check_choice("scorer_type", self.scorer_type, SCORER_TYPES)
        _check_choice("architecture_type", self.architecture_type, ARCHITECTURE_TYPES)
        _check_choice("problem_type", self.problem_type, PROBLEM_TYPES)
        _check_choice("class_token_pooling", self.class_token_pooling, CLASS_TOKEN_POOLINGS)
        _check_choice("focal_loss_reduction", self.focal_loss_reduction, FOCAL_LOSS_REDUCTIONS)
        _check_choice(
            "recurrent_confidence_mode", self.recurrent_confidence_mode, RECURRENT_CONFIDENCE_MODES
        )
        if not (
            self.max_labels_alloc in ("dynamic", "fixed")
            or (_is_int(self.max_labels_alloc) and self.max_labels_alloc > 0)
        ):
            raise ValueError(
                "`max_labels_alloc` must be 'dynamic', 'fixed' or a positive int. "
                f"Received: max_labels_alloc={self.max_labels_alloc!r}"
            )
        for name in ("encoder_config", "label_model_config"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, dict):
                raise TypeError(
                    f"`{name}` must be a dict (a Hugging Face config.json) or None. "
                    f"Received: {type(value).__name__}"
                )
        if not _is_int(self.max_num_classes) or self.max_num_classes < 1:
            raise ValueError(
                f"`max_num_classes` must be a positive int. Received: {self.max_num_classes!r}"
            )
        if not _is_int(self.encoder_layer_id):
            raise ValueError(
                f"`encoder_layer_id` must be an int. Received: {self.encoder_layer_id!r}"
            )
        for name in ("dropout", "scorer_attn_dropout", "calibrator_dropout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` must be a float in [0, 1). Received: {value!r}")
        for name in ("focal_loss_alpha", "focal_loss_gamma", "logit_scale_init_value"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or math.isnan(value):
                raise ValueError(f"`{name}` must be a number. Received: {value!r}")
        if self.architecture_type in ("bi-encoder", "bi-encoder-fused") and not (
            self.label_model_config or self.label_model_name
        ):
            raise ValueError(
                f"architecture_type={self.architecture_type!r} needs `label_model_config` "
                "(and `label_model_name`, the label tokenizer) to be set."
            )

    def _derive_from_encoder_config(self):
        """Fill the fields the reference derives from the encoder config."""
        if self.encoder_config is None:
            return
        enc = dict(self.encoder_config)
        enc.setdefault("model_type", "deberta-v2")
        self.encoder_config = enc
        if self.hidden_size is None:
            self.hidden_size = enc.get("hidden_size", enc.get("d_model"))
        if self.vocab_size is None:
            self.vocab_size = enc.get("vocab_size")
        if self.vocab_size is not None:
            if self.class_token_index == -1:
                self.class_token_index = self.vocab_size
            if self.text_token_index == -1:
                self.text_token_index = self.vocab_size + 1
            if self.example_token_index == -1:
                self.example_token_index = self.vocab_size + 2
        if self.pad_token_id is None:
            self.pad_token_id = enc.get("pad_token_id")

    # --------------------------------------------------------------- properties
    @property
    def encoder_hidden_size(self):
        """Width of the encoder's token states (`D` in the spec)."""
        enc = self.encoder_config or {}
        return enc.get("hidden_size", enc.get("d_model"))

    # ------------------------------------------------------------ serialization
    def to_dict(self):
        """A JSON-ready dict in the reference's `config.json` layout."""
        out = {}
        for field in dataclasses.fields(self):
            if field.name in ("extra", "encoder_model"):
                continue
            out[field.name] = getattr(self, field.name)
        out["encoder_model_name"] = self.encoder_model
        out.update(self.extra)
        out["model_type"] = "GLiClass"
        return out

    def to_json(self, indent=2):
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, config):
        """Build from a dict: our own `to_dict()` or a reference `config.json`."""
        if not isinstance(config, dict):
            raise TypeError(f"`config` must be a dict. Received: {type(config).__name__}")
        config = dict(config)
        if "encoder_model_name" in config and "encoder_model" not in config:
            config["encoder_model"] = config.pop("encoder_model_name")
        else:
            config.pop("encoder_model_name", None)
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in config.items() if k in names and k != "extra"}
        extra = dict(config.get("extra") or {})
        for key, value in config.items():
            if key not in names and key not in _HF_BOOKKEEPING_KEYS:
                extra[key] = value
        return cls(**kwargs, extra=extra)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_json_file(cls, path):
        """Read a reference checkpoint's `config.json` (or a directory holding one)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No GLiClass config.json at {path!r}")
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def save(self, path):
        """Write `config.json` (in the reference's layout) to a file or directory."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())


# Keys Hugging Face writes into every config.json that are not GLiClass fields.
_HF_BOOKKEEPING_KEYS = {
    "model_type",
    "architectures",
    "transformers_version",
    "dtype",
    "torch_dtype",
    "_name_or_path",
}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}"
        )
