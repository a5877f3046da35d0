"""Metrics, one definition each (numpy; images in [0, 1], distances in metres).

Cameras: PSNR and SSIM, optionally inside a mask (e.g. the projection of actor boxes).
LiDAR: median absolute and median squared range error over rays that return in both, intensity
RMSE, ray-drop accuracy, and Chamfer distance in two stated conventions. Meshes: Chamfer between
points sampled on two meshes.
"""

from __future__ import annotations

import numpy as np


def _check_pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from target shape {target.shape}")
    return pred, target


def psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB of images (H, W[, C]) with values in [0, 1].

    With ``mask`` (H, W) bool, only masked pixels count. Identical images give ``inf``.
    """
    pred, target = _check_pair(pred, target)
    err = (pred - target) ** 2
    if mask is not None:
        err = err[np.asarray(mask, dtype=bool)]
    if err.size == 0:
        raise ValueError("psnr over an empty mask")
    mse = float(err.mean())
    return float("inf") if mse == 0 else float(-10.0 * np.log10(mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of (H, W, C) with a 1-D window along H then W."""
    k = len(window)
    h, w = image.shape[:2]
    rows = sum(window[i] * image[i : h - k + 1 + i] for i in range(k))
    return sum(window[i] * rows[:, i : w - k + 1 + i] for i in range(k))


def ssim_map(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (H - 10, W - 10) of images in [0, 1] (Wang et al. 2004: 11x11 Gaussian
    window, sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1; channels averaged; valid region)."""
    pred, target = _check_pair(pred, target)
    if pred.ndim == 2:
        pred, target = pred[..., None], target[..., None]
    if min(pred.shape[:2]) < 11:
        raise ValueError(f"ssim needs images of at least 11x11 pixels, got {pred.shape[:2]}")
    win = _gaussian_window()
    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = _filter_valid(pred, win), _filter_valid(target, win)
    sxx = _filter_valid(pred * pred, win) - mu_x**2
    syy = _filter_valid(target * target, win) - mu_y**2
    sxy = _filter_valid(pred * target, win) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return (num / den).mean(axis=-1)


def ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM; with ``mask`` (H, W), the mean over windows centred on masked pixels."""
    values = ssim_map(pred, target)
    if mask is None:
        return float(values.mean())
    inner = np.asarray(mask, dtype=bool)[5:-5, 5:-5]
    if not inner.any():
        raise ValueError("ssim over an empty mask (the 5-pixel border is excluded)")
    return float(values[inner].mean())


def lidar_range_errors(pred_range: np.ndarray, target_range: np.ndarray) -> dict[str, float]:
    """Median absolute and median squared range error (m, m^2) over rays that return in both.

    Non-returns are marked by ``nan`` or ``inf`` range.
    """
    pred, target = _check_pair(pred_range, target_range)
    both = np.isfinite(pred) & np.isfinite(target)
    if not both.any():
        raise ValueError("no ray returns in both prediction and target")
    err = pred[both] - target[both]
    return {
        "median_abs_m": float(np.median(np.abs(err))),
        "median_sq_m2": float(np.median(err**2)),
        "returned_rays": int(both.sum()),
    }


def intensity_rmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared intensity error (intensities normalised to [0, 1])."""
    pred, target = _check_pair(pred, target)
    return float(np.sqrt(np.mean((pred - target) ** 2)))


def ray_drop_accuracy(drop_probability: np.ndarray, dropped: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of rays whose drop decision (probability > threshold) matches the truth."""
    prob = np.asarray(drop_probability, dtype=np.float64)
    truth = np.asarray(dropped, dtype=bool)
    if prob.shape != truth.shape:
        raise ValueError(f"prediction shape {prob.shape} differs from target shape {truth.shape}")
    return float(np.mean((prob > threshold) == truth))


def nearest_distances(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """For each point of ``source`` (N, 3), its distance to the nearest point of ``target`` (M, 3)."""
    from scipy.spatial import cKDTree

    if len(source) == 0 or len(target) == 0:
        raise ValueError("nearest distances need non-empty point sets")
    return cKDTree(np.asarray(target, dtype=np.float64)).query(np.asarray(source, dtype=np.float64), workers=-1)[0]


def chamfer(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Chamfer distance between point sets pred (N, 3) and target (M, 3), two conventions:

    - ``chamfer_sq_sum_per_gt_m2``: NeuRAD's convention, the sum of squared nearest distances in
      both directions divided by the number of target (ground-truth) points;
    - ``chamfer_mean_m``: the mean of the two directed mean distances (symmetric, in metres).
    """
    d_pt = nearest_distances(pred, target)
    d_tp = nearest_distances(target, pred)
    return {
        "chamfer_sq_sum_per_gt_m2": float((np.sum(d_pt**2) + np.sum(d_tp**2)) / len(target)),
        "chamfer_mean_m": float(0.5 * (d_pt.mean() + d_tp.mean())),
    }


def mesh_chamfer(pred_mesh, target_mesh, samples: int = 200_000, seed: int = 0) -> dict[str, float]:
    """Chamfer (both conventions) between points sampled uniformly on two trimesh meshes."""
    import trimesh

    rng = np.random.default_rng(seed)
    pts = []
    for mesh in (pred_mesh, target_mesh):
        points, _ = trimesh.sample.sample_surface(mesh, samples, seed=int(rng.integers(2**31)))
        pts.append(points)
    return chamfer(pts[0], pts[1])
