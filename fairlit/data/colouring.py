"""Coloured backgrounds for grey-scale digits (Bahng et al., 2020; Cerrato et al., 2023).

Pure functions: which colour each image gets (:func:`assign_colours`, the shortcut of
strength ``rho``) and the coloured image (:func:`colour_backgrounds`). See
:mod:`fairlit.data.images` for the benchmark they build.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BACKGROUND_COLOURS", "NUM_COLOURS", "assign_colours", "colour_backgrounds"]

#: The ten background colours, RGB in [0, 1], indexed by ``s`` (Bahng et al., 2020):
#: red, green, blue, yellow, magenta, cyan, orange, pink, violet, grey. Training digit ``k``
#: is mostly drawn on colour ``k``.
BACKGROUND_COLOURS: tuple[tuple[float, float, float], ...] = tuple(
    (r / 255.0, g / 255.0, b / 255.0)
    for r, g, b in (
        (255, 0, 0),
        (0, 255, 0),
        (0, 0, 255),
        (225, 225, 0),
        (225, 0, 225),
        (0, 255, 255),
        (255, 128, 0),
        (255, 0, 128),
        (128, 0, 255),
        (128, 128, 128),
    )
)

NUM_COLOURS = len(BACKGROUND_COLOURS)


def _check_rho(rho: float, name: str = "rho") -> float:
    if isinstance(rho, bool) or not isinstance(rho, int | float) or not 0.0 <= rho <= 1.0:
        raise ValueError(f"`{name}` must be a probability in [0, 1], got {rho!r}")
    return float(rho)


def assign_colours(labels: np.ndarray, rho: float | None, rng: np.random.Generator) -> np.ndarray:
    r"""Draw one background colour index per image.

    With ``rho`` given (training), image :math:`i` gets colour :math:`y_i` with probability
    :math:`\rho` and otherwise one of the other nine colours, uniformly:

    .. math::

        P(s_i = y_i) = \rho, \qquad P(s_i = k) = \frac{1 - \rho}{9} \quad (k \ne y_i).

    With ``rho=None`` (test) every colour has probability 1/10, independently of the label.

    Args:
        labels: int ``[N]`` digits in ``[0, 10)``.
        rho: Probability of the label's own colour, or ``None`` for uniform colours.
        rng: Source of randomness (seed it for reproducible colours).

    Returns:
        int64 ``[N]`` colour indices in ``[0, 10)``.

    Example:
        >>> assign_colours(np.array([3, 1, 4]), 1.0, np.random.default_rng(0)).tolist()
        [3, 1, 4]
    """
    labels = np.asarray(labels, dtype=np.int64)
    if rho is None:
        return rng.integers(0, NUM_COLOURS, size=len(labels), dtype=np.int64)
    rho = _check_rho(rho)
    keep = rng.random(len(labels)) < rho
    # An offset in 1..9 picks each other colour with probability 1/9.
    offset = rng.integers(1, NUM_COLOURS, size=len(labels), dtype=np.int64)
    return np.where(keep, labels, (labels + offset) % NUM_COLOURS)


def colour_backgrounds(intensity: np.ndarray, colours: np.ndarray) -> np.ndarray:
    r"""Draw each digit in white on its background colour.

    .. math:: x_{i,c,h,w} = b_{s_i,c}\,(1 - I_{i,h,w}) + I_{i,h,w}

    with :math:`b` = :data:`BACKGROUND_COLOURS`.

    Args:
        intensity: float ``[N, H, W]`` digit intensities in ``[0, 1]`` (1 = stroke).
        colours: int ``[N]`` colour indices in ``[0, 10)``.

    Returns:
        float32 ``[N, 3, H, W]`` images in ``[0, 1]``.

    Example:
        >>> image = colour_backgrounds(np.array([[[0.0, 1.0]]]), np.array([0]))
        >>> image[0, :, 0].tolist()  # red background pixel, then a white stroke pixel
        [[1.0, 1.0], [0.0, 1.0], [0.0, 1.0]]
    """
    palette = np.asarray(BACKGROUND_COLOURS, dtype=np.float32)
    intensity = np.asarray(intensity, dtype=np.float32)[:, None]  # [N, 1, H, W]
    background = palette[np.asarray(colours)][:, :, None, None]  # [N, 3, 1, 1]
    return background * (1.0 - intensity) + intensity
