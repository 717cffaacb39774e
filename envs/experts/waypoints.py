"""Waypoint experts for the single-arm manipulation tasks: top-down grasps planned from the simulator's state.

An expert acts for every robot of a ManipulationVecEnv. Per robot it walks through a plan of
phases (bring the grasp centre, or the object it holds, to a point with the gripper open or
closed); a phase ends when its point is reached, when a gripper phase has had its settle time,
or when its time runs out. Each control step turns the phase's point into joint targets:

- The commanded point slides along a straight line to the phase's point at the phase's speed
  (slowly near objects), so descents, lifts and insertions stay vertical; only the first move,
  from a home pose far from pointing down, jumps and lets the joints take the shortest way.
- IK starts from the expert's reference posture (its previous solution), not from the measured
  joints, so successive solutions stay on one branch whatever the arm lags. The reference starts
  at the robot's ready posture, the gripper pointing down over the workspace centre, solved once
  from the home pose (the xArm6's is folded, the UR5e's stretched with the gripper sideways).
- The targets carry the offset that holds the solution against gravity: a position servo rests
  where kp * error balances the gravity torque, which leaves the gripper 0.5-1.2 cm off (UR5e .. Panda).
- The step from the measured joints towards the targets is scaled as a whole to the safety
  filter's per-step bound: all joints arrive together, and the filter, which would clip each joint
  on its own and bend the path, has nothing to clip.

The normalized action goes through the same ActionScaler and SafetyFilter as a policy's.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from vla_ray.control.ik import DampedLeastSquaresIK
from envs.manipulation.env import ManipulationVecEnv
from envs.manipulation.tasks.peg_insertion import PEG_HALF_SIZE_M, SOCKET_DEPTH_M

OPEN, CLOSED = 1.0, 0.0
HOVER_M = 0.10  # approach height above a grasp or place point
IK_ITERATIONS = 30
DOWN = np.array([0.0, 1.0, 0.0, 0.0])  # quaternion of a half turn about x: the approach axis points down
QUARTER_TURN = np.pi / 2
READY_HEIGHT_M = 0.2  # the ready posture's grasp centre above the workspace centre
READY_IK_ITERATIONS = 500  # a one-off solve from the home pose, which can be far from the ready posture
STEP_MARGIN = 0.95  # of the safety filter's per-step bound, so that rounding never trips it
# The grasp centre 1 cm below the peg's top: the fingertips, ~1 cm past it on all three arms, then stay 2 cm above
# the socket with the peg fully inserted (lower, and they land on the socket's walls).
PEG_GRASP_ABOVE_CENTRE_M = PEG_HALF_SIZE_M[2] - 0.01
PEG_CLEARANCE_M = 0.015  # the peg's bottom above the socket's opening while it moves over the hole
ANCHORS = ("goal", "object", "object_start", "place")
MOVE_SPEED_MPS = 0.3  # the commanded point's speed between hover points
CONTACT_SPEED_MPS = 0.15  # near objects: descend, lift and lower slowly enough that the joints track the line


@dataclass(frozen=True)
class Phase:
    name: str
    gripper: float  # opening commanded during the phase
    # "goal": the grasp centre to the task's goal; "object": to the first object now; "object_start": to where
    # it rested at reset; "place": the held object's centre to the goal (the grasp keeps its offset)
    anchor: str
    height_m: float = 0.0  # above the anchor point
    timeout_s: float = 2.0
    settle_s: float = 0.0  # a gripper phase: go on after this long (the fingers close or open)
    tolerance_m: float = 0.008  # the point counts as reached within this distance
    # The commanded point slides towards the phase's point along a straight line at this speed; None: it jumps
    # there and the joints take the shortest way (the first move, from a home pose far from pointing down).
    speed_mps: float | None = MOVE_SPEED_MPS
    align: bool = False  # turn the held object's faces to the second object's (a square peg to its hole)

    def __post_init__(self):
        if self.anchor not in ANCHORS:
            raise ValueError(f"Phase({self.name}).anchor={self.anchor!r}: expected one of {ANCHORS}")


def _pick(grasp_height_m: float, lift_m: float) -> tuple[Phase, ...]:
    """Grasp the first object with the grasp centre `grasp_height_m` above its centre, then lift it by `lift_m`."""
    return (
        # The first move: the UR5e's, from its stretched home, takes up to 4 s.
        Phase("above_object", OPEN, "object", grasp_height_m + HOVER_M, 6.0, speed_mps=None),
        Phase("descend", OPEN, "object", grasp_height_m, 2.0, speed_mps=CONTACT_SPEED_MPS),
        Phase("grasp", CLOSED, "object", grasp_height_m, 1.5, settle_s=0.5),
        Phase("lift", CLOSED, "object_start", grasp_height_m + lift_m, 2.0, speed_mps=CONTACT_SPEED_MPS),
    )


def _place(above_m: float, release_m: float, hover_tolerance_m: float, align: bool) -> tuple[Phase, ...]:
    """Carry the held object `above_m` over the goal, lower it to `release_m` over it, let go and back off."""
    return (
        Phase("above_goal", CLOSED, "place", above_m, 4.0, tolerance_m=hover_tolerance_m, align=align),
        Phase("lower", CLOSED, "place", release_m, 2.0, tolerance_m=0.004, speed_mps=CONTACT_SPEED_MPS),
        Phase("release", OPEN, "place", release_m, 1.5, settle_s=0.4),
        Phase("retreat", OPEN, "place", above_m, 2.0),
    )


PLANS = {
    "reach": (Phase("to_target", OPEN, "goal", 0.0, 30.0, speed_mps=None),),
    "pick_place": _pick(0.0, HOVER_M) + _place(HOVER_M, 0.01, 0.015, align=False),
    "stack": _pick(0.0, HOVER_M) + _place(HOVER_M, 0.005, 0.01, align=True),
    # Over the hole the peg's bottom clears the opening; the fingers let go with it fully inserted.
    "peg_insertion": _pick(PEG_GRASP_ABOVE_CENTRE_M, SOCKET_DEPTH_M + PEG_CLEARANCE_M)
    + _place(SOCKET_DEPTH_M + PEG_CLEARANCE_M, 0.0, 0.002, align=True),
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


def _quarter_wrapped(angle: float) -> float:
    """`angle` less the nearest whole number of quarter turns: a square's yaw is the same every quarter turn."""
    return angle - np.round(angle / QUARTER_TURN) * QUARTER_TURN


class WaypointExpert:
    def __init__(self, env: ManipulationVecEnv):
        if env.task.name not in PLANS:
            raise ValueError(f"WaypointExpert: no plan for task {env.task.name!r}: expected one of {sorted(PLANS)}")
        if env.embodiment.robot_type != "single_arm":
            raise ValueError(f"WaypointExpert: {env.embodiment.robot_name} is not a single arm")
        self.env = env
        self.plan = PLANS[env.task.name]
        model, layout = env.sim.model, env.sim.layout
        self.ik = DampedLeastSquaresIK(model, "ee", env.embodiment.joint_names)
        self._arm_qpos, self._arm_dofs = layout.qpos, layout.qvel
        # A position servo pushes kp * (target - joint) at rest: the target offset that holds gravity's torque.
        self._servo_kp = model.actuator_gainprm[layout.joint_actuators, 0]
        self._max_step = STEP_MARGIN * env.commander.safety.max_step
        self.ready_yaw, self.ready = self._ready_posture()
        n = env.num_envs
        self._reference = [mujoco.MjData(model) for _ in range(n)]  # per robot: the posture IK starts from
        self._measured_posture = mujoco.MjData(model)  # scratch: the measured posture, for its holding offset
        self._gravity = np.zeros(model.nv)
        self._phase = np.zeros(n, dtype=np.int64)
        self._phase_steps = np.zeros(n, dtype=np.int64)
        self._yaw = np.zeros(n)
        self._object_start = np.zeros((n, 3))
        self._held_offset = np.zeros((n, 3))  # grasp centre minus held object centre
        self._commanded = np.zeros((n, 3))  # the point IK solves for, on its way to the phase's point
        self._resetting = np.zeros(n, dtype=bool)  # the env resets these robots at the coming step

    def _ready_posture(self) -> tuple[float, np.ndarray]:
        """The gripper pointing down READY_HEIGHT_M over the workspace centre, at the quarter-turn yaw whose
        solution is the shortest joint-space move from the home pose: (yaw, arm joint positions)."""
        env = self.env
        home = mujoco.MjData(env.sim.model)
        home.qpos[:] = env._home_qpos
        point = env.workspace.centre + [0.0, 0.0, READY_HEIGHT_M]
        best = None
        for yaw in QUARTER_TURN * np.arange(-1, 3):
            result = self.ik.solve(home, point, _top_down(yaw), iterations=READY_IK_ITERATIONS)
            travel = np.abs(result.qpos - home.qpos[self._arm_qpos]).max()
            if result.converged and (best is None or travel < best[0]):
                best = (travel, yaw, result.qpos)
        if best is None:
            raise ValueError(f"WaypointExpert: {env.embodiment.robot_name} cannot point its gripper down at {point}")
        return best[1], best[2]

    def reset(self) -> None:
        """Start every robot's plan over; call right after env.reset()."""
        self._resetting[:] = False
        for i in range(self.env.num_envs):
            self._start(i)

    def _start(self, i: int) -> None:
        env, s = self.env, self.env._state
        self._phase[i] = self._phase_steps[i] = 0
        self._object_start[i] = s.object_pos[i, 0]
        self._held_offset[i] = 0.0
        # A cube (or square peg) is the same every quarter turn: grasp the face pair nearest the ready yaw.
        object_yaw = _yaw(s.object_quat[i, 0])
        self._yaw[i] = self.ready_yaw - _quarter_wrapped(self.ready_yaw - object_yaw)
        self._commanded[i] = s.ee_pos[i, 0]
        reference = self._reference[i]
        mujoco.mj_copyData(reference, env.sim.model, env.sim.datas[i])
        reference.qpos[self._arm_qpos] = self.ready

    def act(self, episode_started: np.ndarray | None = None) -> np.ndarray:
        """(N, action_dim) normalized actions for the env's current state. `episode_started` marks robots whose
        episode ended at the last step (its terminated | truncated): under NEXT_STEP autoreset the env resets them
        at the coming step, ignoring their action, so their fresh plan starts at the next call, from the new
        episode's state (starting now would plan from the old episode's last state)."""
        env = self.env
        for i in np.flatnonzero(self._resetting):
            self._start(i)
        self._resetting = np.zeros(env.num_envs, dtype=bool) if episode_started is None else np.array(episode_started)
        s = env._state
        measured = env.sim.positions()
        targets = measured.copy()
        num_joints = env.embodiment.num_joints
        for i in range(env.num_envs):
            phase = self.plan[self._phase[i]]
            if phase.gripper == CLOSED:  # while it holds the object, follow any slip of the grasp
                self._held_offset[i] = s.ee_pos[i, 0] - s.object_pos[i, 0]
            point = self._point(i, phase, s)
            joints = self._solve(i, self._slide(i, phase, point))
            targets[i, :num_joints] = self._command(i, measured[i, :num_joints], joints)
            targets[i, num_joints:] = phase.gripper
            self._advance(i, phase, s, np.linalg.norm(s.ee_pos[i, 0] - point))
        return env.commander.scaler.to_normalized(targets)

    def _point(self, i: int, phase: Phase, s) -> np.ndarray:
        """Where the phase wants robot i's grasp centre now."""
        match phase.anchor:
            case "goal":
                anchor = s.goal_pos[i]
            case "object":
                anchor = s.object_pos[i, 0]
            case "object_start":
                anchor = self._object_start[i]
            case "place":
                anchor = s.goal_pos[i] + self._held_offset[i]
        return anchor + np.array([0.0, 0.0, phase.height_m])

    def _slide(self, i: int, phase: Phase, point: np.ndarray) -> np.ndarray:
        """The commanded point, one control step further along the straight line to the phase's point."""
        if phase.speed_mps is None:
            self._commanded[i] = point
        else:
            way = point - self._commanded[i]
            distance = np.linalg.norm(way)
            step = phase.speed_mps * self.env.control_dt_s
            self._commanded[i] = point if distance <= step else self._commanded[i] + way * (step / distance)
        return self._commanded[i]

    def _solve(self, i: int, point: np.ndarray) -> np.ndarray:
        """Arm joints that put the grasp centre at `point`, pointing down at the robot's yaw, from its reference."""
        reference = self._reference[i]
        result = self.ik.solve(reference, point, _top_down(self._yaw[i]), iterations=IK_ITERATIONS)
        reference.qpos[self._arm_qpos] = result.qpos
        return result.qpos

    def _hold_offset(self, data: mujoco.MjData) -> np.ndarray:
        """Target offset (rad) at which the servos hold the arm posture of `data` against gravity (`data` is the
        expert's own: its velocities are zeroed)."""
        model = self.env.sim.model
        data.qvel[:] = 0.0
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        mujoco.mj_rne(model, data, 0, self._gravity)  # at rest the bias force is gravity's alone
        return self._gravity[self._arm_dofs] / self._servo_kp

    def _command(self, i: int, measured: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """Joint targets one control step from the measured joints towards holding `joints`, every joint the same
        fraction of its way, the fraction as large as the safety filter's per-step bound allows. The offset that
        holds the current posture comes first: what is left of the bound moves the arm."""
        self._measured_posture.qpos[:] = self.env.sim.datas[i].qpos
        holding_now = self._hold_offset(self._measured_posture)
        motion = joints + self._hold_offset(self._reference[i]) - (measured + holding_now)
        with np.errstate(divide="ignore"):
            room = (self._max_step - np.sign(motion) * holding_now) / np.abs(motion)
        return measured + holding_now + np.clip(room.min(), 0.0, 1.0) * motion

    def _advance(self, i: int, phase: Phase, s, distance_m: float) -> None:
        """Next phase once the point is reached (or, for a gripper phase, once it had settle_s to act); the last
        phase holds."""
        self._phase_steps[i] += 1
        elapsed = self._phase_steps[i] * self.env.control_dt_s
        done = elapsed >= phase.settle_s if phase.settle_s else distance_m < phase.tolerance_m
        if (done or elapsed >= phase.timeout_s) and self._phase[i] < len(self.plan) - 1:
            self._phase[i] += 1
            self._phase_steps[i] = 0
            if self.plan[self._phase[i]].align:
                # Turn the hand by the held object's yaw off the second object's, modulo a quarter turn.
                misalignment = _yaw(s.object_quat[i, 0]) - _yaw(s.object_quat[i, 1])
                self._yaw[i] -= _quarter_wrapped(misalignment)
