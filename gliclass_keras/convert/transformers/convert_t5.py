"""Hugging Face T5 and mT5 (`model_type="t5"`, `"mt5"`) -> `T5EncoderBackbone` / `T5EncoderDecoderBackbone`.

keras-hub's converter contract: `backbone_cls` (the encoder alone, what a
uni-encoder GLiClass runs: Hugging Face's `T5EncoderModel`),
`convert_backbone_config`, `convert_weights`, `convert_tokenizer`; and for
the whole encoder-decoder (Hugging Face's `T5Model`)
`encoder_decoder_backbone_cls` and
`convert_encoder_decoder_backbone_config`. keras-hub has no T5 converter;
this one carries over the relative-attention settings keras-hub hard-codes
and names any field value the backbones cannot reproduce. `convert_weights`
fills either backbone, and any keras-hub `T5Backbone`.

Example:
```python
arguments = convert_t5.convert_encoder_decoder_backbone_config(
    {"model_type": "t5", "feed_forward_proj": "gated-gelu"}
)
arguments["use_gated_activation"]  # True, with the tanh GELU as activation
backbone = convert_t5.encoder_decoder_backbone_cls(**arguments)
```
"""

import keras_hub
import numpy as np

from gliclass_keras.backbones.t5 import T5EncoderBackbone
from gliclass_keras.backbones.t5 import T5EncoderDecoderBackbone
from gliclass_keras.convert.transformers.hf_config_reader import HFConfigReader
from gliclass_keras.convert.transformers.hf_config_reader import is_number
from gliclass_keras.convert.transformers.hf_config_reader import is_positive_int
from gliclass_keras.convert.transformers.hf_config_reader import is_rate
from gliclass_keras.convert.transformers.hf_tokenizer import convert_tokenizer  # noqa: F401
from gliclass_keras.convert.transformers.weight_porting import linear_kernel
from gliclass_keras.utils.activations import BACKBONE_ACTIVATIONS

backbone_cls = T5EncoderBackbone
encoder_decoder_backbone_cls = T5EncoderDecoderBackbone
# Every backbone class `convert_weights` fills (subclasses included).
backbone_classes = (T5EncoderBackbone, keras_hub.models.T5Backbone)

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


def _feed_forward(config):
    """`(activation, use_gated_activation)` from `feed_forward_proj`, as transformers parses it."""
    proj = config.config.get("feed_forward_proj", _T5_DEFAULTS["feed_forward_proj"])
    parts = proj.split("-") if isinstance(proj, str) else []
    gated = bool(parts) and parts[0] == "gated"
    name = "gelu_new" if proj == "gated-gelu" else (parts[-1] if parts else None)
    if (
        not parts
        or len(parts) > 2
        or (len(parts) == 2 and not gated)
        or name not in BACKBONE_ACTIVATIONS
    ):
        raise config.unsupported(
            "feed_forward_proj",
            proj,
            f"'ACT' or 'gated-ACT' with ACT one of {sorted(BACKBONE_ACTIVATIONS)}",
        )
    return BACKBONE_ACTIVATIONS[name], gated


def _arguments(transformers_config, encoder_only):
    """Constructor arguments shared by the two T5 backbones."""
    config = HFConfigReader(transformers_config, transformers_config.get("model_type", "t5"))

    def read(field, ok, supported):
        return config.read(field, _T5_DEFAULTS[field], ok, supported)

    arguments = {
        "vocabulary_size": read("vocab_size", is_positive_int, "a positive int"),
        "hidden_dim": read("d_model", is_positive_int, "a positive int"),
        "key_value_dim": read("d_kv", is_positive_int, "a positive int"),
        "intermediate_dim": read("d_ff", is_positive_int, "a positive int"),
        "num_layers": read("num_layers", is_positive_int, "a positive int"),
        "num_heads": read("num_heads", is_positive_int, "a positive int"),
        "dropout": read("dropout_rate", is_rate, "[0, 1)"),
        "layer_norm_epsilon": float(
            read("layer_norm_epsilon", lambda v: is_number(v) and v > 0, "> 0")
        ),
    }
    arguments["relative_attention_num_buckets"] = read(
        "relative_attention_num_buckets",
        lambda v: is_positive_int(v) and v % 4 == 0,
        "a positive multiple of 4",
    )
    arguments["relative_attention_max_distance"] = read(
        "relative_attention_max_distance",
        lambda v: is_positive_int(v)
        and v > arguments["relative_attention_num_buckets"] // 2,
        "an int larger than relative_attention_num_buckets // 2",
    )
    if not encoder_only:
        num_decoder_layers = transformers_config.get("num_decoder_layers")
        if num_decoder_layers not in (None, arguments["num_layers"]):
            raise config.unsupported(
                "num_decoder_layers",
                num_decoder_layers,
                f"None or num_layers={arguments['num_layers']}",
            )
    activation, gated = _feed_forward(config)
    arguments["activation"] = activation
    arguments["use_gated_activation"] = gated
    return arguments


def convert_backbone_config(transformers_config):
    """`T5EncoderBackbone` arguments from a Hugging Face `T5Config` dict (the encoder half).

    `d_model`, `d_kv`, `d_ff`, `num_layers`, `num_heads`, `dropout_rate`,
    `layer_norm_epsilon`, `relative_attention_num_buckets` (a multiple of
    4), `relative_attention_max_distance` and `feed_forward_proj` (`"ACT"` or
    `"gated-ACT"`; `"gated-gelu"` is the tanh GELU, as in transformers) are
    carried over; missing fields take `T5Config`'s defaults.

    Raises:
        ValueError: naming an unsupported field and its value.
    """
    return _arguments(transformers_config, encoder_only=True)


def convert_encoder_decoder_backbone_config(transformers_config):
    """`T5EncoderDecoderBackbone` arguments from a Hugging Face `T5Config` dict.

    As `convert_backbone_config`; in addition `num_decoder_layers` must be
    `None` or `num_layers` (keras-hub builds stacks of equal depth), and the
    one token embedding is shared (`tie_embedding_weights=True`).
    """
    return {**_arguments(transformers_config, encoder_only=False), "tie_embedding_weights": True}


def _convert_attention(loader, attention, base, relative_bias=False):
    for dense, name in (
        (attention.query_projector, "q"),
        (attention.key_projector, "k"),
        (attention.value_projector, "v"),
        (attention.output_projector, "o"),
    ):
        loader.port_weight(dense.kernel, f"{base}.{name}.weight", linear_kernel)
    if relative_bias:
        loader.port_weight(
            attention.relative_attention_bias, f"{base}.relative_attention_bias.weight"
        )


def _convert_stack(loader, layers, final_norm, base):
    for i, layer in enumerate(layers):
        block = f"{base}.block.{i}.layer"
        _convert_attention(
            loader, layer.self_attention, f"{block}.0.SelfAttention", relative_bias=i == 0
        )
        loader.port_weight(layer.self_attention_layer_norm.weight, f"{block}.0.layer_norm.weight")
        feed_forward = 1
        if layer.is_decoder:
            _convert_attention(loader, layer.cross_attention, f"{block}.1.EncDecAttention")
            loader.port_weight(
                layer.cross_attention_layer_norm.weight, f"{block}.1.layer_norm.weight"
            )
            feed_forward = 2
        dense = f"{block}.{feed_forward}.DenseReluDense"
        if layer.use_gated_activation:
            # Hugging Face: act(wi_0(x)) * wi_1(x); keras-hub: the activated
            # `input_projector` times the linear `gate_projector`.
            loader.port_weight(layer.input_projector.kernel, f"{dense}.wi_0.weight", linear_kernel)
            loader.port_weight(layer.gate_projector.kernel, f"{dense}.wi_1.weight", linear_kernel)
        else:
            loader.port_weight(layer.input_projector.kernel, f"{dense}.wi.weight", linear_kernel)
        loader.port_weight(layer.output_projector.kernel, f"{dense}.wo.weight", linear_kernel)
        loader.port_weight(layer.layer_norm.weight, f"{block}.{feed_forward}.layer_norm.weight")
    loader.port_weight(final_norm.weight, f"{base}.final_layer_norm.weight")


def convert_weights(backbone, loader, transformers_config):
    """Plan a Hugging Face `T5EncoderModel` / `T5Model` state dict onto a T5 backbone.

    For `T5EncoderBackbone` the encoder's keys, for a keras-hub `T5Backbone`
    (e.g. `T5EncoderDecoderBackbone`) the encoder's and the decoder's. The
    one token embedding is `shared.weight`; `encoder.embed_tokens` /
    `decoder.embed_tokens` copies, when the state dict has them, must equal
    it and are consumed. `transformers_config` is not read: the backbone
    carries every size.

    Raises:
        ValueError: when an `embed_tokens` copy differs from `shared.weight`.
    """
    embeddings = backbone.token_embedding.embeddings
    loader.port_weight(embeddings, "shared.weight")
    # Hugging Face ties each stack's `embed_tokens` to `shared`; checkpoints
    # saved with the copies must hold the same table (one table here).
    stacks = ["encoder"]
    if hasattr(backbone, "decoder_transformer_layers"):
        stacks.append("decoder")
    shared = loader.get_tensor("shared.weight") if loader.has_tensor("shared.weight") else None
    for stack in stacks:
        key = f"{stack}.embed_tokens.weight"
        if loader.has_tensor(key):
            if shared is None or not np.array_equal(loader.get_tensor(key), shared):
                raise ValueError(
                    f"{loader.prefix + key!r} differs from "
                    f"{loader.prefix + 'shared.weight'!r}: T5 backbones here "
                    "have one token embedding shared by encoder and decoder "
                    "(Hugging Face ties them)."
                )
            loader.port_weight(embeddings, key)
    _convert_stack(
        loader, backbone.encoder_transformer_layers, backbone.encoder_layer_norm, "encoder"
    )
    if "decoder" in stacks:
        _convert_stack(
            loader, backbone.decoder_transformer_layers, backbone.decoder_layer_norm, "decoder"
        )
