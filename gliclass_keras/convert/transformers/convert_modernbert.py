"""Hugging Face ModernBERT (`model_type="modernbert"`) -> `ModernBertBackbone`.

keras-hub's converter contract: `backbone_cls`, `convert_backbone_config`,
`convert_weights`, `convert_tokenizer`. keras-hub has no ModernBERT; this
converter reads both config formats (transformers 4's
`global_attn_every_n_layers` / `global_rope_theta` / `local_rope_theta`,
and transformers 5's `layer_types` / `rope_parameters`) and names any field
value the backbone cannot reproduce.

Example:
```python
backbone = convert_modernbert.backbone_cls(
    **convert_modernbert.convert_backbone_config(config)
)
loader = StateDictLoader(safetensors.numpy.load_file("model.safetensors"))
convert_modernbert.convert_weights(backbone, loader, config)
unused = set(loader.tensors) - loader.assign_all()
```
"""

from gliclass_keras.backbones.modernbert import ModernBertBackbone
from gliclass_keras.convert.transformers.hf_config_reader import HFConfigReader
from gliclass_keras.convert.transformers.hf_config_reader import is_bool
from gliclass_keras.convert.transformers.hf_config_reader import is_number
from gliclass_keras.convert.transformers.hf_config_reader import is_positive_int
from gliclass_keras.convert.transformers.hf_config_reader import is_rate
from gliclass_keras.convert.transformers.hf_tokenizer import convert_tokenizer  # noqa: F401
from gliclass_keras.convert.transformers.weight_porting import port_dense
from gliclass_keras.convert.transformers.weight_porting import port_layer_norm
from gliclass_keras.utils.activations import BACKBONE_ACTIVATIONS

backbone_cls = ModernBertBackbone
# Every backbone class `convert_weights` fills (subclasses included).
backbone_classes = (ModernBertBackbone,)

_FULL, _SLIDING = "full_attention", "sliding_attention"


def _layer_pattern(config, num_layers):
    """`global_attn_every_n_layers`, checked against `layer_types`.

    Old configs give `global_attn_every_n_layers` (default 3); configs saved
    by transformers 5 also (or only) give `layer_types`, which must follow
    the "global every n layers, starting at layer 0" pattern.
    """
    every_n = config.read("global_attn_every_n_layers", 3, is_positive_int, "a positive int")
    layer_types = config.config.get("layer_types")
    if layer_types is None:
        return every_n
    if "global_attn_every_n_layers" not in config.config:
        # Infer n from the second global layer (or: only layer 0 is global).
        every_n = next(
            (i for i, kind in enumerate(layer_types) if i > 0 and kind == _FULL),
            max(num_layers, 1),
        )
    expected = [_SLIDING if i % every_n else _FULL for i in range(num_layers)]
    if list(layer_types) != expected:
        raise config.unsupported(
            "layer_types",
            layer_types,
            f"a global ('{_FULL}') layer every `global_attn_every_n_layers`="
            f"{every_n} layers from layer 0, local ('{_SLIDING}') otherwise, "
            f"i.e. {expected},",
        )
    return every_n


def _rope_thetas(config):
    """`(global_rope_theta, local_rope_theta)` of the old or new config."""
    config.read("rope_scaling", None, lambda v: v is None, "None")
    rope_parameters = config.config.get("rope_parameters")
    legacy = (
        ("global_rope_theta", 160000.0),
        ("local_rope_theta", 10000.0),
    )
    if rope_parameters is None:
        return tuple(
            float(config.read(field, default, is_number, "a number"))
            for field, default in legacy
        )
    if not isinstance(rope_parameters, dict):
        raise config.unsupported("rope_parameters", rope_parameters, "a dict")
    thetas = []
    for layer_type, (field, default) in zip((_FULL, _SLIDING), legacy):
        params = rope_parameters.get(layer_type) or {}
        name = f"rope_parameters[{layer_type!r}]"
        rope_type = params.get("rope_type", "default")
        if rope_type != "default":
            raise config.unsupported(f"{name}['rope_type']", rope_type, "'default'")
        theta = params.get("rope_theta", config.config.get(field, default))
        if not is_number(theta):
            raise config.unsupported(f"{name}['rope_theta']", theta, "a number")
        thetas.append(float(theta))
    return tuple(thetas)


def convert_backbone_config(transformers_config):
    """`ModernBertBackbone` arguments from a Hugging Face `ModernBertConfig` dict.

    Either config format: `global_attn_every_n_layers` / `global_rope_theta`
    / `local_rope_theta`, or transformers 5's `layer_types` /
    `rope_parameters` (default RoPE only; `layer_types` must be the "global
    every n layers from layer 0" pattern). `norm_eps`, `norm_bias`,
    `attention_bias`, `mlp_bias`, `hidden_activation`, `local_attention`
    and the three dropout rates are carried over.

    Raises:
        ValueError: naming an unsupported field and its value.
    """
    config = HFConfigReader(transformers_config, "modernbert")
    sizes = config.transformer_sizes()
    head_dim = sizes["hidden_dim"] // sizes["num_heads"]
    config.read(
        "head_dim",
        None,
        lambda v: v in (None, head_dim),
        "hidden_size // num_attention_heads",
    )
    if head_dim % 2:
        raise config.unsupported(
            "hidden_size",
            sizes["hidden_dim"],
            "an even head size (hidden_size // num_attention_heads) for "
            "rotary embeddings,",
        )
    hidden_activation = config.read(
        "hidden_activation",
        "gelu",
        lambda v: v in BACKBONE_ACTIVATIONS,
        sorted(BACKBONE_ACTIVATIONS),
    )
    global_rope_theta, local_rope_theta = _rope_thetas(config)
    rates = {
        name: config.read(name, 0.0, is_rate, "[0, 1)")
        for name in ("embedding_dropout", "attention_dropout", "mlp_dropout")
    }
    return {
        **sizes,
        "hidden_activation": hidden_activation,
        "global_attn_every_n_layers": _layer_pattern(config, sizes["num_layers"]),
        "local_attention": config.read("local_attention", 128, is_positive_int, "a positive int"),
        "global_rope_theta": global_rope_theta,
        "local_rope_theta": local_rope_theta,
        "layer_norm_epsilon": float(
            config.read("norm_eps", 1e-5, lambda v: is_number(v) and v > 0, "> 0")
        ),
        "norm_bias": config.read("norm_bias", False, is_bool, "True or False"),
        "attention_bias": config.read("attention_bias", False, is_bool, "True or False"),
        "mlp_bias": config.read("mlp_bias", False, is_bool, "True or False"),
        **rates,
    }


def convert_weights(backbone, loader, transformers_config):
    """Plan a Hugging Face `ModernBertModel` state dict onto a `ModernBertBackbone`.

    Biases are ported only where the backbone has them (its `*_bias` flags).
    `transformers_config` is not read: the backbone carries every size.
    """
    loader.port_weight(backbone.token_embedding.embeddings, "embeddings.tok_embeddings.weight")
    port_layer_norm(loader, backbone.embeddings_layer_norm, "embeddings.norm")
    for i, layer in enumerate(backbone.transformer_layers):
        base = f"layers.{i}"
        if layer._attention_norm is not None:  # identity in layer 0
            port_layer_norm(loader, layer._attention_norm, f"{base}.attn_norm")
        # `Wqkv` rows are [query; key; value], each (num_heads, head_dim):
        # the layer's (hidden, 3 * hidden) kernel splits the same way.
        port_dense(loader, layer._qkv_dense, f"{base}.attn.Wqkv")
        port_dense(loader, layer._attention_output_dense, f"{base}.attn.Wo")
        port_layer_norm(loader, layer._mlp_norm, f"{base}.mlp_norm")
        # `Wi` rows are [input; gate], as the layer's split.
        port_dense(loader, layer._mlp_input_dense, f"{base}.mlp.Wi")
        port_dense(loader, layer._mlp_output_dense, f"{base}.mlp.Wo")
    port_layer_norm(loader, backbone.final_norm, "final_norm")
