import os
import pathlib

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The command line keeps JAX's compiled programs under ~/.cache; tests that
# call it in-process must not write there (test_presets.py tests the cache
# in a subprocess with a directory of its own).
os.environ.setdefault("GLICLASS_KERAS_COMPILATION_CACHE", "0")
# XLA's cheap compile pipeline: the jax job compiles hundreds of small
# programs, and this cuts its time by a quarter (measured on test_training.py:
# 89 s -> 67 s). Results stay within float32 rounding of the optimizing
# pipeline, and every tolerance below holds under both; run the suite with
# XLA_FLAGS="" to test the pipeline users get by default.
os.environ.setdefault(
    "XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
)

import keras  # noqa: E402
import pytest  # noqa: E402

FIXTURES = pathlib.Path(__file__).parent / "fixtures"

# The notebooks run on torch only (see test_notebooks.py for why).
collect_ignore = [] if keras.backend.backend() == "torch" else ["test_notebooks.py"]
REFERENCE_MODELS = FIXTURES / "reference"


@pytest.fixture(autouse=True)
def _float32_policy():
    keras.config.set_dtype_policy("float32")
    yield


def pytest_report_header(config):
    return f"keras backend: {keras.backend.backend()}"
