"""The GLiClass head, built the same way for every architecture.

Every GLiClass model ends in the same layers: a pooler for the text, a
`FeaturesProjector` for the text (then dropout) and one for the class
vectors, a scorer, and a learnable logit scale. Some architectures add a
text LSTM, a contrastive label loss, or a `BiEncoderProjector` that maps
label-encoder vectors to the text width. `build_head` creates them as
attributes of the model (the names are part of saved `.keras` files) with the
backbone's dtype policy, so a mixed-precision policy reaches the head too
(a quantized head's layers get theirs by path: see `head_dtype_policy`).
"""

import keras

from gliclass_keras.layers.bi_encoder_projector import BiEncoderProjector
from gliclass_keras.layers.class_token_extractor import ClassTokenExtractor
from gliclass_keras.layers.features_projector import FeaturesProjector
from gliclass_keras.layers.logit_scale import LogitScale
from gliclass_keras.layers.scorers import get_scorer
from gliclass_keras.layers.text_lstm import TextLSTM
from gliclass_keras.layers.token_pooler import TokenPooler
from gliclass_keras.layers.contrastive_label_loss import ContrastiveLabelLoss
from gliclass_keras.models.head_dtype_policy import head_dtype_policy


# Where `build_head`'s layers live in a reference checkpoint: (model
# attribute, state-dict key prefix). Layers a model does not have are skipped.
HEAD_CHECKPOINT_PREFIXES = (
    ("text_projector", "model.text_projector."),
    ("classes_projector", "model.classes_projector."),
    ("biencoder_projector", "model.biencoder_projector."),
    ("scorer", "model.scorer."),
    ("text_lstm", "model.lstm."),
    ("logit_scale", "model."),
)


def class_token_extractor(config, dtype):
    """The `ClassTokenExtractor` of a config's `<<LABEL>>` pooling options."""
    return ClassTokenExtractor(
        class_token_index=config.class_token_index,
        text_token_index=config.text_token_index,
        class_token_pooling=config.class_token_pooling,
        embed_class_token=config.embed_class_token,
        extract_text_features=config.extract_text_features,
        dtype=dtype,
        name="class_token_extractor",
    )


def head_sizes(backbone, config):
    """`(hidden, head_hidden)`: the backbone width and the head's (`config.hidden_size`)."""
    hidden = int(backbone.hidden_dim)
    return hidden, int(config.hidden_size or hidden)


def build_head(
    model,
    config,
    backbone,
    pooling_strategy=None,
    text_lstm=False,
    label_projector=False,
    contrastive_loss=False,
    always_scale=False,
    dtype=None,
):
    """Create the head layers as attributes of `model`.

    Args:
        model: the GLiClass model under construction.
        config: its `GLiClassConfig`.
        backbone: the (text) backbone: its width and dtype policy.
        pooling_strategy: the text pooler's strategy; defaults to
            `config.pooling_strategy`.
        text_lstm: add `model.text_lstm` when `config.use_lstm` is set.
        label_projector: add `model.biencoder_projector` (bi-encoders).
        contrastive_loss: add `model.contrastive_loss` when
            `config.contrastive_loss_coef > 0`.
        always_scale: a logit scale even without `normalize_features`
            (bi-encoders always apply it).
        dtype: the head's dtype policy (`head_dtype_policy`); defaults to
            the backbone's.
    """
    hidden, head_hidden = head_sizes(backbone, config)
    if dtype is None:
        dtype = head_dtype_policy(backbone)

    def projector(name):
        return FeaturesProjector(
            head_hidden,
            hidden,
            activation=config.projector_hidden_act,
            dropout=config.dropout,
            dtype=dtype,
            name=name,
        )

    if text_lstm:
        model.text_lstm = (
            TextLSTM(head_hidden, dtype=dtype, name="text_lstm") if config.use_lstm else None
        )
    model.pooler = TokenPooler(
        pooling_strategy or config.pooling_strategy, dtype=dtype, name="pooler"
    )
    model.text_projector = projector("text_projector")
    model.text_dropout = keras.layers.Dropout(config.dropout, dtype=dtype, name="text_dropout")
    if label_projector:
        model.biencoder_projector = BiEncoderProjector(
            head_hidden,
            hidden,
            activation=config.projector_hidden_act,
            dtype=dtype,
            name="biencoder_projector",
        )
    model.classes_projector = projector("classes_projector")
    model.scorer = get_scorer(
        config.scorer_type,
        head_hidden,
        num_heads=config.scorer_num_heads,
        mlp_hidden_dim=config.scorer_mlp_hidden_size,
        attn_dropout=config.scorer_attn_dropout,
        dtype=dtype,
        name="scorer",
    )
    if contrastive_loss:
        model.contrastive_loss = None
        if config.contrastive_loss_coef > 0:
            model.contrastive_loss = ContrastiveLabelLoss(
                config.contrastive_loss_coef, dtype=dtype, name="contrastive_loss"
            )
    model.logit_scale = None
    if always_scale or config.normalize_features:
        model.logit_scale = LogitScale(
            config.logit_scale_init_value, dtype=dtype, name="logit_scale"
        )
