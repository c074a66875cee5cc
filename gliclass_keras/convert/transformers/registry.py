"""The one registry of backbone converters, keyed by Hugging Face `model_type`.

Each converter module follows keras-hub's converter contract
(`keras_hub/src/utils/transformers/preset_loader.py`): `backbone_cls`,
`convert_backbone_config(transformers_config)`, `convert_weights(backbone,
loader, transformers_config)`, `convert_tokenizer(cls, ...)`; in addition
`backbone_classes`, the backbone classes its `convert_weights` fills, and,
for encoder-decoders, `encoder_decoder_backbone_cls` and
`convert_encoder_decoder_backbone_config`. Add a family by adding its module
here.

Example:
```python
converter = get_converter(transformers_config["model_type"])
backbone = converter.backbone_cls(
    **converter.convert_backbone_config(transformers_config)
)
converter_for_backbone(backbone) is converter  # True
```
"""

from gliclass_keras.convert.transformers import convert_bert
from gliclass_keras.convert.transformers import convert_deberta_v3
from gliclass_keras.convert.transformers import convert_modernbert
from gliclass_keras.convert.transformers import convert_t5

CONVERTERS = {
    "deberta-v2": convert_deberta_v3,
    "bert": convert_bert,
    "modernbert": convert_modernbert,
    "t5": convert_t5,
    "mt5": convert_t5,
}


def encoder_decoder_model_types():
    """The `model_type`s whose converter also builds a whole encoder-decoder."""
    return [
        name
        for name, converter in CONVERTERS.items()
        if hasattr(converter, "encoder_decoder_backbone_cls")
    ]


def get_converter(model_type, encoder_decoder=False):
    """The converter module of a Hugging Face `model_type`.

    Args:
        model_type: str. The `model_type` of a Hugging Face config.
        encoder_decoder: bool. Whether the converter must build a whole
            encoder-decoder (`encoder_decoder_backbone_cls`).

    Raises:
        ValueError: naming the unsupported `model_type` and the supported ones.
    """
    if encoder_decoder:
        supported, kind = encoder_decoder_model_types(), " for an encoder-decoder backbone"
    else:
        supported, kind = sorted(CONVERTERS), ""
    if model_type not in supported:
        raise ValueError(
            f"Unsupported `model_type`={model_type!r} in `hf_config`{kind}; "
            f"supported: {supported}."
        )
    return CONVERTERS[model_type]


def converter_for_backbone(backbone):
    """The converter module whose `convert_weights` fills `backbone` (subclasses included).

    Raises:
        TypeError: for a backbone no converter fills.
    """
    converters = dict.fromkeys(CONVERTERS.values())  # each module once, in order
    for converter in converters:
        if isinstance(backbone, converter.backbone_classes):
            return converter
    supported = ", ".join(
        cls.__name__ for converter in converters for cls in converter.backbone_classes
    )
    raise TypeError(
        f"`backbone` must be one of: {supported} (or a subclass). "
        f"Received: backbone={type(backbone).__name__}"
    )
