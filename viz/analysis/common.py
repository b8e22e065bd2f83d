"""Parsing the analysis tools' ranges and vectors ('0-3,7', '0.1,-0.2'); a bad one is a UserError."""

from __future__ import annotations

import re

from networks.errors import UserError

__all__ = ['parse_range', 'parse_vec2']


def parse_range(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11]."""
    out: list[int] = []
    for part in str(text).split(','):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r'(-?\d+)-(-?\d+)', part)
        try:
            if match:
                out.extend(range(int(match.group(1)), int(match.group(2)) + 1))
            else:
                out.append(int(part))
        except ValueError as err:
            raise UserError(f'bad range {text!r}: expected e.g. 0-3,7') from err
    if not out:
        raise UserError(f'empty range {text!r}')
    return out


def parse_vec2(text: str) -> tuple[float, float]:
    """'0.1,-0.2' -> (0.1, -0.2)."""
    parts = str(text).split(',')
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError as err:
        raise UserError(f'bad vector {text!r}: expected two comma-separated numbers, e.g. 0.1,0') from err
