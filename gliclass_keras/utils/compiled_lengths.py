"""Reuse a compiled sequence length rather than compile a new one, while that is cheaper.

Under a static-shape policy (JAX; TensorFlow with XLA) a model's predict
function is compiled once per input shape, and batches are padded to
bucketed lengths (`gliclass_keras.utils.shapes`). A first pass over a corpus
meets each bucket once: on the `default` preset (MiniLM, tweets, batch 32),
five or six compilations of the text tower cost more than all the batches
they served. `CompiledLengths` decides, for a batch padded to a bucket the
function has not run yet, whether to pad it further to a longer bucket it
has run (at most twice as long), or to compile its own. It is the
ski-rental rule: pad while the time lost to padding for that bucket, summed
over its batches, stays below the time one compilation costs; then compile.
The total is never more than twice what knowing the future would have
cost, and a long job ends up compiling its buckets as before.

Both times are measured: a shape's first call includes compiling it, its
later calls do not. Padding more changes no value: padded positions are
masked out of attention and pooling, so scores move by float rounding only
(about 1e-7).

Example:

```python
lengths = CompiledLengths()
lengths.record(("sig",), 96, 1.2)  # first call at 96 tokens: compiled + ran
lengths.record(("sig",), 96, 0.1)  # a later call
lengths.choose(("sig",), 48)  # 96: padding wastes 0.05 s, compiling costs 1.1 s
```
"""

# Inputs that carry the sequence axis (axis 1) and may be padded further.
SEQUENCE_INPUTS = ("token_ids", "padding_mask")
# Inputs the sequence length does not change, allowed alongside them.
OTHER_INPUTS = ("label_mask",)
# Never pad a batch to more than this many times its own bucket.
MAX_STRETCH = 2


class CompiledLengths:
    """The sequence lengths a model's compiled predict function has run, and what they cost.

    Kept per model (`for_model`). Shapes are told apart by a `signature`
    (every input's shape, the sequence axis left out) and a length.
    """

    def __init__(self):
        self._calls = {}  # (signature, length) -> [first call s, fastest later call s or None]
        self._waste = {}  # (signature, length) -> seconds lost padding its batches further

    def choose(self, signature, length):
        """The length to pad a batch of bucketed `length` to: its own, or a longer compiled one."""
        if (signature, length) in self._calls:
            return length
        longer = [
            known for (sig, known) in self._calls
            if sig == signature and length < known <= MAX_STRETCH * length
        ]
        if not longer:
            return length
        target = min(longer)
        first, fastest = self._calls[(signature, target)]
        # A call of `target` (its first one, with compiling, until a later one is seen).
        step = fastest if fastest is not None else first
        spent = self._waste.get((signature, length), 0.0) + step * (1.0 - length / target)
        if spent >= self._compile_seconds():
            return length
        self._waste[(signature, length)] = spent
        return target

    def record(self, signature, length, seconds):
        """Note that a call at `length` took `seconds`."""
        calls = self._calls.get((signature, length))
        if calls is None:
            self._calls[(signature, length)] = [seconds, None]
        elif calls[1] is None or seconds < calls[1]:
            calls[1] = seconds

    def _compile_seconds(self):
        """What compiling one more shape costs: a first call minus a later one (the largest seen)."""
        measured = [first - fastest for first, fastest in self._calls.values() if fastest is not None]
        if measured:
            return max(0.0, max(measured))
        return max(first for first, _ in self._calls.values())

    @staticmethod
    def for_model(model):
        """The model's own `CompiledLengths` (made on first use)."""
        lengths = model.__dict__.get("_gliclass_compiled_lengths")
        if lengths is None:
            lengths = CompiledLengths()
            # Plain attribute: Keras' tracking of layer attributes is not wanted here.
            object.__setattr__(model, "_gliclass_compiled_lengths", lengths)
        return lengths


def signature(arrays):
    """Every input's shape with the sequence axis left out, or None if `arrays` cannot be padded further."""
    keys = set(arrays)
    if not set(SEQUENCE_INPUTS) <= keys or not keys <= set(SEQUENCE_INPUTS + OTHER_INPUTS):
        return None
    return tuple(
        (key, tuple(arrays[key].shape[:1]) + tuple(arrays[key].shape[2:]) if key in SEQUENCE_INPUTS
         else tuple(arrays[key].shape))
        for key in sorted(keys)
    )


def pad_sequences(arrays, length):
    """`arrays` with the sequence inputs padded (masked) to `length` positions."""
    import numpy as np

    current = arrays["token_ids"].shape[1]
    if length == current:
        return arrays
    mask = arrays["padding_mask"]
    padded_ids = arrays["token_ids"][mask == 0]
    pad_id = int(padded_ids[0]) if padded_ids.size else 0  # the batch's own pad id
    out = dict(arrays)
    extra = length - current
    out["token_ids"] = np.pad(arrays["token_ids"], ((0, 0), (0, extra)), constant_values=pad_id)
    out["padding_mask"] = np.pad(mask, ((0, 0), (0, extra)), constant_values=0)
    return out
