"""Scripted experts: inverse kinematics and waypoint controllers that solve the manipulation tasks; the demonstration source for imitation learning."""

from __future__ import annotations


def expert_for(env):
    """The scripted expert for a ManipulationVecEnv's task and robot."""
    from envs.experts.waypoints import PLANS, WaypointExpert

    if env.task.name in PLANS and env.embodiment.robot_type == "single_arm":
        return WaypointExpert(env)
    raise ValueError(f"no scripted expert for task {env.task.name!r} on {env.embodiment.robot_name}")
