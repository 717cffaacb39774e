"""Transfer cube (ALOHA's seed benchmark, 88.7 %): the right arm picks the red cube up from its side of the
table and hands it to the left arm in the air.

The goal is the handover point above the workspace centre, where the expert meets the two
grippers; it is also the `goal_pos` a policy observes.

Episode length: under the safety filter's per-step clamp the ViperX servos move ~0.5 rad/s, so
pulling both arms back from their crossed home pose, turning the grippers, the pick, the carry to
the handover point, the second grasp and the release take the scripted expert up to ~11.7 s.
Hence the task's episode_length_s = EPISODE_LENGTH_S, longer than the 10 s default.
"""

from __future__ import annotations

import numpy as np

from envs.manipulation.scene import cube
from envs.manipulation.tasks.base import ManipulationTask, Placement

CUBE_EDGE_M = 0.04
CUBE_MASS_KG = 0.05
HANDOVER_HEIGHT_M = 0.2  # of the handover point above the table: both grippers turn horizontal there
EPISODE_LENGTH_S = 14.0  # the expert's pick and handover with margin (see the module docstring)
LEFT, RIGHT = 0, 1  # gripper order of a dual-arm ManipulationState


def cube_height(s) -> np.ndarray:
    """(N,) height of the cube's centre above where it rests on the table."""
    return s.object_pos[:, 0, 2] - (s.table_z + CUBE_EDGE_M / 2)


class TransferCube(ManipulationTask):
    name = "transfer_cube"
    robot_types = ("dual_arm",)
    episode_length_s = EPISODE_LENGTH_S
    instruction = "pick up the red cube with the right arm and hand it over to the left arm"
    reward_weights = {
        "reach_object": 1.0, "object_lifted": 2.0, "object_goal": 2.0, "handed_over": 4.0, "success": 4.0,
        "action_rate": -0.5, "joint_velocity": -0.01,
    }
    objects = (cube("cube", CUBE_EDGE_M, CUBE_MASS_KG, (0.85, 0.15, 0.15, 1.0)),)

    def place(self, rng, workspace):
        centre, half = workspace.centre, workspace.half_extents
        # The right arm's half of the workspace is +x (the right arm is mounted at +x, facing -x).
        xy = centre[:2] + np.array([
            rng.uniform(CUBE_EDGE_M / 2, half[0] - CUBE_EDGE_M / 2),
            rng.uniform(-half[1] + CUBE_EDGE_M / 2, half[1] - CUBE_EDGE_M / 2),
        ])
        pose = self.on_table(self.objects[0], xy, workspace, rng.uniform(-np.pi / 4, np.pi / 4))
        return Placement({"cube": pose}, centre + np.array([0.0, 0.0, HANDOVER_HEIGHT_M]))

    def success(self, s):
        return s.holding[:, LEFT, 0] & ~s.holding[:, RIGHT, 0] & ~s.table_contact[:, 0]

    def metrics(self, s, i):
        return {
            "held_by_left": float(s.holding[i, LEFT, 0]),
            "held_by_right": float(s.holding[i, RIGHT, 0]),
            "cube_height_m": float(cube_height(s)[i]),
        }
