"""Damped-least-squares inverse kinematics for one site of a MuJoCo model over a chosen set of joints.

The update is dq = J^T (J J^T + damping^2 I)^-1 e (seed 000, IKSolver._numerical_ik: "Damped least squares",
written here in the row space so the solve is at most 6x6 whatever the number of joints). Damping keeps
the update finite where J J^T is singular: a stretched arm, an unreachable target, wrist gimbal lock.

Orientations are unit quaternions (w, x, y, z), MuJoCo's convention, in the world frame.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import mujoco
import numpy as np

_MOVABLE_JOINTS = (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE)
_FULL_TURN_SLACK_RAD = 0.01  # a range written as -3.14..3.14 still counts as a full turn


@dataclass(frozen=True)
class IKResult:
    qpos: np.ndarray  # (len(joint_names),) joint positions, in the order of joint_names
    position_error_m: float
    orientation_error_rad: float  # 0.0 when no orientation was asked for
    converged: bool  # within both tolerances
    iterations: int  # DLS updates made


def orientation_error(target_quat: np.ndarray, current_quat: np.ndarray) -> np.ndarray:
    """World-frame axis-angle (3,) of target * current^-1: the rotation that takes current onto target."""
    inverse, difference, axis_angle = np.empty(4), np.empty(4), np.empty(3)
    mujoco.mju_negQuat(inverse, current_quat)
    mujoco.mju_mulQuat(difference, target_quat, inverse)
    mujoco.mju_quat2Vel(axis_angle, difference, 1.0)  # takes the short way round (angle <= pi)
    return axis_angle


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r}: expected a finite number > 0")
    return float(value)


def _vector(name: str, value, size: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (size,) or not np.isfinite(array).all():
        raise ValueError(f"{name}={value!r}: expected {size} finite numbers")
    return array


class DampedLeastSquaresIK:
    """Moves `joint_names` (hinge or slide) so that `site` reaches a target position and, optionally, a
    target quaternion; every other joint of the model (free base, other limbs, objects) stays as it is.

    damping:            lambda of the update, in the units of the weighted error (m). Directions in which
                        the joints move the site by less than about lambda per rad are damped. 1 mm: larger
                        values slow the last millimetres near singular poses (random 7-dof arm poses within
                        100 updates: 0.001 -> 100 %, 0.005 -> 98 %, 0.05 -> 77 % converge), and the step
                        limit already bounds the update far from the target.
    max_step_rad:       largest joint change per update (m for slide joints); a larger update is scaled down
                        as a whole, which keeps its direction.
    orientation_weight: metres of position error that 1 rad of orientation error counts as; 0.5 m is
                        about an arm's length, so a turn of the hand and a reach of the arm weigh alike.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        site: str,
        joint_names: tuple[str, ...],
        damping: float = 0.001,
        max_step_rad: float = 0.2,
        orientation_weight: float = 0.5,
    ):
        if not isinstance(model, mujoco.MjModel):
            raise TypeError(f"model={type(model).__name__}: expected a mujoco.MjModel")
        sites = [model.site(i).name for i in range(model.nsite)]
        if site not in sites:
            raise ValueError(f"site={site!r}: not in the model; its sites are {sites}")
        if isinstance(joint_names, str):
            raise ValueError(f"joint_names={joint_names!r}: expected a tuple of joint names, not one string")
        joint_names = tuple(joint_names)
        if not joint_names or len(set(joint_names)) != len(joint_names):
            raise ValueError(f"joint_names={joint_names!r}: expected one or more distinct joint names")
        joints = [model.joint(i).name for i in range(model.njnt)]
        unknown = [name for name in joint_names if name not in joints]
        if unknown:
            raise ValueError(f"joint_names: {unknown} not in the model; its joints are {joints}")
        joint_ids = np.array([model.joint(name).id for name in joint_names])
        for name, joint_id in zip(joint_names, joint_ids):
            kind = mujoco.mjtJoint(model.jnt_type[joint_id])
            if kind not in _MOVABLE_JOINTS:
                raise ValueError(f"joint_names: {name!r} is a {kind.name} joint: expected hinge or slide")

        self.model = model
        self.site = site
        self.joint_names = joint_names
        self.damping = _positive("damping", damping)
        self.max_step_rad = _positive("max_step_rad", max_step_rad)
        self.orientation_weight = _positive("orientation_weight", orientation_weight)
        self._site_id = model.site(site).id
        self._qpos_adr = model.jnt_qposadr[joint_ids]
        self._dof_adr = model.jnt_dofadr[joint_ids]
        limited = model.jnt_limited[joint_ids].astype(bool)
        self.lower = np.where(limited, model.jnt_range[joint_ids, 0], -np.inf)
        self.upper = np.where(limited, model.jnt_range[joint_ids, 1], np.inf)
        # A hinge whose range spans a full turn reaches every angle, so solve() carries it across the
        # +-pi seam (same pose, other end of the range) instead of stalling there; a third of random
        # arm poses stall at +-3.14 otherwise.
        hinge = model.jnt_type[joint_ids] == mujoco.mjtJoint.mjJNT_HINGE
        self._full_turn = hinge & limited & (self.upper - self.lower >= 2 * np.pi - _FULL_TURN_SLACK_RAD)
        # Solving on a private copy leaves the caller's simulation exactly as it was.
        self._scratch = mujoco.MjData(model)
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self._site_quat = np.empty(4)

    def solve(
        self,
        data: mujoco.MjData,
        target_pos,
        target_quat=None,
        iterations: int = 100,
        tolerance_m: float = 1e-3,
        tolerance_rad: float = 1e-2,
    ) -> IKResult:
        """Makes DLS updates from the state in `data` (not modified) until the site is within both
        tolerances or `iterations` updates are made. Returns the first pose within tolerance, else the
        closest pose met (never farther than the start), with joints within their limits."""
        target_pos, target_quat = self._targets(target_pos, target_quat)
        if not (isinstance(iterations, numbers.Integral) and not isinstance(iterations, bool) and iterations >= 1):
            raise ValueError(f"iterations={iterations!r}: expected an integer >= 1")
        tolerance_m = _positive("tolerance_m", tolerance_m)
        tolerance_rad = _positive("tolerance_rad", tolerance_rad)
        self._load(data)
        closest, closest_distance = None, np.inf
        for applied in range(iterations + 1):
            position_error, rotation_error = self._errors(target_pos, target_quat)
            position_error_m = float(np.linalg.norm(position_error))
            orientation_error_rad = 0.0 if rotation_error is None else float(np.linalg.norm(rotation_error))
            result = IKResult(
                self._scratch.qpos[self._qpos_adr].copy(), position_error_m, orientation_error_rad,
                converged=position_error_m <= tolerance_m and orientation_error_rad <= tolerance_rad,
                iterations=applied,
            )
            if result.converged:
                return result
            distance = np.hypot(position_error_m, self.orientation_weight * orientation_error_rad)
            if distance < closest_distance:
                closest, closest_distance = result, distance
            if applied < iterations:
                self._apply(self._increment(position_error, rotation_error, wrap=True), wrap=True)
        return IKResult(
            closest.qpos, closest.position_error_m, closest.orientation_error_rad, False, iterations
        )

    def step(self, data: mujoco.MjData, target_pos, target_quat=None) -> np.ndarray:
        """Joint targets (len(joint_names),) one DLS update from the state in `data` (not modified):
        current + dq within the limits, for a position-controlled loop that servos toward the target."""
        target_pos, target_quat = self._targets(target_pos, target_quat)
        self._load(data)
        # No seam crossing here: the target would sit a full turn away from the joint it commands.
        self._apply(self._increment(*self._errors(target_pos, target_quat), wrap=False), wrap=False)
        return self._scratch.qpos[self._qpos_adr].copy()

    def _targets(self, target_pos, target_quat) -> tuple[np.ndarray, np.ndarray | None]:
        target_pos = _vector("target_pos", target_pos, 3)
        if target_quat is None:
            return target_pos, None
        target_quat = _vector("target_quat", target_quat, 4)
        norm = np.linalg.norm(target_quat)
        if norm < 1e-9:
            raise ValueError(f"target_quat={target_quat.tolist()}: expected a non-zero quaternion (w, x, y, z)")
        return target_pos, target_quat / norm

    def _load(self, data: mujoco.MjData) -> None:
        if data.qpos.shape != (self.model.nq,):
            raise ValueError(f"data has {data.qpos.shape[0]} qpos: expected model.nq={self.model.nq}")
        mujoco.mj_copyData(self._scratch, self.model, data)

    def _errors(self, target_pos, target_quat) -> tuple[np.ndarray, np.ndarray | None]:
        """Refreshes the scratch kinematics and jacobians; the site's position and rotation errors."""
        model, scratch = self.model, self._scratch
        mujoco.mj_kinematics(model, scratch)
        mujoco.mj_comPos(model, scratch)  # mj_jacSite reads the dof axes (cdof) computed here
        mujoco.mj_jacSite(model, scratch, self._jacp, self._jacr, self._site_id)
        position_error = target_pos - scratch.site_xpos[self._site_id]
        if target_quat is None:
            return position_error, None
        mujoco.mju_mat2Quat(self._site_quat, scratch.site_xmat[self._site_id])
        return position_error, orientation_error(target_quat, self._site_quat)

    def _increment(self, position_error, rotation_error, wrap: bool) -> np.ndarray:
        """DLS joint increment for the errors, at the jacobians of the last _errors call.

        A joint resting on a limit that the update pushes further is taken out and the rest re-solved:
        clipping alone would spend part of the update on a joint that cannot move."""
        jacobian = self._jacp[:, self._dof_adr]
        error = position_error
        if rotation_error is not None:
            weight = self.orientation_weight
            jacobian = np.vstack([jacobian, weight * self._jacr[:, self._dof_adr]])
            error = np.concatenate([position_error, weight * rotation_error])
        joints = self._scratch.qpos[self._qpos_adr]
        may_cross_seam = self._full_turn & wrap
        free = np.ones(len(self.joint_names), dtype=bool)
        while True:
            dq = np.zeros(len(free))
            if free.any():
                rows = jacobian.shape[0]
                regularized = jacobian[:, free] @ jacobian[:, free].T + self.damping**2 * np.eye(rows)
                dq[free] = jacobian[:, free].T @ np.linalg.solve(regularized, error)
            pushed = ((joints <= self.lower) & (dq < 0)) | ((joints >= self.upper) & (dq > 0))
            pushed &= free & ~may_cross_seam
            if not pushed.any():
                break
            free &= ~pushed
        largest = np.abs(dq).max()
        return dq * (self.max_step_rad / largest) if largest > self.max_step_rad else dq

    def _apply(self, dq: np.ndarray, wrap: bool) -> None:
        joints = self._scratch.qpos[self._qpos_adr] + dq
        if wrap:
            turns = (joints < self.lower).astype(float) - (joints > self.upper).astype(float)
            joints = np.where(self._full_turn, joints + 2 * np.pi * turns, joints)
        self._scratch.qpos[self._qpos_adr] = np.clip(joints, self.lower, self.upper)
