"""Hugging Face (transformers) checkpoints -> Keras backbones, one converter module per family.

`convert_deberta_v3`, `convert_bert`, `convert_modernbert` and `convert_t5`
follow keras-hub's converter contract; `registry.CONVERTERS` maps Hugging
Face `model_type`s to them; `weight_porting` holds the NumPy -> variable
helpers. The entry points:

```python
from gliclass_keras.convert.transformers import backbone_from_hf_config
from gliclass_keras.convert.transformers import load_hf_backbone_weights

backbone = backbone_from_hf_config(config["encoder_config"])
used = load_hf_backbone_weights(backbone, tensors, prefix="model.encoder_model.")
```
"""

from gliclass_keras.convert.transformers.backbone_conversion import backbone_from_hf_config
from gliclass_keras.convert.transformers.backbone_conversion import (
    encoder_decoder_backbone_from_hf_config,
)
from gliclass_keras.convert.transformers.backbone_conversion import load_hf_backbone_weights

__all__ = [
    "backbone_from_hf_config",
    "encoder_decoder_backbone_from_hf_config",
    "load_hf_backbone_weights",
]
