import numpy as np
import pytest

from redrive.eval import metrics


def test_psnr_of_a_known_error():
    target = np.zeros((8, 8, 3))
    pred = target + 0.1
    assert metrics.psnr(pred, target) == pytest.approx(20.0)
    mask = np.zeros((8, 8), bool)
    mask[:2] = True
    pred[2:] = 0.5  # outside the mask: ignored
    assert metrics.psnr(pred, target, mask) == pytest.approx(20.0)
    assert metrics.psnr(target, target) == float("inf")
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(pred[:4], target)


def test_ssim_identity_and_luminance_term():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (32, 40, 3))
    assert metrics.ssim(image, image) == pytest.approx(1.0)
    # Constant images: variances vanish and SSIM is the luminance term alone.
    a, b = np.full((20, 20), 0.2), np.full((20, 20), 0.6)
    c1, c2 = 0.01**2, 0.03**2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    assert metrics.ssim(a, b) == pytest.approx(expected, rel=1e-9)
    # Zero-mean noise of variance s2 on a uniform image (variance 1/12): SSIM ~ (1/6) / (1/6 + s2).
    for sigma in (0.1, 0.3):
        noisy = image + rng.normal(0, sigma, image.shape)
        assert metrics.ssim(noisy, image) == pytest.approx((1 / 6) / (1 / 6 + sigma**2), abs=0.05)


def test_ssim_mask_selects_windows():
    rng = np.random.default_rng(1)
    target = rng.uniform(0, 1, (40, 40))
    pred = target.copy()
    pred[:, 20:] = rng.uniform(0, 1, (40, 20))
    left = np.zeros((40, 40), bool)
    left[:, :12] = True
    assert metrics.ssim(pred, target, left) == pytest.approx(1.0)
    assert metrics.ssim(pred, target) < 0.8


def test_lidar_metrics():
    target = np.array([10.0, 20.0, np.inf, 5.0, 7.0])
    pred = np.array([10.1, 19.7, 3.0, np.nan, 7.0])
    out = metrics.lidar_range_errors(pred, target)
    assert out["returned_rays"] == 3
    assert out["median_abs_m"] == pytest.approx(0.1)
    assert out["median_sq_m2"] == pytest.approx(0.01)
    assert metrics.intensity_rmse(np.array([0.0, 1.0]), np.array([0.0, 0.0])) == pytest.approx(np.sqrt(0.5))
    assert metrics.ray_drop_accuracy(np.array([0.9, 0.1, 0.6, 0.4]), np.array([True, False, False, False])) == 0.75


def test_chamfer_conventions_on_a_known_offset():
    rng = np.random.default_rng(2)
    gt = rng.uniform(-10, 10, (500, 3)) * [1, 1, 0]  # a plane z = 0
    pred = gt + [0, 0, 0.05]
    out = metrics.chamfer(pred, gt)
    assert out["chamfer_mean_m"] == pytest.approx(0.05)
    assert out["chamfer_sq_sum_per_gt_m2"] == pytest.approx(2 * 0.05**2)


def test_mesh_chamfer_of_offset_boxes():
    import trimesh

    a = trimesh.creation.box((2, 2, 2))
    b = a.copy()
    b.apply_translation((0.1, 0, 0))
    same = metrics.mesh_chamfer(a, a.copy(), samples=20_000)
    moved = metrics.mesh_chamfer(a, b, samples=20_000)
    assert same["chamfer_mean_m"] < 0.02
    assert 0.03 < moved["chamfer_mean_m"] < 0.1
