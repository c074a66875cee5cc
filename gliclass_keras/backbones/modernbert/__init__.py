"""ModernBERT: the backbone, its transformer layer and its hidden states."""

from gliclass_keras.backbones.modernbert.modernbert_backbone import ModernBertBackbone
from gliclass_keras.backbones.modernbert.modernbert_backbone import (
    modernbert_kernel_initializer,
)
from gliclass_keras.backbones.modernbert.modernbert_encoder_layer import (
    ModernBertEncoderLayer,
)
from gliclass_keras.backbones.modernbert.modernbert_hidden_states import (
    modernbert_hidden_states,
)

__all__ = [
    "ModernBertBackbone",
    "ModernBertEncoderLayer",
    "modernbert_hidden_states",
    "modernbert_kernel_initializer",
]
