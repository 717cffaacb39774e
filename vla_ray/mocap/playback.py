"""Kinematic playback: pose a robot's MuJoCo model frame by frame (qpos, qvel, mj_forward; no physics step),
measure where its geometry is, and render the motion offscreen to a video.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import mujoco
import numpy as np

from envs.model_layout import ModelLayout
from envs.robot_env import VIDEO_CAMERA, VIDEO_SIZE
from vla_ray.embodiment import EmbodimentConfig
from vla_ray.mocap.motion import RetargetedMotion


class KinematicPlayback:
    """One MjData of `model` (the robot's scene, e.g. the humanoid environment's), posed on request."""

    def __init__(self, model: mujoco.MjModel, embodiment: EmbodimentConfig):
        self.model = model
        self.layout = ModelLayout.of(model, embodiment)
        root_joint = model.body_jntadr[self.layout.root_body]
        if root_joint < 0 or model.jnt_type[root_joint] != mujoco.mjtJoint.mjJNT_FREE:
            raise ValueError(f"{embodiment.robot_name}: expected a free joint on the root body to play a motion back")
        self._root_qpos = model.jnt_qposadr[root_joint]
        self._root_qvel = model.jnt_dofadr[root_joint]
        self.data = mujoco.MjData(model)
        self._robot_geoms = np.array([
            g for g in range(model.ngeom)
            if model.geom_bodyid[g] in self.layout.robot_bodies and (model.geom_contype[g] or model.geom_conaffinity[g])
        ])

    def pose(
        self, root_pos: np.ndarray, root_quat: np.ndarray, joint_pos: np.ndarray,
        root_lin_vel: np.ndarray | None = None, root_ang_vel: np.ndarray | None = None,
        joint_vel: np.ndarray | None = None,
    ) -> mujoco.MjData:
        """The data at one frame; velocities left out are zero."""
        data, r, v = self.data, self._root_qpos, self._root_qvel
        data.qpos[r : r + 3] = root_pos
        data.qpos[r + 3 : r + 7] = root_quat
        data.qpos[self.layout.qpos] = joint_pos
        data.qvel[:] = 0.0
        if root_lin_vel is not None:
            data.qvel[v : v + 3] = root_lin_vel
        if root_ang_vel is not None:
            data.qvel[v + 3 : v + 6] = root_ang_vel
        if joint_vel is not None:
            data.qvel[self.layout.qvel] = joint_vel
        mujoco.mj_forward(self.model, data)
        return data

    def play(self, motion: RetargetedMotion) -> Iterator[mujoco.MjData]:
        """The data at each frame of `motion` in turn (the same MjData, re-posed)."""
        for t in range(motion.num_frames):
            yield self.pose(
                motion.root_pos[t], motion.root_quat[t], motion.joint_pos[t],
                motion.root_lin_vel[t], motion.root_ang_vel[t], motion.joint_vel[t],
            )

    def body_ids(self, names: Sequence[str]) -> np.ndarray:
        ids = []
        for name in names:
            body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
            if body < 0 or body not in self.layout.robot_bodies:
                raise ValueError(f"the robot has no body named {name!r}")
            if not np.any(self.model.geom_bodyid[self._robot_geoms] == body):
                raise ValueError(f"body {name!r} has no colliding geom: expected one to measure its height by")
            ids.append(body)
        return np.array(ids, dtype=np.int64)

    def lowest_point_z(self, bodies: np.ndarray) -> np.ndarray:
        """Lowest world z of the colliding geoms of each body, at the current pose."""
        lows = _lowest_z(self.model, self.data, self._robot_geoms)
        owners = self.model.geom_bodyid[self._robot_geoms]
        return np.array([lows[owners == body].min() for body in bodies])


def _lowest_z(model: mujoco.MjModel, data: mujoco.MjData, geoms: np.ndarray) -> np.ndarray:
    """Lowest world z of each geom: exact for boxes, capsules and spheres, the bounding sphere otherwise."""
    centre_z = data.geom_xpos[geoms, 2]
    # Row 2 of each rotation: how much each local axis points along world z.
    up = np.abs(data.geom_xmat[geoms].reshape(-1, 3, 3)[:, 2, :])
    size = model.geom_size[geoms]
    kind = model.geom_type[geoms]
    depth = model.geom_rbound[geoms].copy()
    box = kind == mujoco.mjtGeom.mjGEOM_BOX
    depth[box] = np.sum(up[box] * size[box], axis=1)
    capsule = kind == mujoco.mjtGeom.mjGEOM_CAPSULE
    depth[capsule] = up[capsule, 2] * size[capsule, 1] + size[capsule, 0]
    sphere = kind == mujoco.mjtGeom.mjGEOM_SPHERE
    depth[sphere] = size[sphere, 0]
    return centre_z - depth


def render_video(
    motion: RetargetedMotion, model: mujoco.MjModel, embodiment: EmbodimentConfig, path: str | Path,
    camera: str = VIDEO_CAMERA, size: tuple[int, int] = VIDEO_SIZE,
) -> int:
    """Render every frame offscreen (MUJOCO_GL: egl unless set otherwise) to an MP4 at the motion's rate;
    returns the number of frames written."""
    import imageio.v2 as imageio

    playback = KinematicPlayback(model, embodiment)
    height, width = size
    with mujoco.Renderer(model, height=height, width=width) as renderer:
        frames = []
        for data in playback.play(motion):
            renderer.update_scene(data, camera=camera)
            frames.append(renderer.render().copy())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, frames, fps=motion.fps, macro_block_size=1)
    return len(frames)
