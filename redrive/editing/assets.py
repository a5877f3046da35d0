"""What an edit can insert: a reconstructed actor (from this run or another) or a mesh file.

Mesh conventions (``Asset.from_mesh``): the file's axes are x forward, y left, z up
(``up="z"``, the DriveLog's box frame), or glTF's +Y up, +Z forward (``up="y"``). The mesh is
re-centred on its bounding box, whose centre becomes the actor's box centre; the box is the
mesh's bounding box after scaling: ``scale`` (uniform) or ``size`` [length, width, height]
(stretched to exactly that box). ``origin`` says what inserted trajectories position:
``"center"`` (the box centre, as DriveLog actor tracks do) or ``"bottom"`` (the middle of the
box's floor, i.e. the ground under the actor; the box is raised by half its height).
Colours are the file's face or vertex colours (textures are sampled at the vertices), read as
sRGB; ``color`` [r, g, b] in [0, 1] overrides them. ``reflectivity`` in [0, 1] is the LiDAR
reflectivity (intensity = reflectivity x |cos incidence|).

Asset library: a folder with ``index.json``::

    {"assets": [{"name": "red_sedan", "file": "red_sedan.ply", "class": "car",
                 "reflectivity": 0.45, "origin": "center", "up": "z", "scale": 1.0}]}

or one ``<name>.json`` beside each mesh with the same fields (without ``name``). Paths are
relative to the folder. ``AssetLibrary(folder).list(class_name="car")`` lists, ``.get(name)``
loads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from redrive.editing.errors import AssetError, UnknownActorError
from redrive.log.types import ACTOR_CATEGORIES

MESH_SUFFIXES = (".obj", ".glb", ".gltf", ".ply", ".stl", ".off")
_MESH_KEYS = {"file", "mesh", "class", "reflectivity", "size", "scale", "origin", "up", "color", "name"}


@dataclass
class MeshData:
    """A mesh in its box frame, ready to ray-cast."""

    vertices: np.ndarray
    """(V, 3) float32 box-frame positions (centred on the bounding box)."""
    faces: np.ndarray
    """(F, 3) uint32 vertex indices."""
    albedo: np.ndarray
    """(F, 3) float32 linear albedo of each face."""


@dataclass
class Asset:
    """Something to insert: ``kind`` ``"run"`` (a reconstructed actor) or ``"mesh"``."""

    kind: str
    category: str
    """DriveLog actor class of the inserted actor (``ACTOR_CATEGORIES``)."""
    size: np.ndarray
    """(3,) box length, width, height, metres."""
    spec: dict[str, Any]
    """How to load it again (saved in edit lists)."""
    run: Path | None = None
    """``kind == "run"``: the reconstruction run directory."""
    actor_id: str | None = None
    """``kind == "run"``: the actor's id in that run."""
    mesh: MeshData | None = None
    """``kind == "mesh"``: the mesh."""
    reflectivity: float = 0.3
    """``kind == "mesh"``: LiDAR reflectivity in [0, 1]."""
    origin: str = "center"
    """What trajectories position: ``center`` (box centre) or ``bottom`` (middle of its floor)."""
    name: str = field(default="")
    """Short name used for ids and logs."""

    # ------------------------------------------------------------------ reconstructed actors
    @classmethod
    def from_run(cls, run: str | Path, actor_id: str) -> "Asset":
        """A reconstructed actor of a run (this one or another): its learned SDF and colour are
        rendered in the new box, whose size is the actor's recorded size."""
        run = Path(run)
        scene_path = run / "scene.json"
        if not scene_path.is_file():
            raise AssetError(run, "not a reconstruction run (no scene.json); train one with `redrive recon LOG --out RUN`")
        try:
            doc = json.loads(scene_path.read_text())
            actors = {a["id"]: a for a in doc["actors"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AssetError(scene_path, f"unreadable scene graph: {exc}") from None
        if actor_id not in actors:
            raise UnknownActorError(actor_id, list(actors), what=f"asset from run {run}")
        a = actors[actor_id]
        return cls("run", a["category"], np.asarray(a["size"], float), {"run": str(run.resolve()), "actor": actor_id},
                   run=run.resolve(), actor_id=actor_id, name=actor_id)

    # ------------------------------------------------------------------ meshes
    @classmethod
    def from_mesh(cls, path: str | Path, class_name: str, reflectivity: float = 0.3, *, size: Any = None,
                  scale: float | None = None, origin: str = "center", up: str = "z", color: Any = None,
                  name: str | None = None) -> "Asset":
        """A mesh file (OBJ, GLB/glTF, PLY, STL, OFF through trimesh); conventions in the module doc."""
        path = Path(path)
        spec: dict[str, Any] = {"mesh": str(path.resolve()), "class": class_name, "reflectivity": reflectivity,
                                "origin": origin, "up": up}
        if class_name not in ACTOR_CATEGORIES:
            raise AssetError(path, f"class {class_name!r} is not a DriveLog actor class ({', '.join(ACTOR_CATEGORIES)})")
        if not isinstance(reflectivity, (int, float)) or not 0.0 <= float(reflectivity) <= 1.0:
            raise AssetError(path, f"reflectivity must be a number in [0, 1], got {reflectivity!r}")
        if origin not in ("center", "bottom"):
            raise AssetError(path, f"origin must be 'center' or 'bottom', got {origin!r}")
        if up not in ("z", "y"):
            raise AssetError(path, f"up must be 'z' (x forward, z up) or 'y' (glTF: +Y up, +Z forward), got {up!r}")
        if size is not None and scale is not None:
            raise AssetError(path, "give either size or scale, not both")
        vertices, faces, albedo = _load_mesh(path)
        if up == "y":  # glTF: +Z forward, +X left, +Y up -> box x, y, z
            vertices = vertices[:, [2, 0, 1]]
        lo, hi = vertices.min(axis=0), vertices.max(axis=0)
        vertices = vertices - (lo + hi) / 2.0
        extent = hi - lo
        if size is not None:
            target = np.asarray(size, dtype=np.float64).reshape(-1)
            if target.shape != (3,) or not np.isfinite(target).all() or (target <= 0).any():
                raise AssetError(path, f"size must be [length, width, height] positive metres, got {size!r}")
            if (extent <= 1e-9).any():
                raise AssetError(path, f"mesh is flat (extent {extent.tolist()}); it cannot be stretched to a box")
            vertices = vertices * (target / extent)
            spec["size"] = target.tolist()
        elif scale is not None:
            if not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
                raise AssetError(path, f"scale must be a positive number, got {scale!r}")
            vertices = vertices * float(scale)
            spec["scale"] = float(scale)
        extent = vertices.max(axis=0) - vertices.min(axis=0)
        if color is not None:
            c = np.asarray(color, dtype=np.float64).reshape(-1)
            if c.shape != (3,) or not ((c >= 0) & (c <= 1)).all():
                raise AssetError(path, f"color must be [r, g, b] in [0, 1], got {color!r}")
            albedo = np.broadcast_to((c ** 2.2).astype(np.float32), albedo.shape).copy()
            spec["color"] = c.tolist()
        if (extent <= 0).all():
            raise AssetError(path, "mesh has no extent")
        mesh = MeshData(vertices.astype(np.float32), faces.astype(np.uint32), albedo.astype(np.float32))
        return cls("mesh", class_name, np.maximum(extent, 1e-3), spec, mesh=mesh, reflectivity=float(reflectivity),
                   origin=origin, name=name or path.stem)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return dict(self.spec)

    @classmethod
    def from_dict(cls, spec: dict[str, Any], base_dir: str | Path = ".") -> "Asset":
        """An asset from its description: ``{"run": DIR, "actor": ID}``, ``{"mesh": FILE, "class":
        ..., ...from_mesh options}`` or ``{"library": DIR, "name": NAME}``; relative paths are
        taken from ``base_dir``."""
        base = Path(base_dir)
        if not isinstance(spec, dict):
            raise AssetError(str(spec), "an asset is a mapping with 'run'+'actor', 'mesh'+'class' or 'library'+'name'")
        if "run" in spec:
            unknown = set(spec) - {"run", "actor"}
            if unknown or "actor" not in spec:
                raise AssetError(spec.get("run"), "a reconstructed-actor asset has exactly 'run' and 'actor'")
            return cls.from_run(base / spec["run"], str(spec["actor"]))
        if "library" in spec:
            if "name" not in spec:
                raise AssetError(spec["library"], "a library asset needs 'name'")
            return AssetLibrary(base / spec["library"]).get(str(spec["name"]))
        if "mesh" in spec:
            return _mesh_from_entry(spec, base, spec["mesh"])
        raise AssetError(str(spec), "an asset needs 'run' (+ 'actor'), 'mesh' (+ 'class') or 'library' (+ 'name')")


def _mesh_from_entry(entry: dict, base: Path, file: str) -> Asset:
    unknown = sorted(set(entry) - _MESH_KEYS - {"library"})
    if unknown:
        raise AssetError(file, f"unknown field {unknown[0]!r} (known: {', '.join(sorted(_MESH_KEYS))})")
    if "class" not in entry:
        raise AssetError(file, "a mesh asset needs its actor class ('class': car, pedestrian, ...)")
    return Asset.from_mesh(base / file, entry["class"], entry.get("reflectivity", 0.3), size=entry.get("size"),
                           scale=entry.get("scale"), origin=entry.get("origin", "center"), up=entry.get("up", "z"),
                           color=entry.get("color"), name=entry.get("name"))


def _load_mesh(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices (V, 3) float64, faces (F, 3), per-face linear albedo (F, 3) of a mesh file."""
    import trimesh

    if not path.is_file():
        raise AssetError(path, "file not found")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise AssetError(path, f"unsupported mesh type {path.suffix!r} (use {', '.join(MESH_SUFFIXES)})")
    try:
        loaded = trimesh.load(str(path), force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for bad files
        raise AssetError(path, f"cannot be read as a mesh: {type(exc).__name__}: {exc}") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise AssetError(path, "holds no triangles")
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    faces = np.asarray(loaded.faces, dtype=np.int64)
    if not np.isfinite(vertices).all():
        raise AssetError(path, "has non-finite vertex coordinates")
    visual = loaded.visual
    srgb = None
    try:
        if visual.kind == "texture":
            visual = visual.to_color()
        if visual.kind == "face":
            srgb = np.asarray(visual.face_colors, np.float32)[:, :3] / 255.0
        elif visual.kind == "vertex":
            srgb = np.asarray(visual.vertex_colors, np.float32)[faces, :3].mean(axis=1) / 255.0
    except Exception:  # an unreadable material keeps the default grey rather than failing the insert
        srgb = None
    if srgb is None or len(srgb) != len(faces):
        srgb = np.full((len(faces), 3), 0.6, np.float32)
    return vertices, faces, (srgb ** 2.2).astype(np.float32)


@dataclass
class LibraryEntry:
    """One asset of a library folder (not loaded yet)."""

    name: str
    class_name: str
    file: Path
    meta: dict[str, Any]


class AssetLibrary:
    """A folder of mesh assets described by ``index.json`` or per-asset ``<name>.json``."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise AssetError(self.folder, "asset library folder not found")
        self.entries: dict[str, LibraryEntry] = {}
        index = self.folder / "index.json"
        if index.is_file():
            doc = _read_json(index)
            items = doc.get("assets") if isinstance(doc, dict) else None
            if not isinstance(items, list):
                raise AssetError(index, "expected {\"assets\": [...]}")
            for k, item in enumerate(items):
                self._add(index, f"assets[{k}]", item, item.get("name") if isinstance(item, dict) else None)
        for meta_path in sorted(self.folder.glob("*.json")):
            if meta_path.name != "index.json" and meta_path.stem not in self.entries:
                self._add(meta_path, "", _read_json(meta_path), meta_path.stem)

    def _add(self, source: Path, where: str, item: Any, name: Any) -> None:
        label = f"{source}{' ' + where if where else ''}"
        if not isinstance(item, dict):
            raise AssetError(label, "an entry must be a mapping")
        if not isinstance(name, str) or not name:
            raise AssetError(label, "an entry needs a 'name'")
        file = item.get("file", item.get("mesh"))
        if not isinstance(file, str):
            raise AssetError(label, "an entry needs 'file' (the mesh, relative to the library folder)")
        if not isinstance(item.get("class"), str):
            raise AssetError(label, "an entry needs 'class' (a DriveLog actor class)")
        self.entries[name] = LibraryEntry(name, item["class"], self.folder / file, item)

    def list(self, class_name: str | None = None) -> list[LibraryEntry]:
        """Entries, optionally only those of one actor class, sorted by name."""
        return [e for _, e in sorted(self.entries.items()) if class_name is None or e.class_name == class_name]

    def get(self, name: str) -> Asset:
        """Load asset ``name``."""
        if name not in self.entries:
            raise AssetError(self.folder, f"no asset {name!r} in the library; it has: {', '.join(sorted(self.entries)) or 'none'}")
        e = self.entries[name]
        meta = {k: v for k, v in e.meta.items() if k not in ("file", "mesh")}
        meta.setdefault("name", name)
        asset = _mesh_from_entry(meta, self.folder, str(e.file.relative_to(self.folder)))
        asset.spec = {"library": str(self.folder.resolve()), "name": name}
        return asset

    @staticmethod
    def write_entry(folder: str | Path, name: str, file: str, class_name: str, **options: Any) -> Path:
        """Describe a mesh already in ``folder`` with a ``<name>.json`` (atomic write)."""
        from redrive.log.writer import atomic_write_json

        path = Path(folder) / f"{name}.json"
        atomic_write_json(path, {"file": file, "class": class_name, **options})
        return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AssetError(path, f"unreadable JSON: {exc}") from None


__all__ = ["Asset", "AssetLibrary", "LibraryEntry", "MESH_SUFFIXES", "MeshData"]
