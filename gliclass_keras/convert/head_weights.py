"""Load GLiClass head layers from a reference PyTorch state dict.

`tensors` maps reference state-dict keys (e.g. `model.scorer.mlp.0.weight`) to
NumPy arrays, as read from `model.safetensors`. Each loader takes the prefix
of the reference module (e.g. `"model.scorer."`, `"model.text_projector."`),
assigns the weights to an already constructed Keras layer (building it from
the tensor shapes when needed) and returns the set of keys it consumed.

| Keras layer | reference module (prefix) | keys under the prefix |
|---|---|---|
| `FeaturesProjector` | `model.text_projector.`, `model.classes_projector.` | `linear_{1,2}.{weight,bias}` |
| `BiEncoderProjector` | `model.biencoder_projector.` | `linear_{1,2}.{weight,bias}` |
| `WeightedDotScorer` | `model.scorer.` | `proj_text`, `proj_label`, `out_mlp.0`, `out_mlp.3` |
| `MLPScorer` | `model.scorer.` | `mlp.{0,2,4}` |
| `HopfieldScorer` | `model.scorer.` | `{q,k,v}_proj.weight`, `mlp.{0,2,4}` |
| `CrossAttentionScorer` | `model.scorer.` | `q_norm`, `kv_norm`, `q`, `k`, `v`, `out`, `norm`, `score_mlp.{0,2,4}` |
| `TextLSTM` | `model.lstm.` | `lstm.{weight,bias}_{ih,hh}_l0[_reverse]` |
| `SegmentEmbedding` | `model.segment_embeddings.` | `weight` |
| `LayerwiseAttention` | `model.layer_wise_attention.` | `squeeze`, `W1`, `W2`, `output_projection` |
| `LogitScale` | `model.` (or the full key `model.logit_scale`) | `logit_scale` |
| `DotScorer`, `TokenPooler`, `ClassTokenExtractor` | - | none |
"""

import numpy as np

from gliclass_keras.layers.bi_encoder_projector import BiEncoderProjector
from gliclass_keras.layers.class_token_extractor import ClassTokenExtractor
from gliclass_keras.layers.cross_attention_scorer import CrossAttentionScorer
from gliclass_keras.layers.dot_scorer import DotScorer
from gliclass_keras.layers.features_projector import FeaturesProjector
from gliclass_keras.layers.hopfield_scorer import HopfieldScorer
from gliclass_keras.layers.layerwise_attention import LayerwiseAttention
from gliclass_keras.layers.logit_scale import LogitScale
from gliclass_keras.layers.mlp_scorer import MLPScorer
from gliclass_keras.layers.segment_embedding import SegmentEmbedding
from gliclass_keras.layers.text_lstm import TextLSTM
from gliclass_keras.layers.token_pooler import TokenPooler
from gliclass_keras.layers.weighted_dot_scorer import WeightedDotScorer


class _Reader:
    """Reads keys below a prefix and records which were consumed."""

    def __init__(self, tensors, prefix, layer):
        self.tensors = tensors
        self.prefix = prefix
        self.layer = layer
        self.used = set()

    def __call__(self, name):
        key = self.prefix + name
        if key not in self.tensors:
            raise ValueError(
                f"Missing key {key!r} in the reference state dict for layer "
                f"{self.layer.name!r} ({type(self.layer).__name__})."
            )
        self.used.add(key)
        return np.asarray(self.tensors[key])

    def has(self, name):
        return self.prefix + name in self.tensors


def _assign(variable, value, key):
    value = np.asarray(value)
    if tuple(variable.shape) != value.shape:
        raise ValueError(
            f"Shape mismatch for {key!r}: the reference tensor has shape "
            f"{value.shape}, the Keras variable {variable.path!r} has shape "
            f"{tuple(variable.shape)}."
        )
    variable.assign(value.astype(variable.dtype))


def _load_dense(dense, read, name, use_bias=True):
    """torch `Linear` (`weight (out, in)`, `bias`) -> Keras `Dense`."""
    weight = read(f"{name}.weight")
    if not dense.built:
        dense.build((None, weight.shape[1]))
    _assign(dense.kernel, weight.T, read.prefix + f"{name}.weight")
    if use_bias:
        _assign(dense.bias, read(f"{name}.bias"), read.prefix + f"{name}.bias")


def _load_layer_norm(layer_norm, read, name):
    _assign(layer_norm.gamma, read(f"{name}.weight"), read.prefix + f"{name}.weight")
    _assign(layer_norm.beta, read(f"{name}.bias"), read.prefix + f"{name}.bias")


def _in_dim(read, name):
    return read(f"{name}.weight").shape[1]


def _load_projector(layer, read):
    if not layer.built:
        layer.build((None, _in_dim(read, "linear_1")))
    _load_dense(layer.linear_1, read, "linear_1")
    _load_dense(layer.linear_2, read, "linear_2")


def _load_weighted_dot(layer, read):
    if not layer.built:
        layer.build((None, _in_dim(read, "proj_text")), (None, None, _in_dim(read, "proj_label")))
    _load_dense(layer.proj_text, read, "proj_text")
    _load_dense(layer.proj_label, read, "proj_label")
    _load_dense(layer.out_mlp_0, read, "out_mlp.0")
    _load_dense(layer.out_mlp_3, read, "out_mlp.3")


def _load_score_mlp(layer, read):
    """The `mlp.{0,2,4}` stack the MLP and Hopfield scorers end in."""
    for index in (0, 2, 4):
        _load_dense(getattr(layer, f"mlp_{index}"), read, f"mlp.{index}")


def _load_mlp_scorer(layer, read):
    if not layer.built:
        dim = _in_dim(read, "mlp.0") // 2
        layer.build((None, dim), (None, None, _in_dim(read, "mlp.0") - dim))
    _load_score_mlp(layer, read)


def _load_hopfield(layer, read):
    if not layer.built:
        dim = _in_dim(read, "q_proj")
        layer.build((None, dim), (None, None, dim))
    for name in ("q_proj", "k_proj", "v_proj"):
        _load_dense(getattr(layer, name), read, name, use_bias=False)
    _load_score_mlp(layer, read)


def _load_cross_attention(layer, read):
    if not layer.built:
        dim = _in_dim(read, "q")
        layer.build((None, None, dim), (None, None, dim))
    for name in ("q_norm", "kv_norm", "norm"):
        _load_layer_norm(getattr(layer, name), read, name)
    for name in ("q", "k", "v", "out"):
        _load_dense(getattr(layer, name), read, name)
    _load_dense(layer.score_mlp_0, read, "score_mlp.0")
    _load_dense(layer.score_mlp_2, read, "score_mlp.2")
    _load_dense(layer.score_mlp_4, read, "score_mlp.4")


def _load_lstm(layer, read):
    if not layer.built:
        layer.build((None, None, read("lstm.weight_ih_l0").shape[1]))
    # torch gate order (i, f, g, o) equals Keras' (i, f, c, o).
    for keras_lstm, suffix in ((layer.forward_lstm, ""), (layer.backward_lstm, "_reverse")):
        cell = keras_lstm.cell
        names = {
            "ih": f"lstm.weight_ih_l0{suffix}",
            "hh": f"lstm.weight_hh_l0{suffix}",
            "bih": f"lstm.bias_ih_l0{suffix}",
            "bhh": f"lstm.bias_hh_l0{suffix}",
        }
        _assign(cell.kernel, read(names["ih"]).T, read.prefix + names["ih"])
        _assign(cell.recurrent_kernel, read(names["hh"]).T, read.prefix + names["hh"])
        bias = read(names["bih"]) + read(names["bhh"])
        _assign(cell.bias, bias, read.prefix + names["bih"])
    if read.has("lstm.weight_ih_l1"):
        raise ValueError(
            f"{read.prefix}lstm has more than one layer; TextLSTM has one."
        )


def _load_segment_embedding(layer, read):
    if not layer.built:
        layer.build((None, None))
    _assign(layer.embeddings.embeddings, read("weight"), read.prefix + "weight")


def _load_layerwise_attention(layer, read):
    w1 = read("W1.weight")
    if w1.shape[1] != layer.num_hidden_states:
        raise ValueError(
            f"{read.prefix}W1.weight is sized for {w1.shape[1]} hidden states but "
            f"the layer has num_hidden_states={layer.num_hidden_states}. (The "
            "reference sizes it for num_layers while it receives num_layers + 1 "
            "hidden states, so its checkpoints cannot run as saved.)"
        )
    if not layer.built:
        dim = _in_dim(read, "squeeze")
        layer.build((None, layer.num_hidden_states, None, dim))
    for name in ("squeeze", "W1", "W2", "output_projection"):
        _load_dense(getattr(layer, name), read, name)


def _load_logit_scale(layer, read):
    if not layer.built:
        layer.build(())
    if read.prefix in read.tensors and read.prefix.endswith("logit_scale"):
        read.used.add(read.prefix)
        value = np.asarray(read.tensors[read.prefix])
        key = read.prefix
    else:
        value = read("logit_scale")
        key = read.prefix + "logit_scale"
    _assign(layer.logit_scale, np.reshape(value, ()), key)


def _no_weights(layer, read):
    del layer, read


_LOADERS = (
    (FeaturesProjector, _load_projector),
    (BiEncoderProjector, _load_projector),
    (WeightedDotScorer, _load_weighted_dot),
    (MLPScorer, _load_mlp_scorer),
    (HopfieldScorer, _load_hopfield),
    (CrossAttentionScorer, _load_cross_attention),
    (TextLSTM, _load_lstm),
    (SegmentEmbedding, _load_segment_embedding),
    (LayerwiseAttention, _load_layerwise_attention),
    (LogitScale, _load_logit_scale),
    (DotScorer, _no_weights),
    (TokenPooler, _no_weights),
    (ClassTokenExtractor, _no_weights),
)


def load_reference_layer_weights(layer, tensors, prefix):
    """Assign a head layer's weights from a reference GLiClass state dict.

    Args:
        layer: a gliclass_keras head layer (projector, scorer, LSTM, segment
            embedding, layer-wise attention, logit scale; weight-free layers
            are accepted and consume nothing). Built from the tensor shapes if
            it is not built yet.
        tensors: dict mapping reference state-dict keys to NumPy arrays.
        prefix: str. Key prefix of the reference module, e.g.
            `"model.scorer."`; for `LogitScale` the owning module's prefix
            (`"model."`) or the full key `"model.logit_scale"`.

    Returns:
        The set of keys of `tensors` that were consumed.

    Raises:
        ValueError: if a key is missing, a shape differs, or the layer type
            is not supported.
    """
    for cls, loader in _LOADERS:
        if isinstance(layer, cls):
            read = _Reader(tensors, prefix, layer)
            loader(layer, read)
            return read.used
    raise ValueError(
        f"No reference weight loader for layer {layer.name!r} of type "
        f"{type(layer).__name__}. Supported: "
        f"{[cls.__name__ for cls, _ in _LOADERS]}."
    )
