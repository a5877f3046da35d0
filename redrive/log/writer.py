"""Writing a DriveLog, atomically: everything goes into a hidden sibling directory that is
renamed to the destination only once the manifest is complete, so an interrupted write never
leaves a log that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from redrive.errors import LogFormatError, RedriveError
from redrive.geometry.cameras import CameraModel
from redrive.log import checks
from redrive.log.manifest import FORMAT_NAME, FORMAT_VERSION, MANIFEST_NAME
from redrive.log.types import (
    ACTOR_CATEGORIES,
    ROLLING_SHUTTER_DIRECTIONS,
    ActorTrack,
    LidarBeams,
    LidarSweep,
    Trajectory,
)

NS = 1_000_000_000
IMAGE_FORMATS = ("png", "jpg")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file by writing a temporary sibling and renaming it over the target."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode("utf-8"))


def replace_directory(tmp: Path, out: Path) -> None:
    """Move a finished directory ``tmp`` to ``out``; an existing ``out`` is removed only after the
    new one is in place, so some complete version is always there."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def save_npz(path: Path, compress_level: int = 1, **arrays: np.ndarray) -> None:
    """Like ``np.savez_compressed`` but at a chosen zlib level: level 1 is several times faster
    than numpy's default and loses little size on depth maps and point clouds."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compress_level) as zf:
        for name, array in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)


class DriveLogWriter:
    """Builds a DriveLog directory.

    Use as a context manager; on a clean exit the log is finalised (``close``), on an exception
    the partial directory is removed. Times are float64 seconds relative to ``start_time_ns``.

    Example::

        with DriveLogWriter(out, name="my-drive", start_time_ns=t0) as w:
            w.set_ego(trajectory)
            w.add_camera("front", intrinsics, vehicle_from_camera)
            w.add_camera_frame("front", 0.0, image)
    """

    def __init__(
        self,
        out_dir: str | Path,
        name: str,
        start_time_ns: int,
        source: dict[str, Any] | None = None,
        overwrite: bool = False,
    ):
        self.out_dir = Path(out_dir)
        if self.out_dir.exists():
            if not overwrite:
                raise RedriveError(f"{self.out_dir} already exists (pass overwrite to replace it)")
            if not (self.out_dir / MANIFEST_NAME).is_file() and any(self.out_dir.iterdir()):
                raise RedriveError(f"{self.out_dir} exists and is not a DriveLog; refusing to replace it")
        self.overwrite = overwrite
        self.start_time_ns = int(start_time_ns)
        self.tmp_dir = self.out_dir.parent / f".{self.out_dir.name}.partial-{os.getpid()}"
        if self.tmp_dir.exists():
            shutil.rmtree(self.tmp_dir)
        self.tmp_dir.mkdir(parents=True)
        self.manifest: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": name,
            "start_time_ns": self.start_time_ns,
            "source": dict(source or {}),
            "ego": None,
            "cameras": [],
            "lidars": [],
        }
        self._cameras: dict[str, dict] = {}
        self._lidars: dict[str, dict] = {}
        self._actors: list[ActorTrack] = []
        self._gt: dict[str, Any] = {}
        self._closed = False

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> "DriveLogWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def abort(self) -> None:
        """Discard everything written so far."""
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self._closed = True

    # ------------------------------------------------------------------ helpers
    def _ns(self, seconds: float | np.ndarray) -> np.ndarray:
        return np.round(np.asarray(seconds, dtype=np.float64) * NS).astype(np.int64) + self.start_time_ns

    def _file(self, relative: str) -> Path:
        path = self.tmp_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _claim(self, name: str) -> None:
        if not name or "/" in name or name.startswith("."):
            raise RedriveError(f"sensor name {name!r} must be a non-empty plain name")
        if name in self._cameras or name in self._lidars:
            raise RedriveError(f"sensor name {name!r} is used twice")

    def _where(self, what: str) -> str:
        return f"{self.out_dir} (writing {what})"

    # ------------------------------------------------------------------ ego and actors
    def set_ego(self, trajectory: Trajectory) -> None:
        """The ``world_from_vehicle`` trajectory."""
        where = self._where("ego_poses.npz")
        stamps = checks.check_increasing(where, "timestamps_ns", self._ns(trajectory.times))
        poses = checks.check_poses(where, "world_from_vehicle", trajectory.poses)
        np.savez(self._file("ego_poses.npz"), timestamps_ns=stamps, world_from_vehicle=poses)
        self.manifest["ego"] = {"file": "ego_poses.npz"}

    def add_actor(self, track: ActorTrack) -> None:
        where = self._where(f"actor {track.id!r}")
        if track.category not in ACTOR_CATEGORIES:
            raise LogFormatError(where, "category", track.category, f"must be one of {', '.join(ACTOR_CATEGORIES)}")
        if any(a.id == track.id for a in self._actors):
            raise LogFormatError(where, "id", track.id, "actor ids must be unique")
        checks.check_increasing(where, "timestamps_ns", self._ns(track.trajectory.times))
        checks.check_poses(where, "world_from_box", track.trajectory.poses)
        self._actors.append(track)

    # ------------------------------------------------------------------ cameras
    def add_camera(
        self,
        name: str,
        intrinsics: CameraModel,
        vehicle_from_camera: np.ndarray,
        rolling_shutter_s: float = 0.0,
        rolling_shutter_direction: str = "top_to_bottom",
        image_format: str = "png",
    ) -> None:
        self._claim(name)
        where = self._where(f"camera {name!r}")
        extr = checks.check_poses(where, "vehicle_from_camera", vehicle_from_camera)
        if rolling_shutter_direction not in ROLLING_SHUTTER_DIRECTIONS:
            raise LogFormatError(where, "rolling_shutter.direction", rolling_shutter_direction,
                                 f"must be one of {', '.join(ROLLING_SHUTTER_DIRECTIONS)}")
        if image_format not in IMAGE_FORMATS:
            raise LogFormatError(where, "image_format", image_format, f"must be one of {IMAGE_FORMATS}")
        entry = {
            "name": name,
            "intrinsics": intrinsics.to_dict(),
            "vehicle_from_camera": extr.tolist(),
            "rolling_shutter": {"readout_s": float(rolling_shutter_s), "direction": rolling_shutter_direction},
            "frames": [],
        }
        self.manifest["cameras"].append(entry)
        self._cameras[name] = {"entry": entry, "intrinsics": intrinsics, "format": image_format}

    def _next_frame(self, name: str, time_s: float, kind: str) -> tuple[dict, int, int]:
        table = self._cameras if kind == "camera" else self._lidars
        if name not in table:
            raise RedriveError(f"{self._where(name)}: add the {kind} {name!r} before its frames")
        entry = table[name]["entry"]
        frames = entry["frames" if kind == "camera" else "sweeps"]
        stamp = int(self._ns(time_s))
        if frames and stamp <= frames[-1]["timestamp_ns"]:
            raise LogFormatError(self._where(f"{kind} {name!r}"), f"frames[{len(frames)}].timestamp_ns", stamp,
                                 f"timestamps must be strictly increasing (previous is {frames[-1]['timestamp_ns']})")
        return table[name], len(frames), stamp

    def add_camera_frame(self, name: str, time_s: float, image: np.ndarray) -> str:
        """Encode and store one (H, W, 3) uint8 frame; returns its relative path."""
        import imageio.v3 as iio

        cam, index, stamp = self._next_frame(name, time_s, "camera")
        intr: CameraModel = cam["intrinsics"]
        if image.shape != (intr.height, intr.width, 3) or image.dtype != np.uint8:
            raise LogFormatError(self._where(f"camera {name!r}"), f"frames[{index}]", (image.shape, str(image.dtype)),
                                 f"expected a ({intr.height}, {intr.width}, 3) uint8 image")
        rel = f"cameras/{name}/{index:06d}.{cam['format']}"
        if cam["format"] == "png":
            iio.imwrite(self._file(rel), image, extension=".png", compress_level=3)
        else:
            iio.imwrite(self._file(rel), image, extension=".jpg", quality=95)
        cam["entry"]["frames"].append({"timestamp_ns": stamp, "image": rel})
        return rel

    def add_camera_frame_file(self, name: str, time_s: float, source: str | Path) -> str:
        """Store an already-encoded image file as is (readers keep the source's JPEGs)."""
        cam, index, stamp = self._next_frame(name, time_s, "camera")
        suffix = Path(source).suffix.lower().lstrip(".")
        suffix = "jpg" if suffix == "jpeg" else suffix
        if suffix not in IMAGE_FORMATS:
            raise LogFormatError(source, "", suffix, f"image files must be one of {IMAGE_FORMATS}")
        rel = f"cameras/{name}/{index:06d}.{suffix}"
        shutil.copyfile(source, self._file(rel))
        cam["entry"]["frames"].append({"timestamp_ns": stamp, "image": rel})
        return rel

    # ------------------------------------------------------------------ lidars
    def add_lidar(self, name: str, vehicle_from_lidar: np.ndarray, beams: LidarBeams | None = None) -> None:
        self._claim(name)
        where = self._where(f"lidar {name!r}")
        extr = checks.check_poses(where, "vehicle_from_lidar", vehicle_from_lidar)
        entry: dict[str, Any] = {"name": name, "vehicle_from_lidar": extr.tolist(), "sweeps": []}
        if beams is not None:
            if beams.beam_count == 0:
                raise LogFormatError(where, "beams.elevations_deg", [], "beam table is empty")
            entry["beams"] = {
                "elevations_deg": np.asarray(beams.elevations_deg, dtype=float).tolist(),
                "azimuth_count": int(beams.azimuth_count),
                "azimuth_offsets_deg": None if beams.azimuth_offsets_deg is None
                else np.asarray(beams.azimuth_offsets_deg, dtype=float).tolist(),
                "rotation_hz": float(beams.rotation_hz),
                "min_range_m": float(beams.min_range_m),
                "max_range_m": float(beams.max_range_m),
            }
        self.manifest["lidars"].append(entry)
        self._lidars[name] = {"entry": entry}

    def add_sweep(self, name: str, time_s: float, sweep: LidarSweep) -> str:
        """Store one sweep (sensor-frame points with per-point times); returns its relative path."""
        lid, index, stamp = self._next_frame(name, time_s, "lidar")
        where = self._where(f"lidar {name!r} sweep {index}")
        n = len(sweep.points)
        arrays = {
            "points": checks.check_array(where, "points", sweep.points, (n, 3), "f").astype(np.float32),
            "timestamps_ns": self._ns(checks.check_array(where, "times", sweep.times, (n,), "f")),
            "intensity": checks.check_array(where, "intensity", sweep.intensity, (n,), "f").astype(np.float32),
            "beam": checks.check_array(where, "beam", sweep.beam, (n,), "iu").astype(np.int16),
        }
        if sweep.drop_directions is not None:
            m = len(sweep.drop_directions)
            arrays["drop_directions"] = checks.check_array(where, "drop_directions", sweep.drop_directions, (m, 3), "f").astype(np.float32)
            arrays["drop_timestamps_ns"] = self._ns(checks.check_array(where, "drop_times", sweep.drop_times, (m,), "f"))
            arrays["drop_beam"] = checks.check_array(where, "drop_beam", sweep.drop_beam, (m,), "iu").astype(np.int16)
        rel = f"lidars/{name}/{index:06d}.npz"
        save_npz(self._file(rel), **arrays)
        lid["entry"]["sweeps"].append({"timestamp_ns": stamp, "file": rel})
        return rel

    # ------------------------------------------------------------------ ground truth
    def add_gt_mesh(self, vertices: np.ndarray, faces: np.ndarray, actor_id: str | None = None,
                    vertex_colors: np.ndarray | None = None) -> str:
        """Store the static scene mesh (world frame) or one actor's mesh (box frame) as PLY."""
        import trimesh

        mesh = trimesh.Trimesh(vertices=vertices, faces=faces, vertex_colors=vertex_colors, process=False)
        rel = "gt/static.ply" if actor_id is None else f"gt/actors/{actor_id}.ply"
        mesh.export(self._file(rel))
        if actor_id is None:
            self._gt["static_mesh"] = rel
        else:
            self._gt.setdefault("actor_meshes", {})[actor_id] = rel
        return rel

    def add_gt_camera_frame(self, name: str, index: int, depth: np.ndarray, instance: np.ndarray) -> str:
        """Store a frame's z-depth (H, W) float32 and instance mask (H, W) int32."""
        if name not in self._cameras:
            raise RedriveError(f"{self._where(name)}: add the camera {name!r} before its ground truth")
        rel = f"gt/cameras/{name}/{index:06d}.npz"
        save_npz(self._file(rel), depth=depth.astype(np.float32), instance=instance.astype(np.int32))
        files = self._gt.setdefault("camera_frames", {}).setdefault(name, [])
        if len(files) != index:
            raise RedriveError(f"{self._where(name)}: ground-truth frames must be added in order (got {index}, expected {len(files)})")
        files.append(rel)
        return rel

    def add_file(self, relative: str, data: bytes) -> str:
        """Store an extra file (e.g. a generator's scene description) inside the log."""
        from redrive.log.manifest import check_relpath

        check_relpath(self._where(relative), "file", relative, self.tmp_dir, must_exist=False)
        atomic_write_bytes(self._file(relative), data)
        return relative

    def set_instance_actors(self, actor_ids: list[str]) -> None:
        """Actor ids in instance-mask order (mask value k is ``actor_ids[k - 1]``)."""
        self._gt["instance_actors"] = list(actor_ids)

    # ------------------------------------------------------------------ finishing
    def close(self) -> Path:
        """Write the actor table and the manifest, then move the log into place."""
        if self._closed:
            return self.out_dir
        if self.manifest["ego"] is None:
            raise RedriveError(f"{self._where('log.json')}: set_ego() was never called")
        for cam in self._cameras.values():
            frames = cam["entry"]["frames"]
            gt_frames = self._gt.get("camera_frames", {}).get(cam["entry"]["name"])
            if gt_frames is not None and len(gt_frames) != len(frames):
                raise RedriveError(f"{self._where('ground truth')}: camera {cam['entry']['name']!r} has "
                                   f"{len(frames)} frames but {len(gt_frames)} ground-truth frames")
        if self._actors:
            index = np.concatenate([np.full(len(a.trajectory), i, np.int32) for i, a in enumerate(self._actors)])
            np.savez(
                self._file("actors.npz"),
                actor_index=index,
                timestamps_ns=np.concatenate([self._ns(a.trajectory.times) for a in self._actors]),
                world_from_box=np.concatenate([a.trajectory.poses for a in self._actors]),
            )
            self.manifest["actors"] = {
                "file": "actors.npz",
                "list": [
                    {"id": a.id, "category": a.category, "size": np.asarray(a.size, float).tolist(), "dynamic": bool(a.dynamic)}
                    for a in self._actors
                ],
            }
        if self._gt:
            self.manifest["ground_truth"] = self._gt
        atomic_write_json(self.tmp_dir / MANIFEST_NAME, self.manifest)
        replace_directory(self.tmp_dir, self.out_dir)
        self._closed = True
        return self.out_dir
