"""ModelLayout: where an EmbodimentConfig's joints, actuators and end effectors live in a compiled MuJoCo model.

The same check serves our own MJCF files and a user's (e.g. a MuJoCo Menagerie checkout):
joints are found by name, their kinds and ranges must equal the config's, and actuators
are found by what they drive, not by their names (Menagerie calls them "actuator1", ...).
Every actuator that drives no embodiment joint is an end-effector channel (a gripper), in
model order; opening 0 is closed, 1 is open, mapped linearly onto its control range.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from vla_ray.embodiment import EmbodimentConfig

LIMIT_TOLERANCE = 1e-4  # MJCF stores ranges as written; allow float round-off only
JOINT_TYPES = {"hinge": mujoco.mjtJoint.mjJNT_HINGE, "slide": mujoco.mjtJoint.mjJNT_SLIDE}
ACTUATED_KINDS = (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE)


def _root_body(model: mujoco.MjModel, body: int) -> int:
    while model.body_parentid[body] != 0:
        body = model.body_parentid[body]
    return body


def _subtree(model: mujoco.MjModel, root: int) -> np.ndarray:
    return np.array([b for b in range(model.nbody) if b and _root_body(model, b) == root])


def _transmission_joints(model: mujoco.MjModel, actuator: int) -> list[int]:
    """Joints an actuator moves: its joint, or every joint of its fixed tendon."""
    trn, target = model.actuator_trntype[actuator], model.actuator_trnid[actuator, 0]
    if trn == mujoco.mjtTrn.mjTRN_JOINT:
        return [int(target)]
    if trn == mujoco.mjtTrn.mjTRN_TENDON:
        start, count = model.tendon_adr[target], model.tendon_num[target]
        return [int(model.wrap_objid[w]) for w in range(start, start + count) if model.wrap_type[w] == mujoco.mjtWrap.mjWRAP_JOINT]
    return []


def _length_range(model: mujoco.MjModel, actuator: int, where: str) -> tuple[float, float]:
    """Closed..open range of what an end-effector actuator drives (its joint's range, or its fixed tendon's)."""
    trn, target = model.actuator_trntype[actuator], model.actuator_trnid[actuator, 0]
    if trn == mujoco.mjtTrn.mjTRN_JOINT and model.jnt_limited[target]:
        low, high = model.jnt_range[target]
        return float(low), float(high)
    if trn == mujoco.mjtTrn.mjTRN_TENDON:
        if model.tendon_limited[target]:
            low, high = model.tendon_range[target]
            return float(low), float(high)
        # An unlimited fixed tendon spans sum(coef * joint range) (e.g. Menagerie's panda "split" tendon).
        start, count = model.tendon_adr[target], model.tendon_num[target]
        low = high = 0.0
        for w in range(start, start + count):
            coef, (jl, jh) = model.wrap_prm[w], model.jnt_range[model.wrap_objid[w]]
            low, high = low + min(coef * jl, coef * jh), high + max(coef * jl, coef * jh)
        if high > low:
            return low, high
    raise ValueError(f"{where}: expected a limited joint or a fixed tendon over limited joints, to measure its opening")


@dataclass(frozen=True)
class ModelLayout:
    qpos: np.ndarray  # (num_joints,) qpos address of each embodiment joint, in embodiment order
    qvel: np.ndarray  # (num_joints,) dof address of each embodiment joint
    joint_actuators: np.ndarray  # (num_joints,) actuator driving each embodiment joint
    ee_actuators: np.ndarray  # (ee_action_dim,) gripper actuators, model order
    ee_ctrl_range: np.ndarray  # (ee_action_dim, 2) control at opening 0 (closed) and 1 (open)
    ee_length_range: np.ndarray  # (ee_action_dim, 2) actuator length when closed and fully open
    root_body: int  # the robot's top body (a child of the world)
    robot_bodies: np.ndarray  # every body of the robot's subtree

    @classmethod
    def of(cls, model: mujoco.MjModel, embodiment: EmbodimentConfig) -> "ModelLayout":
        name = embodiment.robot_name
        joint_ids = []
        for spec in embodiment.joints:
            joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, spec.name)
            if joint < 0:
                raise ValueError(f"{name}: joint {spec.name!r} is in the EmbodimentConfig but not in the model")
            if model.jnt_type[joint] != JOINT_TYPES[spec.kind]:
                raise ValueError(f"{name}: joint {spec.name!r} is not a {spec.kind} joint in the model")
            low, high = model.jnt_range[joint] if model.jnt_limited[joint] else (-np.inf, np.inf)
            if abs(low - spec.lower) > LIMIT_TOLERANCE or abs(high - spec.upper) > LIMIT_TOLERANCE:
                raise ValueError(
                    f"{name}: joint {spec.name} has range ({low:.4f}, {high:.4f}) in the model: "
                    f"expected ({spec.lower}, {spec.upper}) from the EmbodimentConfig"
                )
            joint_ids.append(joint)

        driving = {a: _transmission_joints(model, a) for a in range(model.nu)}
        joint_actuators = []
        for spec, joint in zip(embodiment.joints, joint_ids):
            found = [a for a, joints in driving.items() if joints == [joint]]
            if len(found) != 1:
                raise ValueError(f"{name}: expected exactly one actuator driving joint {spec.name}, found {len(found)}")
            joint_actuators.append(found[0])
        ee_actuators = [a for a in range(model.nu) if a not in joint_actuators]
        if len(ee_actuators) != embodiment.ee_action_dim:
            names = [model.actuator(a).name or f"#{a}" for a in ee_actuators]
            raise ValueError(
                f"{name}: model has {len(ee_actuators)} actuators besides the joints' ({names}): "
                f"expected ee_action_dim={embodiment.ee_action_dim} end-effector actuators"
            )

        root = _root_body(model, model.jnt_bodyid[joint_ids[0]])
        bodies = _subtree(model, root)
        ee_joints = {j for a in ee_actuators for j in driving[a]}
        extra = [
            model.joint(j).name for j in range(model.njnt)
            if model.jnt_type[j] in ACTUATED_KINDS and model.jnt_bodyid[j] in bodies
            and j not in joint_ids and j not in ee_joints
            # joints coupled to a gripper joint by an equality constraint (a mimicking finger) move with it
            and not _coupled(model, j, ee_joints)
        ]
        if extra:
            raise ValueError(f"{name}: model has joints {extra} that the EmbodimentConfig does not name")
        where = [f"{name}: end-effector actuator {model.actuator(a).name or a}" for a in ee_actuators]
        return cls(
            qpos=model.jnt_qposadr[joint_ids].copy(),
            qvel=model.jnt_dofadr[joint_ids].copy(),
            joint_actuators=np.array(joint_actuators, dtype=np.int64),
            ee_actuators=np.array(ee_actuators, dtype=np.int64),
            ee_ctrl_range=model.actuator_ctrlrange[ee_actuators].reshape(-1, 2).copy(),
            ee_length_range=np.array([_length_range(model, a, w) for a, w in zip(ee_actuators, where)]).reshape(-1, 2),
            root_body=int(root),
            robot_bodies=bodies,
        )

    def ee_ctrl(self, opening: np.ndarray) -> np.ndarray:
        """(..., ee_action_dim) openings in [0, 1] -> actuator controls."""
        low, high = self.ee_ctrl_range[:, 0], self.ee_ctrl_range[:, 1]
        return low + np.clip(opening, 0.0, 1.0) * (high - low)

    def ee_opening(self, actuator_length: np.ndarray) -> np.ndarray:
        """(..., nu) actuator lengths -> (..., ee_action_dim) measured openings in [0, 1]."""
        low, high = self.ee_length_range[:, 0], self.ee_length_range[:, 1]
        return np.clip((actuator_length[..., self.ee_actuators] - low) / (high - low), 0.0, 1.0)


def _coupled(model: mujoco.MjModel, joint: int, ee_joints: set[int]) -> bool:
    for e in range(model.neq):
        if model.eq_type[e] == mujoco.mjtEq.mjEQ_JOINT:
            pair = {int(model.eq_obj1id[e]), int(model.eq_obj2id[e])}
            if joint in pair and pair & ee_joints:
                return True
    return False
