"""Training data: records in the reference's format, batched for Keras."""

from gliclass_keras.data.gliclass_dataset import GLiClassDataset
from gliclass_keras.data.records import load_records

__all__ = ["GLiClassDataset", "load_records"]
