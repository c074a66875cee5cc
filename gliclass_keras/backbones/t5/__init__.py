"""T5: the encoder-decoder and encoder-only backbones, the decoder runner and the encoder's hidden states."""

from gliclass_keras.backbones.t5.t5_decoder import T5Decoder
from gliclass_keras.backbones.t5.t5_encoder_backbone import T5EncoderBackbone
from gliclass_keras.backbones.t5.t5_encoder_decoder_backbone import T5EncoderDecoderBackbone
from gliclass_keras.backbones.t5.t5_encoder_hidden_states import t5_encoder_hidden_states
from gliclass_keras.backbones.t5.t5_relative_attention import check_relative_attention

__all__ = [
    "T5Decoder",
    "T5EncoderBackbone",
    "T5EncoderDecoderBackbone",
    "check_relative_attention",
    "t5_encoder_hidden_states",
]
