"""The fixed Fourier spatial basis of S3TA (Mott et al. 2019, section 2.1, eq. 7).

The basis S in R^{h x w x (U+V)^2} is appended to both keys and values so that the answers, which
are spatial sums (eq. 5) and so blind to position, can still carry "where" information.

Exact definition used here (the paper gives eq. 7 for the cos-cos channel only). Along each axis
of length n (n = h for rows i = 0..h-1, n = w for columns j = 0..w-1) there are U + V 1-D
functions:

  even: cos(pi * u * i / n)   for u = 0, 1, ..., U - 1   (u = 0 is the constant 1)
  odd:  sin(pi * v * i / n)   for v = 1, 2, ..., V       (v = 0 would be identically zero)

Channel (a, b), stored at index a * (U + V) + b, is the outer product of the a-th row function and
the b-th column function, where both lists are ordered [cos u=0..U-1, sin v=1..V]. So with
U = V = 4 (the paper's choice) there are 8 x 8 = 64 channels, including the constant channel
(a = b = 0) and channels that vary along one axis only (a = 0 or b = 0). The 64 channels are
linearly independent whenever h >= U + V and w >= U + V (e.g. 27 x 20 for 210 x 160 frames,
11 x 11 for 84 x 84 frames).
"""
from __future__ import annotations

import numpy as np


def basis_1d(length: int, num_even: int = 4, num_odd: int = 4) -> np.ndarray:
  """The U + V one-dimensional basis vectors along an axis: [length, num_even + num_odd].

  Columns are cos(pi u i / length) for u = 0..num_even-1, then sin(pi v i / length) for
  v = 1..num_odd, for positions i = 0..length-1 (eq. 7).
  """
  if length < 1 or num_even < 0 or num_odd < 0 or num_even + num_odd < 1:
    raise ValueError(
        f"spatial basis needs length >= 1 and at least one frequency; got length={length}, "
        f"num_even={num_even}, num_odd={num_odd}.")
  i = np.arange(length, dtype=np.float64)[:, None]
  even = np.cos(np.pi * np.arange(num_even, dtype=np.float64)[None, :] * i / length)
  odd = np.sin(np.pi * np.arange(1, num_odd + 1, dtype=np.float64)[None, :] * i / length)
  return np.concatenate([even, odd], axis=1)


def spatial_basis(height: int, width: int, num_even: int = 4, num_odd: int = 4,
                  dtype=np.float32) -> np.ndarray:
  """The spatial basis S: [height, width, (num_even + num_odd)**2] (section 2.1, eq. 7).

  A numpy constant (computed at trace time, so it is folded into compiled code and never trained,
  as in the paper). Channel a * (U + V) + b is outer(basis_1d(height)[:, a], basis_1d(width)[:, b]).
  """
  rows = basis_1d(height, num_even, num_odd)  # [h, U+V]
  cols = basis_1d(width, num_even, num_odd)  # [w, U+V]
  s = np.einsum("ia,jb->ijab", rows, cols)
  return s.reshape(height, width, -1).astype(dtype)


def num_channels(num_even: int = 4, num_odd: int = 4) -> int:
  """(U + V)^2, the channel count C_s of the spatial basis."""
  return (num_even + num_odd) ** 2
