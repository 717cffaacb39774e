"""MoCap loaders and retargeting on the shared DeepMimic clips, a BVH and an NPZ written here, the real humanoid
model, real Parquet files and an offscreen-rendered video."""

import json
from pathlib import Path

import imageio.v2 as imageio
import mujoco
import numpy as np
import pyarrow.parquet as pq
import pytest

from envs.humanoid.env import HumanoidLocomotionEnv
from envs.humanoid.robot import FOOT_SITES
from envs.simulation import compile_scene
from vla_ray.embodiment import HUMANOID
from vla_ray.mocap import deepmimic
from vla_ray.mocap.bvh import load_bvh
from vla_ray.mocap.clips import SourceAxes
from vla_ray.mocap.dataset import VERSION_KEY, read_motion, write_motion
from vla_ray.mocap.loaders import load_clip
from vla_ray.mocap.npz import load_npz
from vla_ray.mocap.playback import KinematicPlayback, render_video
from vla_ray.mocap.retarget import main, retarget
from vla_ray.mocap.retarget_config import DEEPMIMIC_TO_HUMANOID, RetargetConfig
from vla_ray.mocap.rotations import hinge_angles

MOTIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "motions"
# file -> (frames, frame time s, loops), from the clips' README
HUMANOID_CLIPS = {
    "humanoid3d_walk.txt": (39, 0.033332, True),
    "humanoid3d_run.txt": (25, 0.033332, True),
    "humanoid3d_jump.txt": (107, 0.016666, True),
    "humanoid3d_spinkick.txt": (78, 0.016666, True),
    "humanoid3d_getup_faceup.txt": (227, 0.016666, False),
    "humanoid3d_dance_a.txt": (98, 0.016666, True),
}


def rotate(q: np.ndarray, v) -> np.ndarray:
    out = np.zeros(3)
    mujoco.mju_rotVecQuat(out, np.asarray(v, dtype=np.float64), np.asarray(q, dtype=np.float64))
    return out


def axis_angle(axis, angle: float) -> np.ndarray:
    out = np.zeros(4)
    mujoco.mju_axisAngle2Quat(out, np.asarray(axis, dtype=np.float64), angle)
    return out


@pytest.fixture(scope="module")
def model():
    return compile_scene(HUMANOID.model_path)


@pytest.fixture(scope="module")
def motions(model):
    return {name: retarget(load_clip(MOTIONS / name), DEEPMIMIC_TO_HUMANOID, model) for name in HUMANOID_CLIPS}


@pytest.mark.parametrize("name", sorted(HUMANOID_CLIPS))
def test_deepmimic_loader_reads_every_shared_clip(name):
    frames, frame_time_s, loops = HUMANOID_CLIPS[name]
    clip = load_clip(MOTIONS / name)
    assert clip.num_frames == frames and clip.loop is loops
    assert clip.fps == pytest.approx(1.0 / frame_time_s)
    assert set(clip.joint_rotations) == {joint for joint, _, _ in deepmimic.JOINTS}
    assert clip.skeleton == deepmimic.SKELETON


def test_deepmimic_clip_is_turned_from_y_up_to_z_up():
    raw = np.array(json.loads((MOTIONS / "humanoid3d_walk.txt").read_text())["Frames"])
    clip = load_clip(MOTIONS / "humanoid3d_walk.txt")
    # source (x forward, y up, z right) -> MuJoCo (x forward, y left, z up)
    np.testing.assert_allclose(clip.root_pos, np.stack([raw[:, 1], -raw[:, 3], raw[:, 2]], axis=1), atol=1e-12)
    assert clip.root_pos[0, 2] == pytest.approx(0.847532) and clip.root_pos[-1, 0] > 1.0  # walks forward, +x
    # The knee's +z axis (the character's right) is -y here; its negative source angle is flexion: foot backward.
    knee = clip.joint_rotations["right_knee"][np.argmin(raw[:, 20])]
    shank = rotate(knee, [0, 0, -1])
    assert shank[0] < -0.5 and abs(shank[1]) < 1e-9
    # The right hip sits on the right: -y.
    assert clip.offsets_m["right_hip"] == pytest.approx([0.0, -0.084887, 0.0])


def test_deepmimic_loader_names_a_malformed_file(tmp_path):
    frames = json.loads((MOTIONS / "humanoid3d_walk.txt").read_text())
    frames["Frames"] = [frame[:-1] for frame in frames["Frames"]]
    path = tmp_path / "short.txt"
    path.write_text(json.dumps(frames))
    with pytest.raises(ValueError, match=r"shape \(39, 43\): expected \(frames >= 2, 44\)"):
        load_clip(path)


BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0.0 0.0 0.0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT LeftUpLeg
  {
    OFFSET 10.0 -5.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT LeftLeg
    {
      OFFSET 0.0 -40.0 0.0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0.0 -40.0 0.0
      }
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.04
"""
# Per frame: root position (cm) and Z, X, Y rotations (deg), then the same three rotations for each joint.
BVH_FRAMES = np.array([
    [0.0, 90.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [1.0, 91.0, 2.0, 10.0, 20.0, 30.0, -15.0, 25.0, 5.0, 0.0, 40.0, 0.0],
    [2.0, 92.0, 4.0, 20.0, -30.0, 60.0, 5.0, -10.0, 35.0, 0.0, 80.0, 0.0],
])


def bvh_rotation(z_deg: float, x_deg: float, y_deg: float) -> np.ndarray:
    """R = Rz * Rx * Ry, the channel order the file lists."""
    q = np.zeros(4)
    mujoco.mju_mulQuat(q, axis_angle([0, 0, 1], np.deg2rad(z_deg)), axis_angle([1, 0, 0], np.deg2rad(x_deg)))
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, q, axis_angle([0, 1, 0], np.deg2rad(y_deg)))
    return out


def test_bvh_written_here_loads_back_in_metres_and_z_up(tmp_path):
    path = tmp_path / "two_joints.bvh"
    path.write_text(BVH + "\n".join(" ".join(f"{v:g}" for v in row) for row in BVH_FRAMES) + "\n")
    clip = load_bvh(path)  # centimetres, y up, facing +z
    to_mujoco = SourceAxes(up="+y", forward="+z").to_mujoco()
    assert clip.fps == pytest.approx(25.0) and clip.num_frames == 3
    np.testing.assert_allclose(clip.root_pos, BVH_FRAMES[:, :3] * 0.01 @ to_mujoco.T, atol=1e-12)
    assert clip.root_pos[0, 2] == pytest.approx(0.9)  # y up -> z up
    np.testing.assert_allclose(clip.offsets_m["LeftLeg"], [0.0, 0.0, -0.4], atol=1e-12)
    assert set(clip.joint_rotations) == {"LeftUpLeg", "LeftLeg"}
    probe = np.array([0.3, -0.5, 0.8])
    for name, first in (("root", 3), ("LeftUpLeg", 6), ("LeftLeg", 9)):
        loaded = clip.root_quat if name == "root" else clip.joint_rotations[name]
        for t, row in enumerate(BVH_FRAMES):
            # Rotating in the source frame and then converting equals converting and then rotating.
            expected = to_mujoco @ rotate(bvh_rotation(*row[first : first + 3]), probe)
            np.testing.assert_allclose(rotate(loaded[t], to_mujoco @ probe), expected, atol=1e-9)


def test_bvh_loader_names_a_frame_count_mismatch(tmp_path):
    path = tmp_path / "short.bvh"
    path.write_text(BVH + " ".join(map(str, BVH_FRAMES[0])) + "\n")
    with pytest.raises(ValueError, match=r"12 motion values: expected Frames \(3\) x channels \(12\) = 36"):
        load_bvh(path)


def test_npz_written_here_loads_back(tmp_path):
    rng = np.random.default_rng(0)
    frames = 5
    joint_pos = rng.uniform(-1, 1, (frames, 2))
    root_quat = np.array([axis_angle([0, 0, 1], a) for a in np.linspace(0, 1, frames)])
    path = tmp_path / "hinges.npz"
    np.savez(
        path, fps=np.float64(50.0), root_pos=rng.normal(size=(frames, 3)), root_quat=root_quat,
        joint_names=np.array(["knee", "elbow"]), joint_axes=np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
        joint_pos=joint_pos, joint_vel=np.gradient(joint_pos, 0.02, axis=0),
        joint_offsets=np.array([[0.0, 0.0, -0.4], [0.0, 0.0, -0.3]]),
    )
    clip = load_clip(path)  # MuJoCo's frame by default
    assert clip.fps == 50.0 and clip.num_frames == frames
    with np.load(path) as written:
        np.testing.assert_allclose(clip.root_pos, written["root_pos"])
    np.testing.assert_allclose(clip.root_quat, root_quat, atol=1e-12)
    for j, (name, axis) in enumerate((("knee", [0, 1, 0]), ("elbow", [1, 0, 0]))):
        expected = np.array([axis_angle(axis, angle) for angle in joint_pos[:, j]])
        np.testing.assert_allclose(clip.joint_rotations[name], expected, atol=1e-12)
    assert clip.offsets_m["elbow"] == pytest.approx([0.0, 0.0, -0.3])


def test_npz_loader_refuses_unknown_arrays(tmp_path):
    path = tmp_path / "extra.npz"
    np.savez(path, fps=np.float64(30.0), poses=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="unknown arrays poses"):
        load_npz(path)


def test_hinge_decomposition_inverts_the_robots_mirrored_hinge_triplets(model):
    rest = mujoco.MjData(model)
    mujoco.mj_forward(model, rest)
    rng = np.random.default_rng(1)
    for triplet in (("r_hip_yaw", "r_hip_roll", "r_hip_pitch"), ("r_shoulder_pitch", "r_shoulder_roll", "r_shoulder_yaw")):
        axes = rest.xaxis[[model.joint(name).id for name in triplet]]
        angles = rng.uniform(-1.2, 1.2, (20, 3))
        data = mujoco.MjData(model)
        rotations = []
        for row in angles:  # the body's rotation from MuJoCo itself, with the hinges at these angles
            data.qpos[[model.jnt_qposadr[model.joint(name).id] for name in triplet]] = row
            mujoco.mj_kinematics(model, data)
            rotations.append(data.xquat[model.joint(triplet[0]).bodyid[0]].copy())
        np.testing.assert_allclose(hinge_angles(np.array(rotations), axes), angles, atol=1e-9)


def test_retargeted_shared_clips_stay_within_joint_limits_with_bounded_velocities(motions):
    lower, upper = HUMANOID.joint_lower, HUMANOID.joint_upper
    for name, motion in motions.items():
        assert ((motion.joint_pos >= lower) & (motion.joint_pos <= upper)).all(), name
        np.testing.assert_allclose(motion.joint_vel, np.gradient(motion.joint_pos, 1.0 / motion.fps, axis=0))
        # No joint turns a quarter turn between two frames: no wrap-around or Euler-branch jumps.
        assert np.abs(motion.joint_vel).max() < (np.pi / 2) * motion.fps, name
        assert np.linalg.norm(motion.root_lin_vel, axis=1).max() < 10.0, name
        # Clipping is reported, and a clipped joint sits on its limit in at least that fraction of frames.
        for j, joint in enumerate(motion.joint_names):
            at_limit = np.isclose(motion.joint_pos[:, j], lower[j]) | np.isclose(motion.joint_pos[:, j], upper[j])
            assert at_limit.mean() >= motion.clipped_fraction[joint] - 1e-12, (name, joint)


def test_walk_needs_no_clipping_and_stays_within_the_robots_joint_speed(motions):
    walk = motions["humanoid3d_walk.txt"]
    assert walk.mean_clipped_fraction == 0.0
    assert walk.max_joint_speed[1] < HUMANOID.max_joint_velocity
    # DeepMimic's root walks 1.24 m along +x; the robot's legs are 1% longer (its hips, not its root, follow the
    # source's hips, so the root's path differs by how the pelvis turns).
    assert walk.leg_scale == pytest.approx(0.84 / 0.831416, rel=1e-6)  # thigh + shank: robot MJCF / DeepMimic URDF
    assert walk.root_pos[-1, 0] - walk.root_pos[0, 0] == pytest.approx(1.23859 * walk.leg_scale, rel=5e-3)
    # Upright: the pelvis z axis points up throughout.
    assert min(rotate(q, [0, 0, 1])[2] for q in walk.root_quat) > 0.95


def test_walk_plays_back_in_the_humanoid_environment_with_its_feet_on_the_floor(motions):
    walk = motions["humanoid3d_walk.txt"]
    env = HumanoidLocomotionEnv()
    model = env.vector.robots.model
    sites = [model.site(name).id for name in FOOT_SITES]
    playback = KinematicPlayback(model, env.embodiment)
    soles = np.array([data.site_xpos[sites, 2].copy() for data in playback.play(walk)])  # (T, 2) sole centres
    env.close()
    # Walking has no flight phase: at every frame one sole is on the floor, within 3 cm.
    assert np.abs(soles.min(axis=1)).max() < 0.03
    # Each foot is in contact for a stance phase, and there its sole is on the floor.
    assert walk.foot_contact.any(axis=0).all()
    assert np.abs(soles[walk.foot_contact]).mean() < 0.02
    assert walk.contact_height_error_m < 0.01


def test_retargeted_walk_renders_to_a_video(motions, model, tmp_path):
    walk = motions["humanoid3d_walk.txt"]
    path = tmp_path / "walk.mp4"
    assert render_video(walk, model, HUMANOID, path) == walk.num_frames
    frames = imageio.mimread(path)
    assert len(frames) == walk.num_frames and frames[0].shape == (480, 640, 3)
    assert np.std(frames[0]) > 10 and np.abs(frames[0].astype(int) - frames[len(frames) // 2]).mean() > 0.5  # it moves


def test_motion_dataset_round_trips_through_parquet(motions, tmp_path):
    motion = motions["humanoid3d_spinkick.txt"]
    path = write_motion(motion, tmp_path / "spinkick.parquet")
    back = read_motion(path)
    for name in ("joint_pos", "joint_vel", "root_pos", "root_quat", "root_lin_vel", "root_ang_vel", "foot_height_m"):
        np.testing.assert_array_equal(getattr(back, name), getattr(motion, name))
    np.testing.assert_array_equal(back.foot_contact, motion.foot_contact)
    assert back.summary() == motion.summary() and back.joint_names == HUMANOID.joint_names
    table = pq.read_table(path)
    assert table.num_rows == motion.num_frames
    metadata = {key.decode(): json.loads(value) for key, value in table.schema.metadata.items()}
    assert metadata[VERSION_KEY] == 1 and metadata["vla_ray.motion.source_clip"] == "humanoid3d_spinkick.txt"
    assert metadata["vla_ray.motion.fps"] == pytest.approx(60.0, rel=1e-3)
    assert metadata["vla_ray.motion.embodiment"] == "humanoid"


def test_motion_reader_refuses_another_schema_version(motions, tmp_path):
    path = write_motion(motions["humanoid3d_run.txt"], tmp_path / "run.parquet")
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, VERSION_KEY.encode(): b"99"}), path)
    with pytest.raises(ValueError, match="schema version 99: this vla-ray reads version 1"):
        read_motion(path)


def test_retarget_config_names_unknown_robot_joints():
    with pytest.raises(ValueError, match=r"joint_map\['chest'\]: unknown joints 'spine_yaw'"):
        RetargetConfig(
            embodiment=HUMANOID, joint_map={"chest": ("spine_yaw", "torso_pitch")},
            source_legs=DEEPMIMIC_TO_HUMANOID.source_legs, robot_legs=DEEPMIMIC_TO_HUMANOID.robot_legs,
            feet=DEEPMIMIC_TO_HUMANOID.feet,
        )


def test_retarget_config_refuses_a_hinge_mapped_twice():
    joint_map = {**DEEPMIMIC_TO_HUMANOID.joint_map, "neck": ("head_pan", "torso_roll")}
    with pytest.raises(ValueError, match="torso_roll are mapped twice"):
        RetargetConfig.from_dict(
            {"joint_map": joint_map, "source_legs": [list(leg) for leg in DEEPMIMIC_TO_HUMANOID.source_legs],
             "robot_legs": DEEPMIMIC_TO_HUMANOID.robot_legs, "feet": ["left_foot", "right_foot"]},
            HUMANOID,
        )


def test_retarget_names_source_joints_the_clip_lacks(model, tmp_path):
    path = tmp_path / "legs.bvh"
    path.write_text(BVH + "\n".join(" ".join(map(str, row)) for row in BVH_FRAMES) + "\n")
    with pytest.raises(ValueError, match=r"has no joints 'chest', 'neck'"):
        retarget(load_bvh(path), DEEPMIMIC_TO_HUMANOID, model)


def test_command_line_writes_the_dataset_and_prints_the_summary(tmp_path, capsys):
    out = tmp_path / "run.parquet"
    main(["--clip", str(MOTIONS / "humanoid3d_run.txt"), "--out", str(out)])
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 25 and summary["duration_s"] == pytest.approx(0.8, abs=1e-3)
    assert summary["clipped_joints"] == {"l_ankle_roll": pytest.approx(0.52), "r_ankle_roll": pytest.approx(0.52)}
    assert summary["max_joint_speed_rad_s"] > 0 and read_motion(out).num_frames == 25
