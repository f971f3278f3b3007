"""Noisy linear imputation of ROAD (Rong et al., ICML 2022), generalised to N-d.

Each removed voxel ``i`` is set to the weighted mean of its in-volume neighbours
``N(i)`` on a stencil with weights ``w_o`` per offset ``o``:

    sum_{j in N(i)} w_ij x_i - sum_{j in N(i), removed} w_ij x_j = sum_{j in N(i), kept} w_ij x_j

which is a sparse, symmetric, diagonally dominant system in the removed voxels (a
graph Laplacian with the kept voxels as Dirichlet boundary). A ridge ``eps (x_i - m)``
(``m`` the mean kept value, ``eps = 1e-8``) keeps it definite when a removed region
touches no kept voxel. Gaussian noise ``N(0, noise_std^2)`` is then added to the
imputed voxels (ROAD: ``sigma = 0.01`` on inputs scaled to [0, 1]).

Stencils (weights ``w_o`` proportional to ``1 / |o|^2``, normalised to sum 1):

* 2D: 8-neighbourhood, ``1/6`` edge-adjacent and ``1/12`` diagonal (ROAD's weights); or
  4-neighbourhood, ``1/4``;
* 3D: 6-neighbourhood, ``1/6``; or 26-neighbourhood, ``3/44`` face, ``3/88`` edge,
  ``1/44`` corner.

Systems of up to :data:`DIRECT_MAX` unknowns are solved directly (SuperLU), larger ones
by Jacobi-preconditioned conjugate gradients (relative residual ``1e-5``), started
from a normalised-convolution fill of the holes.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import sparse
from scipy.ndimage import gaussian_filter
from scipy.sparse.linalg import spsolve
from torch import Tensor

from medcam.audit.errors import AuditError
from medcam.audit.metrics._common import MapLike, as_mask

__all__ = ["CG_RTOL", "DIRECT_MAX", "RIDGE", "noisy_linear_impute", "stencil"]

#: Largest system solved with a direct sparse factorisation.
DIRECT_MAX = 20_000
#: Relative residual at which conjugate gradients stop (far below the added noise).
CG_RTOL = 1e-5
#: Iteration cap of conjugate gradients (a 64^3 solve needs well under 200).
CG_MAXITER = 5000
#: Ridge weight towards the mean kept value (keeps isolated removed regions defined).
RIDGE = 1e-8


def stencil(ndim: int, neighbourhood: int | None = None) -> list[tuple[tuple[int, ...], float]]:
    """Offsets and weights of an imputation stencil (see the module docstring).

    Args:
        ndim: 2 or 3 (any ``ndim >= 1`` works).
        neighbourhood: ``2 ndim`` (face neighbours) or ``3^ndim - 1`` (full); default
            8 in 2D and 26 in 3D.

    Raises:
        AuditError: an unsupported neighbourhood size.

    """
    full = 3**ndim - 1
    n = full if neighbourhood is None else int(neighbourhood)
    if n not in (2 * ndim, full):
        raise AuditError(f"a {ndim}-D stencil has {2 * ndim} or {full} neighbours, not {n}")
    offsets = [o for o in itertools.product((-1, 0, 1), repeat=ndim) if any(o)]
    if n == 2 * ndim:
        offsets = [o for o in offsets if sum(map(abs, o)) == 1]
    raw = np.array([1.0 / sum(v * v for v in o) for o in offsets])
    weights = raw / raw.sum()
    return [(o, float(w)) for o, w in zip(offsets, weights, strict=True)]


def _shifted(padded: NDArray[Any], offset: tuple[int, ...], shape: tuple[int, ...]
             ) -> NDArray[Any]:
    lead = padded.ndim - len(shape)
    index = (slice(None),) * lead + tuple(
        slice(1 + o, 1 + o + n) for o, n in zip(offset, shape, strict=True))
    return padded[index]


def _system(values: NDArray[np.float64], removed: NDArray[np.bool_], neighbourhood: int | None
            ) -> tuple[sparse.csr_matrix, NDArray[np.float64]]:
    shape = removed.shape
    count = int(removed.sum())
    ridx = np.full(shape, -1, dtype=np.int64)
    ridx[removed] = np.arange(count)
    pad_idx = np.pad(ridx, 1, constant_values=-2)
    pad_val = np.pad(values, [(0, 0)] + [(1, 1)] * len(shape))
    diag = np.zeros(count)
    rhs = np.zeros((values.shape[0], count))
    rows, cols, vals = [], [], []
    here = np.arange(count)
    for offset, w in stencil(len(shape), neighbourhood):
        nb = _shifted(pad_idx, offset, shape)[removed]
        nb_val = _shifted(pad_val, offset, shape)[:, removed]
        inside = nb != -2
        diag += w * inside
        rem = nb >= 0
        rows.append(here[rem])
        cols.append(nb[rem])
        vals.append(np.full(int(rem.sum()), -w))
        kept = inside & ~rem
        rhs[:, kept] += w * nb_val[:, kept]
    source = values[:, ~removed] if (~removed).any() else values.reshape(values.shape[0], -1)
    kept_mean = source.mean(axis=1)
    rhs += RIDGE * kept_mean[:, None]
    a = sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(count, count)).tocsr()
    a = a + sparse.diags(diag + RIDGE)
    return a.tocsr(), rhs


def _initial_guess(values: NDArray[np.float64], removed: NDArray[np.bool_]
                   ) -> NDArray[np.float64]:
    """Normalised-convolution fill of the removed voxels (a smooth CG starting point)."""
    kept = (~removed).astype(np.float64)
    guess = np.empty((values.shape[0], int(removed.sum())))
    for c in range(values.shape[0]):
        out = np.full(removed.shape, values[c][~removed].mean() if kept.any() else 0.0)
        todo = removed.copy()
        for sigma in (2.0, 8.0):
            num = gaussian_filter(values[c] * kept, sigma, mode="nearest")
            den = gaussian_filter(kept, sigma, mode="nearest")
            ok = todo & (den > 1e-3)
            out[ok] = num[ok] / den[ok]
            todo &= ~ok
        guess[c] = out[removed]
    return guess


def _pcg(a: sparse.csr_matrix, b: NDArray[np.float64], x0: NDArray[np.float64]
         ) -> NDArray[np.float64]:
    """Jacobi-preconditioned conjugate gradients on a symmetric positive definite ``a``.

    Written out (sparse mat-vec plus element-wise NumPy) rather than
    ``scipy.sparse.linalg.cg`` so that no multi-threaded BLAS call runs per iteration:
    on a loaded machine those dominate the cost of a 3D solve.
    """
    inv_diag = 1.0 / a.diagonal()
    x = x0.copy()
    r = b - a @ x
    z = inv_diag * r
    p = z.copy()
    rz = float((r * z).sum())
    stop = CG_RTOL * float(np.sqrt((b * b).sum()))
    for _ in range(CG_MAXITER):
        if float(np.sqrt((r * r).sum())) <= stop:
            return x
        ap = a @ p
        alpha = rz / float((p * ap).sum())
        x += alpha * p
        r -= alpha * ap
        z = inv_diag * r
        rz_next = float((r * z).sum())
        p = z + (rz_next / rz) * p
        rz = rz_next
    raise AuditError("ROAD imputation: conjugate gradients did not converge")


def _solve(a: sparse.csr_matrix, rhs: NDArray[np.float64], guess: NDArray[np.float64]
           ) -> NDArray[np.float64]:
    if a.shape[0] <= DIRECT_MAX:
        sol = spsolve(a.tocsc(), rhs.T)
        return np.asarray(sol, dtype=np.float64).reshape(a.shape[0], -1).T
    return np.stack([_pcg(a, rhs[c], guess[c]) for c in range(rhs.shape[0])])


def noisy_linear_impute(x: Tensor, removed: MapLike, *, neighbourhood: int | None = None,
                        noise_std: float = 0.01, seed: int = 0) -> Tensor:
    """Replace the ``removed`` voxels of ``x`` by noisy linear imputation.

    Args:
        x: one input, ``(C, *spatial)``; every channel is imputed with the same system.
        removed: boolean mask of shape ``spatial`` (True = impute).
        neighbourhood: stencil size, see :func:`stencil`.
        noise_std: standard deviation of the Gaussian noise added to imputed voxels.
        seed: seed of the noise.

    Returns:
        A new tensor like ``x``; kept voxels are unchanged.

    Raises:
        AuditError: shapes disagree, or a negative noise level.

    """
    if noise_std < 0:
        raise AuditError("`noise_std` must be >= 0")
    mask = as_mask(removed, tuple(x.shape[1:]), "removed")
    if not mask.any():
        return x.clone()
    values = x.detach().cpu().double().numpy().reshape(x.shape[0], *mask.shape)
    a, rhs = _system(values, mask, neighbourhood)
    guess = _initial_guess(values, mask) if int(mask.sum()) > DIRECT_MAX else rhs
    filled = _solve(a, rhs, guess)
    if noise_std > 0:
        filled = filled + np.random.default_rng(seed).normal(0.0, noise_std, filled.shape)
    out = values.copy()
    out[:, mask] = filled
    return torch.from_numpy(out).to(dtype=x.dtype, device=x.device)
