"""`GLiClassDataset`: training records to batches for `fit`, `evaluate`, `predict`."""

import warnings

import keras
import numpy as np

from gliclass_keras.data import records as records_lib
from gliclass_keras.metrics import MAX_LABEL_IDS

from gliclass_keras.utils import shapes

IGNORE_INDEX = -100


class GLiClassDataset(keras.utils.PyDataset):
    """Batches of GLiClass training records for `fit`, `evaluate` and `predict`.

    Each record (`{"text", "all_labels", "true_labels"}` with optional
    `"prompt"` and `"examples"`, the reference's training format) becomes one
    input row built by the model's preprocessor (`GLiClassPreprocessor`, or
    the bi-encoder or bi-encoder-fused one), exactly as at inference. A batch
    is `(x, y)`: `x` holds the model's inputs (`token_ids`, `padding_mask`
    and `label_mask`, plus `label_token_ids` and `label_padding_mask` for
    bi-encoders); `y` holds `targets` (`(batch, label_slots)` float, one
    value per candidate label, `-100` in padded slots) and `label_ids` (the
    index of each slot's label name in `label_vocabulary`, `-1` in padding),
    which the F1 metrics use to count per label name.

    * Labels are shuffled afresh for every record in every epoch
      (`shuffle_labels`, as the reference's dataset does), and so are the
      records (`shuffle`); both are seeded, so a run can be repeated.
    * Few-shot `examples` of a record are sub-sampled per epoch when
      `shuffle_labels` is on (the reference's augmentation).
    * Label slots are padded per batch; on jax (and tensorflow with XLA)
      sequence length, label slots and batch size are padded to a few fixed
      sizes (`static_shapes`), so compiled train steps are reused. A batch
      whose padded shape no step has been compiled for yet is padded up to a
      larger shape that was, until that has wasted more than a compilation
      costs (`gliclass_keras.utils.shapes.CompiledShapes`): a short fit meets
      fewer compilations.
    * Text that does not fit `max_length` with its labels is cut (labels are
      kept); labels that do not fit give several rows (uni-encoder; the
      bi-encoder-fused preprocessor raises a `ValueError` instead, as all of
      a text's labels must share one sequence). Both are reported once with
      a warning and counted in `stats`.
    * Under `keras.distribution.DataParallel` or `ModelParallel`, batches
      are filled up to a multiple of the devices on the batch axis with
      masked rows (they change no loss, gradient or metric), so any
      `batch_size` works; a multiple of the device count wastes nothing.
    * Anything wrong in a record raises a `ValueError`/`TypeError` naming the
      record: a batch is never skipped.

    Data can be a `datasets.Dataset` (memory-mapped, random access), a list
    of dicts, a `.json`/`.jsonl` path (read with `datasets`, into
    `cache_dir`), or, with `streaming=True` or a `datasets.IterableDataset`,
    a stream that is read batch by batch and never held in memory; a stream
    has no length, so `fit` needs `steps_per_epoch`.

    Args:
        data: the records (see above).
        preprocessor: the model's preprocessor (`model.preprocessor`).
        batch_size: int, records per batch.
        problem_type: the config's `problem_type`; decides the targets
            (single-label records need exactly one true label).
        shuffle: bool, shuffle record order each epoch (map-style data).
        shuffle_labels: bool, shuffle each record's labels each epoch.
        seed: int.
        static_shapes: bool or None (auto: on for jax, and for tensorflow
            with XLA).
        compiled_shapes: a `gliclass_keras.utils.shapes.CompiledShapes`,
            the batch shapes the consuming step function was compiled for
            (`model.make_dataset` passes the model's), or None for one of
            the dataset's own. Used under `static_shapes` only.
        cache_dir: `datasets` cache directory for files.
        streaming: bool, stream a file instead of caching it.

    Example:

    ```python
    records = [
        {"text": "The match ended 2-2.", "all_labels": ["sport", "politics"],
         "true_labels": ["sport"]},
    ]
    data = gliclass_keras.GLiClassDataset(records, model.preprocessor, batch_size=8)
    model.fit(data, epochs=2)
    ```
    """

    def __init__(
        self,
        data,
        preprocessor,
        batch_size=8,
        problem_type="multi_label_classification",
        shuffle=True,
        shuffle_labels=True,
        seed=42,
        static_shapes=None,
        cache_dir=None,
        streaming=False,
        compiled_shapes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if preprocessor is None or getattr(preprocessor, "tokenizer", None) is None:
            raise ValueError("`preprocessor` must be a GLiClassPreprocessor with a tokenizer.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive int. Received: {batch_size!r}")
        if problem_type not in records_lib.PROBLEM_TYPES:
            raise ValueError(
                f"Unknown `problem_type` {problem_type!r}; expected one of {records_lib.PROBLEM_TYPES}."
            )
        self.records = records_lib.load_records(data, cache_dir=cache_dir, streaming=streaming)
        self.streaming = records_lib.is_hf_dataset(self.records, iterable_only=True)
        self.preprocessor = preprocessor
        self.batch_size = batch_size
        self.problem_type = problem_type
        self.shuffle = bool(shuffle) and not self.streaming
        self.shuffle_labels = bool(shuffle_labels)
        self.seed = int(seed)
        if static_shapes is None:
            static_shapes = shapes.uses_static_shapes()
        self.static_shapes = bool(static_shapes)
        if compiled_shapes is None:
            compiled_shapes = shapes.CompiledShapes()
        elif not isinstance(compiled_shapes, shapes.CompiledShapes):
            raise TypeError(
                "`compiled_shapes` must be a gliclass_keras.utils.shapes.CompiledShapes or "
                f"None. Received: {type(compiled_shapes).__name__}"
            )
        self.compiled_shapes = compiled_shapes
        self.label_vocabulary = {}
        self.stats = {"truncated_texts": 0, "chunked_records": 0}
        self.epoch = 0
        self.pending_error = None
        self._stream = None

    # ---------------------------------------------------------------- size
    def __len__(self):
        if self.streaming:
            raise TypeError("A streamed GLiClassDataset has no length.")
        return -(-len(self.records) // self.batch_size)

    @property
    def num_batches(self):
        if self.streaming:
            return None
        return len(self)

    def on_epoch_end(self):
        self.epoch += 1

    # ------------------------------------------------------------- records
    def _order(self):
        count = len(self.records)
        if not self.shuffle:
            return np.arange(count)
        return np.random.default_rng((self.seed, self.epoch)).permutation(count)

    def _batch_records(self, index):
        if self.streaming:
            return self._next_stream_batch()
        if index < 0 or index >= len(self):
            raise IndexError(f"Batch {index} out of range ({len(self)} batches).")
        positions = self._order()[index * self.batch_size : (index + 1) * self.batch_size]
        positions = [int(p) for p in positions]
        if isinstance(self.records, list):
            return positions, [self.records[p] for p in positions]
        columns = self.records[positions]
        return positions, [dict(zip(columns, values)) for values in zip(*columns.values())]

    def _next_stream_batch(self):
        batch, positions = [], []
        restarted = False
        while len(batch) < self.batch_size:
            if self._stream is None:
                self._stream = enumerate(iter(self.records))
            try:
                position, record = next(self._stream)
            except StopIteration:
                self._stream = None
                if batch:
                    break
                if restarted:
                    raise ValueError("The streamed training data is empty.")
                restarted = True
                self.epoch += 1
                continue
            batch.append(record)
            positions.append(position)
        return positions, batch

    def _label_id(self, label):
        label_id = self.label_vocabulary.get(label)
        if label_id is None:
            label_id = len(self.label_vocabulary)
            if label_id >= MAX_LABEL_IDS:
                raise ValueError(
                    f"The data has more than {MAX_LABEL_IDS} distinct labels; the F1 "
                    "metrics count at most that many (gliclass_keras.metrics.MAX_LABEL_IDS)."
                )
            self.label_vocabulary[label] = label_id
        return label_id

    # ------------------------------------------------------------- batches
    def encode_records(self, positions, batch, require_targets=True):
        """Rows (`EncodedInput`), targets and label ids for a list of records.

        A row's `text_index` is its record's place in `batch`. With
        `require_targets=False` records need no `true_labels` (prediction).
        """
        rows, targets, label_ids = [], [], []
        truncated = chunked = 0
        for index, (position, record) in enumerate(zip(positions, batch)):
            text, labels, values, prompt, examples = records_lib.check_record(
                record, position, self.problem_type, require_targets=require_targets
            )
            order = np.arange(len(labels))
            if self.shuffle_labels:
                rng = np.random.default_rng((self.seed, self.epoch, position))
                order = rng.permutation(len(labels))
                if len(examples) > 1:
                    count = int(rng.integers(1, len(examples) + 1))
                    picks = rng.choice(len(examples), size=count, replace=False)
                    examples = [examples[int(i)] for i in picks]
            labels = [labels[i] for i in order]
            values = [values[i] for i in order]
            encoded = self.preprocessor.encode_rows([text], [labels], [prompt], [examples], warn=False)
            if len(encoded) > 1:
                chunked += 1
            if any(row.truncated_characters for row in encoded):
                truncated += 1
            for row in encoded:
                row.text_index = index
                rows.append(row)
                targets.append([values[i] for i in row.label_indices])
                label_ids.append([self._label_id(labels[i]) for i in row.label_indices])
        self._report(truncated, chunked)
        return rows, targets, label_ids

    def _report(self, truncated, chunked):
        first_truncated = truncated and not self.stats["truncated_texts"]
        first_chunked = chunked and not self.stats["chunked_records"]
        self.stats["truncated_texts"] += truncated
        self.stats["chunked_records"] += chunked
        max_length = self.preprocessor.max_length
        if first_truncated:
            warnings.warn(
                f"Some training texts are longer than max_length={max_length} tokens with "
                "their labels; their ends are cut (every label is kept). The running count "
                "is in `GLiClassDataset.stats['truncated_texts']`.",
                stacklevel=3,
            )
        if first_chunked:
            warnings.warn(
                f"Some records' labels do not fit in max_length={max_length} tokens; each "
                "such record is split into rows with a share of its labels. The running "
                "count is in `GLiClassDataset.stats['chunked_records']`.",
                stacklevel=3,
            )

    def collate(self, rows, targets, label_ids):
        """Pad encoded rows and their targets into one `(x, y)` batch.

        Shapes follow the dataset's `static_shapes` policy (bucketed lengths
        and label slots, full batches; see `gliclass_keras.utils.shapes`).
        Under a `keras.distribution` (data or model parallel on JAX), the
        row count is also rounded up to a multiple of the devices on the
        batch axis, so every batch splits evenly over them.
        """
        num_labels = self.preprocessor.label_slots(rows, static_shapes=self.static_shapes)
        x = self.preprocessor.collate(rows, num_labels=num_labels, static_shapes=self.static_shapes)
        batch_rows = shapes.padded_batch_rows(len(rows), self.batch_size, self.static_shapes)
        y_targets = np.full((batch_rows, num_labels), IGNORE_INDEX, dtype="float32")
        y_ids = np.full((batch_rows, num_labels), -1, dtype="int32")
        for r, (row_targets, row_ids) in enumerate(zip(targets, label_ids)):
            y_targets[r, : len(row_targets)] = row_targets
            y_ids[r, : len(row_ids)] = row_ids
        extra = batch_rows - len(rows)
        if extra:
            # Filler rows repeat the first row with every label slot masked:
            # they add nothing to losses or metrics.
            for key in x:
                if key != "label_mask":
                    x[key] = shapes.fill_with_first_row(x[key], batch_rows)
            x["label_mask"] = np.concatenate(
                [x["label_mask"], np.zeros((extra, num_labels), dtype="int32")]
            )
        y = {"targets": y_targets, "label_ids": y_ids}
        if self.static_shapes:
            x, y = self._pad_to_compiled_shape(x, y)
        return x, y

    def _pad_to_compiled_shape(self, x, y):
        """`(x, y)` padded up to the shape `compiled_shapes` picks (masked padding)."""
        shape = self.compiled_shapes.choose({name: array.shape for name, array in x.items()})
        pad_id = self.preprocessor.pad_token_id
        token_pads = {
            "token_ids": pad_id,
            "class_token_ids": pad_id,
            "label_token_ids": getattr(self.preprocessor, "label_pad_token_id", pad_id),
        }
        x = shapes.pad_arrays_to(x, shape, token_pads)
        slots = {name: (len(array), x["label_mask"].shape[1]) for name, array in y.items()}
        y = shapes.pad_arrays_to(y, slots, {"targets": IGNORE_INDEX, "label_ids": -1})
        return x, y

    def __getitem__(self, index):
        positions, batch = self._batch_records(index)
        return self.collate(*self.encode_records(positions, batch))

    # ------------------------------------------------------------ backends
    def as_tf_dataset(self):
        """A `tf.data.Dataset` of the batches with unknown (None) length dims.

        Keras infers a `PyDataset`'s tensor shapes on tensorflow from its first
        batches, which breaks when later batches have other lengths or label
        counts; `GLiClassClassifier.fit` uses this instead on tensorflow.
        """
        import tensorflow as tf

        def batches():
            if self.streaming:
                while True:
                    yield self[0]
            else:
                for index in range(len(self)):
                    yield self[index]
                self.on_epoch_end()

        def generate():
            # tf.data turns a Python exception into an InvalidArgumentError;
            # keep the original so `fit` can raise it as it was.
            try:
                yield from batches()
            except Exception as error:
                self.pending_error = error
                raise

        ranks = self.preprocessor.input_ranks
        signature = (
            {key: tf.TensorSpec((None,) * rank, tf.int32) for key, rank in ranks.items()},
            {
                "targets": tf.TensorSpec((None, None), tf.float32),
                "label_ids": tf.TensorSpec((None, None), tf.int32),
            },
        )
        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        if not self.streaming:
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(self)))
        # No `prefetch`: Keras makes the next epoch's iterator as an epoch
        # ends, a prefetching one starts this generator at once, and deleting
        # it while the generator runs stalled the end of about every second
        # `fit` call by 8 s (2 CPU cores). A batch's tokenization is cheap
        # next to its step.
        return dataset
