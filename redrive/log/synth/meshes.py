"""Triangle meshes with per-triangle materials and texture coordinates, and the primitives the
procedural scene and assets are built from (boxes, prisms, cylinders, blobs).

Texture coordinates are in metres, per triangle corner, chosen from the triangle's normal in the
mesh's own frame: horizontal faces use (x, y), walls use (coordinate along the wall, z). Procedural
textures (``textures.py``) are functions of these coordinates, so a facade's windows line up with
its floors and a road's lane markings with its lanes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Mesh:
    """A triangle mesh whose faces carry a material index."""

    vertices: np.ndarray
    """(V, 3) float64 vertex positions."""
    faces: np.ndarray
    """(F, 3) int64 vertex indices, counter-clockwise seen from outside."""
    material: np.ndarray
    """(F,) int32 material index of each face (into the owner's material list)."""

    def __len__(self) -> int:
        return len(self.faces)

    def transformed(self, pose: np.ndarray) -> "Mesh":
        """The mesh with vertices moved by a 4x4 pose."""
        return Mesh(self.vertices @ pose[:3, :3].T + pose[:3, 3], self.faces, self.material)

    def corner_uv(self) -> np.ndarray:
        """(F, 3, 2) float32 texture coordinates (metres) of each face's corners."""
        corners = self.vertices[self.faces]
        normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        a = np.abs(normal)
        horizontal = a[:, 2] >= np.maximum(a[:, 0], a[:, 1])
        facing_x = ~horizontal & (a[:, 0] > a[:, 1])
        u = np.where(horizontal[:, None], corners[..., 0], np.where(facing_x[:, None], corners[..., 1], corners[..., 0]))
        v = np.where(horizontal[:, None], corners[..., 1], corners[..., 2])
        return np.stack([u, v], -1).astype(np.float32)


def concat(meshes: list[Mesh]) -> Mesh:
    """One mesh holding all of ``meshes`` (materials keep their indices)."""
    meshes = [m for m in meshes if len(m)]
    if not meshes:
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros(0, np.int32))
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return Mesh(
        np.concatenate([m.vertices for m in meshes]),
        np.concatenate([m.faces + o for m, o in zip(meshes, offsets)]),
        np.concatenate([m.material for m in meshes]).astype(np.int32),
    )


def _mesh(vertices, faces, material: int) -> Mesh:
    faces = np.asarray(faces, dtype=np.int64)
    return Mesh(np.asarray(vertices, dtype=np.float64), faces, np.full(len(faces), material, np.int32))


def box(lo, hi, material: int, bottom: bool = True) -> Mesh:
    """Axis-aligned box between corners ``lo`` and ``hi`` (3,), outward-facing triangles."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return prism(np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]]),
                 lo[2], hi[2], material, bottom=bottom)


def prism(outline: np.ndarray, z0: float, z1: float, material: int, top_outline: np.ndarray | None = None,
          bottom: bool = True) -> Mesh:
    """Extrude a convex counter-clockwise polygon (K, 2) from ``z0`` to ``z1``; the top face may
    have its own outline (K, 2) to make tapered shapes (car cabins, roofs)."""
    outline = np.asarray(outline, float)
    top = outline if top_outline is None else np.asarray(top_outline, float)
    k = len(outline)
    verts = np.concatenate([np.c_[outline, np.full(k, z0)], np.c_[top, np.full(k, z1)]])
    faces = []
    for i in range(k):
        j = (i + 1) % k
        faces += [[i, j, k + j], [i, k + j, k + i]]
    for i in range(1, k - 1):
        faces.append([k, k + i, k + i + 1])
        if bottom:
            faces.append([0, i + 1, i])
    return _mesh(verts, faces, material)


def cylinder(center, radius: float, length: float, material: int, axis: str = "z", sides: int = 12) -> Mesh:
    """Closed cylinder centred at ``center`` along a coordinate axis."""
    ang = 2 * np.pi * (np.arange(sides) + 0.5) / sides
    m = prism(np.c_[radius * np.cos(ang), radius * np.sin(ang)], -length / 2, length / 2, material)
    if axis == "y":
        m.vertices = m.vertices[:, [0, 2, 1]] * np.array([1, -1, 1])
    elif axis == "x":
        m.vertices = m.vertices[:, [2, 1, 0]] * np.array([-1, 1, 1])
    m.vertices = m.vertices + np.asarray(center, float)
    return m


def blob(center, radii, material: int, subdivisions: int = 2, wobble: float = 0.0, seed: int = 0) -> Mesh:
    """An ellipsoid from a subdivided icosahedron, optionally with smooth radial wobble (tree
    crowns, heads)."""
    t = (1 + 5**0.5) / 2
    v = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
                  [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], float)
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
                  [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5],
                  [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    for _ in range(subdivisions):
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        uniq, inv = np.unique(edges, axis=0, return_inverse=True)
        mid = v[uniq].mean(axis=1)
        mid /= np.linalg.norm(mid, axis=1, keepdims=True)
        m = inv.reshape(3, -1).T + len(v)
        v = np.concatenate([v, mid])
        f = np.concatenate([np.c_[f[:, 0], m[:, 0], m[:, 2]], np.c_[f[:, 1], m[:, 1], m[:, 0]],
                            np.c_[f[:, 2], m[:, 2], m[:, 1]], m])
    if wobble:
        rng = np.random.default_rng(seed)
        dirs = rng.normal(size=(3, 3))
        phase = rng.uniform(0, 2 * np.pi, 3)
        v = v * (1 + wobble * np.sin(v @ dirs.T * 2.5 + phase).mean(axis=1, keepdims=True))
    return _mesh(v * np.asarray(radii, float) + np.asarray(center, float), f, material)


def subdivide(mesh: Mesh, max_edge: float) -> Mesh:
    """Split triangles at the midpoint of their longest edge until no edge exceeds ``max_edge``.

    The surface is unchanged; huge triangles (a 400 m ground plane) are avoided because
    closest-point queries on them lose millimetres to float32 rounding.
    """
    verts, faces, mat = mesh.vertices, mesh.faces, mesh.material
    while len(faces):
        tri = verts[faces]
        edges = np.linalg.norm(tri[:, [1, 2, 0]] - tri, axis=-1)  # edge k runs from corner k to k + 1
        longest = edges.argmax(axis=1)
        split = edges[np.arange(len(faces)), longest] > max_edge
        if not split.any():
            break
        idx, k = np.flatnonzero(split), longest[split]
        a, b, c = faces[idx, k], faces[idx, (k + 1) % 3], faces[idx, (k + 2) % 3]
        pairs, inv = np.unique(np.sort(np.stack([a, b], 1), axis=1), axis=0, return_inverse=True)
        mid = len(verts) + inv.ravel()
        verts = np.concatenate([verts, verts[pairs].mean(axis=1)])
        faces = np.concatenate([faces[~split], np.stack([a, mid, c], 1), np.stack([mid, b, c], 1)])
        mat = np.concatenate([mat[~split], mat[idx], mat[idx]])
    return Mesh(verts, faces, mat.astype(np.int32))
