"""Speed of ray generation with ego motion (redrive.render.rays) for every built-in LiDAR and a
1920x1080 rolling-shutter camera.

    python benchmarks/sensor_rays.py [--quick] [--json PATH]

Baseline, measured in the same run: the direct way, one interpolated 4x4 pose per ray
(``Trajectory.at(times) @ vehicle_from_sensor``) applied with einsum. ``speedup_x`` = baseline
time / ``lidar_rays`` (or ``camera_rays``) time; both include the sensor-frame directions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, median_time, standard_parser, write_report  # noqa: E402

sys.path.insert(0, str(REPO))

from redrive.geometry import se3  # noqa: E402
from redrive.geometry.cameras import CameraModel  # noqa: E402
from redrive.log.types import CameraSensor, Trajectory  # noqa: E402
from redrive.render.lidar_models import LIDAR_LIBRARY, lidar_model  # noqa: E402
from redrive.render.rays import camera_rays, lidar_rays  # noqa: E402
from redrive.render.sensors import VEHICLE_FROM_FORWARD_CAMERA  # noqa: E402


def _ego() -> Trajectory:
    t = np.linspace(0.0, 10.0, 101)  # 10 Hz poses, a curving drive
    return Trajectory(t, se3.make_pose(se3.yaw_rotation(0.2 * t), np.stack([15 * t, np.sin(t), 0 * t], -1)))


def _naive(ego: Trajectory, mount: np.ndarray, times: np.ndarray, d_s: np.ndarray) -> None:
    poses = ego.at(times) @ mount
    np.einsum("nij,nj->ni", poses[:, :3, :3], d_s)


def measure(repeats: int) -> dict[str, float]:
    ego = _ego()
    mount = se3.make_pose(np.eye(3), [0.5, 0.0, 1.9])
    figures: dict[str, float] = {}
    for name in LIDAR_LIBRARY:
        model = lidar_model(name)
        rays = lidar_rays(model, ego, mount, 3.0)
        fast = median_time(lambda: lidar_rays(model, ego, mount, 3.0), repeats)
        firings = model.firings(sweep_start=3.0)
        slow = median_time(lambda: _naive(ego, mount, 3.0 + firings.time_s, firings.directions()), max(1, repeats // 2))
        key = name.replace("-", "_")
        figures[f"{key}_rays"] = float(len(rays))
        figures[f"{key}_wall_ms"] = fast * 1e3
        figures[f"{key}_mrays_s"] = len(rays) / fast / 1e6
        figures[f"{key}_speedup_x"] = slow / fast
    cam = CameraSensor("cam", CameraModel("opencv", 1920, 1080, 1000.0, 1000.0, 959.5, 539.5, (-0.1, 0.01, 0.0, 0.0)),
                       se3.make_pose(VEHICLE_FROM_FORWARD_CAMERA, [1.5, 0.0, 1.6]), np.array([3.0]), 0.03)
    fast = median_time(lambda: camera_rays(cam, ego, 3.0), repeats)
    uv = cam.intrinsics.pixel_grid()

    def naive_camera() -> None:
        _naive(ego, cam.vehicle_from_camera, 3.0 + cam.pixel_time_offsets(uv), cam.intrinsics.unproject(uv))

    slow = median_time(naive_camera, max(1, repeats // 2))
    figures["camera_1080p_rs_wall_ms"] = fast * 1e3
    figures["camera_1080p_rs_mrays_s"] = uv.shape[0] / fast / 1e6
    figures["camera_1080p_rs_speedup_x"] = slow / fast
    return figures


def main(argv: list[str] | None = None) -> int:
    args = standard_parser(__doc__).parse_args(argv)
    figures = measure(2 if args.quick else 5)
    print(f"{'metric':<36} {'value':>12}")
    for metric, value in figures.items():
        print(f"{metric:<36} {value:>12.4g}")
    write_report(args.json, "sensor_rays", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
