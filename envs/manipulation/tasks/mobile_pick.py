"""Mobile pick: a mobile manipulator drives from its home pose to the table and lifts the red cube off it.

The robot starts with its base at the origin, over a metre from the table's front edge, so the
arm alone cannot reach the cube: the base has to drive. The goal is the point LIFT_M above the
cube's resting position, where success wants the held cube.

Episode length: the safety filter bounds each joint target's step to max_joint_velocity /
control rate ahead of the measured position, and the bases' PD damping turns that lead into
about 0.4 m/s (Fetch, 0.1 m per 10 Hz step) and 0.15 m/s (HSR, 0.033 m per 30 Hz step). The
scripted expert (envs/experts/mobile.py) lifts the cube after 4.9 s on Fetch (at most 6.3 s)
and 9.3 s on HSR (at most 9.4 s) over 100 episodes each, too close to the 10 s default for the
cube to be still held at its end: hence the task's episode_length_s = EPISODE_LENGTH_S.
"""

from __future__ import annotations

import numpy as np

from envs.manipulation.scene import cube
from envs.manipulation.tasks.base import ManipulationTask, Placement

CUBE_EDGE_M = 0.045
LIFT_M = 0.1  # success: held this far above the cube's resting height
EPISODE_LENGTH_S = 15.0  # HSR's drive + pick (9.4 s) with 5 s to spare (see the module docstring)


def lift_height(s) -> np.ndarray:
    """(N,) height of the cube above where it rests on the table."""
    return s.object_pos[:, 0, 2] - (s.table_z + CUBE_EDGE_M / 2)


class MobilePick(ManipulationTask):
    name = "mobile_pick"
    robot_types = ("mobile_manipulator",)
    instruction = "drive to the table and pick up the red cube"
    reward_weights = {
        "approach_object": 0.5, "reach_object": 1.0, "object_lifted": 2.0, "object_goal_fine": 2.0, "success": 4.0,
        "action_rate": -0.5, "joint_velocity": -0.01,
    }
    objects = (cube("cube", CUBE_EDGE_M, 0.1, (0.85, 0.15, 0.15, 1.0)),)
    episode_length_s = EPISODE_LENGTH_S

    def place(self, rng, workspace):
        cube_obj = self.objects[0]
        yaw = rng.uniform(-np.pi / 4, np.pi / 4)
        pose = self.on_table(cube_obj, workspace.sample_xy(rng, CUBE_EDGE_M), workspace, yaw)
        return Placement({"cube": pose}, pose[0] + np.array([0.0, 0.0, LIFT_M]))

    def success(self, s):
        return s.holding[:, 0, 0] & (lift_height(s) >= LIFT_M)

    def metrics(self, s, i):
        return {"lift_height_m": float(lift_height(s)[i])}
