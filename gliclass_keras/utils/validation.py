"""Argument checks shared by layers, backbones and models (one home, one wording)."""


def check_positive_int(name, value):
    """Raise a `ValueError` naming `name` unless `value` is an int >= 1 (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return value


def check_rate(name, value):
    """Raise a `ValueError` naming `name` unless `value` is a float in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")
    return value


def check_bool(name, value):
    """Raise a `ValueError` naming `name` unless `value` is a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    return value


def check_choice(name, value, choices):
    """Raise a `ValueError` naming `name` unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")
    return value


def check_int_at_least(name, value, minimum, reason=None):
    """Raise a `ValueError` naming `name` unless `value` is an int >= `minimum`.

    `reason` says why the bound exists (e.g. "the second layer has
    mlp_hidden_dim // 2 units"); a non-integer fails as in `check_positive_int`.
    """
    if minimum >= 1:
        check_positive_int(name, value)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"`{name}` must be an integer. Received: {name}={value!r}")
    if value < minimum:
        why = f" ({reason})" if reason else ""
        raise ValueError(f"`{name}` must be at least {minimum}{why}. Received: {name}={value!r}")
    return value
