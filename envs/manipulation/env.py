"""ManipulationVecEnv: an arm (or two, or a mobile base with an arm) at a table solving one task, batched."""

from __future__ import annotations

import mujoco
import numpy as np

from envs import MANIPULATION_ID
from envs.manipulation.config import ManipulationEnvConfig, gripper_count
from envs.manipulation.rewards import REWARD_TERMS
from envs.manipulation.scene import Workspace
from envs.manipulation.state import ManipulationState
from envs.manipulation.tasks import task_class
from envs.robot_env import RobotVecEnv, SingleRobotEnv
from envs.simulation import named_ids

HOME_KEY = "home"


def _subtree_geoms(model: mujoco.MjModel, body: int) -> np.ndarray:
    bodies = [b for b in range(model.nbody) if _descends(model, b, body)]
    return np.flatnonzero(np.isin(model.geom_bodyid, bodies))


def _descends(model: mujoco.MjModel, body: int, ancestor: int) -> bool:
    while body != ancestor and body != 0:
        body = model.body_parentid[body]
    return body == ancestor


class ManipulationVecEnv(RobotVecEnv):
    env_id = MANIPULATION_ID
    config_class = ManipulationEnvConfig

    def setup(self, config: ManipulationEnvConfig) -> None:
        self.task = task_class(config.task)()

    def scene_extensions(self):
        return [obj.add_to for obj in self.task.objects]

    def bind(self, model: mujoco.MjModel) -> None:
        e = gripper_count(self.embodiment.robot_type)
        self.workspace = Workspace.of(model)
        self._ee_sites = named_ids(model, mujoco.mjtObj.mjOBJ_SITE, ("ee",) if e == 1 else ("left_ee", "right_ee"), "site")
        objects = self.task.objects
        self._object_bodies = named_ids(model, mujoco.mjtObj.mjOBJ_BODY, [o.name for o in objects], "body")
        self._solid = np.array([o.kind != "marker" for o in objects])
        self._free = {o.name: model.jnt_qposadr[model.body(o.name).jntadr[0]] for o in objects if o.kind == "free"}
        self._free_dofs = np.array(
            [model.jnt_dofadr[model.body(o.name).jntadr[0]] if o.kind == "free" else -1 for o in objects]
        )
        self._mocap = {o.name: model.body(o.name).mocapid[0] for o in objects if o.kind != "free"}
        # Contact bookkeeping: which object, which gripper finger, or the table a geom belongs to.
        self._geom_object = np.full(model.ngeom, -1)
        for k, body in enumerate(self._object_bodies):
            self._geom_object[model.geom_bodyid == body] = k
        layout = self.sim.layout
        self._geom_finger = np.full(model.ngeom, -1)
        self._fingers_per_gripper = np.zeros(e, dtype=np.int64)
        finger = 0
        for g, actuator in enumerate(layout.ee_actuators[:e] if layout.ee_actuators.size else []):
            for joint in self._finger_joints(model, actuator):
                self._geom_finger[_subtree_geoms(model, model.jnt_bodyid[joint])] = finger
                finger += 1
                self._fingers_per_gripper[g] += 1
        self._finger_gripper = np.repeat(np.arange(e), self._fingers_per_gripper)
        self._table_geom = model.geom("table").id
        self._placed_goal = np.zeros((self.num_envs, 3))
        self._home_qpos, home_ctrl = self.sim.keyframe(HOME_KEY)
        self._home_targets = np.concatenate([self._home_qpos[layout.qpos], np.ones(self.embodiment.ee_action_dim)])

    @staticmethod
    def _finger_joints(model: mujoco.MjModel, actuator: int) -> list[int]:
        target = model.actuator_trnid[actuator, 0]
        if model.actuator_trntype[actuator] == mujoco.mjtTrn.mjTRN_JOINT:
            return [int(target)]
        start, count = model.tendon_adr[target], model.tendon_num[target]
        return [int(model.wrap_objid[w]) for w in range(start, start + count)]

    def reward_terms(self):
        task = self.task
        return {**REWARD_TERMS, "success": lambda s: task.success(s).astype(np.float64)}

    def make_task(self, config):
        return self.task

    def reset_robot(self, i, rng):
        cfg = self._configs[i]
        qpos = self._home_qpos.copy()
        layout, embodiment = self.sim.layout, self.embodiment
        noise = rng.uniform(-1.0, 1.0, embodiment.num_joints) * cfg.reset_joint_noise_rad
        joints = np.clip(qpos[layout.qpos] + noise, embodiment.joint_lower, embodiment.joint_upper)
        qpos[layout.qpos] = joints
        placement = self.task.place(rng, self.workspace)
        mocap = self.sim.datas[i].mocap_pos.copy()
        for name, (pos, quat) in placement.poses.items():
            if name in self._free:
                adr = self._free[name]
                qpos[adr : adr + 3], qpos[adr + 3 : adr + 7] = pos, quat
            else:
                mocap[self._mocap[name]] = pos
        self._placed_goal[i] = placement.goal
        targets = np.concatenate([joints, self._home_targets[embodiment.num_joints :]])
        return qpos, targets, mocap

    def measure(self, actions):
        sim, n = self.sim, self.num_envs
        datas = sim.datas
        positions = sim.positions()
        object_pos = np.array([d.xpos[self._object_bodies] for d in datas])
        velocities = np.zeros((n, len(self._object_bodies), 3))
        for k, dof in enumerate(self._free_dofs):
            if dof >= 0:
                velocities[:, k] = [d.qvel[dof : dof + 3] for d in datas]
        holding, table = self._contacts()
        return ManipulationState(
            ee_pos=sim.site_positions(self._ee_sites),
            ee_rot=sim.site_rotations(self._ee_sites),
            opening=positions[:, self.embodiment.num_joints :],
            object_pos=object_pos,
            object_quat=np.array([d.xquat[self._object_bodies] for d in datas]),
            object_vel=velocities,
            goal_pos=self.task.goal_position(object_pos, self._placed_goal),
            holding=holding,
            table_contact=table,
            table_z=self.workspace.table_z,
            joint_vel=sim.joint_velocities(),
            action=actions,
            prev_action=self._prev_action,
            finite=sim.finite(),
        )

    def _contacts(self) -> tuple[np.ndarray, np.ndarray]:
        """(N, E, K) gripper e touches object k with every finger; (N, K) object k touches the table.
        All robots' contacts are gathered into one array first, so the lookups run once per step, not per robot."""
        n, k, e = self.num_envs, len(self._object_bodies), len(self._fingers_per_gripper)
        table = np.zeros((n, k), dtype=bool)
        touched = np.zeros((n, k, len(self._finger_gripper)), dtype=bool)
        rows = [(i, data.contact.geom1, data.contact.geom2) for i, data in enumerate(self.sim.datas) if data.ncon]
        if rows:
            robot = np.concatenate([np.full(len(g1), i) for i, g1, _ in rows])
            first, second = np.concatenate([r[1] for r in rows]), np.concatenate([r[2] for r in rows])
            for mine, other in ((first, second), (second, first)):
                obj = self._geom_object[mine]
                on_table = (obj >= 0) & (other == self._table_geom)
                table[robot[on_table], obj[on_table]] = True
                finger = self._geom_finger[other]
                touch = (obj >= 0) & (finger >= 0)
                touched[robot[touch], obj[touch], finger[touch]] = True
        # A gripper with no finger geoms holds nothing (all() over no fingers would say it holds everything).
        holding = np.stack([touched[:, :, self._finger_gripper == g].all(axis=2) & (self._fingers_per_gripper[g] > 0)
                            for g in range(e)], axis=1)
        return holding, table

    def success(self, state):
        return self.task.success(state) & state.finite

    def observe(self, s: ManipulationState):
        n, centre = self.num_envs, self.workspace.centre
        solid = self._solid
        rot = s.ee_rot[..., [0, 2]].transpose(0, 1, 3, 2).reshape(n, -1)
        obj_pos = (s.object_pos[:, solid] - centre).reshape(n, -1)
        obj_rot = self._axes(s.object_quat[:, solid]).reshape(n, -1)
        obs = {
            "joint_pos": self.sim.positions()[:, : self.embodiment.num_joints],
            "joint_vel": s.joint_vel,
            "ee_pos": (s.ee_pos - centre).reshape(n, -1),
            "ee_orientation": rot,
            "goal_pos": s.goal_pos - centre,
        }
        if self.embodiment.ee_action_dim:
            obs["gripper"] = s.opening
        privileged = [s.object_vel[:, solid].reshape(n, -1), s.holding[:, :, solid].reshape(n, -1).astype(np.float64)]
        if self.config.camera:
            privileged += [obj_pos, obj_rot]
        elif solid.any():
            obs["object_pos"], obs["object_orientation"] = obj_pos, obj_rot
        if "privileged" in self.observation_spec.names:
            obs["privileged"] = np.concatenate(privileged, axis=1)
        return obs

    @staticmethod
    def _axes(quat: np.ndarray) -> np.ndarray:
        """(..., 4) quaternions -> (..., 6) x and z axes of the rotated frame."""
        w, x, y, z = np.moveaxis(quat, -1, 0)
        x_axis = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], axis=-1)
        z_axis = np.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], axis=-1)
        return np.concatenate([x_axis, z_axis], axis=-1)

    def episode_metrics(self, i, state):
        return self.task.metrics(state, i)


class ManipulationEnv(SingleRobotEnv):
    vector_class = ManipulationVecEnv
