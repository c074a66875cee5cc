"""Run a keras-hub backbone layer by layer and return every hidden state."""

import keras
import keras_hub
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.backbones.modernbert import ModernBertBackbone
from gliclass_keras.backbones.modernbert import modernbert_hidden_states
from gliclass_keras.backbones.t5 import T5EncoderBackbone
from gliclass_keras.backbones.t5 import t5_encoder_hidden_states


def _token_embeddings(backbone, token_ids, inputs_embeds, extra_embeddings):
    """HF `inputs_embeds` (or `word_embeddings(token_ids)`) plus `extra_embeddings`."""
    x = backbone.token_embedding(token_ids) if inputs_embeds is None else inputs_embeds
    if extra_embeddings is not None:
        x = x + ops.cast(extra_embeddings, x.dtype)
    return x


def _bert_hidden_states(
    backbone, token_ids, padding_mask, extra_embeddings, training, inputs_embeds=None
):
    """`BertBackbone`: HF `BertModel` with `token_type_ids` all zero."""
    x = _token_embeddings(backbone, token_ids, inputs_embeds, extra_embeddings)
    positions = backbone.position_embedding(x)
    segments = backbone.segment_embedding(ops.zeros_like(token_ids))
    x = backbone.embeddings_add((x, positions, segments))
    x = backbone.embeddings_layer_norm(x)
    x = backbone.embeddings_dropout(x, training=training)
    hidden_states = [x]
    for layer in backbone.transformer_layers:
        x = layer(x, padding_mask=padding_mask, training=training)
        hidden_states.append(x)
    return hidden_states


def _take_relative(scores, positions):
    """`scores[..., i, positions[i, j]]`: (B, H, L, 2S) -> (B, H, L, L)."""
    shape = ops.shape(scores)
    index = ops.broadcast_to(positions, (shape[0], shape[1], shape[2], shape[2]))
    if keras.config.backend() == "tensorflow":
        # As keras-hub: take_along_axis has a dynamic-shape bug on tensorflow.
        import tensorflow as tf

        return tf.gather(scores, indices=index, batch_dims=3)
    return ops.take_along_axis(scores, index, axis=3)


def _deberta_v3_layer(layer, x, pos_key, pos_query, rel_pos, key_mask, training):
    """One `DisentangledAttentionEncoder`, from the layer's own sublayers.

    The same computation as keras-hub's layer, except that the relative
    position table is projected once per batch (`pos_key`, `pos_query`:
    `(2 * bucket_size, heads, head_dim)`) instead of once per text: keras-hub
    repeats the table along the batch and projects every copy, which costs
    more than the tokens' own projections for short texts.
    """
    attention = layer._self_attention_layer
    span = attention.bucket_size
    query = attention._query_dense(x)  # (B, L, H, d)
    key = attention._key_dense(x)
    value = attention._value_dense(x)
    scores = ops.einsum("bjhd,bihd->bhij", key, query)
    c2p = ops.einsum("rhd,bihd->bhir", pos_key, query)
    scores = scores + _take_relative(c2p, ops.clip(rel_pos + span, 0, 2 * span - 1))
    p2c = ops.einsum("rhd,bjhd->bhjr", pos_query, key)
    p2c = _take_relative(p2c, ops.clip(-rel_pos + span, 0, 2 * span - 1))
    scores = (scores + ops.transpose(p2c, (0, 1, 3, 2))) * attention.scale_factor
    scores = ops.where(key_mask, scores, ops.cast(-1e9, scores.dtype))
    probs = attention._attn_dropout_layer(ops.softmax(scores, axis=-1), training=training)
    context = ops.einsum("bhij,bjhd->bihd", probs, value)
    context = ops.reshape(context, (ops.shape(x)[0], ops.shape(x)[1], attention.hidden_dim))
    x = layer._self_attention_layer_norm(
        layer._self_attention_dropout(attention._output_dense(context), training=training) + x
    )
    residual = x
    x = layer._feedforward_output_dense(layer._feedforward_intermediate_dense(x))
    x = layer._feedforward_dropout(x, training=training)
    return layer._feedforward_layer_norm(x + residual)


def _deberta_v3_hidden_states(
    backbone, token_ids, padding_mask, extra_embeddings, training, inputs_embeds=None
):
    """`DebertaV3Backbone`: HF `DebertaV2Model` (v3 layout)."""
    x = _token_embeddings(backbone, token_ids, inputs_embeds, extra_embeddings)
    x = backbone.embeddings_layer_norm(x)
    x = backbone.embeddings_dropout(x, training=training)
    relative = backbone.relative_embeddings
    # (1, 2 * bucket_size, hidden): one copy of the table for the whole batch.
    table = relative.layer_norm(ops.convert_to_tensor(relative.rel_embeddings)[None])
    key_mask = ops.cast(padding_mask, "bool")[:, None, None, :]
    # Bucketed relative positions (1, 1, L, L), the same for every layer.
    first_attention = backbone.transformer_layers[0]._self_attention_layer
    rel_pos = first_attention._get_rel_pos(ops.shape(token_ids)[1])
    hidden_states = [x]
    for layer in backbone.transformer_layers:
        attention = layer._self_attention_layer
        table_l = attention._position_dropout_layer(table, training=training)
        x = _deberta_v3_layer(
            layer,
            x,
            attention._key_dense(table_l)[0],
            attention._query_dense(table_l)[0],
            rel_pos,
            key_mask,
            training,
        )
        hidden_states.append(x)
    return hidden_states


# Backbone family -> `fn(backbone, token_ids, padding_mask, extra_embeddings,
# training, inputs_embeds=None)` returning `[embeddings_output, layer_1, ...,
# layer_N]`. `inputs_embeds` (`(batch, length, hidden_dim)`, optional) stands
# in for the word embeddings of `token_ids`, as Hugging Face's argument of that
# name; `extra_embeddings` is added to whichever is used. Add an entry here to
# support another family; subclasses match their base class.
HIDDEN_STATES_FNS = {
    keras_hub.models.DebertaV3Backbone: _deberta_v3_hidden_states,
    keras_hub.models.BertBackbone: _bert_hidden_states,
    ModernBertBackbone: modernbert_hidden_states,
    T5EncoderBackbone: t5_encoder_hidden_states,
    # The encoder half (the encoder-decoder GLiClass runs the decoder with
    # `gliclass_keras.backbones.t5.T5Decoder`).
    keras_hub.models.T5Backbone: t5_encoder_hidden_states,
}


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
class BackboneEncoder(keras.layers.Layer):
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
        kwargs.setdefault("dtype", backbone.dtype_policy)
        super().__init__(**kwargs)
        self.backbone = backbone

    @property
    def num_hidden_states(self):
        """`num_layers + 1`: the length of the returned list."""
        return self.backbone.num_layers + 1

    def build(
        self,
        token_ids_shape,
        padding_mask_shape=None,
        extra_embeddings_shape=None,
        replace_embeddings_shape=None,
        replace_mask_shape=None,
    ):
        # The backbone is a functional model, built at construction.
        self.built = True

    def call(
        self,
        token_ids,
        padding_mask,
        extra_embeddings=None,
        replace_embeddings=None,
        replace_mask=None,
        training=None,
    ):
        token_ids = ops.cast(token_ids, "int32")
        fn = _hidden_states_fn(self.backbone)
        if replace_embeddings is None:
            return fn(
                self.backbone, token_ids, padding_mask, extra_embeddings, training
            )
        if replace_mask is None:
            raise ValueError("`replace_mask` is required with `replace_embeddings`.")
        x = self.backbone.token_embedding(token_ids)
        x = ops.where(
            ops.expand_dims(ops.cast(replace_mask, "bool"), -1),
            ops.cast(replace_embeddings, x.dtype),
            x,
        )
        return fn(
            self.backbone,
            token_ids,
            padding_mask,
            extra_embeddings,
            training,
            inputs_embeds=x,
        )

    def compute_output_spec(
        self,
        token_ids,
        padding_mask,
        extra_embeddings=None,
        replace_embeddings=None,
        replace_mask=None,
        training=None,
    ):
        shape = tuple(token_ids.shape[:2]) + (self.backbone.hidden_dim,)
        dtype = self.backbone.compute_dtype
        return [
            keras.KerasTensor(shape, dtype=dtype)
            for _ in range(self.num_hidden_states)
        ]

    def get_config(self):
        config = super().get_config()
        config.update(
            {"backbone": keras.saving.serialize_keras_object(self.backbone)}
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["backbone"], dict):
            config["backbone"] = keras.saving.deserialize_keras_object(
                config["backbone"]
            )
        return cls(**config)
