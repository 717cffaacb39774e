"""Bimanual lift (Baxter): a long box lies across the table, too long for one gripper to carry level; grasp
both ends, one gripper each, and lift it level.

Success: both grippers hold the box, it is at least 10 cm above where it rested, and it tilts
less than 0.15 rad. The goal a policy observes is the resting position raised by LIFT_GOAL_M.

Episode length: under the safety filter's per-step clamp (0.01 rad at 100 Hz) Baxter's servos
move only kp * 0.01 / kv = 0.1 (shoulder) to 0.2 rad/s (wrist), and bringing the arms from their
outstretched home pose to the box is ~2 rad of wrist roll: the scripted expert grasps after ~15 s
and has the box 10 cm up after ~19-20.5 s. Hence the task's episode_length_s = EPISODE_LENGTH_S,
longer than the 10 s default.
"""

from __future__ import annotations

import numpy as np

from envs.manipulation.rewards import held_by_both, object_tilt
from envs.manipulation.scene import Box, SceneObject
from envs.manipulation.tasks.base import ManipulationTask, Placement

BOX_HALF_SIZE_M = (0.03, 0.17, 0.03)  # long axis y: across the robot's front, one end per arm
BOX_MASS_KG = 0.5
MIN_LIFT_M = 0.1  # success: this far above the resting height
LIFT_GOAL_M = 0.13  # the goal lies past the success height, so a policy that reaches it succeeds
MAX_TILT_RAD = 0.15  # success: the box's top face within this angle of horizontal
# The box's centre lies this far beyond the workspace centre (away from the robot: from there the arms reach it
# with less elbow bend) and within +-START_SIDEWAYS_M of it sideways.
START_BEYOND_M = (0.05, 0.1)
START_SIDEWAYS_M = 0.03
START_YAW_RAD = 0.15
EPISODE_LENGTH_S = 24.0  # the expert's reach, grasp and lift with margin (see the module docstring)


def lift_height(s) -> np.ndarray:
    """(N,) height of the box's centre above where it rests on the table."""
    return s.object_pos[:, 0, 2] - (s.table_z + BOX_HALF_SIZE_M[2])


class BimanualLift(ManipulationTask):
    name = "bimanual_lift"
    robot_types = ("dual_arm",)
    episode_length_s = EPISODE_LENGTH_S
    instruction = "grasp both ends of the long box and lift it level"
    reward_weights = {
        "reach_object": 1.0, "held_by_both": 2.0, "object_lifted": 2.0, "object_goal": 2.0,
        "object_goal_fine": 2.0, "object_tilt": -1.0, "success": 4.0, "action_rate": -0.5, "joint_velocity": -0.01,
    }
    objects = (SceneObject("box", (Box(BOX_HALF_SIZE_M),), "free", BOX_MASS_KG, (0.85, 0.55, 0.15, 1.0)),)

    def place(self, rng, workspace):
        xy = workspace.centre[:2] + [rng.uniform(*START_BEYOND_M), rng.uniform(-START_SIDEWAYS_M, START_SIDEWAYS_M)]
        pose = self.on_table(self.objects[0], xy, workspace, rng.uniform(-START_YAW_RAD, START_YAW_RAD))
        return Placement({"box": pose}, pose[0] + np.array([0.0, 0.0, LIFT_GOAL_M]))

    def success(self, s):
        return (held_by_both(s) > 0) & (lift_height(s) >= MIN_LIFT_M) & (object_tilt(s) < MAX_TILT_RAD)

    def metrics(self, s, i):
        return {
            "lift_height_m": float(lift_height(s)[i]),
            "tilt_rad": float(object_tilt(s)[i]),
            "held_by_both": float(held_by_both(s)[i]),
        }
