"""Stack: put the small red cube on top of the big blue cube.

Both cubes are free and start apart on the table. The goal is where the small cube's centre
rests once stacked, on top of the base cube, so it follows the base cube if that is pushed
(goal_position). Success: the small cube rests on the base cube and the gripper has let go.
"""

from __future__ import annotations

import numpy as np

from envs.manipulation.rewards import object_goal_distance
from envs.manipulation.scene import cube
from envs.manipulation.tasks.base import ManipulationTask, Placement
from envs.manipulation.tasks.pick_place import RELEASED_OPENING

CUBE_EDGE_M = 0.04
BASE_EDGE_M = 0.05
STACKED_HEIGHT_M = (CUBE_EDGE_M + BASE_EDGE_M) / 2  # centre over centre, resting
# Centres this far apart: the open fingers around one cube (8-8.5 cm apart, 1.2 cm pads) clear the other.
MIN_SEPARATION_M = 0.12
MAX_XY_OFFSET_M = 0.015  # success: the small cube's centre this close to the base cube's vertical axis
HEIGHT_TOLERANCE_M = 0.01  # success: the centres' height difference this close to STACKED_HEIGHT_M
START_YAW_RAD = np.pi / 4
CUBE, BASE = 0, 1  # object order


class Stack(ManipulationTask):
    name = "stack"
    robot_types = ("single_arm",)
    instruction = "stack the red cube on the blue cube"
    reward_weights = {
        "reach_object": 1.0, "object_lifted": 2.0, "object_goal": 4.0, "object_goal_fine": 4.0, "success": 4.0,
        "action_rate": -0.5, "joint_velocity": -0.01,
    }
    objects = (
        cube("cube", CUBE_EDGE_M, 0.1, (0.85, 0.15, 0.15, 1.0)),
        cube("base_cube", BASE_EDGE_M, 0.2, (0.15, 0.35, 0.85, 1.0)),
    )

    def place(self, rng, workspace):
        margin = BASE_EDGE_M
        cube_xy = workspace.sample_xy(rng, margin)
        base_xy = workspace.sample_xy(rng, margin)
        while np.linalg.norm(base_xy - cube_xy) < MIN_SEPARATION_M:
            base_xy = workspace.sample_xy(rng, margin)
        cube_obj, base_obj = self.objects
        cube_pose = self.on_table(cube_obj, cube_xy, workspace, rng.uniform(-START_YAW_RAD, START_YAW_RAD))
        base_pose = self.on_table(base_obj, base_xy, workspace, rng.uniform(-START_YAW_RAD, START_YAW_RAD))
        return Placement({"cube": cube_pose, "base_cube": base_pose}, base_pose[0] + [0.0, 0.0, STACKED_HEIGHT_M])

    def goal_position(self, object_pos, placed_goal):
        return object_pos[:, BASE] + np.array([0.0, 0.0, STACKED_HEIGHT_M])

    def success(self, s):
        offset = s.object_pos[:, CUBE] - s.object_pos[:, BASE]
        on_top = (np.linalg.norm(offset[:, :2], axis=1) < MAX_XY_OFFSET_M) & (
            np.abs(offset[:, 2] - STACKED_HEIGHT_M) < HEIGHT_TOLERANCE_M
        )
        return on_top & (s.opening.min(axis=1) > RELEASED_OPENING)

    def metrics(self, s, i):
        return {"position_error_m": float(object_goal_distance(s)[i])}
