"""QuadrupedVecEnv: a quadruped walking on a commanded velocity, batched, on flat ground or a terrain grid.

On a terrain grid every robot has a column (terrain type, assigned round-robin by robot
index, legged_gym's habit) and a row (difficulty level); it spawns at the start of its tile
and walks along +x. With the level curriculum on, a robot that walked past half its tile is
promoted and one that walked less than half its commanded distance is demoted.
"""

from __future__ import annotations

import mujoco
import numpy as np

from envs import QUADRUPED_ID
from envs.floating_base import FloatingBase
from envs.quadruped.config import QuadrupedEnvConfig
from envs.quadruped.rewards import REWARD_TERMS, TERMINATION_TERMS, velocity_error
from envs.quadruped.state import QuadrupedState
from envs.robot_env import RobotVecEnv, SingleRobotEnv
from envs.simulation import named_ids, sensor_indices
from envs.terrain import TerrainCurriculum, TerrainGrid
from vla_ray.observation import GAIT_CLOCK_PART

LEGS = ("fl", "fr", "hl", "hr")
CONTACT_THRESHOLD_N = 1.0
HOME_KEY = "home"
GROUND_GEOMS = ("floor", "terrain")


class QuadrupedVecEnv(RobotVecEnv):
    env_id = QUADRUPED_ID
    config_class = QuadrupedEnvConfig

    def setup(self, config: QuadrupedEnvConfig) -> None:
        terrain = config.terrain_config()
        self.terrain = TerrainGrid(terrain) if terrain is not None else None

    def scene_extensions(self):
        return [self.terrain.add_to] if self.terrain is not None else []

    def bind(self, model: mujoco.MjModel) -> None:
        n = self.num_envs
        self._imu = sensor_indices(model, ("imu_gyro", "imu_accel"))
        self._touch = sensor_indices(model, [f"{leg}_foot_touch" for leg in LEGS])
        root = self.sim.layout.root_body
        self._root_qpos = model.jnt_qposadr[model.body_jntadr[root]]
        self._root_qvel = model.jnt_dofadr[model.body_jntadr[root]]
        # Lookup tables by geom id: contact pairs are classified with two indexing operations per step.
        self._is_trunk = model.geom_bodyid == root
        ground = [g for g in GROUND_GEOMS if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, g) >= 0]
        self._is_ground = np.zeros(model.ngeom, dtype=bool)
        self._is_ground[named_ids(model, mujoco.mjtObj.mjOBJ_GEOM, ground, "geom")] = True
        layout = self.sim.layout
        self._force_limit = model.actuator_forcerange[layout.joint_actuators, 1].copy()
        self._home_qpos, _ = self.sim.keyframe(HOME_KEY)
        self._command = np.zeros((n, 3))
        self._next_command = np.zeros(n, dtype=np.int64)
        self._air_time = np.zeros((n, 4))
        self._prev_contact = np.zeros((n, 4), dtype=bool)
        self._prev_joint_vel = np.zeros((n, self.embodiment.num_joints))
        self._error_sum = np.zeros(n)
        self._start_xy = np.zeros((n, 2))
        self._commanded_distance = np.zeros(n)
        if self.terrain is not None:
            self._columns = np.arange(n) % len(self.terrain.config.types)
            self.curriculum = TerrainCurriculum(
                n, self.config.terrain_level, seed=0, tile_size_m=self.terrain.config.tile_size_m
            )

    def reward_terms(self):
        return REWARD_TERMS

    def termination_terms(self):
        return TERMINATION_TERMS

    def make_task(self, config: QuadrupedEnvConfig):
        return config.make_task()

    def reset_robot(self, i, rng):
        cfg = self._configs[i]
        layout, embodiment = self.sim.layout, self.embodiment
        qpos = self._home_qpos.copy()
        noise = rng.uniform(-1.0, 1.0, embodiment.num_joints) * cfg.reset_joint_noise_rad
        qpos[layout.qpos] = np.clip(qpos[layout.qpos] + noise, embodiment.joint_lower, embodiment.joint_upper)
        root = slice(self._root_qpos, self._root_qpos + 3)
        if self.terrain is not None:
            if not cfg.terrain_curriculum:
                self.curriculum.levels[i] = cfg.terrain_level
            spawn = self.terrain.spawn_point(self.terrain.config.types[self._columns[i]], int(self.curriculum.levels[i]))
            qpos[root] = spawn + np.array([0.0, 0.0, self._home_qpos[self._root_qpos + 2]])
        self._start_xy[i] = qpos[root][:2]
        self._draw_command(i)
        return qpos, qpos[layout.qpos].copy(), None

    def reset_task_state(self, i):
        self._air_time[i] = 0.0
        self._prev_contact[i] = False
        self._prev_joint_vel[i] = 0.0
        self._error_sum[i] = 0.0
        self._commanded_distance[i] = 0.0

    def _draw_command(self, i: int) -> None:
        cfg, rng = self._configs[i], self._rngs[i]
        self._command[i] = [rng.uniform(*cfg.command_vx_mps), rng.uniform(*cfg.command_vy_mps),
                            rng.uniform(*cfg.command_yaw_rps)]
        self._next_command[i] = self._steps[i] + int(round(cfg.command_resample_s / self.control_dt_s))

    def measure(self, actions):
        sim, n = self.sim, self.num_envs
        datas = sim.datas
        for i in np.flatnonzero(self._steps >= self._next_command):
            self._draw_command(i)
        qpos = np.array([d.qpos[self._root_qpos : self._root_qpos + 7] for d in datas])
        qvel = np.array([d.qvel[self._root_qvel : self._root_qvel + 6] for d in datas])
        base = FloatingBase.of(qpos, qvel)
        ground = self.terrain.height_at(base.position[:, :2]) if self.terrain is not None else np.zeros(n)
        contact = sim.sensors(self._touch) > CONTACT_THRESHOLD_N
        first = contact & ~self._prev_contact
        air_time = self._air_time + self.control_dt_s
        joint_vel = sim.joint_velocities()
        torque = np.array([d.actuator_force for d in datas])[:, sim.layout.joint_actuators] / self._force_limit
        state = QuadrupedState(
            base=base,
            base_height_m=base.position[:, 2] - ground,
            command=self._command.copy(),
            joint_pos=sim.positions(),
            joint_vel=joint_vel,
            joint_acc=(joint_vel - self._prev_joint_vel) / self.control_dt_s,
            normalized_torque=torque,
            foot_contact=contact,
            first_contact=first,
            air_time_s=air_time,
            body_contact=self._trunk_touches_ground(),
            action=actions,
            prev_action=self._prev_action,
            finite=sim.finite(),
        )
        self._air_time = np.where(contact, 0.0, air_time)
        self._prev_contact = contact
        self._prev_joint_vel = joint_vel
        moving = self._steps > 0
        self._error_sum += velocity_error(state) * moving
        self._commanded_distance += np.linalg.norm(self._command[:, :2], axis=1) * self.control_dt_s * moving
        return state

    def _trunk_touches_ground(self) -> np.ndarray:
        out = np.zeros(self.num_envs, dtype=bool)
        rows = [(i, data.contact.geom1, data.contact.geom2) for i, data in enumerate(self.sim.datas) if data.ncon]
        if rows:
            robot = np.concatenate([np.full(len(g1), i) for i, g1, _ in rows])
            first, second = np.concatenate([r[1] for r in rows]), np.concatenate([r[2] for r in rows])
            hit = (self._is_trunk[first] & self._is_ground[second]) | (self._is_trunk[second] & self._is_ground[first])
            out[robot[hit]] = True
        return out

    def success(self, state):
        mean_error = self._error_sum / np.maximum(self._steps, 1)
        return mean_error < np.array([c.success_velocity_error_mps for c in self._configs])

    def observe(self, s: QuadrupedState):
        imu = self.sim.sensors(self._imu)
        return {
            "joint_pos": s.joint_pos,
            "joint_vel": s.joint_vel,
            "imu": np.concatenate([imu, s.base.gravity], axis=1),
            "contacts": s.foot_contact.astype(np.float64),
            "command": s.command,
            "privileged": np.concatenate([s.base.heading_velocity, s.base_height_m[:, None]], axis=1),
            GAIT_CLOCK_PART: (self._steps * self.control_dt_s)[:, None],
        }

    def episode_metrics(self, i, state):
        walked = float(np.linalg.norm(state.base.position[i, :2] - self._start_xy[i]))
        metrics = {
            "velocity_tracking_error_mps": float(self._error_sum[i] / max(int(self._steps[i]), 1)),
            "distance_walked_m": walked,
            "command": self._command[i].tolist(),
        }
        if self.terrain is not None:
            level = int(self.curriculum.levels[i])
            metrics["terrain"] = {"type": self.terrain.config.types[self._columns[i]], "level": level}
            if self._configs[i].terrain_curriculum:
                self.curriculum.update(np.array([i]), np.array([walked]), np.array([self._commanded_distance[i]]))
        return metrics


class QuadrupedEnv(SingleRobotEnv):
    vector_class = QuadrupedVecEnv
