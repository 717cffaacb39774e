"""The simulated humanoid: a MuJoCo model checked against its EmbodimentConfig, with named read-outs."""

from __future__ import annotations

import mujoco
import numpy as np

from envs.assets import resolve_model_path
from vla_ray.embodiment import EmbodimentConfig

CONTACT_SENSORS = ("left_foot_touch", "right_foot_touch", "left_hand_touch", "right_hand_touch")
FORCE_SENSORS = ("left_wrist_force", "right_wrist_force", "left_ankle_force", "right_ankle_force")
IMU_SENSORS = ("imu_gyro", "imu_accel")
FOOT_SITES = ("left_foot", "right_foot")
CONTACT_THRESHOLD_N = 1.0
LIMIT_TOLERANCE = 1e-4  # MJCF stores ranges as written; allow float round-off only


def _sensor_slice(model: mujoco.MjModel, name: str) -> slice:
    sensor = model.sensor(name)
    start = int(sensor.adr[0])
    return slice(start, start + int(sensor.dim[0]))


class HumanoidRobot:
    """Owns MjModel/MjData; maps the embodiment's joint order onto qpos, qvel, actuators and sensors."""

    def __init__(self, embodiment: EmbodimentConfig, model_path: str, physics_dt_s: float):
        self.embodiment = embodiment
        self.model = mujoco.MjModel.from_xml_path(str(resolve_model_path(model_path)))
        self.model.opt.timestep = physics_dt_s
        self.data = mujoco.MjData(self.model)
        self._check_joints()
        m = self.model
        self.qpos_index = np.array([m.joint(n).qposadr[0] for n in embodiment.joint_names])
        self.qvel_index = np.array([m.joint(n).dofadr[0] for n in embodiment.joint_names])
        self.actuator_index = np.array([m.actuator(n).id for n in embodiment.joint_names])
        self.force_limit = m.actuator_forcerange[self.actuator_index, 1].copy()
        self.contact_slices = [_sensor_slice(m, n) for n in CONTACT_SENSORS]
        self.force_index = np.concatenate([np.arange(s.start, s.stop) for s in map(lambda n: _sensor_slice(m, n), FORCE_SENSORS)])
        self.imu_index = np.concatenate([np.arange(s.start, s.stop) for s in map(lambda n: _sensor_slice(m, n), IMU_SENSORS)])
        self.foot_site_ids = np.array([m.site(n).id for n in FOOT_SITES])
        self.torso_body_id = m.body("torso").id
        key = m.key("nominal")
        self.nominal_qpos = key.qpos.copy()
        self.nominal_qpos[self.qpos_index] = embodiment.nominal_pose
        self.nominal_base_height_m = float(self.nominal_qpos[2])

    def _check_joints(self) -> None:
        m, emb = self.model, self.embodiment
        model_joints = {m.joint(i).name for i in range(m.njnt) if m.jnt_type[i] == mujoco.mjtJoint.mjJNT_HINGE}
        missing = [n for n in emb.joint_names if n not in model_joints]
        if missing:
            raise ValueError(f"{emb.robot_name}: joints {missing} are in the EmbodimentConfig but not in the model")
        extra = sorted(model_joints - set(emb.joint_names))
        if extra:
            raise ValueError(f"{emb.robot_name}: model has hinge joints {extra} that the EmbodimentConfig does not name")
        for spec in emb.joints:
            low, high = m.joint(spec.name).range
            if abs(low - spec.lower) > LIMIT_TOLERANCE or abs(high - spec.upper) > LIMIT_TOLERANCE:
                raise ValueError(
                    f"{emb.robot_name}: joint {spec.name} has range ({low:.4f}, {high:.4f}) in the model: "
                    f"expected ({spec.lower}, {spec.upper}) from the EmbodimentConfig"
                )
            if m.actuator(spec.name).trntype != mujoco.mjtTrn.mjTRN_JOINT:
                raise ValueError(f"{emb.robot_name}: actuator {spec.name} does not drive a joint")

    def reset(self, qpos: np.ndarray) -> None:
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = qpos
        self.data.ctrl[self.actuator_index] = qpos[self.qpos_index]
        mujoco.mj_forward(self.model, self.data)

    def step(self, joint_targets: np.ndarray, substeps: int) -> None:
        self.data.ctrl[self.actuator_index] = joint_targets
        mujoco.mj_step(self.model, self.data, nstep=substeps)

    # -- read-outs ------------------------------------------------------------------------------
    @property
    def joint_pos(self) -> np.ndarray:
        return self.data.qpos[self.qpos_index]

    @property
    def joint_vel(self) -> np.ndarray:
        return self.data.qvel[self.qvel_index]

    @property
    def base_quat(self) -> np.ndarray:
        return self.data.qpos[3:7]

    def gravity_in_base(self) -> np.ndarray:
        """Unit gravity direction in the base frame: (0, 0, -1) when upright."""
        w, x, y, z = self.data.qpos[3:7]
        # third row of the rotation matrix, negated: R^T @ (0, 0, -1)
        return -np.array([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)])

    def roll_pitch(self) -> tuple[float, float]:
        w, x, y, z = self.data.qpos[3:7]
        roll = np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
        pitch = np.arcsin(np.clip(2 * (w * y - z * x), -1.0, 1.0))
        return float(roll), float(pitch)

    def heading_velocity(self) -> np.ndarray:
        """Base linear velocity (forward, lateral, up) in the yaw-aligned heading frame."""
        w, x, y, z = self.data.qpos[3:7]
        yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
        c, s = np.cos(yaw), np.sin(yaw)
        vx, vy, vz = self.data.qvel[0:3]
        return np.array([c * vx + s * vy, -s * vx + c * vy, vz])

    def imu(self) -> np.ndarray:
        """Gyro (rad/s), accelerometer (m/s^2), gravity direction (unit) in the IMU frame."""
        return np.concatenate([self.data.sensordata[self.imu_index], self.gravity_in_base()])

    def contacts(self) -> np.ndarray:
        sd = self.data.sensordata
        return np.array([sd[s].sum() > CONTACT_THRESHOLD_N for s in self.contact_slices], dtype=np.float64)

    def wrench(self) -> np.ndarray:
        return self.data.sensordata[self.force_index]

    def foot_heights(self) -> np.ndarray:
        return self.data.site_xpos[self.foot_site_ids, 2]

    def normalized_torque(self) -> np.ndarray:
        return self.data.actuator_force[self.actuator_index] / self.force_limit

    def push(self, force_xy_n: np.ndarray) -> None:
        self.data.xfrc_applied[self.torso_body_id, :2] = force_xy_n
