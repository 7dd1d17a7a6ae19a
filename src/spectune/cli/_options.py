"""Option types that check a value where it is parsed, the allowed range in the message.

argparse calls them with the text the user typed; a refusal reads, on one line,
``spectune tune: error: argument --test-size: 1.5 is not a fraction strictly between 0 and 1``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def integer(low: int, *, zero: bool = False) -> Callable[[str], int]:
    """An integer >= ``low`` (``zero``: 0 is allowed too, with its own meaning)."""
    allowed = f"0 or an integer >= {low}" if zero else f"an integer >= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not an integer; give {allowed}") from None
        if value < low and not (zero and value == 0):
            raise argparse.ArgumentTypeError(f"{value} is out of range; give {allowed}")
        return value

    parse.__name__ = "integer"  # argparse names the type in "invalid integer value"
    return parse


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def fraction(text: str) -> float:
    """A share such as --test-size: strictly between 0 and 1."""
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"{value:g} is not a fraction strictly between 0 and 1, e.g. 0.2")
    return value


def share(text: str) -> float:
    """A share that may be all or nothing, such as --domain-warning: 0 to 1."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{value:g} is out of range; give a share from 0 to 1")
    return value


def positive(text: str) -> float:
    """A number > 0 (seconds, a learning rate)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} is out of range; give a number > 0")
    return value


def non_negative(text: str) -> float:
    """A number >= 0 (a penalty, a weight)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value:g} is out of range; give a number >= 0")
    return value


def wavelength_range(text: str) -> str:
    """``A:B``, two numbers; kept as typed (it is recorded in metrics.json)."""
    from spectune.data import parse_range

    try:
        parse_range(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).rstrip(".")) from None
    return text


#: ``--axis`` shortcuts: the names and units spectroscopists write on the spectral axis.
AXES = {"wavelength": "wavelength (nm)", "wavenumber": "wavenumber (cm⁻¹)",
        "raman": "Raman shift (cm⁻¹)", "energy": "energy (eV)"}


def axis_label(text: str) -> str:
    """``--axis``: a shortcut of :data:`AXES`, or the label as written ("2θ (°)")."""
    label = AXES.get(text.strip().lower(), text.strip())
    if not label:
        raise argparse.ArgumentTypeError(f"give a name for the spectral axis, e.g. one of "
                                         f"{', '.join(AXES)} or your own label")
    return label

