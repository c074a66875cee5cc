"""BERT: keras-hub's `BertBackbone` with Hugging Face's feed-forward activation, and its hidden states."""

import keras_hub
from keras import ops

from gliclass_keras.api_export import register
from gliclass_keras.backbones import attention_products
from gliclass_keras.backbones import fused_projections
from gliclass_keras.backbones.hidden_states import input_embeddings
from gliclass_keras.backbones.hidden_states import at_rows
from gliclass_keras.backbones.hidden_states import take_rows
from gliclass_keras.backbones.hidden_states import transformer_hidden_states
from gliclass_keras.utils.activations import BACKBONE_ACTIVATIONS
from gliclass_keras.utils.dynamic_shapes import sequence_positions
from gliclass_keras.utils.validation import check_choice


@register
class ExactGeluBertBackbone(keras_hub.models.BertBackbone):
    """A `keras_hub.models.BertBackbone` with a configurable FFN activation.

    keras-hub's `BertBackbone` hard-codes the tanh approximation of GELU in
    every transformer layer, while Hugging Face BERT checkpoints
    (`hidden_act="gelu"`) use the exact erf GELU; the mismatch moves hidden
    states by about 1e-3. This subclass patches the activation of every
    feed-forward intermediate dense layer in `__init__`, so the choice is part
    of the config and survives `get_config()`/`from_config()` and `.keras`
    save/load. Inputs and outputs are those of `BertBackbone`.

    Args:
        vocabulary_size: int. The size of the token vocabulary.
        num_layers: int. The number of transformer layers.
        num_heads: int. The number of attention heads of each layer.
        hidden_dim: int. The hidden size of the transformer layers.
        intermediate_dim: int. The width of the feed-forward intermediate
            layer.
        dropout: float. Dropout probability. Defaults to `0.1`.
        max_sequence_length: int. The number of learned position embeddings.
            Defaults to `512`.
        num_segments: int. The number of segment (token type) ids.
            Defaults to `2`.
        hidden_activation: str. The Hugging Face `hidden_act` name of the
            feed-forward activation: `"gelu"` (exact erf GELU, the default),
            `"gelu_new"` or `"gelu_pytorch_tanh"` (tanh approximation, what
            plain `BertBackbone` uses) or `"relu"`.
        dtype: string or `keras.DTypePolicy`. The dtype policy of the layers.
        **kwargs: other `keras.Model` arguments (`name`, `trainable`).

    Example:
    ```python
    backbone = ExactGeluBertBackbone(
        vocabulary_size=100,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=64,
    )
    outputs = backbone(
        {
            "token_ids": np.ones((1, 8), "int32"),
            "segment_ids": np.zeros((1, 8), "int32"),
            "padding_mask": np.ones((1, 8), "int32"),
        }
    )
    outputs["sequence_output"].shape  # (1, 8, 32)
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        max_sequence_length=512,
        num_segments=2,
        hidden_activation="gelu",
        dtype=None,
        **kwargs,
    ):
        check_choice("hidden_activation", hidden_activation, BACKBONE_ACTIVATIONS)
        super().__init__(
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            dropout=dropout,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            dtype=dtype,
            **kwargs,
        )
        # The transformer layers were built by the functional construction
        # above; the activation is only read in `call`, so patching the built
        # dense layers changes every later forward pass.
        activation = BACKBONE_ACTIVATIONS[hidden_activation]
        for layer in self.transformer_layers:
            layer.activation = activation  # what `layer.get_config()` reports
            layer._feedforward_intermediate_dense.activation = activation

        # === Config ===
        self.hidden_activation = hidden_activation

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_activation": self.hidden_activation})
        return config


def bert_hidden_states(
    backbone,
    token_ids,
    padding_mask,
    extra_embeddings=None,
    training=None,
    inputs_embeds=None,
    segment_ids=None,
    position_ids=None,
    output_rows=None,
):
    """Hugging Face `BertModel`'s hidden states, `token_type_ids` all zero, from a `BertBackbone`.

    `[embeddings_output, layer_1, ..., layer_N]`, as
    `output_hidden_states=True` gives them. Arguments as in
    `gliclass_keras.backbones.hidden_states`: `extra_embeddings` is added
    before the position and segment embeddings; `output_rows` computes the
    last layer at those positions only (in inference; training takes them
    from the whole last layer).

    Packed rows (`gliclass_keras.preprocessing.sequence_packing`, inference
    only) also pass `segment_ids` `(batch, length)` (each token attends only
    to tokens of its own segment) and `position_ids` `(batch, length)` (each
    segment's positions counted from 0).
    """
    packed = segment_ids is not None
    if packed and (position_ids is None or training):
        raise ValueError("Packed rows need `position_ids` as well, and run in inference only.")
    if packed and any(layer.normalize_first for layer in backbone.transformer_layers):
        raise ValueError("Packed rows need post-norm transformer layers (BERT's).")
    x = input_embeddings(backbone, token_ids, inputs_embeds, extra_embeddings)
    if packed:
        table = backbone.position_embedding.position_embeddings
        positions = ops.cast(ops.take(table, ops.cast(position_ids, "int32"), axis=0), x.dtype)
    else:
        # Positions from the tokens' own axis, so the length can stay symbolic in export.
        positions = backbone.position_embedding(x, positions=sequence_positions(token_ids))
    segments = backbone.segment_embedding(ops.zeros_like(token_ids))
    x = backbone.embeddings_add((x, positions, segments))
    x = backbone.embeddings_layer_norm(x)
    x = backbone.embeddings_dropout(x, training=training)
    if training:
        return transformer_hidden_states(
            backbone.transformer_layers, x, padding_mask, training, output_rows=output_rows
        )
    if packed:
        # (B, 1, L, L): a token attends to its own segment (padding to padding).
        segment_ids = ops.cast(segment_ids, "int32")
        key_mask = ops.expand_dims(
            ops.equal(ops.expand_dims(segment_ids, 2), ops.expand_dims(segment_ids, 1)), 1
        )
    else:
        key_mask = ops.expand_dims(ops.expand_dims(ops.cast(padding_mask, "bool"), 1), 1)  # (B, 1, 1, L)
    hidden_states = [x]
    layers = backbone.transformer_layers
    for index, layer in enumerate(layers):
        rows = output_rows if index == len(layers) - 1 else None
        x = _inference_layer(layer, x, key_mask, rows=rows)
        hidden_states.append(x)
    return hidden_states


def _inference_layer(layer, x, key_mask, rows=None):
    """keras-hub's post-norm `TransformerEncoder` in inference, with fused attention.

    Keras' `MultiHeadAttention` computes attention step by step (scores,
    masked softmax, weighted sum) whenever the layer has attention dropout,
    even in inference, where the dropout does nothing; BERT checkpoints all
    have it. Here the layer's own sublayers run around
    `ops.dot_product_attention` (PyTorch's fused scaled-dot-product kernel on
    torch), which gives the same values. Training keeps keras-hub's path.
    With `rows` (a list of `(B, Q_i)` positions), the output projection,
    norms and feed-forward run at those positions only (`at_rows`).
    """
    if layer.normalize_first:
        x = layer(x, padding_mask=key_mask[:, 0, 0], training=False)
        return x if rows is None else [take_rows(x, r) for r in rows]
    attention = layer._self_attention_layer
    projections = (attention._query_dense, attention._key_dense, attention._value_dense)
    feedforward = (layer._feedforward_intermediate_dense, layer._feedforward_output_dense)
    # on torch: each projection one product with its bias fused
    fused = fused_projections.fusable(*projections, attention._output_dense, *feedforward)
    if fused:
        query, key, value = fused_projections.fused_projections(x, projections)
    else:
        query, key, value = (dense(x) for dense in projections)
    context = attention_products.masked_attention(
        query, key, value, key_mask, attention._inverse_sqrt_key_dim
    )

    def finish(context, x):
        if fused:
            output = fused_projections.merged_heads_projection(context, attention._output_dense)
        else:
            output = attention._output_dense(context)
        x = layer._self_attention_layer_norm(output + x)
        residual = x
        for dense in feedforward:
            x = fused_projections.dense_or_call(x, dense, fused)
        return layer._feedforward_layer_norm(x + residual)

    return at_rows(finish, context, x, rows)
