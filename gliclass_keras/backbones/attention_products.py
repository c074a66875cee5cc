"""Attention's two products with the heads axis first, for the backbones' own attention code.

Used by the BERT, DeBERTa-v3 and ModernBERT paths (`backbones/bert.py`,
`backbones/deberta_v3.py`, `backbones/modernbert/`).

Keras' projections give queries, keys and values as `(batch, length, heads,
head_dim)`. Written as one einsum (`"bqhd,bkhd->bhqk"`), the scores leave
the heads axis in the middle of both operands; XLA on CPU then runs the
batched product over a strided layout, about three times slower than the
same product on `(batch, heads, length, head_dim)` operands: for a MiniLM
layer reading 256 tokens x 8 texts, the whole attention took 40 ms as
einsums and 14 ms with the heads moved first (JAX, 2 CPU cores; 9 ms and
6 ms on TensorFlow). Here the heads axis is moved first explicitly, and
the products are plain batched `matmul`s. The values are the einsums' up
to float rounding, on every backend and in exported graphs.

`masked_attention` is the whole inference attention of a BERT layer: on
torch `ops.dot_product_attention` (PyTorch's fused scaled-dot-product
kernel), elsewhere the two products around a masked softmax, which on JAX
and TensorFlow is faster than their `dot_product_attention` (on JAX with the
softmax normalised after the second product, `softmax_context`). On JAX on a
CPU, long sequences are attended a few texts at a time
(`cpu_attention_chunk`): XLA materialises the `(texts, heads, length,
length)` scores, and past about 256 tokens a batch's scores no longer stay
in the cache; a uni-encoder reading 100 labels (8 x 288 tokens) spent 0.45 s
per MiniLM forward pass instead of 0.26 s at 256 tokens.

Example:

```python
import numpy as np
from gliclass_keras.backbones import attention_products

query = np.random.rand(2, 5, 4, 8).astype("float32")  # (batch, length, heads, head_dim)
scores = attention_products.attention_scores(query, query)  # (2, 4, 5, 5)
context = attention_products.attention_context(scores, query)  # (2, 5, 4, 8)
```
"""

import keras
from keras import ops


def heads_first(x):
    """`(batch, length, heads, head_dim)` -> `(batch, heads, length, head_dim)`."""
    return ops.transpose(x, (0, 2, 1, 3))


def attention_scores(query, key):
    """`einsum("bqhd,bkhd->bhqk", query, key)`: `(batch, heads, queries, keys)`."""
    return ops.matmul(heads_first(query), ops.transpose(key, (0, 2, 3, 1)))


def attention_context(probs, value):
    """`einsum("bhqk,bkhd->bqhd", probs, value)`: `(batch, queries, heads, head_dim)`."""
    return heads_first(ops.matmul(probs, heads_first(value)))


def softmax_context(scores, value, key_mask):
    """`attention_context(softmax(masked scores), value)`, normalised after the product.

    The softmax's division is applied to the `(queries, head_dim)` context
    rather than to the `(queries, keys)` weights, and masked keys get
    `-1e9` added rather than selected: the same values up to float rounding
    (4e-7 here), and on JAX on a CPU 2-3x faster than the softmax followed
    by the product (a MiniLM layer's attention at 8 x 256 tokens: 27 ms ->
    9 ms; 8 x 96: 3.7 ms -> 1.9 ms). TensorFlow ran both alike and torch the
    plain form faster, so only JAX inference uses this.

    Args:
        scores: `(batch, heads, queries, keys)` scaled scores.
        value: `(batch, keys, heads, head_dim)`.
        key_mask: bool, broadcastable to `scores`, True where a key may be attended.

    Returns:
        `(batch, queries, heads, head_dim)`, in `value`'s dtype.
    """
    scores = ops.cast(scores, "float32") + ops.where(key_mask, 0.0, -1e9)
    weights = ops.exp(scores - ops.max(scores, axis=-1, keepdims=True))
    context = ops.matmul(ops.cast(weights, value.dtype), heads_first(value))
    total = ops.cast(ops.sum(weights, axis=-1, keepdims=True), context.dtype)
    return heads_first(context / total)


def position_scores(tokens, table):
    """Scores of each token against each row of a projected position table, per head.

    Args:
        tokens: `(batch, length, heads, head_dim)` queries or keys.
        table: `(blocks, rows, heads, head_dim)` projected table rows.

    Returns:
        `(batch, heads, length * blocks * rows)`: for each head, the token
        axis outermost, then the block, then the row (DeBERTa's
        content-to-position and position-to-content scores, flattened for
        one gather).
    """
    shape = ops.shape(table)
    # (heads, head_dim, blocks * rows)
    table = ops.transpose(ops.reshape(table, (-1, shape[2], shape[3])), (1, 2, 0))
    scores = ops.matmul(heads_first(tokens), ops.expand_dims(table, 0))  # (B, H, L, blocks * rows)
    batch, heads = ops.shape(scores)[0], ops.shape(scores)[1]
    return ops.reshape(scores, (batch, heads, -1))


def masked_attention(query, key, value, key_mask, scale):
    """Softmax attention over unmasked keys, in inference: `(batch, queries, heads, head_dim)`.

    Args:
        query, key, value: `(batch, length, heads, head_dim)`.
        key_mask: bool `(batch, 1, 1, keys)`, True where a key may be attended.
        scale: float, the scores' factor (`1 / sqrt(head_dim)`).
    """
    backend = keras.config.backend()
    if backend == "torch":
        return ops.dot_product_attention(query, key, value, mask=key_mask, scale=scale)
    if backend == "jax":
        chunk = cpu_attention_chunk(query.shape[0], query.shape[1], query.shape[2])
        if chunk is not None:
            return _chunked(_masked_attention, chunk, query, key, value, key_mask, scale)
    return _masked_attention(query, key, value, key_mask, scale)


def _masked_attention(query, key, value, key_mask, scale):
    scores = attention_scores(query, key) * ops.cast(scale, query.dtype)
    return softmax_attention(scores, value, key_mask)


def softmax_attention(scores, value, key_mask, dropout=None, training=False):
    """`attention_context(softmax(masked scores), value)`, the weights optionally dropped out.

    The softmax runs in float32, as keras-hub's attention does (its Softmax
    layer is float32): masked keys at -1e9 stay finite under any dtype
    policy. JAX inference takes `softmax_context` (normalised after the
    product, and without dropout, which inference does not apply).

    Args:
        scores: `(batch, heads, queries, keys)` scaled scores.
        value: `(batch, keys, heads, head_dim)`.
        key_mask: bool, broadcastable to `scores`, True where a key may be attended.
        dropout: optional dropout layer for the attention weights.
        training: bool, passed to `dropout`.
    """
    if not training and keras.config.backend() == "jax":
        return softmax_context(scores, value, key_mask)
    scores = ops.where(key_mask, ops.cast(scores, "float32"), -1e9)
    probs = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
    if dropout is not None:
        probs = dropout(probs, training=training)
    return attention_context(probs, value)


# Scores of at most this many bytes per chunk of texts (JAX on CPU). Measured
# with 12 heads, 8-16 texts: 256 tokens ran fastest 2 texts at a time, 320-512
# tokens 1-2 at a time, 128 tokens and fewer whole.
CPU_SCORES_BUDGET = 8 * 2**20


def cpu_attention_chunk(batch, length, heads):
    """Texts per chunk for JAX attention on a CPU, or None to attend the batch at once.

    None unless JAX computes on a CPU, the batch and length are Python ints
    (exports trace symbolic ones), no `keras.distribution` is set (the batch
    may be sharded), and the batch's float32 scores exceed
    `CPU_SCORES_BUDGET`. Otherwise the largest divisor of `batch` whose
    scores fit the budget (at least 1).
    """
    if not all(isinstance(n, int) for n in (batch, length, heads)):
        return None
    per_text = heads * length * length * 4
    if batch * per_text <= CPU_SCORES_BUDGET:
        return None
    import jax

    if jax.default_backend() != "cpu" or keras.distribution.distribution() is not None:
        return None
    fitting = max(1, CPU_SCORES_BUDGET // per_text)
    return max(d for d in range(1, min(batch, fitting) + 1) if batch % d == 0)


def _chunked(attend, chunk, query, key, value, key_mask, scale):
    """`attend` over `chunk` texts at a time (`jax.lax.map`, one compiled body)."""
    import jax

    batch = query.shape[0]

    def split(x):
        x = ops.broadcast_to(x, (batch,) + tuple(x.shape[1:]))
        return ops.reshape(x, (batch // chunk, chunk) + tuple(x.shape[1:]))

    out = jax.lax.map(
        lambda xs: attend(*xs, scale), tuple(split(x) for x in (query, key, value, key_mask))
    )
    return ops.reshape(out, (batch,) + tuple(out.shape[2:]))
