"""Short errors: jsonargparse's and instantiation errors cut to the one line that matters.

A command-line error prints at most three lines on stderr: what is wrong (naming the option,
key or file), the nearest valid choice where one exists, and where to read more. Set
``FAIRLIT_DEBUG=1`` for the full traceback.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re

__all__ = ["ConfigurationError", "one_line", "root_cause", "root_message"]


class ConfigurationError(ValueError):
    """A configuration that could not be turned into objects; the message is one line."""


def root_message(error: BaseException) -> str:
    r"""The first line of the innermost exception in ``error``'s chain (its root cause).

    jsonargparse and LightningCLI wrap an error raised in a class's ``__init__`` (a missing
    file, an invalid size) in their own, with a dump of the whole namespace; the root cause's
    own message is the one that names the problem.

    Example:
        >>> try:
        ...     try:
        ...         raise FileNotFoundError("data.csv: no such file")
        ...     except OSError as inner:
        ...         raise ValueError("Problem with given class_path:\n  long dump") from inner
        ... except ValueError as outer:
        ...     root_message(outer)
        'data.csv: no such file'
    """
    error = root_cause(error)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def root_cause(error: BaseException) -> BaseException:
    """The innermost exception of ``error``'s chain (``raise ... from None`` ends the chain)."""
    seen = set()
    while id(error) not in seen:
        seen.add(id(error))
        # `raise ... from None` hides the context: the exception raised there is the root.
        nxt = error.__cause__
        if nxt is None and not error.__suppress_context__:
            nxt = error.__context__
        if nxt is None:
            break
        error = nxt
    return error


def one_line(message: str) -> str:
    """The most specific line of a jsonargparse error, with a close match where one exists."""
    lines = [line.strip(" -") for line in str(message).splitlines() if line.strip()]
    noise = (
        "Does not validate",
        "Subtypes:",
        "Errors:",
        "Given value",
        "Expected a <class 'NoneType'>",
    )
    useful = [line for line in lines if not line.startswith(noise)]
    head = re.match(r'Parser key "([^"]+)"', lines[0]) if lines else None
    option = next(
        (
            re.search(r"Option '([^']+)' is not accepted", line)
            for line in useful
            if "is not accepted" in line
        ),
        None,
    )
    if option:
        owner = next(
            (re.search(r"class_path '([^']+)'", line) for line in useful if "class_path '" in line),
            None,
        )
        hint = _closest_parameter(option.group(1), owner.group(1) if owner else None)
        where = f"{head.group(1)}: " if head else ""
        return f"{where}unknown option '{option.group(1)}'{hint}"
    given = next((line for line in lines if line.startswith("Given value:")), None)
    useful = [line for line in useful if not line.startswith("Parser key")] or useful
    detail = useful[-1] if useful else str(message).strip()
    detail = detail.split(". Got value: Namespace(")[0]
    if given and "NestedArg" not in given:
        detail += f" ({given[0].lower()}{given[1:]})"
    if head and not detail.startswith("Parser key"):
        return f"{head.group(1)}: {detail}"
    return detail


def _closest_parameter(name: str, class_path: str | None) -> str:
    if not class_path:
        return ""
    module, _, attribute = class_path.rpartition(".")
    try:
        target = getattr(importlib.import_module(module), attribute)
        choices = [
            p for p in inspect.signature(target).parameters if p not in ("self", "args", "kwargs")
        ]
    except Exception:  # the hint is a courtesy; the error itself stands without it
        return ""
    close = difflib.get_close_matches(name, choices, n=1)
    return f" of {attribute}; did you mean '{close[0]}'?" if close else f" of {attribute}"
