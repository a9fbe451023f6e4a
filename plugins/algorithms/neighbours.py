"""Similarity neighbour lists and neighbourhood predictions, compiled with numba.

Similarities are computed over common support, like the tutorials' library, but row by row: for
each entity, one pass over the ratings of everyone who rated it accumulates the sums for all its
co-rated entities in O(entities) scratch space. Cost grows with the sum of squared profile sizes;
memory is the kept neighbour lists only (``max_neighbors`` per entity), never a dense square matrix.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from plugins.data import FloatArray

SIMILARITIES = ("cosine", "pearson", "pearson_baseline", "msd")
_KIND = {name: code for code, name in enumerate(SIMILARITIES)}
_PEARSON, _MSD = _KIND["pearson"], _KIND["msd"]


def neighbour_lists(
    by_entity: sp.csc_matrix,
    by_other: sp.csr_matrix,
    similarity: str,
    shrinkage: float,
    min_support: int,
    max_neighbors: int,
) -> sp.csr_matrix:
    """For each column entity of ``by_entity`` (e.g. movies), its most similar entities with a
    positive similarity, at most ``max_neighbors``, as a CSR matrix whose rows are sorted by
    similarity, best first. ``by_other`` is the same matrix in CSR form. Values are stars, or
    residuals from the baseline for ``pearson_baseline``."""
    n = by_entity.shape[1]
    chunks = np.linspace(0, n, min(n, 64) + 1).astype(np.int64)
    neighbours, sims, counts = _lists(
        by_entity.indptr,
        by_entity.indices,
        by_entity.data.astype(np.float64),
        by_other.indptr,
        by_other.indices,
        by_other.data.astype(np.float64),
        n,
        _KIND[similarity],
        float(shrinkage),
        int(min_support),
        int(max_neighbors),
        chunks,
    )
    keep = np.arange(neighbours.shape[1])[None, :] < counts[:, None]
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return sp.csr_matrix((sims[keep], neighbours[keep], indptr), shape=(n, n))


@numba.njit(parallel=True, cache=True)
def _lists(  # type: ignore[no-untyped-def]
    ent_ptr,
    ent_idx,
    ent_val,
    oth_ptr,
    oth_idx,
    oth_val,
    n,
    kind,
    shrink,
    min_support,
    width,
    chunks,
):
    neighbours = np.full((n, width), -1, np.int32)
    sims = np.zeros((n, width), np.float32)
    counts = np.zeros(n, np.int64)
    for c in numba.prange(len(chunks) - 1):
        # A row of sums per co-rated entity, so that a pair touches one cache line: support,
        # sum xy, sum xx, sum yy over common raters, and for Pearson sum x, sum y (64 bytes
        # with 2 unused; 32 for the others, which halves what the caches hold).
        acc = np.zeros((n, 8 if kind == _PEARSON else 4))
        touched = np.empty(n, np.int64)
        sim = np.empty(n)
        for a in range(chunks[c], chunks[c + 1]):
            m = 0
            for p in range(ent_ptr[a], ent_ptr[a + 1]):
                o, x = ent_idx[p], ent_val[p]
                for q in range(oth_ptr[o], oth_ptr[o + 1]):
                    b, y = oth_idx[q], oth_val[q]
                    if b == a:
                        continue
                    s = acc[b]
                    if s[0] == 0.0:  # no support yet: first seen
                        touched[m] = b
                        m += 1
                    s[0] += 1.0
                    s[1] += x * y
                    s[2] += x * x
                    s[3] += y * y
                    if kind == _PEARSON:
                        s[4] += x
                        s[5] += y
            m = _positive(kind, acc, touched, sim, m, shrink, min_support)
            m = _best(touched, sim, m, width)
            order = np.argsort(-sim[:m], kind="mergesort")[:width]  # ties: first seen first
            for kept in range(len(order)):
                neighbours[a, kept] = touched[order[kept]]
                sims[a, kept] = sim[order[kept]]
            counts[a] = len(order)
    return neighbours, sims, counts


@numba.njit(cache=True)
def _positive(kind, acc, touched, sim, m, shrink, min_support):  # type: ignore[no-untyped-def]
    """Score the ``m`` touched entities, clear their sums, and keep (in place, in the order
    first seen) those of a positive similarity; returns how many."""
    kept = 0
    for t in range(m):
        b = touched[t]
        value = _similarity(kind, acc[b], shrink, min_support)
        acc[b, :] = 0.0
        if value > 0.0:
            touched[kept] = b
            sim[kept] = value
            kept += 1
    return kept


@numba.njit(cache=True)
def _best(touched, sim, m, width):  # type: ignore[no-untyped-def]
    """Keep (in place, in order) the ``m`` entries whose similarity is among the ``width`` best,
    ties at the cut included; a linear selection, so that only these few are sorted."""
    if m <= width:
        return m
    cut = np.partition(-sim[:m], width - 1)[width - 1]
    kept = 0
    for t in range(m):
        if -sim[t] <= cut:
            touched[kept] = touched[t]
            sim[kept] = sim[t]
            kept += 1
    return kept


@numba.njit(cache=True)
def _similarity(kind, s, shrink, min_support):  # type: ignore[no-untyped-def]
    support = s[0]
    if support < min_support:
        return 0.0
    if kind == _MSD:
        return 1.0 / (1.0 + max(s[2] + s[3] - 2.0 * s[1], 0.0) / support)
    if kind == _PEARSON:
        num = support * s[1] - s[4] * s[5]
        den = (support * s[2] - s[4] ** 2) * (support * s[3] - s[5] ** 2)
    else:  # cosine, pearson_baseline (on residuals)
        num = s[1]
        den = s[2] * s[3]
    value = num / np.sqrt(den) if den > 0.0 else 0.0
    if shrink > 0.0:
        value *= (support - 1.0) / (support - 1.0 + shrink)
    return value


@numba.njit(cache=True)
def aggregate(rows_ptr, rows_idx, rows_sim, targets, lookup, k):  # type: ignore[no-untyped-def]
    """For each target row, walk its sorted neighbour list and average ``lookup`` (NaN = the
    neighbour is not available) over the first ``k`` available neighbours, weighted by
    similarity. Returns (weighted mean or NaN, neighbours used)."""
    out = np.full(len(targets), np.nan, np.float32)
    used = np.zeros(len(targets), np.int32)
    for t in range(len(targets)):
        row = targets[t]
        total, weight, found = 0.0, 0.0, 0
        for p in range(rows_ptr[row], rows_ptr[row + 1]):
            value = lookup[rows_idx[p]]
            if np.isnan(value):
                continue
            total += rows_sim[p] * value
            weight += rows_sim[p]
            found += 1
            if found == k:
                break
        if found > 0:
            out[t] = total / weight
        used[t] = found
    return out, used


@numba.njit(cache=True)
def aggregate_by_raters(col_ptr, col_idx, col_val, items, rank, rank_sims, k):  # type: ignore[no-untyped-def]
    """User-based: for each item, the similarity-weighted mean of the values of the (at most
    ``k``) most similar neighbours who rated it. ``rank[v]`` is v's position in the user's
    neighbour list (-1 if not a neighbour); ``rank_sims[r]`` is the similarity at position r."""
    out = np.full(len(items), np.nan, np.float32)
    for t in range(len(items)):
        start, end = col_ptr[items[t]], col_ptr[items[t] + 1]
        ranks = np.empty(end - start, np.int64)
        values = np.empty(end - start)
        m = 0
        for p in range(start, end):
            if rank[col_idx[p]] >= 0:
                ranks[m] = rank[col_idx[p]]
                values[m] = col_val[p]
                m += 1
        if m == 0:
            continue
        total, weight = 0.0, 0.0
        for o in np.argsort(ranks[:m])[:k]:
            total += rank_sims[ranks[o]] * values[o]
            weight += rank_sims[ranks[o]]
        out[t] = total / weight
    return out


def dense_lookup(size: int, indices: np.ndarray, values: FloatArray) -> FloatArray:
    """A length-``size`` array with ``values`` at ``indices`` and NaN elsewhere."""
    lookup = np.full(size, np.nan, np.float32)
    lookup[indices] = values
    return lookup
