"""Handing freed heap memory back to the operating system after loading weights."""

import ctypes
import sys


def release_freed_memory():
    """Return the C heap's free pages to the OS (glibc's `malloc_trim`); no-op elsewhere.

    Converting a checkpoint makes transient numpy copies of every weight; once
    they are freed, glibc keeps their pages in its heap, so the process's
    resident memory stays ~180 MB higher (DeBERTa-v3-small-sized model) than
    what it uses. Called after loading a checkpoint.

    Example:

    ```python
    release_freed_memory()  # True on Linux with glibc
    ```
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False
