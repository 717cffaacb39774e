"""Waypoint experts for the single-arm manipulation tasks: top-down grasps planned from the simulator's state.

An expert acts for every robot of a ManipulationVecEnv. Per robot it walks through a plan
of phases (move the grasp centre to a point with the gripper open or closed, or wait);
each control step it solves damped-least-squares IK for the phase's pose and issues the
result as a normalized action, so the action goes through the same ActionScaler and
SafetyFilter as a policy's. A phase ends when its pose is reached or its time runs out.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from envs.experts.ik import DampedLeastSquaresIK
from envs.manipulation.env import ManipulationVecEnv

OPEN, CLOSED = 1.0, 0.0
HOVER_M = 0.10  # approach height above a grasp or place point
REACHED_M = 0.008
IK_ITERATIONS = 30
DOWN = np.array([0.0, 1.0, 0.0, 0.0])  # quaternion of a half turn about x: the approach axis points down


@dataclass(frozen=True)
class Phase:
    name: str
    gripper: float  # opening commanded during the phase
    height_m: float = 0.0  # above the phase's anchor point
    anchor: str = "object"  # "object", "goal" or "hold" (stay where the gripper is)
    timeout_s: float = 2.0
    settle_s: float = 0.0  # wait this long once the pose is reached (gripper closing or opening)
    top_down: bool = True  # False: position only (reaching needs no particular hand orientation)


PICK = (
    Phase("above_object", OPEN, HOVER_M, "object", 4.0),
    Phase("descend", OPEN, 0.0, "object", 2.0),
    Phase("grasp", CLOSED, 0.0, "object", 1.5, settle_s=0.6),
    Phase("lift", CLOSED, HOVER_M, "object_start", 2.0),
)
PLACE = (
    Phase("above_goal", CLOSED, HOVER_M, "goal", 4.0),
    Phase("lower", CLOSED, 0.01, "goal", 2.0),
    Phase("release", OPEN, 0.01, "goal", 1.5, settle_s=0.5),
    Phase("retreat", OPEN, HOVER_M, "goal", 2.0),
)
PLANS = {
    "reach": (Phase("to_target", OPEN, 0.0, "goal", 30.0, top_down=False),),
    "pick_place": PICK + PLACE,
}


def _yaw(quat: np.ndarray) -> float:
    w, x, y, z = quat
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def _top_down(yaw: float) -> np.ndarray:
    """Approach axis down, the gripper's x axis at `yaw` in the horizontal plane."""
    c, s = np.cos(yaw / 2), np.sin(yaw / 2)
    w, z = c, s  # yaw about world z, then the half turn about x
    return np.array([w * DOWN[0] - z * DOWN[3], w * DOWN[1] - z * DOWN[2], w * DOWN[2] + z * DOWN[1],
                     w * DOWN[3] + z * DOWN[0]])


class WaypointExpert:
    def __init__(self, env: ManipulationVecEnv):
        if env.task.name not in PLANS:
            raise ValueError(f"WaypointExpert: no plan for task {env.task.name!r}: expected one of {sorted(PLANS)}")
        if env.embodiment.robot_type != "single_arm":
            raise ValueError(f"WaypointExpert: {env.embodiment.robot_name} is not a single arm")
        self.env = env
        self.plan = PLANS[env.task.name]
        arm = env.embodiment.joint_names
        self.ik = DampedLeastSquaresIK(env.sim.model, "ee", arm)
        n = env.num_envs
        self._phase = np.zeros(n, dtype=np.int64)
        self._phase_steps = np.zeros(n, dtype=np.int64)
        self._grasp_yaw = np.zeros(n)
        self._object_start = np.zeros((n, 3))

    def reset(self) -> None:
        """Start every robot's plan over; call right after env.reset()."""
        for i in range(self.env.num_envs):
            self._start(i)

    def _start(self, i: int) -> None:
        s = self.env._state
        self._phase[i] = self._phase_steps[i] = 0
        self._object_start[i] = s.object_pos[i, 0]
        ee_yaw = _yaw(self._quat_of(s.ee_rot[i, 0]))
        cube_yaw = _yaw(s.object_quat[i, 0])
        # A cube is the same every quarter turn: grasp at the face pair nearest the gripper's yaw.
        turns = np.round((ee_yaw - cube_yaw) / (np.pi / 2))
        self._grasp_yaw[i] = cube_yaw + turns * np.pi / 2

    @staticmethod
    def _quat_of(rotation: np.ndarray) -> np.ndarray:
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, rotation.reshape(-1))
        return quat

    def act(self, episode_started: np.ndarray | None = None) -> np.ndarray:
        """(N, action_dim) normalized actions for the env's current state. `episode_started` marks robots whose
        episode began at the last step (NEXT_STEP autoreset: they start a fresh plan)."""
        env = self.env
        if episode_started is not None:
            for i in np.flatnonzero(episode_started):
                self._start(i)
        s = env._state
        targets = env.sim.positions().copy()
        for i in range(env.num_envs):
            phase = self.plan[min(self._phase[i], len(self.plan) - 1)]
            point = self._point(i, phase, s)
            orientation = _top_down(self._grasp_yaw[i]) if phase.top_down else None
            result = self.ik.solve(env.sim.datas[i], point, orientation, iterations=IK_ITERATIONS)
            targets[i, : env.embodiment.num_joints] = result.qpos
            targets[i, env.embodiment.num_joints :] = phase.gripper
            self._advance(i, phase, np.linalg.norm(s.ee_pos[i, 0] - point))
        return env.commander.scaler.to_normalized(targets)

    def _point(self, i: int, phase: Phase, s) -> np.ndarray:
        anchor = {"object": s.object_pos[i, 0], "goal": s.goal_pos[i], "object_start": self._object_start[i]}
        return anchor[phase.anchor] + np.array([0.0, 0.0, phase.height_m])

    def _advance(self, i: int, phase: Phase, distance_m: float) -> None:
        """Next phase once the pose is reached (or, for a gripper phase, once it had settle_s to act)."""
        self._phase_steps[i] += 1
        elapsed = self._phase_steps[i] * self.env.control_dt_s
        done = elapsed >= phase.settle_s if phase.settle_s else distance_m < REACHED_M
        if done or elapsed >= phase.timeout_s:
            self._phase[i] += 1
            self._phase_steps[i] = 0
