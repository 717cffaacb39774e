"""A batch of simulated humanoids: one MuJoCo model checked against its EmbodimentConfig, N states.

Everything after the physics step is read into (N, ...) arrays at once, so the per-step
Python cost is paid per batch rather than per robot.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from envs.assets import resolve_model_path
from envs.floating_base import FloatingBase
from envs.model_layout import ModelLayout
from envs.simulation import sensor_indices
from vla_ray.embodiment import EmbodimentConfig

CONTACT_SENSORS = ("left_foot_touch", "right_foot_touch", "left_hand_touch", "right_hand_touch")
FORCE_SENSORS = ("left_wrist_force", "right_wrist_force", "left_ankle_force", "right_ankle_force")
IMU_SENSORS = ("imu_gyro", "imu_accel")
FOOT_SITES = ("left_foot", "right_foot")
CONTACT_THRESHOLD_N = 1.0


@dataclass
class Readout:
    """Batched measurements after a physics step; every array has the batch as its first axis."""

    qpos: np.ndarray
    joint_pos: np.ndarray
    joint_vel: np.ndarray
    imu: np.ndarray  # gyro (3), accelerometer (3), gravity direction (3) in the base/IMU frame
    contacts: np.ndarray  # (N, 4) flags
    wrench: np.ndarray  # (N, 12) forces at wrists and ankles
    foot_height_m: np.ndarray  # (N, 2)
    normalized_torque: np.ndarray  # actuator force / force limit
    base_height_m: np.ndarray
    roll_rad: np.ndarray
    pitch_rad: np.ndarray
    heading_velocity: np.ndarray  # (N, 3) base velocity in the yaw-aligned frame
    finite: np.ndarray  # (N,) the state has no NaN/inf


class HumanoidBatch:
    def __init__(self, embodiment: EmbodimentConfig, model_path: str, physics_dt_s: float, num_envs: int):
        self.embodiment = embodiment
        self.model = mujoco.MjModel.from_xml_path(str(resolve_model_path(model_path)))
        self.model.opt.timestep = physics_dt_s
        layout = ModelLayout.of(self.model, embodiment)
        self.datas = [mujoco.MjData(self.model) for _ in range(num_envs)]
        m = self.model
        names = embodiment.joint_names
        self.qpos_index = layout.qpos
        self.qvel_index = layout.qvel
        self.actuator_index = layout.joint_actuators
        self.force_limit = m.actuator_forcerange[self.actuator_index, 1].copy()
        self.contact_index = sensor_indices(m, CONTACT_SENSORS)
        self.force_index = sensor_indices(m, FORCE_SENSORS)
        self.imu_index = sensor_indices(m, IMU_SENSORS)
        self.foot_site_ids = np.array([m.site(n).id for n in FOOT_SITES])
        self.torso_body_id = m.body("torso").id
        self.nominal_qpos = m.key("nominal").qpos.copy()
        self.nominal_qpos[self.qpos_index] = embodiment.nominal_pose
        self.nominal_base_height_m = float(self.nominal_qpos[2])
        if m.nu != len(names):
            raise ValueError(f"{embodiment.robot_name}: model has {m.nu} actuators: expected one per joint ({len(names)})")
        # Actuators in model order, so a whole ctrl vector is written at once.
        self._ctrl_order = np.argsort(self.actuator_index)

    @property
    def num_envs(self) -> int:
        return len(self.datas)

    def reset(self, index: int, qpos: np.ndarray) -> None:
        data = self.datas[index]
        mujoco.mj_resetData(self.model, data)
        data.qpos[:] = qpos
        data.ctrl[self.actuator_index] = qpos[self.qpos_index]
        mujoco.mj_forward(self.model, data)

    def step(self, joint_targets: np.ndarray, substeps: int, active: np.ndarray) -> None:
        """Hold (N, num_joints) PD targets for `substeps` physics steps in every active robot."""
        ctrl = joint_targets[:, self._ctrl_order]
        model = self.model
        for i in np.flatnonzero(active):
            data = self.datas[i]
            data.ctrl[:] = ctrl[i]
            mujoco.mj_step(model, data, nstep=substeps)

    def push(self, index: int, force_xy_n: np.ndarray) -> None:
        self.datas[index].xfrc_applied[self.torso_body_id, :2] = force_xy_n

    def read(self) -> Readout:
        datas = self.datas
        qpos = np.array([d.qpos for d in datas])
        qvel = np.array([d.qvel for d in datas])
        sensors = np.array([d.sensordata for d in datas])
        torque = np.array([d.actuator_force for d in datas])[:, self.actuator_index] / self.force_limit
        feet = np.array([d.site_xpos[self.foot_site_ids, 2] for d in datas])
        base = FloatingBase.of(qpos[:, :7], qvel[:, :6])
        return Readout(
            qpos=qpos,
            joint_pos=qpos[:, self.qpos_index],
            joint_vel=qvel[:, self.qvel_index],
            imu=np.concatenate([sensors[:, self.imu_index], base.gravity], axis=1),
            contacts=(sensors[:, self.contact_index] > CONTACT_THRESHOLD_N).astype(np.float64),
            wrench=sensors[:, self.force_index],
            foot_height_m=feet,
            normalized_torque=torque,
            base_height_m=qpos[:, 2],
            roll_rad=base.roll_rad,
            pitch_rad=base.pitch_rad,
            heading_velocity=base.heading_velocity,
            finite=np.isfinite(qpos).all(axis=1) & np.isfinite(qvel).all(axis=1),
        )
