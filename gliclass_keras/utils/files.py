"""Reading checkpoint files so that a broken one names itself.

A truncated `model.safetensors` makes `safetensors` raise `SafetensorError:
Error while deserializing header: incomplete metadata, file not fully
covered`, with no path; a cut `config.json` gives a bare `JSONDecodeError`.
`read_file` runs the reader and turns any such failure into a
`CorruptFileError` that says which file, what it should be, and what is
wrong with it.
"""

import json
import os


def load_json(path):
    """The JSON value in the file at `path`."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class CorruptFileError(ValueError):
    """A checkpoint file exists but cannot be read (truncated, corrupt, not what it should be)."""


def read_file(path, reader, what):
    """`reader(path)`, or a `CorruptFileError` naming `path` when the file is unreadable.

    Args:
        path: the file.
        reader: `fn(path) -> value`.
        what: what the file should be, e.g. `"safetensors weights"`.
    """
    path = os.fspath(path)
    try:
        return reader(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as error:  # the readers' own error types vary (safetensors, json, tokenizers)
        size = os.path.getsize(path) if os.path.isfile(path) else None
        detail = str(error).strip().splitlines()[0] if str(error).strip() else "no details"
        raise CorruptFileError(
            f"Cannot read {path!r} ({size} bytes) as {what}: {type(error).__name__}: {detail}. "
            "The file is truncated or corrupt (an interrupted download or copy?); "
            "replace it with a complete copy."
        ) from error
