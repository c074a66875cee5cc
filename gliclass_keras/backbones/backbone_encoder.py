"""Run a keras-hub backbone layer by layer and return every hidden state."""

import keras_hub
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.backbones.backbone_layer import BackboneLayer
from gliclass_keras.backbones.bert import bert_hidden_states
from gliclass_keras.backbones.deberta_v3 import deberta_v3_hidden_states
from gliclass_keras.backbones.hidden_states import take_rows
from gliclass_keras.backbones.modernbert import ModernBertBackbone
from gliclass_keras.backbones.modernbert import modernbert_hidden_states
from gliclass_keras.backbones.t5 import T5EncoderBackbone
from gliclass_keras.backbones.t5 import t5_encoder_hidden_states

# Backbone family -> `fn(backbone, token_ids, padding_mask, extra_embeddings=None,
# training=None, inputs_embeds=None)` returning `[embeddings_output, layer_1,
# ..., layer_N]` (see `gliclass_keras.backbones.hidden_states`).
# `inputs_embeds` (`(batch, length, hidden_dim)`, optional) stands in for the
# word embeddings of `token_ids`, as Hugging Face's argument of that name;
# `extra_embeddings` is added to whichever is used. Add an entry here to
# support another family; subclasses match their base class.
HIDDEN_STATES_FNS = {
    keras_hub.models.DebertaV3Backbone: deberta_v3_hidden_states,
    keras_hub.models.BertBackbone: bert_hidden_states,
    ModernBertBackbone: modernbert_hidden_states,
    T5EncoderBackbone: t5_encoder_hidden_states,
    # The encoder half (the encoder-decoder GLiClass runs the decoder with
    # `gliclass_keras.backbones.t5.T5Decoder`).
    keras_hub.models.T5Backbone: t5_encoder_hidden_states,
}
# Families whose function also takes packed rows (`segment_ids`, `position_ids`;
# `gliclass_keras.preprocessing.sequence_packing`), in inference.
PACKING_FNS = (bert_hidden_states,)
# Families whose function takes `output_rows` and computes only those rows of
# the last layer; the others compute it whole and take the rows from it.
ROWS_FNS = (deberta_v3_hidden_states, bert_hidden_states, modernbert_hidden_states)


def _hidden_states_fn(backbone):
    for cls in type(backbone).__mro__:
        if cls in HIDDEN_STATES_FNS:
            return HIDDEN_STATES_FNS[cls]
    supported = ", ".join(cls.__name__ for cls in HIDDEN_STATES_FNS)
    raise TypeError(
        f"`backbone` must be one of: {supported} (or a subclass). "
        f"Received: backbone={type(backbone).__name__}"
    )


@register
class BackboneEncoder(BackboneLayer):
    """Runs a keras-hub backbone and returns all of its hidden states.

    The layer calls the backbone's own sublayers (token embedding, embedding
    layer norm and dropout, position/segment or relative embeddings,
    transformer layers) itself and returns the list
    `[embeddings_output, layer_1_output, ..., layer_N_output]` (length
    `num_layers + 1`), like Hugging Face's `output_hidden_states=True`, so
    `hidden_states[encoder_layer_id]` means the same thing as in GLiClass.
    It has no variables of its own: its weights are the backbone's.

    Supported families (see `HIDDEN_STATES_FNS`):

    * `keras_hub.models.DebertaV3Backbone`: like HF `DebertaV2Model` on
      every real (non-padded) token. Padded positions differ from Hugging
      Face (keras-hub masks padded keys only); GLiClass-Keras never reads
      them, since its pooling honours the padding mask.
    * `keras_hub.models.BertBackbone` (and `ExactGeluBertBackbone`): like HF
      `BertModel` with `token_type_ids` all zero.
    * `ModernBertBackbone`: like HF `ModernBertModel` on every real token
      (the last hidden state is the final-normed output, as in HF).
    * `T5EncoderBackbone`, and the encoder of a keras-hub `T5Backbone`: like
      HF `T5EncoderModel` on every real token (the last hidden state is the
      final-normed output, as in HF).

    Args:
        backbone: a keras-hub backbone of a supported family.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).
            `dtype` defaults to the backbone's dtype policy.

    Call arguments:
        token_ids: int tensor `(batch, length)`.
        padding_mask: tensor `(batch, length)`, 1/True for real tokens.
        extra_embeddings: optional float tensor `(batch, length, hidden_dim)`
            added to the word embeddings before position embeddings and the
            embedding layer norm (HF `inputs_embeds = word_embeddings(ids) +
            extra`), e.g. GLiClass segment embeddings.
        replace_embeddings: optional float tensor `(batch, length,
            hidden_dim)` that *replaces* the word embeddings wherever
            `replace_mask` is set (HF `inputs_embeds = word_embeddings(ids)`
            with `inputs_embeds[b, s] = replacement` at those positions),
            e.g. the label vectors of the GLiClass bi-encoder-fused model.
            Position embeddings, the embedding layer norm and
            `extra_embeddings` still apply on top.
        replace_mask: int/bool tensor `(batch, length)`, 1/True where
            `replace_embeddings` is used. Required with `replace_embeddings`.
        training: bool, whether dropout is active.
        segment_ids: optional int tensor `(batch, length)` of packed rows
            (`gliclass_keras.preprocessing.sequence_packing`; backbones with
            `supports_packing`, inference only): each token attends only to
            the tokens of its own segment.
        position_ids: int tensor `(batch, length)`, required with
            `segment_ids`: each segment's positions, counted from 0.
        output_rows: optional list of int tensors `(batch, rows_i)` of
            positions. The last hidden state is then the list of the last
            layer's outputs at those positions, `(batch, rows_i,
            hidden_dim)`; DeBERTa-v3, BERT and ModernBERT compute the last
            layer's output projection, norms and feed-forward at those
            positions alone (its attention still reads every token), which
            is most of that layer's cost. The other hidden states are whole.

    Example:
    ```python
    backbone = keras_hub.models.DebertaV3Backbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=64, bucket_size=16,
    )
    encoder = BackboneEncoder(backbone)
    hidden_states = encoder(
        np.ones((2, 8), "int32"), np.ones((2, 8), "int32")
    )
    len(hidden_states)  # 3
    ```
    """

    def __init__(self, backbone, **kwargs):
        _hidden_states_fn(backbone)  # validates the family
        super().__init__(backbone, **kwargs)

    @property
    def num_hidden_states(self):
        """`num_layers + 1`: the length of the returned list."""
        return self.backbone.num_layers + 1

    @property
    def supports_packing(self):
        """Whether `call` takes packed rows (`segment_ids`, `position_ids`): BERT backbones."""
        return _hidden_states_fn(self.backbone) in PACKING_FNS

    def call(
        self,
        token_ids,
        padding_mask,
        extra_embeddings=None,
        replace_embeddings=None,
        replace_mask=None,
        training=None,
        segment_ids=None,
        position_ids=None,
        output_rows=None,
    ):
        token_ids = ops.cast(token_ids, "int32")
        fn = _hidden_states_fn(self.backbone)
        if segment_ids is not None and output_rows is not None:
            raise ValueError("`output_rows` cannot be combined with packed rows (`segment_ids`).")
        if segment_ids is not None:
            # Packed rows (`gliclass_keras.preprocessing.sequence_packing`).
            if fn not in PACKING_FNS:
                raise ValueError(
                    f"{type(self.backbone).__name__} cannot encode packed rows; "
                    "only BERT backbones can."
                )
            return fn(
                self.backbone, token_ids, padding_mask, extra_embeddings, training,
                segment_ids=segment_ids, position_ids=position_ids,
            )
        inputs_embeds = None
        if replace_embeddings is not None:
            if replace_mask is None:
                raise ValueError("`replace_mask` is required with `replace_embeddings`.")
            x = self.backbone.token_embedding(token_ids)
            inputs_embeds = ops.where(
                ops.expand_dims(ops.cast(replace_mask, "bool"), -1),
                ops.cast(replace_embeddings, x.dtype),
                x,
            )
        kwargs = {"inputs_embeds": inputs_embeds}
        if output_rows is not None:
            output_rows = [ops.cast(rows, "int32") for rows in output_rows]
            if fn in ROWS_FNS:
                kwargs["output_rows"] = output_rows
        hidden_states = fn(self.backbone, token_ids, padding_mask, extra_embeddings, training, **kwargs)
        if output_rows is not None and fn not in ROWS_FNS:
            hidden_states[-1] = [take_rows(hidden_states[-1], rows) for rows in output_rows]
        return hidden_states

    def compute_output_spec(self, token_ids, *args, output_rows=None, **kwargs):
        specs = [self.hidden_state_spec(token_ids) for _ in range(self.num_hidden_states)]
        if output_rows is not None:
            specs[-1] = [self.hidden_state_spec(rows) for rows in output_rows]
        return specs
