"""Bimanual insertion (ALOHA): each arm picks one part, and the peg goes into the socket in the air.

The peg (a 2 x 2 x 10 cm bar) lies along x on the right arm's side of the table; the socket (a
square cup) lies on its side on the left arm's side with its opening towards the peg. Success:
the peg's centre lies within 6 mm of the socket's axis, its leading end is at least 2 cm inside
the opening, and neither part touches the table. The goal a policy observes is the socket.

Episode length: under the safety filter's per-step clamp the ViperX servos move ~0.5 rad/s, so
pulling both arms back from their crossed home pose, turning the grippers top-down, picking,
lifting, lining the parts up and inserting slowly takes the scripted expert up to ~9.5 s, so the
task's episode_length_s = EPISODE_LENGTH_S leaves it 2.5 s of margin (the 10 s default, barely any).
"""

from __future__ import annotations

import numpy as np

from envs.manipulation.scene import Box, SceneObject, socket
from envs.manipulation.tasks.base import ManipulationTask, Placement

PEG_HALF_SIZE_M = (0.05, 0.01, 0.01)  # long axis x
PEG_MASS_KG = 0.05
SOCKET_MASS_KG = 0.1
SOCKET_INNER_HALF_M = 0.0135  # 3.5 mm of clearance on each side of the peg
SOCKET_WALL_M = 0.008
SOCKET_DEPTH_M = 0.06
SOCKET_OUTER_HALF_M = SOCKET_INNER_HALF_M + SOCKET_WALL_M
MAX_AXIS_ERROR_M = 0.006  # success: the peg's centre this close to the socket's axis
MIN_INSERTION_M = 0.02  # success: the peg's leading end this far inside the opening
START_YAW_RAD = 0.3  # both parts lie within this yaw of the x axis
PEG_CENTRE_X_M = (0.05, 0.07)  # from the workspace centre: the peg spans 0..0.12 m at most
SOCKET_BOTTOM_X_M = (-0.1, -0.075)  # the socket spans -0.108..-0.015 m at most
EPISODE_LENGTH_S = 12.0  # the expert's pick and insertion with margin (see the module docstring)
PEG, SOCKET = 0, 1  # object order

# The socket's own axis is its z (bottom to opening); lying on its side, that axis points along +x.
_SOCKET_LYING = np.array([np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0])  # a quarter turn about y


def _rotation(quat: np.ndarray) -> np.ndarray:
    """(N, 4) quaternions (w, x, y, z) -> (N, 3, 3) rotation matrices."""
    w, x, y, z = np.moveaxis(quat, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
    ], axis=-2)


def peg_in_socket(s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N,) each: the peg centre's distance from the socket's axis (m), how far the peg's leading end is inside
    the opening (m, < 0 while outside) and the angle between the peg's long axis and the socket's axis (rad)."""
    socket_rot = _rotation(s.object_quat[:, SOCKET])
    offset = np.einsum("nji,nj->ni", socket_rot, s.object_pos[:, PEG] - s.object_pos[:, SOCKET])  # socket frame
    axis_error = np.linalg.norm(offset[:, :2], axis=1)
    insertion = SOCKET_DEPTH_M - (offset[:, 2] - PEG_HALF_SIZE_M[0])
    peg_axis = _rotation(s.object_quat[:, PEG])[:, :, 0]
    alignment = np.abs(np.einsum("ni,ni->n", peg_axis, socket_rot[:, :, 2]))
    return axis_error, insertion, np.arccos(np.clip(alignment, 0.0, 1.0))


def _yawed(quat: np.ndarray, yaw: float) -> np.ndarray:
    """`quat` turned by `yaw` about the world z axis."""
    c, s = np.cos(yaw / 2), np.sin(yaw / 2)
    w, x, y, z = quat
    return np.array([c * w - s * z, c * x - s * y, c * y + s * x, c * z + s * w])


class BimanualInsertion(ManipulationTask):
    name = "bimanual_insertion"
    robot_types = ("dual_arm",)
    episode_length_s = EPISODE_LENGTH_S
    instruction = "pick up the peg and the socket, one in each hand, and insert the peg into the socket"
    reward_weights = {
        "reach_object": 1.0, "objects_lifted": 2.0, "object_goal": 2.0, "success": 8.0,
        "action_rate": -0.5, "joint_velocity": -0.01,
    }
    objects = (
        SceneObject("peg", (Box(PEG_HALF_SIZE_M),), "free", PEG_MASS_KG, (0.85, 0.15, 0.15, 1.0)),
        socket("socket", SOCKET_INNER_HALF_M, SOCKET_WALL_M, SOCKET_DEPTH_M, "free", SOCKET_MASS_KG,
               (0.15, 0.35, 0.85, 1.0), floor=True),
    )

    def place(self, rng, workspace):
        centre, half = workspace.centre, workspace.half_extents
        side_y = half[1] - PEG_HALF_SIZE_M[0]  # a yawed part stays within the workspace's width
        # The peg on the right arm's side (+x), the socket on the left arm's, its opening >= 1.5 cm from the peg's end.
        peg_xy = centre[:2] + [rng.uniform(*PEG_CENTRE_X_M), rng.uniform(-side_y, side_y)]
        socket_xy = centre[:2] + [rng.uniform(*SOCKET_BOTTOM_X_M), rng.uniform(-side_y, side_y)]
        socket_pos = np.array([*socket_xy, workspace.table_z + SOCKET_OUTER_HALF_M])
        socket_quat = _yawed(_SOCKET_LYING, rng.uniform(-START_YAW_RAD, START_YAW_RAD))
        peg_pos = np.array([*peg_xy, workspace.table_z + PEG_HALF_SIZE_M[2]])
        peg_quat = _yawed(np.array([1.0, 0.0, 0.0, 0.0]), rng.uniform(-START_YAW_RAD, START_YAW_RAD))
        return Placement({"peg": (peg_pos, peg_quat), "socket": (socket_pos, socket_quat)}, socket_pos)

    def goal_position(self, object_pos, placed_goal):
        return object_pos[:, SOCKET]

    def success(self, s):
        axis_error, insertion, _ = peg_in_socket(s)
        return (axis_error < MAX_AXIS_ERROR_M) & (insertion >= MIN_INSERTION_M) & ~s.table_contact.any(axis=1)

    def metrics(self, s, i):
        axis_error, insertion, angle = peg_in_socket(s)
        return {
            "position_error_m": float(axis_error[i]),
            "insertion_depth_m": float(insertion[i]),
            "orientation_error_rad": float(angle[i]),
        }
