"""DriveLog -> nerfstudio dataset (``transforms.json`` + images [+ LiDAR ``points3D.ply``]).

The file follows nerfstudio's ``nerfstudio-data`` format as its own data parser reads it
(``nerfstudio/data/dataparsers/nerfstudio_dataparser.py``):

- ``camera_model``: ``PINHOLE``, ``OPENCV`` (k1, k2, k3, p1, p2: OpenCV's five-coefficient model) or
  ``OPENCV_FISHEYE`` (k1..k4), one for the whole file. Cameras with OpenCV's rational model
  (8 coefficients, which nerfstudio cannot express) are resampled to pinhole; so are all cameras
  when fisheye and perspective cameras are mixed, or when ``rectify`` is set.
- Intrinsics ``fl_x, fl_y, cx, cy, w, h`` (+ distortion) at the top level when every exported
  camera has the same, else in every frame. nerfstudio's pixel coordinates put pixel centres at
  +0.5 (COLMAP's convention), redrive's at integers (OpenCV's): ``cx, cy`` are written + 0.5.
- ``transform_matrix``: camera-to-world in nerfstudio's (OpenGL) camera axes: x right, y up,
  z back, i.e. ``world_from_camera(OpenCV) @ diag(1, -1, -1, 1)``. The world is recentred on the
  mean camera position (nerfstudio turns poses into float32 before centring them); the shift is
  recorded as ``applied_transform`` (3x4), which nerfstudio composes into its dataparser
  transform, so the original world frame can be recovered.
- ``ply_file_path``: LiDAR returns (each at its own ego pose) in the same recentred frame as the
  camera poses, coloured by intensity (grey), as nerfstudio >= 1.1 reads them (it maps the
  point cloud with the transform it applies to the poses).
- Per frame, redrive adds ``camera`` and ``time_s`` (nerfstudio ignores keys it does not know).

Image paths are flat (``images/<camera>_<frame>.<ext>``) because nerfstudio's downscaled image
folders (``images_2/``...) keep only the file name.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redrive.errors import RedriveError
from redrive.export.common import ExportOptions, Rectifier, frame_indices, open_source, select_sensors, sweep_indices
from redrive.export.publish import PublishDir
from redrive.log import DriveLog
from redrive.log.writer import atomic_write_json

OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
"""Right-multiplying a world_from_camera (OpenCV axes) gives nerfstudio's camera axes."""


@dataclass
class NerfstudioExportConfig:
    """How to write the nerfstudio dataset."""

    rectify: bool = False
    """Resample every image to pinhole (``camera_model`` PINHOLE) instead of keeping distortion."""
    max_points: int = 200_000
    """LiDAR points written to ``points3D.ply`` (evenly subsampled); 0: no point cloud."""


def export(log_path: str | Path, out: str | Path, options: ExportOptions | None = None,
           config: NerfstudioExportConfig | None = None) -> Path:
    """Write the log (or render) at ``log_path`` as a nerfstudio dataset at ``out``."""
    from tqdm import tqdm

    options = options or ExportOptions()
    config = config or NerfstudioExportConfig()
    log = open_source(log_path)
    cameras = select_sensors(log, "camera", options.cameras)
    if not cameras:
        raise RedriveError(f"{log.root}: nerfstudio needs at least one camera; none is selected")
    model_name, rectifiers = _camera_model(log, cameras, config.rectify)
    frames = [(cam, int(i)) for cam in cameras for i in frame_indices(log, cam, options)]
    poses = np.stack([log.world_from_camera(cam, log.camera(cam).frame_times[i]) for cam, i in frames])
    centre = poses[:, :3, 3].mean(axis=0)
    applied = np.eye(4)[:3]
    applied[:, 3] = -centre

    intrinsics = {cam: _intrinsics(log, cam, rectifiers[cam], model_name) for cam in cameras}
    shared = len({tuple(sorted(v.items())) for v in intrinsics.values()}) == 1
    meta: dict = {"camera_model": model_name}
    if shared:
        meta.update(intrinsics[cameras[0]])
    meta["applied_transform"] = applied.tolist()
    meta["frames"] = []
    with PublishDir(out, options.overwrite) as tmp:
        (tmp / "images").mkdir()
        for (cam, i), pose in tqdm(list(zip(frames, poses)), desc="export nerfstudio", unit="frame", dynamic_ncols=True, leave=False):
            rel = _write_image(log, cam, i, rectifiers[cam], tmp)
            gl = pose @ OPENGL_FROM_OPENCV
            gl[:3, 3] -= centre
            frame = {"file_path": rel, "transform_matrix": gl.tolist(), "camera": cam,
                     "time_s": float(log.camera(cam).frame_times[i])}
            if not shared:
                frame.update(intrinsics[cam])
            meta["frames"].append(frame)
        lidars = select_sensors(log, "lidar", options.lidars)
        if config.max_points > 0 and lidars:
            count = _write_ply(log, lidars, options, config.max_points, tmp / "points3D.ply", centre)
            if count:
                meta["ply_file_path"] = "points3D.ply"
        atomic_write_json(tmp / "transforms.json", meta)
    return Path(out)


def _camera_model(log: DriveLog, cameras: list[str], rectify: bool) -> tuple[str, dict[str, Rectifier]]:
    models = {cam: log.camera(cam).intrinsics for cam in cameras}
    keep = {cam: not rectify and (m.model != "opencv" or len(m.distortion) <= 5) for cam, m in models.items()}
    kinds = {models[c].model for c in cameras if keep[c]} - {"pinhole"}
    if "fisheye" in kinds and (len(kinds) > 1 or any(models[c].model == "pinhole" or not keep[c] for c in cameras)):
        # One camera model per file: mixed fisheye and perspective cameras are all made pinhole.
        keep = dict.fromkeys(cameras, False)
        kinds = set()
    rectifiers = {}
    for cam in cameras:
        m = models[cam]
        rectifiers[cam] = Rectifier(m) if not keep[cam] else _Keep(m)
    name = "OPENCV_FISHEYE" if kinds == {"fisheye"} else "OPENCV" if kinds == {"opencv"} else "PINHOLE"
    return name, rectifiers


class _Keep(Rectifier):
    """The camera is written as it is (its distortion goes into transforms.json)."""

    def __init__(self, model):
        self.source = self.target = model
        self.map = None


def _intrinsics(log: DriveLog, cam: str, rectifier: Rectifier, model_name: str) -> dict:
    m = rectifier.target
    # nerfstudio puts pixel centres at +0.5 (an image spans [0, w]); redrive, like OpenCV, at integers
    out = {"fl_x": m.fx, "fl_y": m.fy, "cx": m.cx + 0.5, "cy": m.cy + 0.5, "w": m.width, "h": m.height}
    d = list(m.distortion) if m.model != "pinhole" else []
    if model_name == "OPENCV":
        d = (d + [0.0] * 5)[:5]
        out.update(k1=d[0], k2=d[1], k3=d[4], p1=d[2], p2=d[3])
    elif model_name == "OPENCV_FISHEYE":
        out.update(k1=d[0], k2=d[1], k3=d[2], k4=d[3])
    return out


def _write_image(log: DriveLog, cam: str, index: int, rectifier: Rectifier, root: Path) -> str:
    import imageio.v3 as iio

    source = log.root / log.image_files[cam][index]
    if rectifier.identity:
        rel = f"images/{cam}_{index:06d}{source.suffix.lower()}"
        shutil.copyfile(source, root / rel)
    else:
        rel = f"images/{cam}_{index:06d}.png"
        iio.imwrite(root / rel, rectifier(log.load_image(cam, index)), extension=".png", compress_level=3)
    return rel


def _write_ply(log: DriveLog, lidars: list[str], options: ExportOptions, max_points: int, path: Path,
               centre: np.ndarray) -> int:
    """LiDAR returns in the world frame shifted by ``-centre``, evenly subsampled to
    ``max_points``; returns the count."""
    from plyfile import PlyData, PlyElement

    from redrive.log.readers._common import poses_at_times

    chunks, gray = [], []
    for lidar in lidars:
        vehicle_from_lidar = log.lidar(lidar).vehicle_from_lidar
        for k in sweep_indices(log, lidar, options):
            sweep = log.load_sweep(lidar, int(k))
            # Sweeps share firing times within a column, so poses are computed per distinct time.
            world = poses_at_times(log.ego, np.round(sweep.times, 6)) @ vehicle_from_lidar
            chunks.append(np.einsum("nij,nj->ni", world[:, :3, :3], sweep.points.astype(np.float64)) + world[:, :3, 3])
            gray.append(sweep.intensity)
    if not chunks:
        return 0
    points, intensity = np.concatenate(chunks) - centre, np.concatenate(gray)
    if len(points) > max_points:
        keep = np.linspace(0, len(points) - 1, max_points).round().astype(np.int64)
        points, intensity = points[keep], intensity[keep]
    level = (np.clip(intensity, 0.0, 1.0) * 255).round().astype(np.uint8)
    vertex = np.empty(len(points), dtype=[("x", "f8"), ("y", "f8"), ("z", "f8"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    vertex["x"], vertex["y"], vertex["z"] = points.T
    vertex["red"] = vertex["green"] = vertex["blue"] = level
    PlyData([PlyElement.describe(vertex, "vertex")], text=False).write(str(path))
    return len(points)
