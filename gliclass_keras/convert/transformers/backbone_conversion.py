"""Hugging Face backbone configs and weights -> Keras backbones: the three entry points.

* `backbone_from_hf_config(hf_config)` builds an (untrained) backbone from a
  Hugging Face `config.json` dict (`model_type` `"deberta-v2"` in its
  DeBERTa-v3 layout, `"bert"`, `"modernbert"`, or `"t5"`/`"mt5"` whose
  encoder half it builds).
* `encoder_decoder_backbone_from_hf_config(hf_config)` builds a whole T5
  (`"t5"`/`"mt5"`) as a keras-hub `T5Backbone`.
* `load_hf_backbone_weights(backbone, tensors, prefix)` copies a Hugging Face
  state dict (NumPy arrays, e.g. from `safetensors.numpy.load_file`) into it.

Each dispatches to a converter module of `registry.CONVERTERS`. This module
never imports torch or transformers.
"""

import numbers

from gliclass_keras.convert.transformers.registry import converter_for_backbone
from gliclass_keras.convert.transformers.registry import get_converter
from gliclass_keras.convert.transformers.weight_porting import StateDictLoader


def _config_dict(hf_config):
    if hasattr(hf_config, "to_dict") and not isinstance(hf_config, dict):
        hf_config = hf_config.to_dict()  # a transformers PretrainedConfig
    if not isinstance(hf_config, dict):
        raise TypeError(
            "`hf_config` must be a dict (a Hugging Face config.json). "
            f"Received: hf_config={type(hf_config).__name__}"
        )
    return hf_config


def _with_vocabulary_size(arguments, vocabulary_size):
    """`arguments` with `vocabulary_size` overridden (when not None)."""
    if vocabulary_size is None:
        return arguments
    if (
        not isinstance(vocabulary_size, numbers.Integral)
        or isinstance(vocabulary_size, bool)
        or vocabulary_size < 1
    ):
        raise ValueError(
            "`vocabulary_size` must be a positive int or None. "
            f"Received: vocabulary_size={vocabulary_size!r}"
        )
    return {**arguments, "vocabulary_size": int(vocabulary_size)}


def backbone_from_hf_config(hf_config, vocabulary_size=None, dtype=None):
    """Build a Keras backbone from a Hugging Face backbone config.

    Supported `model_type`s (see each converter's `convert_backbone_config`):

    * `"deberta-v2"` in the DeBERTa-v3 layout -> `keras_hub.models.DebertaV3Backbone`
      (`convert_deberta_v3`).
    * `"bert"` -> `ExactGeluBertBackbone` (`convert_bert`).
    * `"modernbert"` -> `ModernBertBackbone`, from either config format
      (`convert_modernbert`).
    * `"t5"` and `"mt5"` -> `T5EncoderBackbone`, the encoder half alone (what
      the reference's uni-encoder runs: Hugging Face's `T5EncoderModel`;
      `convert_t5`). For the whole encoder-decoder use
      `encoder_decoder_backbone_from_hf_config`.

    Args:
        hf_config: dict. The Hugging Face config (`config.json`; for
            GLiClass, its nested `encoder_config`).
        vocabulary_size: int or None. Overrides `vocab_size`, e.g. when the
            checkpoint's embedding was resized after the config was written.
        dtype: string or `keras.DTypePolicy` for the backbone, or None.

    Returns:
        A randomly initialised backbone.

    Raises:
        ValueError: naming the unsupported `model_type`, or the unsupported
            config field and its value.

    Example:
    ```python
    config = json.load(open("config.json"))["encoder_config"]
    backbone = backbone_from_hf_config(config)
    ```
    """
    hf_config = _config_dict(hf_config)
    converter = get_converter(hf_config.get("model_type"))
    arguments = converter.convert_backbone_config(hf_config)
    return converter.backbone_cls(
        **_with_vocabulary_size(arguments, vocabulary_size), dtype=dtype
    )


def encoder_decoder_backbone_from_hf_config(hf_config, vocabulary_size=None, dtype=None):
    """Build a Keras encoder-decoder backbone from a Hugging Face config.

    Supported `model_type`s: `"t5"` and `"mt5"` (Hugging Face `T5Model` /
    `MT5Model`) -> `T5EncoderDecoderBackbone`, a keras-hub `T5Backbone`
    whose encoder and decoder share one token embedding (Hugging Face's
    `shared`). The fields carried over are those of
    `backbone_from_hf_config`; in addition `num_decoder_layers` must be
    `None` or `num_layers` (keras-hub builds stacks of equal depth). The
    arguments, the return value (a randomly initialised backbone) and the
    errors are those of `backbone_from_hf_config`.

    Example:
    ```python
    config = json.load(open("config.json"))["encoder_config"]  # a T5 config
    backbone = encoder_decoder_backbone_from_hf_config(config)
    ```
    """
    hf_config = _config_dict(hf_config)
    converter = get_converter(hf_config.get("model_type"), encoder_decoder=True)
    arguments = converter.convert_encoder_decoder_backbone_config(hf_config)
    return converter.encoder_decoder_backbone_cls(
        **_with_vocabulary_size(arguments, vocabulary_size), dtype=dtype
    )


def load_hf_backbone_weights(backbone, tensors, prefix=""):
    """Copy a Hugging Face backbone state dict into a Keras backbone, all or nothing.

    Supports `keras_hub.models.DebertaV3Backbone` (HF `DebertaV2Model` keys),
    `keras_hub.models.BertBackbone` / `ExactGeluBertBackbone` (HF
    `BertModel` keys), `ModernBertBackbone` (HF `ModernBertModel` keys;
    biases only where the backbone has them, per the `*_bias` flags),
    `T5EncoderBackbone` (HF `T5EncoderModel` keys) and keras-hub's
    `T5Backbone` / `T5EncoderDecoderBackbone` (HF `T5Model` keys); see each
    converter's `convert_weights`. For T5 the one token embedding is
    `shared.weight`; `encoder.embed_tokens` / `decoder.embed_tokens` copies,
    when a checkpoint has them, must equal it and are consumed. Layer norms
    may be named `weight`/`bias` or the legacy `gamma`/`beta`. For BERT the
    pooler (`pooler.dense.*`) is copied into `pooled_dense` when present;
    when absent, `pooled_dense` keeps its random initialisation (GLiClass
    never uses the pooled output).

    Args:
        backbone: the backbone, e.g. from `backbone_from_hf_config`.
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
    loader = StateDictLoader(tensors, prefix)
    converter = converter_for_backbone(backbone)
    # The backbone carries every size; no converter reads the config here.
    converter.convert_weights(backbone, loader, transformers_config=None)
    return loader.assign_all()
