"""Head layers of GLiClass: poolers, projectors, scorers and helpers."""

from gliclass_keras.layers.bi_encoder_projector import BiEncoderProjector
from gliclass_keras.layers.class_token_extractor import ClassTokenExtractor
from gliclass_keras.layers.class_token_injector import ClassTokenInjector
from gliclass_keras.layers.contrastive_label_loss import ContrastiveLabelLoss
from gliclass_keras.layers.cross_attention_scorer import CrossAttentionScorer
from gliclass_keras.layers.dot_scorer import DotScorer
from gliclass_keras.layers.features_projector import FeaturesProjector
from gliclass_keras.layers.head_rows import HeadRows
from gliclass_keras.layers.hopfield_scorer import HopfieldScorer
from gliclass_keras.layers.label_set_encoder import LabelSetEncoder
from gliclass_keras.layers.layerwise_attention import LayerwiseAttention
from gliclass_keras.layers.logit_scale import LogitScale
from gliclass_keras.layers.logit_scale import l2_normalize
from gliclass_keras.layers.mlp_scorer import MLPScorer
from gliclass_keras.layers.scorer_base import Scorer
from gliclass_keras.layers.scorers import SCORERS
from gliclass_keras.layers.scorers import get_scorer
from gliclass_keras.layers.segment_embedding import SegmentEmbedding
from gliclass_keras.layers.text_lstm import TextLSTM
from gliclass_keras.layers.token_pooler import POOLING_STRATEGIES
from gliclass_keras.layers.token_pooler import TokenPooler
from gliclass_keras.layers.two_layer_projector import TwoLayerProjector
from gliclass_keras.layers.weighted_dot_scorer import WeightedDotScorer
from gliclass_keras.utils.activations import get_hf_activation

__all__ = [
    "BiEncoderProjector",
    "ClassTokenExtractor",
    "ClassTokenInjector",
    "ContrastiveLabelLoss",
    "CrossAttentionScorer",
    "DotScorer",
    "FeaturesProjector",
    "HeadRows",
    "HopfieldScorer",
    "LabelSetEncoder",
    "LayerwiseAttention",
    "LogitScale",
    "MLPScorer",
    "POOLING_STRATEGIES",
    "SCORERS",
    "Scorer",
    "SegmentEmbedding",
    "TextLSTM",
    "TokenPooler",
    "TwoLayerProjector",
    "WeightedDotScorer",
    "get_hf_activation",
    "get_scorer",
    "l2_normalize",
]
