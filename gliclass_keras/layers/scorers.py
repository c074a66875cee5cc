"""Scorer registry: `scorer_type` names of the reference config -> layers."""

from gliclass_keras.layers.cross_attention_scorer import CrossAttentionScorer
from gliclass_keras.layers.dot_scorer import DotScorer
from gliclass_keras.layers.hopfield_scorer import HopfieldScorer
from gliclass_keras.layers.mlp_scorer import MLPScorer
from gliclass_keras.layers.weighted_dot_scorer import WeightedDotScorer
from gliclass_keras.utils.validation import check_choice

SCORERS = {
    "simple": DotScorer,
    "weighted-dot": WeightedDotScorer,
    "mlp": MLPScorer,
    "hopfield": HopfieldScorer,
    "cross-attn": CrossAttentionScorer,
}


def get_scorer(
    scorer_type,
    hidden_dim,
    num_heads=16,
    mlp_hidden_dim=1024,
    attn_dropout=0.1,
    **kwargs,
):
    """Build the scorer for a reference `scorer_type`, as the reference does.

    Mirrors `SCORER2OBJECT[type](config.hidden_size, num_heads=...,
    scorer_mlp_hidden_size=..., attn_dropout=...)`: only `"cross-attn"` uses
    `num_heads`, `mlp_hidden_dim` and `attn_dropout`; `"mlp"` and `"hopfield"`
    keep their fixed 256/128 MLP (the reference's `scorer_mlp_hidden_size`
    never reaches them) and `"weighted-dot"` its fixed dropout of 0.1.

    Args:
        scorer_type: str. One of `"simple"`, `"weighted-dot"`, `"mlp"`,
            `"hopfield"`, `"cross-attn"`.
        hidden_dim: int. `config.hidden_size` of the reference.
        num_heads: int. `scorer_num_heads` (cross-attn only).
        mlp_hidden_dim: int. `scorer_mlp_hidden_size` (cross-attn only).
        attn_dropout: float. `scorer_attn_dropout` (cross-attn only).
        **kwargs: passed to the layer constructor (e.g. `name`, `dtype`).

    Returns:
        A scorer layer with the call signature
        `(text_embeddings, class_embeddings, text_mask=None, training=None)`.
    """
    check_choice("scorer_type", scorer_type, SCORERS)
    if scorer_type == "simple":
        return DotScorer(**kwargs)
    if scorer_type == "weighted-dot":
        return WeightedDotScorer(hidden_dim, **kwargs)
    if scorer_type == "mlp":
        return MLPScorer(**kwargs)
    if scorer_type == "hopfield":
        return HopfieldScorer(hidden_dim, **kwargs)
    return CrossAttentionScorer(
        hidden_dim,
        num_heads=num_heads,
        mlp_hidden_dim=mlp_hidden_dim,
        attn_dropout=attn_dropout,
        **kwargs,
    )
