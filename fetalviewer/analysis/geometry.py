"""Plane geometry shared by measurements, contours and biometry.

Conventions (one place for all of them):

* numpy arrays are indexed ``[row, col]``; points are ``(x, y) = (col, row)`` floats in original image
  pixels, with the centre of the top-left pixel at ``(0, 0)``.
"""

from __future__ import annotations

import math


def ramanujan_perimeter(a: float, b: float) -> float:
    """Perimeter of an ellipse with semi-axes ``a`` and ``b`` (same unit in, same unit out).

    Ramanujan's second approximation (S. Ramanujan, "Modular equations and approximations to pi",
    Quart. J. Pure Appl. Math. 45 (1914) 350-372):
    ``P = pi (a + b) [1 + 3h / (10 + sqrt(4 - 3h))]`` with ``h = ((a - b) / (a + b))^2``.
    Its relative error is below 1e-9 for the eccentricities of fetal heads and abdomens.
    """
    a = float(a)
    b = float(b)
    if not (math.isfinite(a) and math.isfinite(b)) or a < 0 or b < 0:
        raise ValueError(f"semi-axes must be finite and >= 0, got a={a!r}, b={b!r}")
    if a + b == 0:
        return 0.0
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1.0 + 3.0 * h / (10.0 + math.sqrt(4.0 - 3.0 * h)))
