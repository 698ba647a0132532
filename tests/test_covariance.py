"""The appendix's statistics: streamed equals direct, whitening whitens, maps align pixel by pixel."""

import numpy as np
import pytest
import torch

from roots.nn import models
from roots.nn.models.nin import NIN_SLOTS
from roots.results import covariance


def _correlated(samples=3000, p=6, q=4, seed=0):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=(samples, p)) @ rng.normal(size=(p, p)) + rng.normal(size=p)
    x2 = x1[:, :q] * 0.5 + rng.normal(size=(samples, q)) + 3.0
    return x1, x2


def test_streamed_covariance_equals_the_direct_one():
    x1, x2 = _correlated()
    moments = covariance.PairMoments(6, 4)
    for chunk in np.array_split(np.arange(len(x1)), 7):
        moments.update(torch.from_numpy(x1[chunk]).float(), torch.from_numpy(x2[chunk]).float())
    cov11, cov22, cov12 = (matrix.numpy() for matrix in moments.covariances())
    direct = np.cov(np.hstack([x1.astype(np.float32), x2.astype(np.float32)]), rowvar=False)
    np.testing.assert_allclose(cov11, direct[:6, :6], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cov22, direct[6:, 6:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cov12, direct[:6, 6:], rtol=1e-5, atol=1e-6)  # (1/(N-1)) X1^T X2, eq. 2


def test_zca_whitened_responses_have_identity_self_covariance():
    x1, x2 = _correlated()
    moments = covariance.PairMoments(6, 4)
    moments.update(torch.from_numpy(x1), torch.from_numpy(x2))
    cov11, _, _ = moments.covariances()
    white = covariance.whitening(cov11)
    torch.testing.assert_close(white @ cov11 @ white.T, torch.eye(6, dtype=torch.float64), atol=1e-8, rtol=0)
    torch.testing.assert_close(white, white.T)  # ZCA (not PCA): symmetric, stays close to the data's axes
    # whitening the same samples on both sides gives the identity as their cross-covariance
    same = covariance.PairMoments(6, 6)
    same.update(torch.from_numpy(x1), torch.from_numpy(x1))
    torch.testing.assert_close(
        covariance.whitened_cross_covariance(same), torch.eye(6, dtype=torch.float64), atol=1e-8, rtol=0
    )


def test_whitening_a_singular_covariance_stays_finite():
    x = torch.randn(500, 5, dtype=torch.float64)
    x[:, 4] = 0  # a filter that never fires
    moments = covariance.PairMoments(5, 5)
    moments.update(x, x)
    assert torch.isfinite(covariance.whitened_cross_covariance(moments)).all()
    assert covariance.correlation(moments.covariances()[0])[4].abs().sum() == 0


def test_upsampling_aligns_each_pixel_with_the_one_that_covers_it():
    small = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    large = torch.zeros(2, 5, 4, 4)
    first, second = covariance.aligned(large, small)
    assert first is large and second.shape == (2, 3, 4, 4)
    for row in range(4):
        for col in range(4):
            assert torch.equal(second[:, :, row, col], small[:, :, row // 2, col // 2])
    rows = covariance.pixels(second)
    assert rows.shape == (2 * 16, 3) and torch.equal(rows[5], second[0, :, 1, 1])  # pixel (1, 1) of image 0


def test_block_diagonality_is_large_for_blocks_and_near_one_without_structure():
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(16, 8, generator=generator) * 0.1
    blocks = torch.block_diag(*[torch.ones(4, 2)] * 4) + noise
    assert covariance.block_diagonality(blocks, 4) > 5
    assert 0.7 < covariance.block_diagonality(torch.randn(64, 32, generator=generator), 4) < 1.3
    assert np.isnan(covariance.block_diagonality(blocks, 1))
    with pytest.raises(covariance.RootsError, match="3 groups do not divide a 16 x 8"):
        covariance.block_diagonality(blocks, 3)


def test_adjacent_moments_stream_a_network_pair_by_pair():
    torch.manual_seed(0)
    network = models.build("nin", "root-4").eval()
    images = torch.randn(6, 3, 32, 32)
    moments = covariance.adjacent_moments(network, NIN_SLOTS, images.split(2))
    assert list(moments) == list(zip(NIN_SLOTS[:-1], NIN_SLOTS[1:]))
    pair = moments["conv2c", "conv3a"]
    assert pair.count == 6 * 16 * 16  # conv3a's 8x8 maps were up-sampled to conv2c's 16x16
    captured = {}
    network.conv2c.register_forward_hook(lambda _m, _i, out: captured.__setitem__("a", out))
    network.conv3a.register_forward_hook(lambda _m, _i, out: captured.__setitem__("b", out))
    with torch.no_grad():
        network(images)
    first, second = covariance.aligned(captured["a"], captured["b"])
    direct = np.cov(torch.cat([covariance.pixels(first), covariance.pixels(second)], 1).double().numpy(), rowvar=False)
    np.testing.assert_allclose(pair.covariances()[2].numpy(), direct[:192, 192:], rtol=1e-6, atol=1e-9)


def test_block_scores_cover_the_grouped_pairs_and_score_orig_with_the_same_blocks():
    torch.manual_seed(0)
    images = torch.randn(4, 3, 32, 32).split(2)
    moments = {
        name: covariance.adjacent_moments(models.build("nin", name).eval(), NIN_SLOTS, images)
        for name in ("orig", "root-8")
    }
    groups = {name: models.variant("nin", name).schedule for name in moments}
    rows = covariance.block_scores(moments, groups)
    assert [(row["run"], row["pair"], row["groups"]) for row in rows] == [
        ("root-8", "conv1c-conv2a", 8),
        ("root-8", "conv2c-conv3a", 4),
    ]
    assert all(row["baseline_score"] > 0 and row["score_whitened"] > 0 for row in rows)


def test_moments_can_be_limited_to_the_pairs_into_chosen_layers():
    network = models.build("nin", "root-2").eval()
    moments = covariance.adjacent_moments(network, NIN_SLOTS, [torch.randn(2, 3, 32, 32)], only=["conv2a", "conv3a"])
    assert list(moments) == [("conv1c", "conv2a"), ("conv2c", "conv3a")]
