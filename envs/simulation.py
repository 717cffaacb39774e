"""RobotSimulation: a batch of MuJoCo simulations of one robot scene, one model copy per robot.

Each robot owns its MjModel so domain randomization can give it its own masses, frictions
and motor strengths (Isaac Lab randomizes per environment too); the geometry is the same
compiled scene for all. A scene is the robot's MJCF extended by `SceneExtension`s (task
objects, terrain) through MjSpec before compiling, so the robot files stay task-free.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import mujoco
import numpy as np

from envs.assets import resolve_model_path
from envs.model_layout import ModelLayout
from vla_ray.control import JointCommander
from vla_ray.embodiment import EmbodimentConfig

SceneExtension = Callable[[mujoco.MjSpec], None]
STEP_TOLERANCE = 1e-3  # in physics steps: MJCF timesteps like 1/600 s are written rounded


def compile_scene(model_path: str, extensions: Sequence[SceneExtension] = ()) -> mujoco.MjModel:
    spec = mujoco.MjSpec.from_file(str(resolve_model_path(model_path)))
    for extend in extensions:
        extend(spec)
    return spec.compile()


def joint_commander(embodiment: EmbodimentConfig, model_path: str | None = None) -> JointCommander:
    """The embodiment's JointCommander; an end-effector action's IK solves on the robot's own model (`model_path`,
    default the embodiment's), without a task's objects, so environment and server convert alike."""
    if embodiment.action_type != "end_effector":
        return JointCommander(embodiment)
    return JointCommander(embodiment, compile_scene(model_path or embodiment.model_path))


def substeps_per_control(control_dt_s: float, physics_dt_s: float, where: str) -> int:
    """Physics steps per control period; the period must be a whole number of physics steps."""
    ratio = control_dt_s / physics_dt_s
    steps = int(round(ratio))
    if steps < 1 or abs(ratio - steps) > STEP_TOLERANCE:
        raise ValueError(
            f"{where}: control period {control_dt_s:.6f} s is {ratio:.4f} physics steps of {physics_dt_s} s: "
            "expected a whole number (set the model's <option timestep> or the control rate)"
        )
    return steps


class RobotSimulation:
    def __init__(self, embodiment: EmbodimentConfig, model: mujoco.MjModel, num_envs: int):
        self.embodiment = embodiment
        self.model = model  # the nominal model: randomization always starts from its values
        self.layout = ModelLayout.of(model, embodiment)
        self.models = [copy.copy(model) for _ in range(num_envs)]
        self.datas = [mujoco.MjData(m) for m in self.models]
        self.num_joints = embodiment.num_joints
        self._key = {}

    @property
    def num_envs(self) -> int:
        return len(self.datas)

    def keyframe(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(qpos, ctrl) of a named keyframe of the scene."""
        if name not in self._key:
            key = self.model.key(name)
            self._key[name] = (key.qpos.copy(), key.ctrl.copy())
        return self._key[name]

    def reset(self, index: int, qpos: np.ndarray, targets: np.ndarray, mocap: np.ndarray | None = None) -> None:
        """Put robot `index` at `qpos` (whole-scene qpos) at rest, holding `targets` (joint targets, openings),
        with mocap bodies (fixtures, markers) at `mocap` (nmocap, 3) when given."""
        model, data = self.models[index], self.datas[index]
        mujoco.mj_resetData(model, data)
        data.qpos[:] = qpos
        if mocap is not None:
            data.mocap_pos[:] = mocap
        self.set_targets(index, targets)
        mujoco.mj_forward(model, data)

    def set_targets(self, index: int, targets: np.ndarray) -> None:
        layout, data = self.layout, self.datas[index]
        data.ctrl[layout.joint_actuators] = targets[: self.num_joints]
        if layout.ee_actuators.size:
            data.ctrl[layout.ee_actuators] = layout.ee_ctrl(targets[self.num_joints :])

    def step(self, index: int, substeps: int) -> None:
        mujoco.mj_step(self.models[index], self.datas[index], nstep=substeps)

    def positions(self) -> np.ndarray:
        """(N, action_dim) measured joint positions then gripper openings: what the safety filter steps from."""
        layout = self.layout
        qpos = np.array([d.qpos for d in self.datas])[:, layout.qpos]
        if not layout.ee_actuators.size:
            return qpos
        lengths = np.array([d.actuator_length for d in self.datas])
        return np.concatenate([qpos, layout.ee_opening(lengths)], axis=1)

    def joint_velocities(self) -> np.ndarray:
        return np.array([d.qvel for d in self.datas])[:, self.layout.qvel]

    def site_positions(self, site_ids: np.ndarray) -> np.ndarray:
        """(N, len(site_ids), 3) world positions."""
        return np.array([d.site_xpos[site_ids] for d in self.datas])

    def site_rotations(self, site_ids: np.ndarray) -> np.ndarray:
        """(N, len(site_ids), 3, 3) world rotation matrices."""
        return np.array([d.site_xmat[site_ids] for d in self.datas]).reshape(self.num_envs, len(site_ids), 3, 3)

    def sensors(self, indices: np.ndarray) -> np.ndarray:
        return np.array([d.sensordata[indices] for d in self.datas])

    def finite(self) -> np.ndarray:
        return np.array([np.isfinite(d.qpos).all() and np.isfinite(d.qvel).all() for d in self.datas])


def sensor_indices(model: mujoco.MjModel, names: Sequence[str]) -> np.ndarray:
    """Indices into sensordata of the named sensors, concatenated in order."""
    out = []
    for name in names:
        sensor = model.sensor(name)
        out.append(np.arange(sensor.adr[0], sensor.adr[0] + sensor.dim[0]))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def named_ids(model: mujoco.MjModel, kind: mujoco.mjtObj, names: Sequence[str], what: str) -> np.ndarray:
    ids = []
    for name in names:
        index = mujoco.mj_name2id(model, kind, name)
        if index < 0:
            raise ValueError(f"the scene has no {what} named {name!r}")
        ids.append(index)
    return np.array(ids, dtype=np.int64)
