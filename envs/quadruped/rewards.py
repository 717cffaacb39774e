"""Named reward and termination terms for quadruped locomotion (legged_gym's set and weights).

Each term maps a QuadrupedState to (N,) values; weights are per simulated second.
"""

from __future__ import annotations

import numpy as np

from envs.quadruped.state import QuadrupedState

TRACKING_SIGMA2 = 0.25  # legged_gym: exp(-err^2 / 0.25)
AIR_TIME_TARGET_S = 0.5
MOVING_COMMAND = 0.1  # below this commanded speed, stepping is not rewarded
MAX_TILT_RAD = 1.0
MIN_BASE_HEIGHT_M = 0.25


def velocity_error(s: QuadrupedState) -> np.ndarray:
    return np.linalg.norm(s.base.heading_velocity[:, :2] - s.command[:, :2], axis=1)


def tracking_lin_vel(s: QuadrupedState) -> np.ndarray:
    return np.exp(-velocity_error(s) ** 2 / TRACKING_SIGMA2)


def tracking_ang_vel(s: QuadrupedState) -> np.ndarray:
    return np.exp(-((s.base.angular_velocity[:, 2] - s.command[:, 2]) ** 2) / TRACKING_SIGMA2)


def lin_vel_z(s: QuadrupedState) -> np.ndarray:
    return s.base.heading_velocity[:, 2] ** 2


def ang_vel_xy(s: QuadrupedState) -> np.ndarray:
    return np.sum(s.base.angular_velocity[:, :2] ** 2, axis=1)


def orientation(s: QuadrupedState) -> np.ndarray:
    return np.sum(s.base.gravity[:, :2] ** 2, axis=1)


def torques(s: QuadrupedState) -> np.ndarray:
    """Squared torques as fractions of each motor's limit (legged_gym's sum of tau^2, made unit-free)."""
    return np.sum(s.normalized_torque**2, axis=1)


def dof_acc(s: QuadrupedState) -> np.ndarray:
    return np.sum(s.joint_acc**2, axis=1)


def action_rate(s: QuadrupedState) -> np.ndarray:
    return np.sum((s.action - s.prev_action) ** 2, axis=1)


def feet_air_time(s: QuadrupedState) -> np.ndarray:
    """At each touchdown, the swing time beyond (or short of) 0.5 s: rewards long steps, only when asked to move."""
    moving = np.linalg.norm(s.command[:, :2], axis=1) > MOVING_COMMAND
    return np.sum((s.air_time_s - AIR_TIME_TARGET_S) * s.first_contact, axis=1) * moving


def survival(s: QuadrupedState) -> np.ndarray:
    return np.ones(len(s.finite))


REWARD_TERMS = {
    "tracking_lin_vel": tracking_lin_vel,
    "tracking_ang_vel": tracking_ang_vel,
    "lin_vel_z": lin_vel_z,
    "ang_vel_xy": ang_vel_xy,
    "orientation": orientation,
    "torques": torques,
    "dof_acc": dof_acc,
    "action_rate": action_rate,
    "feet_air_time": feet_air_time,
    "survival": survival,
}

# legged_gym's defaults (torques and dof_acc rescaled: ours are unit-free and per control period).
WALK_REWARD_WEIGHTS = {
    "tracking_lin_vel": 1.0,
    "tracking_ang_vel": 0.5,
    "lin_vel_z": -2.0,
    "ang_vel_xy": -0.05,
    "orientation": -1.0,
    "torques": -0.01,
    "dof_acc": -2.5e-7,
    "action_rate": -0.01,
    "feet_air_time": 1.0,
    "survival": 0.2,
}


def body_contact(s: QuadrupedState) -> np.ndarray:
    return s.body_contact


def excessive_tilt(s: QuadrupedState) -> np.ndarray:
    return (np.abs(s.base.roll_rad) > MAX_TILT_RAD) | (np.abs(s.base.pitch_rad) > MAX_TILT_RAD)


def base_too_low(s: QuadrupedState) -> np.ndarray:
    return s.base_height_m < MIN_BASE_HEIGHT_M


def simulation_diverged(s: QuadrupedState) -> np.ndarray:
    return ~s.finite


TERMINATION_TERMS = {
    "body_contact": body_contact,
    "excessive_tilt": excessive_tilt,
    "base_too_low": base_too_low,
    "simulation_diverged": simulation_diverged,
}
