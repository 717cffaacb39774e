"""The embodiment guide's abstract end-effector action -> joint targets, by inverse kinematics.

An action is [dx, dy, dz, rx, ry, rz, gripper...] in [-1, 1]: a move of the arm's grasp site along the world
axes at up to MAX_LINEAR_SPEED_MPS, a turn about a world axis (rx, ry, rz: an axis-angle vector) at up to
MAX_ANGULAR_SPEED_RPS, each for one control period, then the gripper openings as in joint space. The same
action means the same hand motion on every single arm, whatever its control rate, which is what lets one
policy drive several arms.

The move is relative to the pose measured now (forward kinematics of the measured joints), not to the
last command: the conversion needs nothing but the observation, so a server converts exactly as the
environment does. Damped-least-squares IK (vla_ray.control.ik) from the measured joints gives the joint
positions that put the site there. The PD position actuators hold a joint short of its target by the gravity
torque over the stiffness, so each target is offset by that amount (the robot model's gravity torque at the
solved pose): otherwise "no move" would command the measured pose and the arm would sink a little every
step, several cm in half a second on the Franka. A joint motion larger than the safety filter allows in one
control step is shortened as a whole, so the hand still moves in the asked direction, only less far (the
filter clamps joints one by one, which would turn the motion). The safety filter then bounds the targets
like any others.
"""

from __future__ import annotations

import mujoco
import numpy as np

from vla_ray.control.action_scaling import gripper_channels, gripper_openings
from vla_ray.control.ik import DampedLeastSquaresIK
from vla_ray.embodiment import EmbodimentConfig
from vla_ray.embodiment.config import EE_POSE_DELTA_DIM

# The embodiment guide's ActionScaler moves 5 cm and 0.1 rad per step per unit action; at the Franka's 20 Hz
# that is 1 m/s and 2 rad/s, written as speeds so that arms with other control rates move alike.
MAX_LINEAR_SPEED_MPS = 1.0
MAX_ANGULAR_SPEED_RPS = 2.0
GRASP_SITE = "ee"  # every single-arm model's grasp centre (envs/assets/<robot>/<robot>.xml)
# A target at most 5 cm and 0.1 rad away (at 20 Hz): the solver reaches 1 mm within a few updates from a regular pose;
# near a singularity the closest pose found is used, and the next control step continues from there.
IK_ITERATIONS = 8


class EndEffectorScaler:
    """Maps end-effector actions to joint targets (+ gripper openings in [0, 1]) for a single arm, given the
    arm's kinematic model (an MjModel with the embodiment's joints and the grasp site)."""

    def __init__(self, embodiment: EmbodimentConfig, kinematics: mujoco.MjModel):
        if embodiment.action_type != "end_effector":
            raise ValueError(f"EndEffectorScaler: {embodiment.robot_name}.action_type={embodiment.action_type!r}: "
                             "expected 'end_effector'")
        self.num_joints = embodiment.num_joints
        self.action_dim = embodiment.action_dim
        self.command_dim = embodiment.command_dim
        self.ik = DampedLeastSquaresIK(kinematics, GRASP_SITE, embodiment.joint_names)
        self._model = kinematics
        self._data = mujoco.MjData(kinematics)
        joint_ids = np.array([kinematics.joint(name).id for name in embodiment.joint_names])
        self._qpos = kinematics.jnt_qposadr[joint_ids]
        self._dofs = kinematics.jnt_dofadr[joint_ids]
        self._stiffness = self._position_gains(kinematics, joint_ids, embodiment.robot_name)
        self._max_step = embodiment.max_joint_velocity / embodiment.control_frequency_hz  # as SafetyFilter
        self._max_translation_m = MAX_LINEAR_SPEED_MPS / embodiment.control_frequency_hz
        self._max_rotation_rad = MAX_ANGULAR_SPEED_RPS / embodiment.control_frequency_hz
        self._site = kinematics.site(GRASP_SITE).id
        self._quat = np.empty(4)
        self._turn = np.empty(4)

    @staticmethod
    def _position_gains(model: mujoco.MjModel, joint_ids: np.ndarray, robot: str) -> np.ndarray:
        """kp of the position actuator driving each joint (N m / rad at gear 1)."""
        gains = np.full(len(joint_ids), np.nan)
        for a in range(model.nu):
            if model.actuator_trntype[a] != mujoco.mjtTrn.mjTRN_JOINT:
                continue
            hit = np.flatnonzero(joint_ids == model.actuator_trnid[a, 0])
            kp = model.actuator_gainprm[a, 0]
            # A position servo: force = kp * (ctrl - q) - kv * qdot, ie gain kp and bias (0, -kp, -kv).
            if hit.size and model.actuator_gear[a, 0] == 1.0 and np.isclose(model.actuator_biasprm[a, 1], -kp):
                gains[hit] = kp
        if not np.all(gains > 0):
            missing = [model.joint(j).name for j, g in zip(joint_ids, gains) if not g > 0]
            raise ValueError(f"EndEffectorScaler: {robot}: joints {missing} have no position actuator (gear 1) in "
                             "the model: expected one per arm joint")
        return gains

    def gravity_offset(self, joints: np.ndarray) -> np.ndarray:
        """How far short of their targets the PD servos settle at rest at `joints`, from the model's gravity
        torques there."""
        self._data.qpos[self._qpos] = joints
        self._data.qvel[:] = 0.0
        mujoco.mj_forward(self._model, self._data)
        return self._data.qfrc_bias[self._dofs] / self._stiffness

    def _check(self, array: np.ndarray, what: str, width: int, name: str) -> None:
        if array.ndim != 2 or array.shape[-1] != width:
            raise ValueError(f"{what} has shape {array.shape}: expected (N, {name}={width})")

    def grasp_pose(self, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World position (3,) and quaternion (4,) of the grasp site with the arm at `joints`; leaves the
        scratch state at those joints."""
        self._data.qpos[self._qpos] = joints
        mujoco.mj_kinematics(self._model, self._data)
        return self._scratch_grasp_pose()

    def _scratch_grasp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The grasp site's pose in the scratch state, as its last kinematics pass left it."""
        mujoco.mju_mat2Quat(self._quat, self._data.site_xmat[self._site])
        return self._data.site_xpos[self._site].copy(), self._quat.copy()

    def target_pose(self, action: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The grasp-site pose one (EE_POSE_DELTA_DIM,) pose delta asks for from the arm at `joints`."""
        return self._moved(action, *self.grasp_pose(joints))

    def _moved(self, action: np.ndarray, position: np.ndarray, quat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rotation = action[3:EE_POSE_DELTA_DIM] * self._max_rotation_rad
        angle = float(np.linalg.norm(rotation))
        if angle > 0.0:
            mujoco.mju_axisAngle2Quat(self._turn, rotation / angle, angle)
            mujoco.mju_mulQuat(quat, self._turn.copy(), quat)  # a turn about a world axis: turn * current
        return position + action[:3] * self._max_translation_m, quat

    def to_targets(self, action: np.ndarray, current: np.ndarray) -> np.ndarray:
        """(N, action_dim) normalized actions and the (N, command_dim) measured joint positions and openings ->
        (N, command_dim) joint targets and openings. Rows with a non-finite action come back all NaN."""
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        current = np.asarray(current, dtype=np.float64)
        self._check(action, "action", self.action_dim, "action_dim")
        self._check(current, "current positions", self.command_dim, "command_dim")
        targets = np.full((len(action), self.command_dim), np.nan)
        n = self.num_joints
        for i in np.flatnonzero(np.isfinite(action).all(axis=1)):
            sag = self.gravity_offset(current[i, :n])  # its forward pass also places the grasp site: no second one
            position, quat = self._moved(action[i], *self._scratch_grasp_pose())
            motion = self.ik.solve(self._data, position, quat, iterations=IK_ITERATIONS).qpos - current[i, :n]
            room = np.maximum(self._max_step - np.abs(sag), 0.0)
            excess = np.max(np.abs(motion) / np.maximum(room, 1e-12))
            targets[i, :n] = current[i, :n] + (motion / excess if excess > 1.0 else motion) + sag
            targets[i, n:] = gripper_openings(action[i, EE_POSE_DELTA_DIM:])
        return targets

    def to_normalized(self, targets: np.ndarray) -> np.ndarray:
        """The action that holds targets the arm is at: no pose change, the same openings (used for the
        previous action at an episode's start)."""
        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape[-1] != self.command_dim:
            raise ValueError(f"targets have {targets.shape[-1]} values per row: expected command_dim={self.command_dim}")
        hold = np.zeros((*targets.shape[:-1], EE_POSE_DELTA_DIM))
        return np.clip(np.concatenate([hold, gripper_channels(targets[..., self.num_joints:])], axis=-1), -1.0, 1.0)
