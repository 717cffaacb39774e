"""A batch of simulated humanoids: one scene checked against its EmbodimentConfig, one model copy and state per robot.

Each robot owns an MjModel so domain randomization can give it its own masses, frictions
and motor strengths (RobotSimulation's habit); the scene is the robot's MJCF, with a terrain
grid in place of its floor when one is given. Everything after the physics step is read into
(N, ...) arrays at once, so the per-step Python cost is paid per batch rather than per robot.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from envs.floating_base import FloatingBase
from envs.model_layout import ModelLayout
from envs.randomization import PhysicsRandomizer, RandomizationConfig, RandomizationScope
from envs.simulation import compile_scene, sensor_indices
from envs.terrain import TerrainGrid
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
    foot_height_m: np.ndarray  # (N, 2) sole height above the ground under it
    normalized_torque: np.ndarray  # actuator force / force limit
    base_height_m: np.ndarray  # above the ground under the base
    roll_rad: np.ndarray
    pitch_rad: np.ndarray
    heading_velocity: np.ndarray  # (N, 3) base velocity in the yaw-aligned frame
    finite: np.ndarray  # (N,) the state has no NaN/inf


class HumanoidBatch:
    def __init__(
        self, embodiment: EmbodimentConfig, model_path: str, physics_dt_s: float, num_envs: int,
        terrain: TerrainGrid | None = None,
    ):
        self.embodiment = embodiment
        self.terrain = terrain
        # The nominal model: every randomization draw starts from its values, and renderers draw it.
        self.model = compile_scene(model_path, [terrain.add_to] if terrain is not None else [])
        self.model.opt.timestep = physics_dt_s
        layout = ModelLayout.of(self.model, embodiment)
        # A robot whose drawn physics is all nominal steps the shared model instead of its own copy: one model
        # stays in the CPU cache, where 32 copies cost ~6% of the flat-ground step rate.
        self._own_models = [copy.copy(self.model) for _ in range(num_envs)]
        self.models = [self.model] * num_envs  # the model each robot steps
        self.datas = [mujoco.MjData(self.model) for _ in range(num_envs)]
        self.randomizer = PhysicsRandomizer(self.model, RandomizationScope.of_bodies(self.model, layout.robot_bodies))
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

    def randomize(self, index: int, rng: np.random.Generator, config: RandomizationConfig) -> None:
        """Draw robot `index`'s physics into its own model; before its reset, which starts from that model."""
        own = self._own_models[index]
        self.randomizer.apply(own, rng, config)
        nominal = self.randomizer.nominal
        at_nominal = all(
            np.array_equal(getattr(own, f.name), getattr(nominal, f.name)) for f in dataclasses.fields(nominal)
        )
        self.models[index] = self.model if at_nominal else own

    def reset(self, index: int, qpos: np.ndarray, qvel: np.ndarray | None = None) -> None:
        model, data = self.models[index], self.datas[index]
        mujoco.mj_resetData(model, data)
        data.qpos[:] = qpos
        if qvel is not None:
            data.qvel[:] = qvel
        data.ctrl[self.actuator_index] = qpos[self.qpos_index]
        mujoco.mj_forward(model, data)

    def step(self, joint_targets: np.ndarray, substeps: int, active: np.ndarray) -> None:
        """Hold (N, num_joints) PD targets for `substeps` physics steps in every active robot."""
        ctrl = joint_targets[:, self._ctrl_order]
        models, datas = self.models, self.datas
        for i in np.flatnonzero(active):
            data = datas[i]
            data.ctrl[:] = ctrl[i]
            mujoco.mj_step(models[i], data, nstep=substeps)

    def step_segments(self, index: int, segments: Sequence[tuple[int, np.ndarray]]) -> None:
        """Run robot `index` through (physics steps, joint targets) segments: one control step under motor latency."""
        model, data = self.models[index], self.datas[index]
        for substeps, joint_targets in segments:
            data.ctrl[:] = joint_targets[self._ctrl_order]
            mujoco.mj_step(model, data, nstep=substeps)

    def push(self, index: int, force_xy_n: np.ndarray) -> None:
        self.datas[index].xfrc_applied[self.torso_body_id, :2] = force_xy_n

    def read(self) -> Readout:
        datas = self.datas
        qpos = np.array([d.qpos for d in datas])
        qvel = np.array([d.qvel for d in datas])
        sensors = np.array([d.sensordata for d in datas])
        torque = np.array([d.actuator_force for d in datas])[:, self.actuator_index] / self.force_limit
        feet = np.array([d.site_xpos[self.foot_site_ids] for d in datas])  # (N, 2, 3)
        base = FloatingBase.of(qpos[:, :7], qvel[:, :6])
        base_height, foot_height = qpos[:, 2], feet[:, :, 2]
        if self.terrain is not None:  # the flat floor is the plane z = 0
            base_height = base_height - self.terrain.height_at(qpos[:, :2])
            foot_height = foot_height - self.terrain.height_at(feet[:, :, :2]).reshape(foot_height.shape)
        return Readout(
            qpos=qpos,
            joint_pos=qpos[:, self.qpos_index],
            joint_vel=qvel[:, self.qvel_index],
            imu=np.concatenate([sensors[:, self.imu_index], base.gravity], axis=1),
            contacts=(sensors[:, self.contact_index] > CONTACT_THRESHOLD_N).astype(np.float64),
            wrench=sensors[:, self.force_index],
            foot_height_m=foot_height,
            normalized_torque=torque,
            base_height_m=base_height,
            roll_rad=base.roll_rad,
            pitch_rad=base.pitch_rad,
            heading_velocity=base.heading_velocity,
            finite=np.isfinite(qpos).all(axis=1) & np.isfinite(qvel).all(axis=1),
        )
