"""Pick and place: pick the red cube up and put it down on the green target on the table."""

from __future__ import annotations

import numpy as np

from envs.manipulation.rewards import object_goal_distance
from envs.manipulation.scene import cube, marker
from envs.manipulation.tasks.base import ManipulationTask, Placement

CUBE_EDGE_M = 0.04
SUCCESS_RADIUS_M = 0.02  # the seed's Franka pick-and-place reports 1.2 cm mean position error
MIN_TRAVEL_M = 0.1  # goal at least this far from the cube, so the cube must be carried
RELEASED_OPENING = 0.5  # the gripper has let go: placed, not still held


class PickPlace(ManipulationTask):
    name = "pick_place"
    robot_types = ("single_arm",)
    instruction = "pick up the red cube and place it on the green target"
    reward_weights = {
        "reach_object": 1.0, "object_lifted": 2.0, "object_goal": 4.0, "object_goal_fine": 4.0, "success": 4.0,
        "action_rate": -0.5, "joint_velocity": -0.01,
    }
    objects = (cube("cube", CUBE_EDGE_M, 0.1, (0.85, 0.15, 0.15, 1.0)), marker("target"))

    def place(self, rng, workspace):
        margin = CUBE_EDGE_M
        xy = workspace.sample_xy(rng, margin)
        goal_xy = workspace.sample_xy(rng, margin)
        while np.linalg.norm(goal_xy - xy) < MIN_TRAVEL_M:
            goal_xy = workspace.sample_xy(rng, margin)
        cube_obj = self.objects[0]
        goal = np.array([*goal_xy, workspace.table_z + cube_obj.bottom_offset_m])
        return Placement(
            {"cube": self.on_table(cube_obj, xy, workspace, rng.uniform(-np.pi / 4, np.pi / 4)),
             "target": (goal, np.array([1.0, 0.0, 0.0, 0.0]))},
            goal,
        )

    def success(self, s):
        placed = (object_goal_distance(s) < SUCCESS_RADIUS_M) & s.table_contact[:, 0]
        return placed & (s.opening.min(axis=1) > RELEASED_OPENING)

    def metrics(self, s, i):
        return {"position_error_m": float(object_goal_distance(s)[i])}
