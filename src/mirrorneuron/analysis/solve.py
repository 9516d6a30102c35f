"""The linear algebra of the skill × difficulty fit: the normal equations, a block preconditioned conjugate
gradient, and the approximate variances. Pure numpy/scipy; :mod:`mirrorneuron.analysis.fit` is the API.

Parameters are ordered ``[skill (P), difficulty (U) | mu, level_1 … level_{L-1}, beta]``: a large sparse block
``A`` (players and units, tied by the player × unit count matrix) and a small dense "fixed" block ``F``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Normal:
    """The normal equations ``N θ = r`` of outcome ≈ mu + skill − difficulty + level + beta·x, with ridge
    ``lam`` on skill and difficulty."""

    n_players: int
    n_units: int
    diag_a: np.ndarray  # [P + U] counts + ridge
    counts: sp.csr_matrix  # [P, U] rounds of player p on unit u
    counts_t: sp.csr_matrix  # [U, P]
    cross: np.ndarray  # [P + U, K] big block × fixed block
    fixed: np.ndarray  # [K, K]
    rhs: np.ndarray  # [P + U + K]

    @property
    def size(self) -> int:
        return self.diag_a.size + self.fixed.shape[0]

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """``N @ v`` for ``v`` of shape [size] or [size, m]."""
        p, u, big = self.n_players, self.n_units, self.diag_a.size
        vb, vf = v[:big], v[big:]
        d = self.diag_a if v.ndim == 1 else self.diag_a[:, None]
        out_b = d * vb
        out_b[:p] -= self.counts @ vb[p : p + u]  # skill and difficulty enter with opposite signs
        out_b[p:] -= self.counts_t @ vb[:p]
        out_b += self.cross @ vf
        out_f = self.cross.T @ vb + self.fixed @ vf
        return np.concatenate([out_b, out_f])

    def diagonal(self) -> np.ndarray:
        return np.concatenate([self.diag_a, np.diag(self.fixed)])


def normal_equations(
    player: np.ndarray,
    unit: np.ndarray,
    level: np.ndarray,
    y: np.ndarray,
    x: np.ndarray | None,
    n_players: int,
    n_units: int,
    n_levels: int,
    lam: float,
) -> Normal:
    """Assemble the normal equations from per-round arrays with bincounts (never the 10M-row design matrix)."""
    n = y.size
    pu, ones = n_players + n_units, np.ones(n)
    counts = sp.coo_matrix((ones, (player, unit)), shape=(n_players, n_units)).tocsr()
    counts.sum_duplicates()
    n_p = np.bincount(player, minlength=n_players).astype(np.float64)
    n_u = np.bincount(unit, minlength=n_units).astype(np.float64)
    # the fixed block's columns per round: 1 (mu), a one-hot column per level after the first, x (practice)
    cols = [ones] + [(level == k).astype(np.float64) for k in range(1, n_levels)] + ([] if x is None else [x])
    k = len(cols)
    cross = np.zeros((pu, k))
    fixed = np.zeros((k, k))
    rhs_f = np.array([c @ y for c in cols])
    for j, vals in enumerate(cols):
        cross[:n_players, j] = np.bincount(player, weights=vals, minlength=n_players)
        cross[n_players:, j] = -np.bincount(unit, weights=vals, minlength=n_units)
        for i in range(j + 1):
            fixed[i, j] = fixed[j, i] = cols[i] @ vals
    empty = np.flatnonzero(np.diag(fixed) == 0)
    fixed[empty, empty] = 1.0  # a level without rounds: pinned at 0 instead of a singular system
    rhs_b = np.concatenate(
        [np.bincount(player, weights=y, minlength=n_players), -np.bincount(unit, weights=y, minlength=n_units)]
    )
    return Normal(
        n_players=n_players,
        n_units=n_units,
        diag_a=np.concatenate([n_p, n_u]) + lam,
        counts=counts,
        counts_t=counts.T.tocsr(),
        cross=cross,
        fixed=fixed,
        rhs=np.concatenate([rhs_b, rhs_f]),
    )


def block_pcg(
    matvec: Callable[[np.ndarray], np.ndarray],
    b: np.ndarray,
    inv_diag: np.ndarray,
    rtol: np.ndarray,
    maxiter: int,
) -> tuple[np.ndarray, int, np.ndarray]:
    """Jacobi-preconditioned conjugate gradient on the columns of ``b`` [n, m] at once, each column to its own
    relative tolerance ``rtol`` [m]; converged columns drop out of the matrix products.
    Returns (solutions [n, m], iterations, converged [m])."""
    x = np.zeros_like(b)
    r = b.copy()
    z = inv_diag[:, None] * r
    p = z.copy()
    rz = np.einsum("ij,ij->j", r, z)
    goal = rtol * np.linalg.norm(b, axis=0)
    active = np.linalg.norm(r, axis=0) > goal
    it = 0
    while active.any() and it < maxiter:
        it += 1
        cols = np.flatnonzero(active)
        pa = p[:, cols]
        q = matvec(pa)
        alpha = rz[cols] / np.einsum("ij,ij->j", pa, q)
        x[:, cols] += alpha * pa
        r[:, cols] -= alpha * q
        active[cols] = np.linalg.norm(r[:, cols], axis=0) > goal[cols]
        cols = np.flatnonzero(active)
        z = inv_diag[:, None] * r[:, cols]
        rz_new = np.einsum("ij,ij->j", r[:, cols], z)
        p[:, cols] = z + (rz_new / rz[cols]) * p[:, cols]
        rz[cols] = rz_new
    return x, it, ~active


def big_block_variances(normal: Normal) -> np.ndarray:
    """Approximate diagonal of ``A⁻¹`` for the players and units (in units of σ²): one over the diagonal of
    the Schur complement, ``1 / (D_p − Σ_u C_pu² / D_u)`` for a player (and the same for a unit over its
    players). That is the variance of a player's skill when the difficulties of the units they played are
    estimated from everyone's data, the other players' skills taken as known; it sums the Neumann series of
    ``A = D − C`` along every path through the player's own units. Exact covariance comparisons:
    tests/unit/test_analysis_fit.py (medians within a few per cent, slightly conservative for units)."""
    p = normal.n_players
    d_p, d_u = normal.diag_a[:p], normal.diag_a[p:]
    sq = normal.counts.multiply(normal.counts).tocsr()
    var_p = 1.0 / (d_p - sq @ (1.0 / d_u))  # > 0: Σ_u C_pu²/D_u < Σ_u C_pu = D_p − ridge
    var_u = 1.0 / (d_u - sq.T.tocsr() @ (1.0 / d_p))
    return np.concatenate([var_p, var_u])
