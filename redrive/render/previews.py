"""Preview outputs of a simulation: MP4 videos (cameras, LiDAR bird's-eye view and range image)
and PLY point clouds of sweeps.

Videos are H.264 (yuv420p, even frame sizes; odd sizes are padded by one black row/column) through
imageio-ffmpeg, streamed frame by frame so that memory stays flat on long renders.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


class VideoWriter:
    """Appends (H, W, 3) uint8 frames to an MP4 file (created at the first frame)."""

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps = Path(path), float(fps)
        self._writer = None
        self.frames = 0

    def append(self, frame: np.ndarray) -> None:
        import imageio.v2 as iio2

        h, w = frame.shape[:2]
        if h % 2 or w % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)))
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = iio2.get_writer(str(self.path), format="FFMPEG", mode="I", fps=self.fps, codec="libx264",
                                           pixelformat="yuv420p", quality=7, macro_block_size=2,
                                           ffmpeg_log_level="error")
        self._writer.append_data(np.ascontiguousarray(frame, np.uint8))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def colourise(values: np.ndarray, lo: float, hi: float, cmap: str = "turbo") -> np.ndarray:
    """(..., 3) uint8 colours of ``values`` mapped from [lo, hi]; non-finite values are black."""
    import matplotlib

    table = (matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    finite = np.isfinite(values)
    x = np.clip((np.where(finite, values, lo) - lo) / max(hi - lo, 1e-9), 0, 1)
    out = table[(x * 255).astype(np.int64)]
    out[~finite] = 0
    return out


def range_image(ranges: np.ndarray, beam: np.ndarray, column: np.ndarray, rows_by_elevation: np.ndarray,
                columns: int, max_range_m: float) -> np.ndarray:
    """(B, C, 3) uint8 range image of a spinning sweep: rows from the highest beam down, colour =
    log range (turbo), black = no return. ``ranges`` (N,) inf where dropped."""
    row_of_beam = np.empty(len(rows_by_elevation), np.int64)
    row_of_beam[rows_by_elevation] = np.arange(len(rows_by_elevation))
    img = np.full((len(rows_by_elevation), columns), np.inf)
    img[row_of_beam[beam.astype(np.int64)], np.clip(column, 0, columns - 1)] = ranges
    return colourise(np.log(np.maximum(img, 0.5)), np.log(1.0), np.log(max_range_m))


def _line_points(a: np.ndarray, b: np.ndarray, step: float) -> np.ndarray:
    n = max(2, int(np.ceil(np.linalg.norm(b - a) / step)) + 1)
    return a + (b - a) * np.linspace(0, 1, n)[:, None]


def birds_eye(points_vehicle: np.ndarray, intensity: np.ndarray, boxes: list[np.ndarray],
              half_extent_m: float = 50.0, size: int = 512) -> np.ndarray:
    """(size, size, 3) uint8 top view around the vehicle (x up the image, y to the left):
    points coloured by intensity, ``boxes`` (each (4, 3) footprint corners in order around the box,
    vehicle frame) as red outlines,
    the ego as a white cross."""
    img = np.zeros((size, size, 3), np.uint8)
    scale = size / (2 * half_extent_m)

    def pixels(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = np.floor((half_extent_m - p[:, 0]) * scale).astype(np.int64)
        c = np.floor((half_extent_m - p[:, 1]) * scale).astype(np.int64)
        ok = (r >= 0) & (r < size) & (c >= 0) & (c < size)
        return r[ok], c[ok], ok

    if len(points_vehicle):
        r, c, ok = pixels(points_vehicle)
        img[r, c] = colourise(np.asarray(intensity, float)[ok], 0.0, 1.0, "viridis")
    for corners in boxes:
        ring = np.concatenate([_line_points(corners[k], corners[(k + 1) % 4], 0.5 / scale) for k in range(4)])
        r, c, _ = pixels(ring)
        img[r, c] = (255, 40, 40)
    mid = size // 2
    img[mid - 3:mid + 4, mid] = 255
    img[mid, mid - 3:mid + 4] = 255
    return img


def ply_bytes(points: np.ndarray, intensity: np.ndarray, beam: np.ndarray, time_s: np.ndarray) -> bytes:
    """A binary PLY of a sweep: x, y, z (float32), intensity (float32), beam (int16), t (float32
    seconds after the sweep start)."""
    from plyfile import PlyData, PlyElement

    v = np.empty(len(points), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "f4"), ("beam", "i2"),
                                     ("t", "f4")])
    v["x"], v["y"], v["z"] = np.asarray(points, np.float32).T
    v["intensity"], v["beam"], v["t"] = intensity, beam, time_s
    buf = io.BytesIO()
    PlyData([PlyElement.describe(v, "vertex")]).write(buf)
    return buf.getvalue()


__all__ = ["VideoWriter", "birds_eye", "colourise", "ply_bytes", "range_image"]
