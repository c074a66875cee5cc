"""GLiClass zero-shot text classification for Keras 3 (torch, JAX, TensorFlow).

```python
import gliclass_keras

model = gliclass_keras.GLiClassClassifier.from_pretrained("path/to/checkpoint")
model.classify(["Our team won the match."], ["sport", "travel", "science"])
```
"""

from gliclass_keras import losses
from gliclass_keras import metrics
from gliclass_keras import optimizers
from gliclass_keras.config import GLiClassConfig
from gliclass_keras.data.gliclass_dataset import GLiClassDataset
from gliclass_keras.models.gliclass_bi_encoder import GLiClassBiEncoderClassifier
from gliclass_keras.models.gliclass_bi_encoder_fused import GLiClassBiEncoderFusedClassifier
from gliclass_keras.models.gliclass_classifier import GLiClassClassifier
from gliclass_keras.models.gliclass_uni_encoder import GLiClassUniEncoderClassifier
from gliclass_keras.models.label_embeddings import LabelEmbeddings
from gliclass_keras.preprocessing.bi_encoder_fused_preprocessor import (
    GLiClassBiEncoderFusedPreprocessor,
)
from gliclass_keras.models.gliclass_encoder_decoder import GLiClassEncoderDecoderClassifier
from gliclass_keras.preprocessing.bi_encoder_preprocessor import GLiClassBiEncoderPreprocessor
from gliclass_keras.preprocessing.encoder_decoder_preprocessor import (
    GLiClassEncoderDecoderPreprocessor,
)
from gliclass_keras.preprocessing.uni_encoder_preprocessor import GLiClassPreprocessor
from gliclass_keras.preprocessing.tokenizer import GLiClassTokenizer
from gliclass_keras.training_config import TrainingConfig
from gliclass_keras.rl import rewards
from gliclass_keras.rl.rl_config import RLConfig
from gliclass_keras.rl.rl_trainer import RLTrainer

__version__ = "0.1.0"

__all__ = [
    "GLiClassConfig",
    "GLiClassClassifier",
    "GLiClassUniEncoderClassifier",
    "GLiClassBiEncoderClassifier",
    "GLiClassBiEncoderPreprocessor",
    "GLiClassBiEncoderFusedClassifier",
    "GLiClassBiEncoderFusedPreprocessor",
    "GLiClassEncoderDecoderClassifier",
    "GLiClassEncoderDecoderPreprocessor",
    "GLiClassPreprocessor",
    "GLiClassDataset",
    "GLiClassTokenizer",
    "LabelEmbeddings",
    "TrainingConfig",
    "RLConfig",
    "RLTrainer",
    "rewards",
    "losses",
    "metrics",
    "optimizers",
]
