"""Inter- and intra-layer filter covariance of a trained network (the paper's appendix A.2).

Each pixel of a feature map is one sample of its layer's filter responses (the output of the
layer's ConvBN, after its ReLU). For two adjacent layers whose maps differ in size (a pooling
between them), the smaller map is up-sampled with nearest-neighbour interpolation so both have
the same pixels. The data set is streamed in batches: only running sums, in float64, are kept
(never all responses), so the whole CIFAR-10 test set fits in any memory.

ZCA whitening (paper, eqs. 3-9) removes each layer's own covariance before looking across
layers: W = P D^-1/2 P^T from the eigen-decomposition of the layer's covariance. Filters that
never fire (dead ReLUs) make that covariance singular, so eigenvalues below ``EIGENVALUE_FLOOR``
times the largest are raised to it before the inverse square root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from roots.errors import RootsError
from roots.nn import models

EIGENVALUE_FLOOR = 1e-6
SIGNIFICANT = 10  # digits a block-diagonality score keeps


class PairMoments:
    """Running float64 sums for the covariances of two layers' responses observed together."""

    def __init__(self, channels1: int, channels2: int, device: torch.device | str = "cpu") -> None:
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.float64, device=device)  # noqa: E731
        self.count = 0
        self.sum1, self.sum2 = zeros(channels1), zeros(channels2)
        self.sum11, self.sum22, self.sum12 = (
            zeros(channels1, channels1),
            zeros(channels2, channels2),
            zeros(channels1, channels2),
        )

    def update(self, x1: torch.Tensor, x2: torch.Tensor) -> None:
        """Add samples: rows of ``x1`` (N x c1) and ``x2`` (N x c2) are the same N pixels."""
        x1, x2 = x1.to(torch.float64), x2.to(torch.float64)
        self.count += len(x1)
        self.sum1 += x1.sum(0)
        self.sum2 += x2.sum(0)
        self.sum11 += x1.T @ x1
        self.sum22 += x2.T @ x2
        self.sum12 += x1.T @ x2

    def _centred(self, products: torch.Tensor, sum_a: torch.Tensor, sum_b: torch.Tensor) -> torch.Tensor:
        if self.count < 2:
            raise RootsError("a covariance needs at least two samples")
        return (products - torch.outer(sum_a, sum_b) / self.count) / (self.count - 1)

    def covariances(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """cov(X1, X1), cov(X2, X2) and the inter-layer cov(X1, X2) (paper, eq. 2)."""
        return (
            self._centred(self.sum11, self.sum1, self.sum1),
            self._centred(self.sum22, self.sum2, self.sum2),
            self._centred(self.sum12, self.sum1, self.sum2),
        )


def pixels(feature_map: torch.Tensor) -> torch.Tensor:
    """An N x C x H x W map as (N*H*W) x C samples, one row per pixel."""
    return feature_map.permute(0, 2, 3, 1).reshape(-1, feature_map.shape[1])


def aligned(map1: torch.Tensor, map2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both maps at the larger one's size, the smaller up-sampled with nearest neighbours."""
    size1, size2 = map1.shape[-2:], map2.shape[-2:]
    if size1[0] * size1[1] < size2[0] * size2[1]:
        map1 = F.interpolate(map1, size=size2, mode="nearest")
    elif size2[0] * size2[1] < size1[0] * size1[1]:
        map2 = F.interpolate(map2, size=size1, mode="nearest")
    return map1, map2


def whitening(covariance: torch.Tensor, floor: float = EIGENVALUE_FLOOR) -> torch.Tensor:
    """The ZCA matrix W = P D^-1/2 P^T, so that W cov W^T is the identity (floored, see module)."""
    eigenvalues, vectors = torch.linalg.eigh(covariance)
    eigenvalues = eigenvalues.clamp(min=floor * float(eigenvalues.max().clamp(min=torch.finfo(covariance.dtype).tiny)))
    return vectors @ torch.diag(eigenvalues.rsqrt()) @ vectors.T


def whitened_cross_covariance(moments: PairMoments, floor: float = EIGENVALUE_FLOOR) -> torch.Tensor:
    """cov(W1 X1, W2 X2) = W1 cov(X1, X2) W2^T (paper, eq. 9), from the same running sums."""
    cov11, cov22, cov12 = moments.covariances()
    return whitening(cov11, floor) @ cov12 @ whitening(cov22, floor).T


def correlation(covariance: torch.Tensor) -> torch.Tensor:
    """Correlation from a covariance; a filter with no variance correlates with nothing (0)."""
    scale = covariance.diagonal().clamp(min=0).sqrt()
    outer = torch.outer(scale, scale)
    return torch.where(outer > 0, covariance / outer.clamp(min=torch.finfo(covariance.dtype).tiny), 0.0)


def block_diagonality(matrix: torch.Tensor, groups: int) -> float:
    """Mean |entry| inside the ``groups`` diagonal blocks over mean |entry| outside them.

    1 means no block structure; larger means the filters of matching groups co-vary more. The
    paper only says the structure is visible; this measures it. NaN for one group.
    """
    rows, columns = matrix.shape
    if groups < 2:
        return float("nan")
    if rows % groups or columns % groups:
        raise RootsError(f"{groups} groups do not divide a {rows} x {columns} matrix")
    block = torch.block_diag(*[torch.ones(rows // groups, columns // groups, dtype=torch.bool)] * groups)
    magnitude = matrix.abs().cpu()
    score = float(magnitude[block].mean() / magnitude[~block].mean())
    return float(f"{score:.{SIGNIFICANT}g}")  # multi-threaded float64 sums differ below this from run to run


@contextmanager
def _outputs(model: nn.Module, layers: Sequence[str]):
    captured: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise RootsError(f"the model has no layers {missing}")
    handles = [
        modules[name].register_forward_hook(lambda _m, _i, out, name=name: captured.__setitem__(name, out))
        for name in layers
    ]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def adjacent_moments(
    model: nn.Module,
    layers: Sequence[str],
    batches: Iterable[torch.Tensor],
    device: torch.device | str = "cpu",
    only: Sequence[str] | None = None,
    total: int | None = None,
    desc: str = "covariance statistics",
) -> dict[tuple[str, str], PairMoments]:
    """Stream ``batches`` of images through ``model``; running sums for each adjacent layer pair.

    ``only`` keeps the pairs whose second layer is listed (e.g. the grouped ones), to save time;
    ``total`` (the number of batches) and ``desc`` make the progress bar's.
    """
    model = model.to(device).eval()
    pairs = [(first, second) for first, second in zip(layers[:-1], layers[1:]) if only is None or second in only]
    moments: dict[tuple[str, str], PairMoments] = {}
    with _outputs(model, layers) as captured, torch.no_grad():
        for images in tqdm(batches, total=total, desc=desc, unit="batch", leave=False):
            model(images.to(device))
            for first, second in pairs:
                map1, map2 = aligned(captured[first], captured[second])
                if (first, second) not in moments:
                    moments[first, second] = PairMoments(map1.shape[1], map2.shape[1], device)
                moments[first, second].update(pixels(map1), pixels(map2))
    return moments


def block_scores(
    moments: dict[str, dict[tuple[str, str], PairMoments]], groups: dict[str, dict[str, int]], baseline: str = "orig"
) -> list[dict]:
    """Block-diagonality of every pair whose second layer is grouped, per run, beside the baseline's.

    A grouped layer's filter group j sees only block j of the previous layer's channels, so it
    is across such a pair that a block-diagonal covariance is expected (paper, Figs. 6, 12, 13).
    ``moments`` and ``groups`` map a run's name to its ``adjacent_moments`` and its schedule;
    the baseline (Orig, no groups) is scored with the same blocks, as the level of no structure.
    """
    rows = []
    for run, pairs in moments.items():
        for (first, second), pair in pairs.items():
            count = groups[run][second]
            if count < 2 or run == baseline:
                continue
            row = {
                "run": run,
                "pair": f"{first}-{second}",
                "groups": count,
                "score": block_diagonality(pair.covariances()[2], count),
                "score_whitened": block_diagonality(whitened_cross_covariance(pair), count),
            }
            if baseline in moments:
                reference = moments[baseline][first, second]
                row["baseline_score"] = block_diagonality(reference.covariances()[2], count)
                row["baseline_score_whitened"] = block_diagonality(whitened_cross_covariance(reference), count)
            rows.append(row)
    return rows


def scores_with_controls(
    moments: dict[str, dict[tuple[str, str], PairMoments]],
    variants: dict[str, models.Variant],
    batches: Callable[[], Iterable[torch.Tensor]],
    layers: Sequence[str],
    baseline: str,
    total: int | None = None,
) -> pd.DataFrame:
    """``block_scores`` of trained runs beside two controls: the baseline (Orig, no groups) scored
    with the same blocks, and each run's untrained twin (the same schedule, He initialisation,
    seed 0), whose blocks are there by construction rather than learned. ``batches()`` gives the
    images afresh for each twin."""
    groups = {name: variant.schedule for name, variant in variants.items()}
    scores = pd.DataFrame(block_scores(moments, groups, baseline=baseline))
    grouped = [layer for layer in layers if any(schedule[layer] > 1 for schedule in groups.values())]
    untrained = {}
    for name, variant in variants.items():
        if name == baseline:
            continue
        torch.manual_seed(0)
        untrained[name] = adjacent_moments(
            variant.build(), layers, batches(), only=grouped, total=total, desc=f"{name} untrained"
        )
    control = pd.DataFrame(block_scores(untrained, groups, baseline=baseline))
    scores = scores.merge(
        control[["run", "pair", "score", "score_whitened"]].rename(
            columns={"score": "untrained_score", "score_whitened": "untrained_score_whitened"}
        ),
        on=["run", "pair"],
    )
    scores["above baseline"] = scores["score"] > scores["baseline_score"]
    scores["above untrained"] = scores["score"] > scores["untrained_score"]
    scores["above untrained (whitened)"] = scores["score_whitened"] > scores["untrained_score_whitened"]
    return scores
