"""Hugging Face DeBERTa-v3 (`model_type="deberta-v2"`, v3 layout) -> keras-hub `DebertaV3Backbone`.

keras-hub's converter contract: `backbone_cls`, `convert_backbone_config`,
`convert_weights`, `convert_tokenizer`. keras-hub has no DeBERTa converter
for Hugging Face checkpoints; this one accepts the DeBERTa-v3 layout
(relative attention with shared keys, `p2c`/`c2p`, log buckets, a layer
normed relative table, no absolute positions) and names any other field
value. The layers have BERT's key layout (`convert_bert.convert_transformer_layers`).

Example:
```python
config = json.load(open("deberta-v3-small/config.json"))
arguments = convert_deberta_v3.convert_backbone_config(config)
# keras-hub's log-bucket size: `max_relative_positions`, or
# `max_position_embeddings` when that is -1.
arguments["max_sequence_length"]
```
"""

import keras_hub

from gliclass_keras.convert.transformers.convert_bert import convert_transformer_layers
from gliclass_keras.convert.transformers.hf_config_reader import HFConfigReader
from gliclass_keras.convert.transformers.hf_config_reader import is_close_to
from gliclass_keras.convert.transformers.hf_config_reader import is_positive_int
from gliclass_keras.convert.transformers.hf_tokenizer import convert_tokenizer  # noqa: F401
from gliclass_keras.convert.transformers.weight_porting import linear_kernel
from gliclass_keras.convert.transformers.weight_porting import port_layer_norm

backbone_cls = keras_hub.models.DebertaV3Backbone
# Every backbone class `convert_weights` fills (subclasses included).
backbone_classes = (keras_hub.models.DebertaV3Backbone,)

# keras-hub hard-codes this layer norm epsilon.
DEBERTA_V3_LAYER_NORM_EPSILON = 1e-7


def _names(value):
    """`"p2c|c2p"`, `["p2c", "c2p"]` or None -> a set of lower-case names."""
    if value is None:
        return set()
    if isinstance(value, str):
        value = value.split("|")
    return {str(x).strip().lower() for x in value}


def convert_backbone_config(transformers_config):
    """`DebertaV3Backbone` arguments from a Hugging Face `DebertaV2Config` dict.

    Requires the DeBERTa-v3 layout: `relative_attention=True`,
    `position_biased_input=False`, `share_att_key=True`,
    `pos_att_type=["p2c", "c2p"]`, `norm_rel_ebd="layer_norm"`,
    `type_vocab_size=0`, `position_buckets > 0`, `hidden_act="gelu"`,
    `layer_norm_eps=1e-7`. Gives `bucket_size=position_buckets` and
    `max_sequence_length=max_relative_positions` (`-1` ->
    `max_position_embeddings`), the value keras-hub uses in its log-bucket
    formula; it is not a length limit. Dropout is `hidden_dropout_prob`
    (keras-hub has one rate).

    Raises:
        ValueError: naming an unsupported field and its value.
    """
    config = HFConfigReader(transformers_config, "deberta-v2")
    sizes = config.transformer_sizes()
    # Defaults are those of transformers' DebertaV2Config / modeling code.
    config.read("relative_attention", False, lambda v: v is True, "True")
    config.read("position_biased_input", True, lambda v: v is False, "False")
    config.read("share_att_key", False, lambda v: v is True, "True")
    config.read("type_vocab_size", 0, lambda v: v == 0, "0")
    config.read("hidden_act", "gelu", lambda v: v == "gelu", "'gelu'")
    config.read("conv_kernel_size", 0, lambda v: not v, "0")
    config.read(
        "layer_norm_eps",
        1e-7,
        is_close_to(DEBERTA_V3_LAYER_NORM_EPSILON),
        DEBERTA_V3_LAYER_NORM_EPSILON,
    )
    config.read(
        "embedding_size",
        sizes["hidden_dim"],
        lambda v: v in (None, sizes["hidden_dim"]),
        "hidden_size",
    )
    config.read(
        "attention_head_size",
        None,
        lambda v: v in (None, sizes["hidden_dim"] // sizes["num_heads"]),
        "hidden_size // num_attention_heads",
    )
    config.read(
        "pos_att_type",
        None,
        lambda v: _names(v) == {"p2c", "c2p"},
        "['p2c', 'c2p']",
    )
    config.read(
        "norm_rel_ebd",
        "none",
        lambda v: _names(v) == {"layer_norm"},
        "'layer_norm'",
    )
    bucket_size = config.read("position_buckets", -1, is_positive_int, "a positive int")
    max_position_embeddings = transformers_config.get("max_position_embeddings", 512)
    max_relative_positions = transformers_config.get("max_relative_positions", -1)
    if max_relative_positions < 1:
        max_relative_positions = max_position_embeddings
    # keras-hub's DisentangledSelfAttention only uses `max_sequence_length`
    # (as `max_position_embeddings`) for the log-bucket formula, where
    # Hugging Face uses `max_relative_positions`; DeBERTa has no absolute
    # position embeddings, so this is the value to pass. It does not limit
    # the input length.
    return {
        **sizes,
        "dropout": transformers_config.get("hidden_dropout_prob", 0.1),
        "max_sequence_length": max_relative_positions,
        "bucket_size": bucket_size,
    }


def convert_weights(backbone, loader, transformers_config):
    """Plan a Hugging Face `DebertaV2Model` state dict onto a `DebertaV3Backbone`.

    Layer norms may be named `weight`/`bias` or the legacy `gamma`/`beta`.
    `transformers_config` is not read: the backbone carries every size.
    """
    loader.port_weight(backbone.token_embedding.embeddings, "embeddings.word_embeddings.weight")
    loader.port_weight(
        backbone.relative_embeddings.rel_embeddings, "encoder.rel_embeddings.weight"
    )
    port_layer_norm(loader, backbone.embeddings_layer_norm, "embeddings.LayerNorm")
    port_layer_norm(loader, backbone.relative_embeddings.layer_norm, "encoder.LayerNorm")
    convert_transformer_layers(
        loader,
        backbone.transformer_layers,
        dense_names=("_query_dense", "_key_dense", "_value_dense", "_output_dense"),
        hf_names=("query_proj", "key_proj", "value_proj"),
        output_kernel=linear_kernel,
    )
