"""Hugging Face backbone configs and weights -> keras-hub backbones.

Entry points:

* `backbone_from_hf_config(hf_config)` builds an (untrained) keras-hub
  backbone from a Hugging Face `config.json` dict (`model_type` `"deberta-v2"`
  in its DeBERTa-v3 layout, `"bert"`, `"modernbert"`, or `"t5"`/`"mt5"`
  whose encoder half it builds).
* `encoder_decoder_backbone_from_hf_config(hf_config)` builds a whole T5
  (`"t5"`/`"mt5"`) as a keras-hub `T5Backbone`.
* `load_hf_backbone_weights(backbone, tensors, prefix)` copies a Hugging Face
  state dict (NumPy arrays, e.g. from `safetensors.numpy.load_file`) into it.

The small helpers `linear_kernel`, `reshape_to`, `copy_tensor` and
`port_weights` do the NumPy -> Keras variable bookkeeping (transposing
`torch.nn.Linear` weights, splitting attention heads, checking that every key
exists and every shape fits) and are meant to be reused for other weight
mappings. This module never imports torch or transformers.
"""

import math
import numbers

import keras_hub
import numpy as np

from gliclass_keras.utils.activations import BACKBONE_ACTIVATIONS as HIDDEN_ACTIVATIONS
from gliclass_keras.backbones.bert import ExactGeluBertBackbone
from gliclass_keras.backbones.modernbert import ModernBertBackbone
from gliclass_keras.backbones.t5 import T5EncoderBackbone
from gliclass_keras.backbones.t5 import T5EncoderDecoderBackbone

# keras-hub hard-codes these layer norm epsilons.
DEBERTA_V3_LAYER_NORM_EPSILON = 1e-7
BERT_LAYER_NORM_EPSILON = 1e-12


# ----------------------------------------------------------------------------
# NumPy -> variable helpers
# ----------------------------------------------------------------------------
def copy_tensor(tensor, shape):
    """Return `tensor` unchanged; `shape` must be its shape.

    A transform for `port_weights` (embeddings, layer norms, Dense biases).
    """
    if tuple(tensor.shape) != tuple(shape):
        raise ValueError(f"expected shape {tuple(shape)}")
    return tensor


def reshape_to(tensor, shape):
    """Reshape a tensor with the same number of elements to `shape`.

    A transform for `port_weights`, e.g. a `(num_heads * head_dim,)` query bias
    -> the `(num_heads, head_dim)` bias of a Keras `EinsumDense`.
    """
    if tensor.ndim != 1 or tensor.size != math.prod(shape):
        raise ValueError(f"expected shape ({math.prod(shape)},)")
    return np.reshape(tensor, shape)


def linear_kernel(weight, shape, num_input_axes=1):
    """Turn a `torch.nn.Linear` weight `(out, in)` into a Keras kernel.

    The weight is transposed to `(in, out)` and reshaped to `shape`, whose
    first `num_input_axes` axes are the input axes: `(in, out)` for a Dense
    kernel, `(in, num_heads, head_dim)` for an attention query/key/value
    `EinsumDense` (`num_input_axes=1`) and `(num_heads, head_dim, out)` for
    an attention output projection (`num_input_axes=2`). The head split
    matches Hugging Face's `view(..., num_heads, head_dim)`.
    """
    shape = tuple(shape)
    expected = (
        math.prod(shape[num_input_axes:]),
        math.prod(shape[:num_input_axes]),
    )
    if tuple(weight.shape) != expected:
        raise ValueError(f"expected shape {expected}")
    return np.reshape(np.transpose(weight), shape)


def output_linear_kernel(weight, shape):
    """`linear_kernel` for a kernel with two input axes (heads, head_dim)."""
    return linear_kernel(weight, shape, num_input_axes=2)


def port_weights(tensors, prefix, plan):
    """Assign NumPy tensors to Keras variables, all or nothing.

    Args:
        tensors: dict mapping names to NumPy arrays (a Hugging Face state
            dict).
        prefix: str prepended to every key of `plan`.
        plan: list of `(variable, key, transform)`; `transform(array, shape)`
            returns the array to assign to `variable` (`copy_tensor`,
            `reshape_to`, `linear_kernel`, ...) and raises `ValueError` when
            the array's shape does not fit.

    Returns:
        The set of full keys (`prefix + key`) that were assigned.

    Raises:
        ValueError: listing every missing key, or every shape mismatch. No
            variable is changed in that case.
    """
    if not isinstance(tensors, dict):
        raise TypeError(
            "`tensors` must be a dict of NumPy arrays. Received: "
            f"tensors={type(tensors).__name__}"
        )
    missing = [
        prefix + key for _, key, _ in plan if prefix + key not in tensors
    ]
    if missing:
        raise ValueError(
            f"Missing {len(missing)} weight(s) in `tensors` (prefix "
            f"{prefix!r}): {', '.join(missing)}"
        )
    values, problems = [], []
    for variable, key, transform in plan:
        full_key = prefix + key
        tensor = np.asarray(tensors[full_key])
        shape = tuple(variable.shape)
        try:
            value = transform(tensor, shape)
        except ValueError as e:
            problems.append(
                f"{full_key}: shape {tuple(tensor.shape)}, {e} for "
                f"{variable.path} {shape}"
            )
            continue
        values.append((variable, value))
    if problems:
        raise ValueError(
            "Shape mismatch between `tensors` and the backbone: "
            + "; ".join(problems)
        )
    for variable, value in values:
        variable.assign(value)  # Keras casts to the variable's dtype
    return {prefix + key for _, key, _ in plan}


def _layer_norm_keys(tensors, prefix, base):
    """`base.weight`/`base.bias`, or the legacy `base.gamma`/`base.beta`."""
    if prefix + f"{base}.weight" not in tensors and (
        prefix + f"{base}.gamma" in tensors
    ):
        return f"{base}.gamma", f"{base}.beta"
    return f"{base}.weight", f"{base}.bias"


def _layer_norm(plan, tensors, prefix, layer, base):
    gamma_key, beta_key = _layer_norm_keys(tensors, prefix, base)
    plan.append((layer.gamma, gamma_key, copy_tensor))
    plan.append((layer.beta, beta_key, copy_tensor))


def _dense(plan, layer, base, kernel=linear_kernel, bias=copy_tensor):
    plan.append((layer.kernel, f"{base}.weight", kernel))
    plan.append((layer.bias, f"{base}.bias", bias))


# ----------------------------------------------------------------------------
# configs
# ----------------------------------------------------------------------------
def _get_config_dict(hf_config):
    if hasattr(hf_config, "to_dict") and not isinstance(hf_config, dict):
        hf_config = hf_config.to_dict()  # a transformers PretrainedConfig
    if not isinstance(hf_config, dict):
        raise TypeError(
            "`hf_config` must be a dict (a Hugging Face config.json). "
            f"Received: hf_config={type(hf_config).__name__}"
        )
    return hf_config


def _unsupported(model_type, field, value, supported):
    return ValueError(
        f"Unsupported {model_type!r} config: `{field}`={value!r} "
        f"(only {supported} is supported by the keras-hub backbone)."
    )


def _checked_vocabulary_size(vocabulary_size):
    if (
        not isinstance(vocabulary_size, numbers.Integral)
        or isinstance(vocabulary_size, bool)
        or vocabulary_size < 1
    ):
        raise ValueError(
            "`vocabulary_size` must be a positive int or None. "
            f"Received: vocabulary_size={vocabulary_size!r}"
        )
    return int(vocabulary_size)


def _common_sizes(hf_config, model_type, vocabulary_size):
    try:
        sizes = {
            "vocabulary_size": hf_config["vocab_size"],
            "num_layers": hf_config["num_hidden_layers"],
            "num_heads": hf_config["num_attention_heads"],
            "hidden_dim": hf_config["hidden_size"],
            "intermediate_dim": hf_config["intermediate_size"],
        }
    except KeyError as e:
        raise ValueError(
            f"`hf_config` ({model_type!r}) has no field {e.args[0]!r}."
        ) from None
    if vocabulary_size is not None:
        sizes["vocabulary_size"] = _checked_vocabulary_size(vocabulary_size)
    if sizes["hidden_dim"] % sizes["num_heads"]:
        raise ValueError(
            f"Unsupported {model_type!r} config: `hidden_size`="
            f"{sizes['hidden_dim']} is not a multiple of "
            f"`num_attention_heads`={sizes['num_heads']}."
        )
    return sizes


def _check(model_type, hf_config, field, default, ok, supported):
    value = hf_config.get(field, default)
    if not ok(value):
        raise _unsupported(model_type, field, value, supported)
    return value


def _is_eps(expected):
    return lambda value: isinstance(value, (int, float)) and math.isclose(
        value, expected, rel_tol=1e-6
    )


def _deberta_v2_backbone(hf_config, vocabulary_size, dtype):
    model_type = "deberta-v2"
    sizes = _common_sizes(hf_config, model_type, vocabulary_size)
    check = lambda *args: _check(model_type, hf_config, *args)  # noqa: E731
    # Defaults are those of transformers' DebertaV2Config / modeling code.
    check("relative_attention", False, lambda v: v is True, "True")
    check("position_biased_input", True, lambda v: v is False, "False")
    check("share_att_key", False, lambda v: v is True, "True")
    check("type_vocab_size", 0, lambda v: v == 0, "0")
    check("hidden_act", "gelu", lambda v: v == "gelu", "'gelu'")
    check("conv_kernel_size", 0, lambda v: not v, "0")
    check(
        "layer_norm_eps",
        1e-7,
        _is_eps(DEBERTA_V3_LAYER_NORM_EPSILON),
        DEBERTA_V3_LAYER_NORM_EPSILON,
    )
    check(
        "embedding_size",
        sizes["hidden_dim"],
        lambda v: v in (None, sizes["hidden_dim"]),
        "hidden_size",
    )
    check(
        "attention_head_size",
        None,
        lambda v: v in (None, sizes["hidden_dim"] // sizes["num_heads"]),
        "hidden_size // num_attention_heads",
    )

    def _names(value):
        if value is None:
            return set()
        if isinstance(value, str):
            value = value.split("|")
        return {str(x).strip().lower() for x in value}

    check(
        "pos_att_type",
        None,
        lambda v: _names(v) == {"p2c", "c2p"},
        "['p2c', 'c2p']",
    )
    check(
        "norm_rel_ebd",
        "none",
        lambda v: _names(v) == {"layer_norm"},
        "'layer_norm'",
    )
    bucket_size = check(
        "position_buckets",
        -1,
        lambda v: isinstance(v, int) and v > 0,
        "a positive int",
    )
    max_position_embeddings = hf_config.get("max_position_embeddings", 512)
    max_relative_positions = hf_config.get("max_relative_positions", -1)
    if max_relative_positions < 1:
        max_relative_positions = max_position_embeddings
    # keras-hub's DisentangledSelfAttention only uses `max_sequence_length`
    # (as `max_position_embeddings`) for the log-bucket formula, where
    # Hugging Face uses `max_relative_positions`; DeBERTa has no absolute
    # position embeddings, so this is the value to pass. It does not limit
    # the input length.
    return keras_hub.models.DebertaV3Backbone(
        **sizes,
        dropout=hf_config.get("hidden_dropout_prob", 0.1),
        max_sequence_length=max_relative_positions,
        bucket_size=bucket_size,
        dtype=dtype,
    )


def _bert_backbone(hf_config, vocabulary_size, dtype):
    model_type = "bert"
    sizes = _common_sizes(hf_config, model_type, vocabulary_size)
    check = lambda *args: _check(model_type, hf_config, *args)  # noqa: E731
    hidden_act = check(
        "hidden_act",
        "gelu",
        lambda v: v in HIDDEN_ACTIVATIONS,
        sorted(HIDDEN_ACTIVATIONS),
    )
    check(
        "layer_norm_eps",
        1e-12,
        _is_eps(BERT_LAYER_NORM_EPSILON),
        BERT_LAYER_NORM_EPSILON,
    )
    check(
        "position_embedding_type",
        "absolute",
        lambda v: v == "absolute",
        "'absolute'",
    )
    check("is_decoder", False, lambda v: not v, "False")
    check("add_cross_attention", False, lambda v: not v, "False")
    num_segments = check(
        "type_vocab_size", 2, lambda v: isinstance(v, int) and v > 0, ">= 1"
    )
    return ExactGeluBertBackbone(
        **sizes,
        dropout=hf_config.get("hidden_dropout_prob", 0.1),
        max_sequence_length=hf_config.get("max_position_embeddings", 512),
        num_segments=num_segments,
        hidden_activation=hidden_act,
        dtype=dtype,
    )


def _is_positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_bool(value):
    return isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_FULL, _SLIDING = "full_attention", "sliding_attention"


def _modernbert_layer_pattern(hf_config, model_type, num_layers):
    """`global_attn_every_n_layers`, checked against `layer_types`.

    Old configs give `global_attn_every_n_layers` (default 3); configs saved
    by transformers 5 also (or only) give `layer_types`, which must follow
    the "global every n layers, starting at layer 0" pattern.
    """
    every_n = _check(
        model_type, hf_config, "global_attn_every_n_layers", 3,
        _is_positive_int, "a positive int",
    )
    layer_types = hf_config.get("layer_types")
    if layer_types is None:
        return every_n
    if "global_attn_every_n_layers" not in hf_config:
        # Infer n from the second global layer (or: only layer 0 is global).
        every_n = next(
            (
                i
                for i, kind in enumerate(layer_types)
                if i > 0 and kind == _FULL
            ),
            max(num_layers, 1),
        )
    expected = [
        _SLIDING if i % every_n else _FULL for i in range(num_layers)
    ]
    if list(layer_types) != expected:
        raise _unsupported(
            model_type,
            "layer_types",
            layer_types,
            f"a global ('{_FULL}') layer every `global_attn_every_n_layers`="
            f"{every_n} layers from layer 0, local ('{_SLIDING}') otherwise, "
            f"i.e. {expected},",
        )
    return every_n


def _modernbert_rope_thetas(hf_config, model_type):
    """`(global_rope_theta, local_rope_theta)` of the old or new config."""
    check = lambda *args: _check(model_type, hf_config, *args)  # noqa: E731
    check("rope_scaling", None, lambda v: v is None, "None")
    rope_parameters = hf_config.get("rope_parameters")
    legacy = (
        ("global_rope_theta", 160000.0),
        ("local_rope_theta", 10000.0),
    )
    if rope_parameters is None:
        return tuple(
            float(check(field, default, _is_number, "a number"))
            for field, default in legacy
        )
    if not isinstance(rope_parameters, dict):
        raise _unsupported(
            model_type, "rope_parameters", rope_parameters, "a dict"
        )
    thetas = []
    for layer_type, (field, default) in zip((_FULL, _SLIDING), legacy):
        params = rope_parameters.get(layer_type) or {}
        name = f"rope_parameters[{layer_type!r}]"
        rope_type = params.get("rope_type", "default")
        if rope_type != "default":
            raise _unsupported(
                model_type, f"{name}['rope_type']", rope_type, "'default'"
            )
        theta = params.get("rope_theta", hf_config.get(field, default))
        if not _is_number(theta):
            raise _unsupported(
                model_type, f"{name}['rope_theta']", theta, "a number"
            )
        thetas.append(float(theta))
    return tuple(thetas)


def _modernbert_backbone(hf_config, vocabulary_size, dtype):
    model_type = "modernbert"
    sizes = _common_sizes(hf_config, model_type, vocabulary_size)
    check = lambda *args: _check(model_type, hf_config, *args)  # noqa: E731
    head_dim = sizes["hidden_dim"] // sizes["num_heads"]
    check(
        "head_dim", None, lambda v: v in (None, head_dim),
        "hidden_size // num_attention_heads",
    )
    if head_dim % 2:
        raise _unsupported(
            model_type, "hidden_size", sizes["hidden_dim"],
            "an even head size (hidden_size // num_attention_heads) for "
            "rotary embeddings,",
        )
    hidden_activation = check(
        "hidden_activation",
        "gelu",
        lambda v: v in HIDDEN_ACTIVATIONS,
        sorted(HIDDEN_ACTIVATIONS),
    )
    global_rope_theta, local_rope_theta = _modernbert_rope_thetas(
        hf_config, model_type
    )
    rates = {
        name: check(name, 0.0, lambda v: _is_number(v) and 0 <= v < 1, "[0, 1)")
        for name in ("embedding_dropout", "attention_dropout", "mlp_dropout")
    }
    return ModernBertBackbone(
        **sizes,
        hidden_activation=hidden_activation,
        global_attn_every_n_layers=_modernbert_layer_pattern(
            hf_config, model_type, sizes["num_layers"]
        ),
        local_attention=check(
            "local_attention", 128, _is_positive_int, "a positive int"
        ),
        global_rope_theta=global_rope_theta,
        local_rope_theta=local_rope_theta,
        layer_norm_epsilon=float(
            check("norm_eps", 1e-5, lambda v: _is_number(v) and v > 0, "> 0")
        ),
        norm_bias=check("norm_bias", False, _is_bool, "True or False"),
        attention_bias=check(
            "attention_bias", False, _is_bool, "True or False"
        ),
        mlp_bias=check("mlp_bias", False, _is_bool, "True or False"),
        **rates,
        dtype=dtype,
    )


# Hugging Face `T5Config` defaults (used where a config.json leaves a field out).
_T5_DEFAULTS = {
    "vocab_size": 32128,
    "d_model": 512,
    "d_kv": 64,
    "d_ff": 2048,
    "num_layers": 6,
    "num_heads": 8,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "dropout_rate": 0.1,
    "layer_norm_epsilon": 1e-6,
    "feed_forward_proj": "relu",
}
T5_MODEL_TYPES = ("t5", "mt5")


def _t5_feed_forward(hf_config, model_type):
    """`(activation, use_gated_activation)` from `feed_forward_proj`, as transformers parses it."""
    proj = hf_config.get("feed_forward_proj", _T5_DEFAULTS["feed_forward_proj"])
    parts = proj.split("-") if isinstance(proj, str) else []
    gated = bool(parts) and parts[0] == "gated"
    name = "gelu_new" if proj == "gated-gelu" else (parts[-1] if parts else None)
    if (
        not parts
        or len(parts) > 2
        or (len(parts) == 2 and not gated)
        or name not in HIDDEN_ACTIVATIONS
    ):
        raise _unsupported(
            model_type,
            "feed_forward_proj",
            proj,
            f"'ACT' or 'gated-ACT' with ACT one of {sorted(HIDDEN_ACTIVATIONS)}",
        )
    return HIDDEN_ACTIVATIONS[name], gated


def _t5_arguments(hf_config, model_type, vocabulary_size, encoder_only):
    """Constructor arguments shared by the two T5 backbones."""
    check = lambda field, ok, supported: _check(  # noqa: E731
        model_type, hf_config, field, _T5_DEFAULTS[field], ok, supported
    )
    arguments = {
        "vocabulary_size": check("vocab_size", _is_positive_int, "a positive int"),
        "hidden_dim": check("d_model", _is_positive_int, "a positive int"),
        "key_value_dim": check("d_kv", _is_positive_int, "a positive int"),
        "intermediate_dim": check("d_ff", _is_positive_int, "a positive int"),
        "num_layers": check("num_layers", _is_positive_int, "a positive int"),
        "num_heads": check("num_heads", _is_positive_int, "a positive int"),
        "dropout": check(
            "dropout_rate", lambda v: _is_number(v) and 0 <= v < 1, "[0, 1)"
        ),
        "layer_norm_epsilon": float(
            check("layer_norm_epsilon", lambda v: _is_number(v) and v > 0, "> 0")
        ),
    }
    if vocabulary_size is not None:
        arguments["vocabulary_size"] = _checked_vocabulary_size(vocabulary_size)
    arguments["relative_attention_num_buckets"] = check(
        "relative_attention_num_buckets",
        lambda v: _is_positive_int(v) and v % 4 == 0,
        "a positive multiple of 4",
    )
    arguments["relative_attention_max_distance"] = check(
        "relative_attention_max_distance",
        lambda v: _is_positive_int(v)
        and v > arguments["relative_attention_num_buckets"] // 2,
        "an int larger than relative_attention_num_buckets // 2",
    )
    if not encoder_only:
        num_decoder_layers = hf_config.get("num_decoder_layers")
        if num_decoder_layers not in (None, arguments["num_layers"]):
            raise _unsupported(
                model_type,
                "num_decoder_layers",
                num_decoder_layers,
                f"None or num_layers={arguments['num_layers']}",
            )
    activation, gated = _t5_feed_forward(hf_config, model_type)
    arguments["activation"] = activation
    arguments["use_gated_activation"] = gated
    return arguments


def _t5_backbone(hf_config, vocabulary_size, dtype):
    model_type = hf_config["model_type"]
    return T5EncoderBackbone(
        **_t5_arguments(hf_config, model_type, vocabulary_size, encoder_only=True),
        dtype=dtype,
    )


_CONFIG_CONVERTERS = {
    "deberta-v2": _deberta_v2_backbone,
    "bert": _bert_backbone,
    "modernbert": _modernbert_backbone,
    "t5": _t5_backbone,
    "mt5": _t5_backbone,
}


def backbone_from_hf_config(hf_config, vocabulary_size=None, dtype=None):
    """Build a keras-hub backbone from a Hugging Face backbone config.

    Supported `model_type`s:

    * `"deberta-v2"` in the DeBERTa-v3 layout (`relative_attention=True`,
      `position_biased_input=False`, `share_att_key=True`,
      `pos_att_type=["p2c", "c2p"]`, `norm_rel_ebd="layer_norm"`,
      `type_vocab_size=0`, `position_buckets > 0`, `hidden_act="gelu"`,
      `layer_norm_eps=1e-7`) -> `keras_hub.models.DebertaV3Backbone` with
      `bucket_size=position_buckets` and `max_sequence_length=
      max_relative_positions` (`-1` -> `max_position_embeddings`), the value
      keras-hub uses in its log-bucket formula; it is not a length limit.
    * `"bert"` (`layer_norm_eps=1e-12`, absolute positions, encoder only) ->
      `ExactGeluBertBackbone` with `hidden_activation=hidden_act` and
      `num_segments=type_vocab_size`.
    * `"modernbert"` -> `ModernBertBackbone`, from either config format:
      `global_attn_every_n_layers` / `global_rope_theta` /
      `local_rope_theta`, or transformers 5's `layer_types` /
      `rope_parameters` (default RoPE only; `layer_types` must be the
      "global every n layers from layer 0" pattern). `norm_eps`,
      `norm_bias`, `attention_bias`, `mlp_bias`, `hidden_activation`,
      `local_attention` and the three dropout rates are carried over.
    * `"t5"` and `"mt5"` -> `T5EncoderBackbone`, the encoder half alone (what
      the reference's uni-encoder runs: Hugging Face's `T5EncoderModel`);
      `d_model`, `d_kv`, `d_ff`, `num_layers`, `num_heads`, `dropout_rate`,
      `layer_norm_epsilon`, `relative_attention_num_buckets` (a multiple of
      4), `relative_attention_max_distance` and `feed_forward_proj`
      (`"ACT"` or `"gated-ACT"`; `"gated-gelu"` is the tanh GELU, as in
      transformers) are carried over. For the whole encoder-decoder use
      `encoder_decoder_backbone_from_hf_config`.

    For DeBERTa and BERT, dropout is `hidden_dropout_prob` (keras-hub has
    one rate; the attention dropout of Hugging Face,
    `attention_probs_dropout_prob`, is not used).

    Args:
        hf_config: dict. The Hugging Face config (`config.json`; for
            GLiClass, its nested `encoder_config`).
        vocabulary_size: int or None. Overrides `vocab_size`, e.g. when the
            checkpoint's embedding was resized after the config was written.
        dtype: string or `keras.DTypePolicy` for the backbone, or None.

    Returns:
        A randomly initialised keras-hub backbone.

    Raises:
        ValueError: naming the unsupported `model_type`, or the unsupported
            config field and its value.

    Example:
    ```python
    config = json.load(open("config.json"))["encoder_config"]
    backbone = backbone_from_hf_config(config)
    ```
    """
    hf_config = _get_config_dict(hf_config)
    model_type = hf_config.get("model_type")
    if model_type not in _CONFIG_CONVERTERS:
        raise ValueError(
            f"Unsupported `model_type`={model_type!r} in `hf_config`; "
            f"supported: {sorted(_CONFIG_CONVERTERS)}."
        )
    return _CONFIG_CONVERTERS[model_type](hf_config, vocabulary_size, dtype)


def encoder_decoder_backbone_from_hf_config(hf_config, vocabulary_size=None, dtype=None):
    """Build a keras-hub encoder-decoder backbone from a Hugging Face config.

    Supported `model_type`s: `"t5"` and `"mt5"` (Hugging Face `T5Model` /
    `MT5Model`) -> `T5EncoderDecoderBackbone`, a keras-hub `T5Backbone`
    whose encoder and decoder share one token embedding (Hugging Face's
    `shared`). The fields carried over are those listed in
    `backbone_from_hf_config`; in addition `num_decoder_layers` must be
    `None` or `num_layers` (keras-hub builds stacks of equal depth).

    Args:
        hf_config: dict. The Hugging Face config (for GLiClass, its nested
            `encoder_config`).
        vocabulary_size: int or None. Overrides `vocab_size`.
        dtype: string or `keras.DTypePolicy` for the backbone, or None.

    Returns:
        A randomly initialised `T5EncoderDecoderBackbone`.

    Raises:
        ValueError: naming the unsupported `model_type`, or the unsupported
            config field and its value.
    """
    hf_config = _get_config_dict(hf_config)
    model_type = hf_config.get("model_type")
    if model_type not in T5_MODEL_TYPES:
        raise ValueError(
            f"Unsupported `model_type`={model_type!r} in `hf_config` for an "
            f"encoder-decoder backbone; supported: {list(T5_MODEL_TYPES)}."
        )
    arguments = _t5_arguments(
        hf_config, model_type, vocabulary_size, encoder_only=False
    )
    return T5EncoderDecoderBackbone(
        **arguments, tie_embedding_weights=True, dtype=dtype
    )


# ----------------------------------------------------------------------------
# weights
# ----------------------------------------------------------------------------
def _deberta_v3_plan(backbone, tensors, prefix):
    plan = [
        (
            backbone.token_embedding.embeddings,
            "embeddings.word_embeddings.weight",
            copy_tensor,
        ),
        (
            backbone.relative_embeddings.rel_embeddings,
            "encoder.rel_embeddings.weight",
            copy_tensor,
        ),
    ]
    _layer_norm(
        plan, tensors, prefix, backbone.embeddings_layer_norm,
        "embeddings.LayerNorm",
    )
    _layer_norm(
        plan, tensors, prefix, backbone.relative_embeddings.layer_norm,
        "encoder.LayerNorm",
    )
    for i, layer in enumerate(backbone.transformer_layers):
        base = f"encoder.layer.{i}"
        attention = layer._self_attention_layer
        for dense, name in (
            (attention._query_dense, "query_proj"),
            (attention._key_dense, "key_proj"),
            (attention._value_dense, "value_proj"),
        ):
            _dense(
                plan, dense, f"{base}.attention.self.{name}", bias=reshape_to
            )
        _dense(plan, attention._output_dense, f"{base}.attention.output.dense")
        _layer_norm(
            plan, tensors, prefix, layer._self_attention_layer_norm,
            f"{base}.attention.output.LayerNorm",
        )
        _dense(
            plan, layer._feedforward_intermediate_dense,
            f"{base}.intermediate.dense",
        )
        _dense(plan, layer._feedforward_output_dense, f"{base}.output.dense")
        _layer_norm(
            plan, tensors, prefix, layer._feedforward_layer_norm,
            f"{base}.output.LayerNorm",
        )
    return plan


def _bert_plan(backbone, tensors, prefix):
    plan = [
        (
            backbone.token_embedding.embeddings,
            "embeddings.word_embeddings.weight",
            copy_tensor,
        ),
        (
            backbone.position_embedding.position_embeddings,
            "embeddings.position_embeddings.weight",
            copy_tensor,
        ),
        (
            backbone.segment_embedding.embeddings,
            "embeddings.token_type_embeddings.weight",
            copy_tensor,
        ),
    ]
    _layer_norm(
        plan, tensors, prefix, backbone.embeddings_layer_norm,
        "embeddings.LayerNorm",
    )
    for i, layer in enumerate(backbone.transformer_layers):
        base = f"encoder.layer.{i}"
        attention = layer._self_attention_layer
        for dense, name in (
            (attention.query_dense, "query"),
            (attention.key_dense, "key"),
            (attention.value_dense, "value"),
        ):
            _dense(
                plan, dense, f"{base}.attention.self.{name}", bias=reshape_to
            )
        _dense(
            plan, attention.output_dense, f"{base}.attention.output.dense",
            kernel=output_linear_kernel,
        )
        _layer_norm(
            plan, tensors, prefix, layer._self_attention_layer_norm,
            f"{base}.attention.output.LayerNorm",
        )
        _dense(
            plan, layer._feedforward_intermediate_dense,
            f"{base}.intermediate.dense",
        )
        _dense(plan, layer._feedforward_output_dense, f"{base}.output.dense")
        _layer_norm(
            plan, tensors, prefix, layer._feedforward_layer_norm,
            f"{base}.output.LayerNorm",
        )
    # The pooler is optional (`add_pooling_layer=False` checkpoints have
    # none); without it `pooled_dense` keeps its random initialisation.
    if prefix + "pooler.dense.weight" in tensors:
        _dense(plan, backbone.pooled_dense, "pooler.dense")
    return plan


def _modernbert_norm(plan, layer, base):
    plan.append((layer.gamma, f"{base}.weight", copy_tensor))
    if layer.beta is not None:  # `norm_bias=True`
        plan.append((layer.beta, f"{base}.bias", copy_tensor))


def _modernbert_dense(plan, layer, base):
    plan.append((layer.kernel, f"{base}.weight", linear_kernel))
    if layer.bias is not None:
        plan.append((layer.bias, f"{base}.bias", copy_tensor))


def _modernbert_plan(backbone, tensors, prefix):
    plan = [
        (
            backbone.token_embedding.embeddings,
            "embeddings.tok_embeddings.weight",
            copy_tensor,
        ),
    ]
    _modernbert_norm(plan, backbone.embeddings_layer_norm, "embeddings.norm")
    for i, layer in enumerate(backbone.transformer_layers):
        base = f"layers.{i}"
        if layer._attention_norm is not None:  # identity in layer 0
            _modernbert_norm(plan, layer._attention_norm, f"{base}.attn_norm")
        # `Wqkv` rows are [query; key; value], each (num_heads, head_dim):
        # the layer's (hidden, 3 * hidden) kernel splits the same way.
        _modernbert_dense(plan, layer._qkv_dense, f"{base}.attn.Wqkv")
        _modernbert_dense(
            plan, layer._attention_output_dense, f"{base}.attn.Wo"
        )
        _modernbert_norm(plan, layer._mlp_norm, f"{base}.mlp_norm")
        # `Wi` rows are [input; gate], as the layer's split.
        _modernbert_dense(plan, layer._mlp_input_dense, f"{base}.mlp.Wi")
        _modernbert_dense(plan, layer._mlp_output_dense, f"{base}.mlp.Wo")
    _modernbert_norm(plan, backbone.final_norm, "final_norm")
    return plan


def _t5_attention(plan, attention, base, relative_bias=False):
    for dense, name in (
        (attention.query_projector, "q"),
        (attention.key_projector, "k"),
        (attention.value_projector, "v"),
        (attention.output_projector, "o"),
    ):
        plan.append((dense.kernel, f"{base}.{name}.weight", linear_kernel))
    if relative_bias:
        plan.append(
            (
                attention.relative_attention_bias,
                f"{base}.relative_attention_bias.weight",
                copy_tensor,
            )
        )


def _t5_stack_plan(plan, layers, final_norm, base):
    for i, layer in enumerate(layers):
        block = f"{base}.block.{i}.layer"
        _t5_attention(
            plan,
            layer.self_attention,
            f"{block}.0.SelfAttention",
            relative_bias=i == 0,
        )
        plan.append(
            (
                layer.self_attention_layer_norm.weight,
                f"{block}.0.layer_norm.weight",
                copy_tensor,
            )
        )
        feed_forward = 1
        if layer.is_decoder:
            _t5_attention(plan, layer.cross_attention, f"{block}.1.EncDecAttention")
            plan.append(
                (
                    layer.cross_attention_layer_norm.weight,
                    f"{block}.1.layer_norm.weight",
                    copy_tensor,
                )
            )
            feed_forward = 2
        dense = f"{block}.{feed_forward}.DenseReluDense"
        if layer.use_gated_activation:
            # Hugging Face: act(wi_0(x)) * wi_1(x); keras-hub: the activated
            # `input_projector` times the linear `gate_projector`.
            plan.append((layer.input_projector.kernel, f"{dense}.wi_0.weight", linear_kernel))
            plan.append((layer.gate_projector.kernel, f"{dense}.wi_1.weight", linear_kernel))
        else:
            plan.append((layer.input_projector.kernel, f"{dense}.wi.weight", linear_kernel))
        plan.append((layer.output_projector.kernel, f"{dense}.wo.weight", linear_kernel))
        plan.append(
            (
                layer.layer_norm.weight,
                f"{block}.{feed_forward}.layer_norm.weight",
                copy_tensor,
            )
        )
    plan.append((final_norm.weight, f"{base}.final_layer_norm.weight", copy_tensor))


def _t5_plan(backbone, tensors, prefix):
    embeddings = backbone.token_embedding.embeddings
    plan = [(embeddings, "shared.weight", copy_tensor)]
    # Hugging Face ties each stack's `embed_tokens` to `shared`; checkpoints
    # saved with the copies must hold the same table (one table here).
    stacks = ["encoder"]
    if hasattr(backbone, "decoder_transformer_layers"):
        stacks.append("decoder")
    shared = tensors.get(prefix + "shared.weight")
    for stack in stacks:
        key = f"{stack}.embed_tokens.weight"
        if prefix + key in tensors:
            if shared is None or not np.array_equal(tensors[prefix + key], shared):
                raise ValueError(
                    f"{prefix + key!r} differs from {prefix + 'shared.weight'!r}: "
                    "T5 backbones here have one token embedding shared by "
                    "encoder and decoder (Hugging Face ties them)."
                )
            plan.append((embeddings, key, copy_tensor))
    _t5_stack_plan(
        plan,
        backbone.encoder_transformer_layers,
        backbone.encoder_layer_norm,
        "encoder",
    )
    if "decoder" in stacks:
        _t5_stack_plan(
            plan,
            backbone.decoder_transformer_layers,
            backbone.decoder_layer_norm,
            "decoder",
        )
    return plan


# Ordered: the first matching class wins (subclasses before base classes).
_WEIGHT_PLANS = (
    (keras_hub.models.DebertaV3Backbone, _deberta_v3_plan),
    (keras_hub.models.BertBackbone, _bert_plan),
    (ModernBertBackbone, _modernbert_plan),
    (T5EncoderBackbone, _t5_plan),
    (keras_hub.models.T5Backbone, _t5_plan),
)


def load_hf_backbone_weights(backbone, tensors, prefix=""):
    """Copy a Hugging Face backbone state dict into a keras-hub backbone.

    Supports `keras_hub.models.DebertaV3Backbone` (HF `DebertaV2Model` keys),
    `keras_hub.models.BertBackbone` / `ExactGeluBertBackbone` (HF
    `BertModel` keys), `ModernBertBackbone` (HF `ModernBertModel` keys;
    biases only where the backbone has them, per the `*_bias` flags),
    `T5EncoderBackbone` (HF `T5EncoderModel` keys) and keras-hub's
    `T5Backbone` / `T5EncoderDecoderBackbone` (HF `T5Model` keys). For T5
    the one token embedding is `shared.weight`; `encoder.embed_tokens` /
    `decoder.embed_tokens` copies, when a checkpoint has them, must equal it
    and are consumed. Layer
    norms may be named `weight`/`bias` or the legacy `gamma`/`beta` (DeBERTa
    and BERT). For BERT the pooler (`pooler.dense.*`) is copied into
    `pooled_dense` when present; when absent, `pooled_dense` keeps its random
    initialisation (GLiClass never uses the pooled output).

    Args:
        backbone: the keras-hub backbone, e.g. from `backbone_from_hf_config`.
        tensors: dict mapping names to NumPy arrays, as returned by
            `safetensors.numpy.load_file`.
        prefix: str. The prefix of the backbone's keys in `tensors`, e.g.
            `"model.encoder_model."` for a GLiClass checkpoint.

    Returns:
        The set of keys of `tensors` that were consumed. Keys under `prefix`
        that are not in it (e.g. an `embeddings.position_ids` buffer) were
        ignored.

    Raises:
        ValueError: listing the full names of all missing keys, or all shape
            mismatches; the backbone is left unchanged.
        TypeError: for an unsupported backbone class.

    Example:
    ```python
    tensors = safetensors.numpy.load_file("model.safetensors")
    consumed = load_hf_backbone_weights(
        backbone, tensors, prefix="model.encoder_model."
    )
    ```
    """
    if not isinstance(prefix, str):
        raise TypeError(
            f"`prefix` must be a str. Received: prefix={prefix!r}"
        )
    for cls, make_plan in _WEIGHT_PLANS:
        if isinstance(backbone, cls):
            if not isinstance(tensors, dict):
                raise TypeError(
                    "`tensors` must be a dict of NumPy arrays. Received: "
                    f"tensors={type(tensors).__name__}"
                )
            return port_weights(
                tensors, prefix, make_plan(backbone, tensors, prefix)
            )
    raise TypeError(
        "`backbone` must be a keras_hub DebertaV3Backbone, BertBackbone or "
        "T5Backbone, a ModernBertBackbone or a T5EncoderBackbone. "
        f"Received: backbone={type(backbone).__name__}"
    )
