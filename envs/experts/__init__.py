"""Scripted experts: inverse kinematics and waypoint controllers that solve the manipulation tasks; the demonstration source for imitation learning."""

from __future__ import annotations


def expert_for(env):
    """The scripted expert for a ManipulationVecEnv's task and robot."""
    # Imported here: the experts import the environment, which imports this package's IK.
    from envs.experts.bimanual import BimanualExpert
    from envs.experts.mobile import MobilePickExpert
    from envs.experts.waypoints import PLANS, WaypointExpert

    robot_type = env.embodiment.robot_type
    if env.task.name in PLANS and robot_type == "single_arm":
        return WaypointExpert(env)
    if robot_type == "dual_arm":
        return BimanualExpert(env)
    if robot_type == "mobile_manipulator" and env.task.name == "mobile_pick":
        return MobilePickExpert(env)
    raise ValueError(f"no scripted expert for task {env.task.name!r} on {env.embodiment.robot_name}")
