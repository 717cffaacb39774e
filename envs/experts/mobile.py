"""Scripted expert for mobile_pick: drive a mobile manipulator to the table and lift the cube top-down.

Per robot of a ManipulationVecEnv it walks through a plan of phases. First the base drives to a
standing pose in front of the cube (computed from the cube's position at reset) while the arm
already takes the pose that holds the gripper above the cube from there; then the gripper comes
down, closes and lifts, as in the single-arm WaypointExpert. Every control step solves
damped-least-squares IK for the phase's point and issues the joint targets as a normalized
action, so the command goes through the same ActionScaler and SafetyFilter as a policy's.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from vla_ray.control.ik import DampedLeastSquaresIK
from envs.experts.waypoints import CLOSED, HOVER_M, IK_ITERATIONS, OPEN, _top_down, _yaw
from envs.manipulation.env import ManipulationVecEnv
from envs.manipulation.tasks.mobile_pick import LIFT_M

BASE_JOINTS = ("base_x", "base_y", "base_yaw")
NATURAL_GRASP_YAW = np.pi / 2  # a hand pointing down from an arm stretched along the base's x: fingers open along y
LIFT_MARGIN_M = 0.05  # lift past the success height: a held cube sags a few millimetres in the fingers
REACHED_M = 0.008  # a phase's point counts as reached within this distance
ARRIVED_M = 0.02  # the drive is over once the gripper is this close to its hover point


@dataclass(frozen=True)
class StandingPose:
    """Where a robot's base stands to pick: the cube's offset from the base in the base frame (yaw 0, facing the
    table); the base joints the IK may move as well as the arm; and the arm pose the drive's IK starts from
    (joints not named start where they are)."""

    cube_ahead_m: float
    cube_left_m: float
    base_in_ik: tuple[str, ...] = ()
    arm_seed: tuple[tuple[str, float], ...] = ()


STANDING_POSES = {
    # The scene's reach pose: base at x = 0.88 reaches the whole workspace (centre x = 1.45) top-down. From home
    # (arm straight forward) the IK finds the top-down pose unaided.
    "fetch": StandingPose(cube_ahead_m=0.57, cube_left_m=0.0),
    # The hand moves in the vertical plane 0.078 m left of the base centre and is 0.474 m ahead of it with the arm
    # level, so the base's slides are part of the reach. From home (arm upright, carriage down) the IK stalls
    # against the wrist's limit with the arm low enough to hit the table edge; seeded with the arm raised, level
    # and the hand down, it only fine-tunes.
    "hsr": StandingPose(
        cube_ahead_m=0.474, cube_left_m=0.078, base_in_ik=("base_x", "base_y"),
        arm_seed=(("arm_lift", 0.5), ("arm_flex", -np.pi / 2), ("wrist_flex", -np.pi / 2)),
    ),
}


@dataclass(frozen=True)
class MobilePhase:
    name: str
    gripper: float  # opening commanded during the phase
    height_m: float  # of the gripper above the anchor point
    timeout_s: float
    anchor: str = "object"  # "object": the cube now; "object_start": where it rested at reset
    settle_s: float = 0.0  # wait this long, then go on (gripper closing)
    reached_m: float = REACHED_M
    drive: bool = False  # the base drives to its standing pose; the arm is solved as if it already stood there


PLAN = (
    # HSR at 0.15 m/s needs about 7 s for the 0.9 m drive; Fetch (0.4 m/s) about 3 s.
    MobilePhase("drive", OPEN, HOVER_M, 12.0, reached_m=ARRIVED_M, drive=True),
    MobilePhase("above_object", OPEN, HOVER_M, 3.0),
    MobilePhase("descend", OPEN, 0.0, 2.0),
    MobilePhase("grasp", CLOSED, 0.0, 1.5, settle_s=0.6),
    MobilePhase("lift", CLOSED, LIFT_M + LIFT_MARGIN_M, 3.0, anchor="object_start"),
)


class MobilePickExpert:
    def __init__(self, env: ManipulationVecEnv):
        embodiment = env.embodiment
        if env.task.name != "mobile_pick":
            raise ValueError(f"MobilePickExpert: task {env.task.name!r}: expected 'mobile_pick'")
        if embodiment.robot_name not in STANDING_POSES:
            raise ValueError(f"MobilePickExpert: no standing pose for {embodiment.robot_name!r}: "
                             f"expected one of {sorted(STANDING_POSES)}")
        self.env = env
        self.standing = STANDING_POSES[embodiment.robot_name]
        names = embodiment.joint_names
        arm = tuple(name for name in names if name not in BASE_JOINTS)
        ik_joints = self.standing.base_in_ik + arm
        model = env.sim.model
        self.ik = DampedLeastSquaresIK(model, "ee", ik_joints)
        self._ik_columns = np.array([names.index(name) for name in ik_joints])
        self._base_columns = np.array([names.index(name) for name in BASE_JOINTS])
        self._base_qpos = np.array([model.joint(name).qposadr[0] for name in BASE_JOINTS])
        seed = self.standing.arm_seed
        self._seed_qpos = np.array([model.joint(name).qposadr[0] for name, _ in seed], dtype=np.int64)
        self._seed = np.array([value for _, value in seed])
        self._at_standing = mujoco.MjData(model)  # what the drive's IK starts from
        n = env.num_envs
        self._phase = np.zeros(n, dtype=np.int64)
        self._phase_steps = np.zeros(n, dtype=np.int64)
        self._resetting = np.zeros(n, dtype=bool)
        self._grasp_yaw = np.zeros(n)
        self._object_start = np.zeros((n, 3))
        self._base_goal = np.zeros((n, 3))  # standing pose: x, y, yaw

    def reset(self) -> None:
        """Start every robot's plan over; call right after env.reset()."""
        for i in range(self.env.num_envs):
            self._start(i)

    def _start(self, i: int) -> None:
        s = self.env._state
        self._phase[i] = self._phase_steps[i] = 0
        cube = self._object_start[i] = s.object_pos[i, 0]
        # A cube is the same every quarter turn: grasp at the face pair nearest the arm's natural hand yaw.
        cube_yaw = _yaw(s.object_quat[i, 0])
        self._grasp_yaw[i] = cube_yaw + np.round((NATURAL_GRASP_YAW - cube_yaw) / (np.pi / 2)) * np.pi / 2
        self._base_goal[i] = [cube[0] - self.standing.cube_ahead_m, cube[1] - self.standing.cube_left_m, 0.0]

    def act(self, episode_started: np.ndarray | None = None) -> np.ndarray:
        """(N, action_dim) normalized actions for the env's current state. `episode_started` marks robots whose
        episode ended at the last step (terminated | truncated): under NEXT_STEP autoreset the env resets them at
        the coming step, ignoring their action, so their fresh plan starts at the next call, from the new
        episode's state, as in WaypointExpert."""
        env = self.env
        for i in np.flatnonzero(self._resetting):
            self._start(i)
        self._resetting = np.zeros(env.num_envs, dtype=bool) if episode_started is None else np.array(episode_started)
        s = env._state
        num_joints = env.embodiment.num_joints
        targets = env.sim.positions().copy()
        for i in range(env.num_envs):
            phase = PLAN[self._phase[i]]
            point = self._point(i, phase, s)
            data = self._standing_at_goal(i) if phase.drive else env.sim.datas[i]
            result = self.ik.solve(data, point, _top_down(self._grasp_yaw[i]), iterations=IK_ITERATIONS)
            targets[i, self._base_columns] = self._base_goal[i]
            targets[i, self._ik_columns] = result.qpos
            targets[i, num_joints:] = phase.gripper
            self._advance(i, phase, np.linalg.norm(s.ee_pos[i, 0] - point))
        return env.commander.scaler.to_normalized(targets)

    def _standing_at_goal(self, i: int) -> mujoco.MjData:
        """Robot i's state with the base at its standing pose and the arm at the robot's seed pose."""
        mujoco.mj_copyData(self._at_standing, self.env.sim.model, self.env.sim.datas[i])
        self._at_standing.qpos[self._base_qpos] = self._base_goal[i]
        self._at_standing.qpos[self._seed_qpos] = self._seed
        return self._at_standing

    def _point(self, i: int, phase: MobilePhase, s) -> np.ndarray:
        anchor = self._object_start[i] if phase.anchor == "object_start" else s.object_pos[i, 0]
        return anchor + np.array([0.0, 0.0, phase.height_m])

    def _advance(self, i: int, phase: MobilePhase, distance_m: float) -> None:
        """Next phase once the point is reached (or, for a gripper phase, once it had settle_s to act)."""
        self._phase_steps[i] += 1
        elapsed = self._phase_steps[i] * self.env.control_dt_s
        done = elapsed >= phase.settle_s if phase.settle_s else distance_m < phase.reached_m
        if (done or elapsed >= phase.timeout_s) and self._phase[i] < len(PLAN) - 1:
            self._phase[i] += 1
            self._phase_steps[i] = 0
