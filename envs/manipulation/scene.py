"""Task objects added to a robot's scene through MjSpec: free objects, fixtures and goal markers.

Fixtures and markers are mocap bodies, so each robot of a batch places them per episode
without recompiling; free objects are placed through their free joint's qpos.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

OBJECT_KINDS = ("free", "fixture", "marker")
# Grippy enough for a parallel gripper to lift without slip (sliding, torsional, rolling).
OBJECT_FRICTION = (1.5, 0.01, 0.001)


@dataclass(frozen=True)
class Box:
    half_size: tuple[float, float, float]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class SceneObject:
    name: str
    boxes: tuple[Box, ...]  # one box for a cube; several for compound shapes (a socket's walls)
    kind: str = "free"
    mass_kg: float = 0.1
    rgba: tuple[float, float, float, float] = (0.8, 0.2, 0.2, 1.0)

    def __post_init__(self):
        if self.kind not in OBJECT_KINDS:
            raise ValueError(f"SceneObject({self.name}).kind={self.kind!r}: expected one of {OBJECT_KINDS}")
        if not self.boxes:
            raise ValueError(f"SceneObject({self.name}).boxes: expected at least one box")
        if self.mass_kg <= 0:
            raise ValueError(f"SceneObject({self.name}).mass_kg={self.mass_kg}: expected > 0")

    @property
    def bottom_offset_m(self) -> float:
        """Height of the body origin above its lowest point, for placing it on a surface."""
        return -min(b.pos[2] - b.half_size[2] for b in self.boxes)

    def add_to(self, spec: mujoco.MjSpec) -> None:
        body = spec.worldbody.add_body(name=self.name, mocap=self.kind != "free")
        if self.kind == "free":
            body.add_freejoint(name=self.name)
        mass = self.mass_kg / len(self.boxes)
        solid = self.kind != "marker"
        for index, box in enumerate(self.boxes):
            body.add_geom(
                name=f"{self.name}_{index}", type=mujoco.mjtGeom.mjGEOM_BOX, size=list(box.half_size),
                pos=list(box.pos), rgba=list(self.rgba), mass=mass, friction=list(OBJECT_FRICTION),
                condim=4 if solid else 3, contype=int(solid), conaffinity=int(solid),
            )


def cube(name: str, edge_m: float, mass_kg: float, rgba) -> SceneObject:
    h = edge_m / 2
    return SceneObject(name, (Box((h, h, h)),), "free", mass_kg, tuple(rgba))


def marker(name: str, radius_m: float = 0.015, rgba=(0.1, 0.9, 0.2, 0.4)) -> SceneObject:
    return SceneObject(name, (Box((radius_m, radius_m, radius_m)),), "marker", 0.001, tuple(rgba))


def socket(name: str, inner_half_m: float, wall_m: float, depth_m: float, kind: str, mass_kg: float, rgba,
           floor: bool = False) -> SceneObject:
    """A square hole: four walls around an opening of 2 * inner_half_m, origin at the opening's bottom centre."""
    a, w, h = inner_half_m, wall_m / 2, depth_m / 2
    outer = a + wall_m
    walls = (
        Box((outer, w, h), (0.0, a + w, h)), Box((outer, w, h), (0.0, -a - w, h)),
        Box((w, a, h), (a + w, 0.0, h)), Box((w, a, h), (-a - w, 0.0, h)),
    )
    bottom = (Box((outer, outer, w), (0.0, 0.0, -w)),) if floor else ()
    return SceneObject(name, walls + bottom, kind, mass_kg, tuple(rgba))


@dataclass(frozen=True)
class Workspace:
    """The table region where objects are placed: centre on the table top and half extents (the scene's
    `workspace` site)."""

    centre: np.ndarray
    half_extents: np.ndarray

    @classmethod
    def of(cls, model: mujoco.MjModel) -> "Workspace":
        site = model.site("workspace")
        # The site may hang off the table body: its world position comes from forward kinematics.
        data = mujoco.MjData(model)
        mujoco.mj_kinematics(model, data)
        return cls(data.site_xpos[site.id].copy(), site.size[:2].copy())

    @property
    def table_z(self) -> float:
        return float(self.centre[2])

    def sample_xy(self, rng: np.random.Generator, margin_m: float = 0.0) -> np.ndarray:
        half = np.maximum(self.half_extents - margin_m, 0.0)
        return self.centre[:2] + rng.uniform(-half, half)


def yaw_quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
