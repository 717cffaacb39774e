"""Peg insertion: pick up the standing peg and insert it into the square hole of the fixture.

The peg (a 2 x 2 x 8 cm bar) stands upright on the table; the fixture, a square socket with
2 mm of clearance on each side of the peg and no floor, stands elsewhere on the table (a mocap
body, placed per episode, its faces along the world axes). The goal is where the peg's centre
rests when fully inserted: on the hole's axis with the peg's bottom on the table. Success: the
peg's axis within 5 mm of the hole's and its bottom at least 3 cm below the opening.
"""

from __future__ import annotations

import numpy as np

from envs.manipulation.scene import Box, SceneObject, socket
from envs.manipulation.tasks.base import ManipulationTask, Placement

PEG_HALF_SIZE_M = (0.01, 0.01, 0.04)  # long axis z: the peg stands on its end
HOLE_CLEARANCE_M = 0.002  # on each side of the peg
SOCKET_INNER_HALF_M = PEG_HALF_SIZE_M[0] + HOLE_CLEARANCE_M
SOCKET_WALL_M = 0.01
SOCKET_DEPTH_M = 0.04
SOCKET_OUTER_HALF_M = SOCKET_INNER_HALF_M + SOCKET_WALL_M
MAX_AXIS_ERROR_M = 0.005  # success: the peg's centre this close to the hole's axis
MIN_INSERTION_M = 0.03  # success: the peg's bottom this far below the opening
# Peg and socket centres this far apart: the open fingers around the peg clear the socket.
MIN_SEPARATION_M = 0.12
START_YAW_RAD = np.pi / 4
PEG, SOCKET = 0, 1  # object order


def _long_axis(quat: np.ndarray) -> np.ndarray:
    """(N, 4) quaternions (w, x, y, z) -> (N, 3) the rotated z axis: the peg's long axis."""
    w, x, y, z = np.moveaxis(quat, -1, 0)
    return np.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], axis=-1)


def peg_in_hole(s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N,) each: the peg centre's distance from the hole's axis (m), how far the peg's bottom is below the
    opening (m, < 0 while above it) and the tilt of the peg's long axis from the vertical (rad)."""
    peg, hole = s.object_pos[:, PEG], s.object_pos[:, SOCKET]
    axis = _long_axis(s.object_quat[:, PEG])
    axis_error = np.linalg.norm(peg[:, :2] - hole[:, :2], axis=1)
    bottom_z = peg[:, 2] - PEG_HALF_SIZE_M[2] * np.abs(axis[:, 2])  # either end may point down
    insertion = s.table_z + SOCKET_DEPTH_M - bottom_z
    tilt = np.arccos(np.clip(np.abs(axis[:, 2]), 0.0, 1.0))
    return axis_error, insertion, tilt


class PegInsertion(ManipulationTask):
    name = "peg_insertion"
    robot_types = ("single_arm",)
    instruction = "insert the peg into the hole"
    reward_weights = {
        "reach_object": 1.0, "object_lifted": 2.0, "object_goal": 4.0, "object_goal_fine": 4.0, "success": 4.0,
        "action_rate": -0.5, "joint_velocity": -0.01,
    }
    objects = (
        SceneObject("peg", (Box(PEG_HALF_SIZE_M),), "free", 0.05, (0.85, 0.15, 0.15, 1.0)),
        socket("socket", SOCKET_INNER_HALF_M, SOCKET_WALL_M, SOCKET_DEPTH_M, "fixture", 1.0, (0.15, 0.35, 0.85, 1.0)),
    )

    def place(self, rng, workspace):
        margin = SOCKET_OUTER_HALF_M
        peg_xy = workspace.sample_xy(rng, margin)
        socket_xy = workspace.sample_xy(rng, margin)
        while np.linalg.norm(socket_xy - peg_xy) < MIN_SEPARATION_M:
            socket_xy = workspace.sample_xy(rng, margin)
        peg_obj = self.objects[PEG]
        socket_pos = np.array([*socket_xy, workspace.table_z])  # the socket's origin: the opening's bottom centre
        return Placement(
            {"peg": self.on_table(peg_obj, peg_xy, workspace, rng.uniform(-START_YAW_RAD, START_YAW_RAD)),
             "socket": (socket_pos, np.array([1.0, 0.0, 0.0, 0.0]))},
            socket_pos + [0.0, 0.0, PEG_HALF_SIZE_M[2]],
        )

    def success(self, s):
        axis_error, insertion, _ = peg_in_hole(s)
        return (axis_error < MAX_AXIS_ERROR_M) & (insertion >= MIN_INSERTION_M)

    def metrics(self, s, i):
        axis_error, insertion, tilt = peg_in_hole(s)
        return {
            "position_error_m": float(axis_error[i]),
            "insertion_depth_m": float(insertion[i]),
            "orientation_error_rad": float(tilt[i]),
        }
