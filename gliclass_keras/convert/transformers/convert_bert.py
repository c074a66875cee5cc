"""Hugging Face BERT (`model_type="bert"`) -> `ExactGeluBertBackbone`.

keras-hub's converter contract: `backbone_cls`, `convert_backbone_config`,
`convert_weights`, `convert_tokenizer`. Unlike keras-hub's own BERT
converter, the feed-forward activation is Hugging Face's (`hidden_act`,
exact GELU by default), unsupported config fields are named, layer norms
may use either key naming, and the pooler is optional.

Example:
```python
arguments = convert_bert.convert_backbone_config(
    {"model_type": "bert", "vocab_size": 30522, "num_hidden_layers": 12,
     "num_attention_heads": 12, "hidden_size": 768, "intermediate_size": 3072}
)
arguments["hidden_activation"]  # "gelu": the exact GELU of Hugging Face's BERT
```
"""

import keras_hub

from gliclass_keras.backbones.bert import ExactGeluBertBackbone
from gliclass_keras.convert.transformers.hf_config_reader import HFConfigReader
from gliclass_keras.convert.transformers.hf_config_reader import is_close_to
from gliclass_keras.convert.transformers.hf_config_reader import is_positive_int
from gliclass_keras.convert.transformers.hf_tokenizer import convert_tokenizer  # noqa: F401
from gliclass_keras.convert.transformers.weight_porting import output_linear_kernel
from gliclass_keras.convert.transformers.weight_porting import port_dense
from gliclass_keras.convert.transformers.weight_porting import port_layer_norm
from gliclass_keras.convert.transformers.weight_porting import reshape_to
from gliclass_keras.utils.activations import BACKBONE_ACTIVATIONS

backbone_cls = ExactGeluBertBackbone
# Every backbone class `convert_weights` fills (subclasses included).
backbone_classes = (keras_hub.models.BertBackbone,)

# keras-hub hard-codes this layer norm epsilon.
BERT_LAYER_NORM_EPSILON = 1e-12


def convert_backbone_config(transformers_config):
    """`ExactGeluBertBackbone` arguments from a Hugging Face `BertConfig` dict.

    Requires `layer_norm_eps=1e-12`, absolute positions and an encoder
    (no decoder, no cross-attention); `hidden_act` becomes
    `hidden_activation` and `type_vocab_size` `num_segments`. Dropout is
    `hidden_dropout_prob` (keras-hub has one rate; Hugging Face's
    `attention_probs_dropout_prob` is not used).

    Raises:
        ValueError: naming an unsupported field and its value.
    """
    config = HFConfigReader(transformers_config, "bert")
    sizes = config.transformer_sizes()
    hidden_act = config.read(
        "hidden_act",
        "gelu",
        lambda v: v in BACKBONE_ACTIVATIONS,
        sorted(BACKBONE_ACTIVATIONS),
    )
    config.read(
        "layer_norm_eps",
        1e-12,
        is_close_to(BERT_LAYER_NORM_EPSILON),
        BERT_LAYER_NORM_EPSILON,
    )
    config.read(
        "position_embedding_type",
        "absolute",
        lambda v: v == "absolute",
        "'absolute'",
    )
    config.read("is_decoder", False, lambda v: not v, "False")
    config.read("add_cross_attention", False, lambda v: not v, "False")
    num_segments = config.read("type_vocab_size", 2, is_positive_int, ">= 1")
    return {
        **sizes,
        "dropout": transformers_config.get("hidden_dropout_prob", 0.1),
        "max_sequence_length": transformers_config.get("max_position_embeddings", 512),
        "num_segments": num_segments,
        "hidden_activation": hidden_act,
    }


def convert_transformer_layers(loader, layers, dense_names, hf_names, output_kernel):
    """Plan Hugging Face `BertLayer`-style layers onto keras-hub encoder layers.

    The layout BERT and DeBERTa share, for layer `i` under
    `base = f"encoder.layer.{i}"`: `{base}.attention.self.{name}` onto the
    query, key and value projections (per-head biases),
    `{base}.attention.output.dense` onto the attention output projection
    (its weight through `output_kernel`), then
    `{base}.attention.output.LayerNorm`, `{base}.intermediate.dense`,
    `{base}.output.dense` and `{base}.output.LayerNorm` onto the layer's own
    sublayers.

    Args:
        loader: the `StateDictLoader`.
        layers: the backbone's `transformer_layers`.
        dense_names: the attributes of a layer's `_self_attention_layer`
            holding the query, key, value and output projections.
        hf_names: the Hugging Face names of the query, key and value
            projections.
        output_kernel: the transform of the output projection's weight.
    """
    for i, layer in enumerate(layers):
        base = f"encoder.layer.{i}"
        attention = layer._self_attention_layer
        *projections, output = (getattr(attention, name) for name in dense_names)
        for dense, name in zip(projections, hf_names):
            port_dense(loader, dense, f"{base}.attention.self.{name}", bias=reshape_to)
        port_dense(loader, output, f"{base}.attention.output.dense", kernel=output_kernel)
        port_layer_norm(
            loader, layer._self_attention_layer_norm, f"{base}.attention.output.LayerNorm"
        )
        port_dense(loader, layer._feedforward_intermediate_dense, f"{base}.intermediate.dense")
        port_dense(loader, layer._feedforward_output_dense, f"{base}.output.dense")
        port_layer_norm(loader, layer._feedforward_layer_norm, f"{base}.output.LayerNorm")


def convert_weights(backbone, loader, transformers_config):
    """Plan a Hugging Face `BertModel` state dict onto a keras-hub `BertBackbone`.

    Layer norms may be named `weight`/`bias` or the legacy `gamma`/`beta`.
    The pooler (`pooler.dense.*`) is copied into `pooled_dense` when present;
    when absent, `pooled_dense` keeps its random initialisation (GLiClass
    never uses the pooled output). `transformers_config` is not read: the
    backbone carries every size.
    """
    loader.port_weight(backbone.token_embedding.embeddings, "embeddings.word_embeddings.weight")
    loader.port_weight(
        backbone.position_embedding.position_embeddings,
        "embeddings.position_embeddings.weight",
    )
    loader.port_weight(
        backbone.segment_embedding.embeddings, "embeddings.token_type_embeddings.weight"
    )
    port_layer_norm(loader, backbone.embeddings_layer_norm, "embeddings.LayerNorm")
    convert_transformer_layers(
        loader,
        backbone.transformer_layers,
        dense_names=("query_dense", "key_dense", "value_dense", "output_dense"),
        hf_names=("query", "key", "value"),
        output_kernel=output_linear_kernel,
    )
    # The pooler is optional (`add_pooling_layer=False` checkpoints have
    # none); without it `pooled_dense` keeps its random initialisation.
    if loader.has_tensor("pooler.dense.weight"):
        port_dense(loader, backbone.pooled_dense, "pooler.dense")
