"""Reach: move the gripper's grasp centre to a target above the table."""

from __future__ import annotations

import numpy as np

from envs.manipulation.rewards import ee_goal_distance
from envs.manipulation.scene import marker
from envs.manipulation.tasks.base import ManipulationTask, Placement

SUCCESS_RADIUS_M = 0.02
TARGET_HEIGHT_M = (0.05, 0.25)  # above the table top


class Reach(ManipulationTask):
    name = "reach"
    robot_types = ("single_arm", "dual_arm", "mobile_manipulator")  # dual arms: either gripper
    instruction = "move the gripper to the green target"
    reward_weights = {
        "reach_goal": 1.0, "reach_goal_fine": 1.0, "success": 1.0, "action_rate": -0.5, "joint_velocity": -0.01,
    }
    objects = (marker("target"),)

    def place(self, rng, workspace):
        goal = np.array([*workspace.sample_xy(rng), workspace.table_z + rng.uniform(*TARGET_HEIGHT_M)])
        return Placement({"target": (goal, np.array([1.0, 0.0, 0.0, 0.0]))}, goal)

    def success(self, s):
        return ee_goal_distance(s) < SUCCESS_RADIUS_M

    def metrics(self, s, i):
        return {"position_error_m": float(ee_goal_distance(s)[i])}
