"""Backbones: keras-hub backbones (and the families keras-hub lacks) run as Hugging Face runs them.

* `bert.ExactGeluBertBackbone`, `modernbert.ModernBertBackbone`,
  `t5.T5EncoderBackbone`, `t5.T5EncoderDecoderBackbone`: backbone classes
  (keras-hub's `DebertaV3Backbone` is used as it is).
* `backbone_encoder.BackboneEncoder`: every hidden state of a backbone,
  through each family's hidden-states function (`HIDDEN_STATES_FNS`).
* `t5.T5Decoder`: the decoder of a T5 encoder-decoder with a causal or a
  bidirectional self-attention mask.

Build them from Hugging Face checkpoints with
`gliclass_keras.convert.transformers`.
"""
