"""The quadruped's observation parts (legged_gym's proprioception; base velocity and height are critic-only,
since a real robot only estimates them)."""

from __future__ import annotations

from vla_ray.embodiment import EmbodimentConfig
from vla_ray.language import INSTRUCTION_BYTES
from vla_ray.observation import GAIT_CLOCK_PART, ObservationPart, ObservationSpec

JOINT_VEL_LIMIT = 50.0
IMU_LIMIT = 200.0
MAX_CLOCK_S = 1.0e4


def quadruped_observation_spec(
    embodiment: EmbodimentConfig, camera_shape: tuple[int, int] | None, gait_clock: bool = False,
) -> ObservationSpec:
    n = embodiment.num_joints
    parts = [
        ObservationPart("joint_pos", (n,), "rad", "joint positions, embodiment joint order", -6.3, 6.3),
        ObservationPart("joint_vel", (n,), "rad/s", "joint velocities", -JOINT_VEL_LIMIT, JOINT_VEL_LIMIT),
        ObservationPart(
            "imu", (9,), "rad/s, m/s^2, 1", "gyro xyz, accelerometer xyz, gravity direction xyz in the base frame",
            -IMU_LIMIT, IMU_LIMIT,
        ),
        ObservationPart("contacts", (4,), "1", "foot contact flags: fl, fr, hl, hr", 0.0, 1.0),
        ObservationPart("command", (3,), "m/s, m/s, rad/s", "commanded forward, lateral, yaw velocity", -3.0, 3.0),
        ObservationPart("prev_action", (embodiment.action_dim,), "1", "previous normalized action", -1.0, 1.0),
        ObservationPart(
            "instruction", (INSTRUCTION_BYTES,), "utf-8", "instruction text, zero-padded UTF-8 bytes", 0, 255, "uint8"
        ),
        ObservationPart(
            "privileged", (4,), "m/s, m", "base velocity in the heading frame xyz, base height above ground (critic only)",
            -50.0, 50.0, policy_input=False,
        ),
    ]
    if gait_clock:
        parts.append(ObservationPart(GAIT_CLOCK_PART, (1,), "s", "time since the episode began (the CPG head's "
                                     "oscillators read it)", 0.0, MAX_CLOCK_S))
    if camera_shape is not None:
        h, w = camera_shape
        parts.append(ObservationPart("camera_rgb", (h, w, 3), "8-bit RGB", "head camera image", 0, 255, "uint8"))
    return ObservationSpec(tuple(parts))
