"""SE(3) helpers on 4x4 homogeneous matrices (numpy, float64).

Poses follow the ``world_from_<frame>`` convention: ``p_world = T @ p_frame``. Interpolation is
along the SE(3) geodesic (screw motion), which reproduces a constant-twist motion exactly, e.g. a
vehicle driving a circular arc at constant speed between two pose samples.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-9


def make_pose(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Stack rotation (..., 3, 3) and translation (..., 3) into poses (..., 4, 4)."""
    rotation = np.asarray(rotation, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64)
    batch = np.broadcast_shapes(rotation.shape[:-2], translation.shape[:-1])
    pose = np.zeros(batch + (4, 4))
    pose[..., :3, :3] = rotation
    pose[..., :3, 3] = translation
    pose[..., 3, 3] = 1.0
    return pose


def invert(pose: np.ndarray) -> np.ndarray:
    """Inverse of rigid poses (..., 4, 4), using R^T rather than a general inverse."""
    rot_t = np.swapaxes(pose[..., :3, :3], -1, -2)
    return make_pose(rot_t, -np.einsum("...ij,...j->...i", rot_t, pose[..., :3, 3]))


def transform_points(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply one pose (4, 4) to points (N, 3)."""
    return points @ pose[:3, :3].T + pose[:3, 3]


def yaw_rotation(yaw: np.ndarray | float) -> np.ndarray:
    """Rotation(s) about +z by ``yaw`` radians: (..., 3, 3)."""
    yaw = np.asarray(yaw, dtype=np.float64)
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.zeros(yaw.shape + (3, 3))
    rot[..., 0, 0], rot[..., 0, 1] = c, -s
    rot[..., 1, 0], rot[..., 1, 1] = s, c
    rot[..., 2, 2] = 1.0
    return rot


def _skew(v: np.ndarray) -> np.ndarray:
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def so3_log(rotation: np.ndarray) -> np.ndarray:
    """Axis-angle vectors (..., 3) of rotations (..., 3, 3); stable near 0 and pi."""
    rotation = np.asarray(rotation, dtype=np.float64)
    trace = np.trace(rotation, axis1=-2, axis2=-1)
    cos = np.clip((trace - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)
    vee = np.stack(
        [
            rotation[..., 2, 1] - rotation[..., 1, 2],
            rotation[..., 0, 2] - rotation[..., 2, 0],
            rotation[..., 1, 0] - rotation[..., 0, 1],
        ],
        axis=-1,
    )
    sin = np.sin(angle)
    small = angle < 1e-6
    scale = np.where(small, 0.5 + angle**2 / 12.0, angle / (2.0 * np.where(small, 1.0, sin)))
    out = vee * scale[..., None]
    # Near pi, sin -> 0 and the antisymmetric part vanishes: read the axis off R + I instead.
    near_pi = angle > np.pi - 1e-4
    if np.any(near_pi):
        r = rotation[near_pi]
        sym = ((r + np.swapaxes(r, -1, -2)) / 2.0 + np.eye(3)) / 2.0
        col = np.argmax(np.diagonal(sym, axis1=-2, axis2=-1), axis=-1)
        axis = sym[np.arange(len(r)), :, col]
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        # Pick the sign that agrees with the (small) antisymmetric part.
        sign = np.where(np.sum(axis * vee[near_pi], axis=-1) < 0, -1.0, 1.0)
        out[near_pi] = axis * (sign * angle[near_pi])[..., None]
    return out


def so3_exp(omega: np.ndarray) -> np.ndarray:
    """Rotations (..., 3, 3) from axis-angle vectors (..., 3) (Rodrigues)."""
    omega = np.asarray(omega, dtype=np.float64)
    theta = np.linalg.norm(omega, axis=-1)
    k = _skew(omega)
    small = theta < 1e-6
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 1.0 - theta**2 / 6.0, np.sin(theta) / safe)
    b = np.where(small, 0.5 - theta**2 / 24.0, (1.0 - np.cos(theta)) / safe**2)
    return np.eye(3) + a[..., None, None] * k + b[..., None, None] * (k @ k)


def _left_jacobian_coeffs(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    small = theta < 1e-5
    safe = np.where(small, 1.0, theta)
    b = np.where(small, 0.5 - theta**2 / 24.0, (1.0 - np.cos(theta)) / safe**2)
    c = np.where(small, 1.0 / 6.0 - theta**2 / 120.0, (theta - np.sin(theta)) / safe**3)
    return b, c


def se3_log(pose: np.ndarray) -> np.ndarray:
    """Twists (..., 6) = (rho, omega) of poses (..., 4, 4)."""
    omega = so3_log(pose[..., :3, :3])
    theta = np.linalg.norm(omega, axis=-1)
    k = _skew(omega)
    small = theta < 1e-5
    safe = np.where(small, 1.0, theta)
    # Inverse of the left Jacobian: I - K/2 + coef * K^2.
    coef = np.where(
        small,
        1.0 / 12.0 + theta**2 / 720.0,
        (1.0 - (safe * np.sin(safe)) / (2.0 * (1.0 - np.cos(safe)))) / safe**2,
    )
    v_inv = np.eye(3) - 0.5 * k + coef[..., None, None] * (k @ k)
    rho = np.einsum("...ij,...j->...i", v_inv, pose[..., :3, 3])
    return np.concatenate([rho, omega], axis=-1)


def se3_exp(twist: np.ndarray) -> np.ndarray:
    """Poses (..., 4, 4) from twists (..., 6) = (rho, omega)."""
    twist = np.asarray(twist, dtype=np.float64)
    rho, omega = twist[..., :3], twist[..., 3:]
    theta = np.linalg.norm(omega, axis=-1)
    k = _skew(omega)
    b, c = _left_jacobian_coeffs(theta)
    v = np.eye(3) + b[..., None, None] * k + c[..., None, None] * (k @ k)
    return make_pose(so3_exp(omega), np.einsum("...ij,...j->...i", v, rho))


def rigidity_error(pose: np.ndarray) -> np.ndarray:
    """How far poses (..., 4, 4) are from rigid: max of |R^T R - I|, |det R - 1|, |last row - e4|."""
    rot = pose[..., :3, :3]
    orth = np.abs(np.swapaxes(rot, -1, -2) @ rot - np.eye(3)).max(axis=(-1, -2))
    det = np.abs(np.linalg.det(rot) - 1.0)
    row = np.abs(pose[..., 3, :] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=-1)
    return np.maximum(np.maximum(orth, det), row)


def interpolate_poses(times: np.ndarray, poses: np.ndarray, query: np.ndarray | float) -> np.ndarray:
    """Poses at ``query`` times from samples ``poses`` (N, 4, 4) at increasing ``times`` (N,).

    Between samples the motion follows the SE(3) geodesic; outside the sampled span the first
    or last pose is held (no extrapolation: a log says nothing about motion it did not record).
    Returns (..., 4, 4) matching the shape of ``query``.
    """
    times = np.asarray(times, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64)
    flat = query.reshape(-1)
    if len(times) == 1:
        return np.broadcast_to(poses[0], query.shape + (4, 4)).copy()
    idx = np.clip(np.searchsorted(times, flat, side="right") - 1, 0, len(times) - 2)
    t0, t1 = times[idx], times[idx + 1]
    alpha = np.clip((flat - t0) / (t1 - t0), 0.0, 1.0)
    p0 = poses[idx]
    delta = se3_log(invert(p0) @ poses[idx + 1])
    out = p0 @ se3_exp(delta * alpha[:, None])
    return out.reshape(query.shape + (4, 4))
