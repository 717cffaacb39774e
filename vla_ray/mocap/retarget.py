"""Retarget a MotionClip to a robot: hinge angles within limits, scaled root trajectory, velocities, foot contacts.

    python -m vla_ray.mocap.retarget --clip ../shared/data/motions/humanoid3d_walk.txt --out walk.parquet \\
        --video walk.mp4

Method, per frame:
1. joints: each mapped source joint's local rotation (already in MuJoCo's z-up frame) is decomposed into the
   robot's hinges for it, as Euler angles about the hinge axes in the model's joint order (axes read from the
   compiled model at its rest pose); robot joints no source joint maps to stay at 0, the rest pose both
   skeletons share;
2. limits: angles are clipped to the embodiment's limits, and the fraction of clipped frames is kept per joint;
3. root: the source's hip centre (midpoint of its hip joints) is scaled by the robot/source leg-length ratio
   and the robot's root placed so that its own hip centre lands there (the two skeletons hang their legs at
   different heights below the root); the whole clip is then shifted up or down once so that the robot's
   planted feet (barely moving horizontally) stand on the floor (z = 0) on the median frame;
4. velocities: finite differences of the clipped angles and of the root trajectory;
5. contacts: a foot is in contact where it is planted and its lowest point is near the floor.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import mujoco
import numpy as np
import yaml

from envs.simulation import compile_scene
from vla_ray.embodiment import get_embodiment
from vla_ray.mocap.clips import MotionClip, SourceAxes
from vla_ray.mocap.dataset import write_motion
from vla_ray.mocap.loaders import load_clip
from vla_ray.mocap.motion import RetargetedMotion
from vla_ray.mocap.playback import KinematicPlayback, render_video
from vla_ray.mocap.retarget_config import RetargetConfig, retarget_preset
from vla_ray.mocap.rotations import angular_velocity, check_hinge_axes, hinge_angles, quat_to_matrix


def retarget(clip: MotionClip, config: RetargetConfig, model: mujoco.MjModel) -> RetargetedMotion:
    """`clip` on the robot of `config`, whose compiled scene is `model` (checked against the embodiment)."""
    embodiment = config.embodiment
    missing = [source for source in config.joint_map if source not in clip.joint_rotations]
    if missing:
        raise ValueError(
            f"clip {clip.name!r} ({clip.skeleton}) has no joints {', '.join(map(repr, missing))}: expected the "
            f"RetargetConfig's source joints among {', '.join(clip.joint_rotations)}"
        )
    playback = KinematicPlayback(model, embodiment)
    feet = playback.body_ids(config.feet)
    raw = _joint_angles(clip, config, model)
    lower, upper = embodiment.joint_lower, embodiment.joint_upper
    clipped = (raw < lower) | (raw > upper)
    joint_pos = np.clip(raw, lower, upper)
    dt_s = 1.0 / clip.fps
    source_length, source_hips = _source_legs(clip, config.source_legs)
    robot_length, robot_hips = _robot_legs(model, playback.layout.root_body, config.robot_legs)
    scale = robot_length / source_length
    root_rotation = quat_to_matrix(clip.root_quat)
    root_pos = scale * (clip.root_pos + root_rotation @ source_hips) - root_rotation @ robot_hips

    foot_low = np.empty((clip.num_frames, len(feet)))
    foot_xy = np.empty((clip.num_frames, len(feet), 2))
    for t in range(clip.num_frames):
        data = playback.pose(root_pos[t], clip.root_quat[t], joint_pos[t])
        foot_low[t] = playback.lowest_point_z(feet)
        foot_xy[t] = data.xpos[feet, :2]
    foot_speed = np.linalg.norm(np.gradient(foot_xy, dt_s, axis=0), axis=-1)
    planted = foot_speed < config.contact_speed_mps
    # Planted feet stand on the floor: the median over them is robust to the odd frame where the source's own foot
    # sinks into its floor, and to robot limbs (longer hands, thicker torso) the source's floor contacts do not fit.
    ground_offset_m = -float(np.median(foot_low[planted]) if planted.any() else foot_low.min())
    root_pos[:, 2] += ground_offset_m
    foot_height = foot_low + ground_offset_m
    return RetargetedMotion(
        source_clip=clip.name,
        embodiment=embodiment.robot_name,
        fps=clip.fps,
        loop=clip.loop,
        joint_names=embodiment.joint_names,
        joint_pos=joint_pos,
        joint_vel=np.gradient(joint_pos, dt_s, axis=0),
        root_pos=root_pos,
        root_quat=clip.root_quat,
        root_lin_vel=np.gradient(root_pos, dt_s, axis=0),
        root_ang_vel=angular_velocity(clip.root_quat, dt_s),
        foot_names=config.feet,
        foot_height_m=foot_height,
        foot_contact=planted & (foot_height < config.contact_height_m),
        clipped_fraction=dict(zip(embodiment.joint_names, clipped.mean(axis=0))),
        leg_scale=float(scale),
        ground_offset_m=ground_offset_m,
    )


def _joint_angles(clip: MotionClip, config: RetargetConfig, model: mujoco.MjModel) -> np.ndarray:
    """(T, J) unclipped angles in the embodiment's joint order."""
    embodiment = config.embodiment
    rest = mujoco.MjData(model)
    mujoco.mj_forward(model, rest)  # qpos0: every hinge at 0, the root unrotated, so xaxis is each rest axis
    angles = np.zeros((clip.num_frames, embodiment.num_joints))
    for source, hinges in config.joint_map.items():
        # MuJoCo applies a body's joints, and a chain's bodies, in joint-id order: the Euler order.
        ordered = sorted(hinges, key=lambda name: model.joint(name).id)
        axes = rest.xaxis[[model.joint(name).id for name in ordered]]
        check_hinge_axes(axes, f"robot joints {', '.join(ordered)} (for source joint {source!r})")
        columns = [embodiment.joint_index(name) for name in ordered]
        angles[:, columns] = hinge_angles(
            clip.joint_rotations[source], axes, embodiment.joint_lower[columns], embodiment.joint_upper[columns]
        )
    return angles


def _robot_legs(model: mujoco.MjModel, root_body: int, legs: tuple[tuple[str, ...], ...]) -> tuple[float, np.ndarray]:
    """Mean leg length (m) and the hip centre in the root body's frame, from the joint anchors at rest."""
    rest = mujoco.MjData(model)
    mujoco.mj_forward(model, rest)
    anchors = [rest.xanchor[[model.joint(name).id for name in leg]] for leg in legs]
    length = np.mean([np.linalg.norm(np.diff(leg, axis=0), axis=1).sum() for leg in anchors])
    # qpos0 leaves the root unrotated, so world offsets from it are root-frame offsets.
    return float(length), np.mean([leg[0] for leg in anchors], axis=0) - rest.xpos[root_body]


def _source_legs(clip: MotionClip, legs: tuple[tuple[str, ...], ...]) -> tuple[float, np.ndarray]:
    """Mean leg length (m) and the hip centre in the root's frame, from the clip's skeleton offsets."""
    missing = [name for leg in legs for name in leg if name not in clip.offsets_m]
    if missing:
        raise ValueError(
            f"clip {clip.name!r} has no skeleton offsets for {', '.join(missing)}: expected them to measure the "
            "source's legs (an NPZ clip gives them as joint_offsets)"
        )
    length = np.mean([sum(np.linalg.norm(clip.offsets_m[name]) for name in leg[1:]) for leg in legs])
    return float(length), np.mean([clip.offsets_m[leg[0]] for leg in legs], axis=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", required=True, help="DeepMimic (.txt/.json), BVH (.bvh) or NPZ (.npz) clip")
    parser.add_argument("--out", required=True, help="Parquet motion dataset to write")
    parser.add_argument("--video", default=None, help="also render the retargeted motion to this MP4")
    parser.add_argument("--robot", default="humanoid", help="embodiment preset")
    parser.add_argument("--map", default=None, help="YAML retarget map; default: the preset for the clip's skeleton")
    parser.add_argument("--up", default=None, help="BVH/NPZ: the source's up axis, e.g. +y")
    parser.add_argument("--forward", default=None, help="BVH/NPZ: the way the source faces at rest, e.g. +z")
    parser.add_argument("--length-unit-m", type=float, default=None, help="BVH: metres per file unit")
    args = parser.parse_args(argv)
    embodiment = get_embodiment(args.robot)
    if (args.up is None) != (args.forward is None):
        parser.error("--up and --forward: expected both or neither")
    axes = SourceAxes(up=args.up, forward=args.forward) if args.up else None
    clip = load_clip(args.clip, axes, args.length_unit_m)
    if args.map:
        config = RetargetConfig.from_dict(yaml.safe_load(Path(args.map).read_text()), embodiment)
    else:
        config = retarget_preset(clip.skeleton, embodiment.robot_name)
    model = compile_scene(embodiment.model_path)
    motion = retarget(clip, config, model)
    write_motion(motion, args.out)
    summary = motion.summary()
    if args.video:
        summary["video_frames"] = render_video(motion, model, embodiment, args.video)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
