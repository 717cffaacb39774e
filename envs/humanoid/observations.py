"""The humanoid's observation parts: names the policy module and the serving API share."""

from __future__ import annotations

from vla_ray.embodiment import EmbodimentConfig
from vla_ray.language import INSTRUCTION_BYTES
from vla_ray.observation import ObservationPart, ObservationSpec

# Physical read-outs are clipped to these bounds so every observation lies in its space;
# a real robot reporting more than this has a fault the server should refuse to act on.
JOINT_VEL_LIMIT = 50.0  # rad/s
IMU_LIMIT = 200.0  # rad/s and m/s^2
FORCE_LIMIT_N = 5000.0
HISTORY_FRAME_PARTS = ("joint_pos", "joint_vel", "imu")


def humanoid_observation_spec(
    embodiment: EmbodimentConfig, history_length: int = 0, camera_shape: tuple[int, int] | None = None
) -> ObservationSpec:
    n = embodiment.num_joints
    parts = [
        ObservationPart("joint_pos", (n,), "rad", "joint positions, embodiment joint order", -6.3, 6.3),
        ObservationPart("joint_vel", (n,), "rad/s", "joint velocities", -JOINT_VEL_LIMIT, JOINT_VEL_LIMIT),
        ObservationPart(
            "imu", (9,), "rad/s, m/s^2, 1", "gyro xyz, accelerometer xyz, gravity direction xyz in the IMU frame",
            -IMU_LIMIT, IMU_LIMIT,
        ),
        ObservationPart("contacts", (4,), "1", "contact flags: left foot, right foot, left hand, right hand", 0.0, 1.0),
        ObservationPart(
            "force_torque", (12,), "N", "3-axis force at left wrist, right wrist, left ankle, right ankle",
            -FORCE_LIMIT_N, FORCE_LIMIT_N,
        ),
        ObservationPart("command", (3,), "m/s, m/s, rad/s", "commanded forward, lateral, yaw velocity", -2.0, 2.0),
        ObservationPart("prev_action", (embodiment.action_dim,), "1", "previous normalized action", -1.0, 1.0),
        ObservationPart(
            "instruction", (INSTRUCTION_BYTES,), "utf-8", "instruction text, zero-padded UTF-8 bytes", 0, 255, "uint8"
        ),
        ObservationPart(
            "privileged", (4,), "m/s, m", "base velocity in the heading frame xyz, base height (critic only)",
            -50.0, 50.0, policy_input=False,
        ),
    ]
    if history_length > 0:
        frame = 2 * n + 9
        parts.append(
            ObservationPart(
                "proprio_history", (history_length, frame), "rad, rad/s, imu units",
                f"previous {history_length} frames of {'+'.join(HISTORY_FRAME_PARTS)}, oldest first", -IMU_LIMIT, IMU_LIMIT,
            )
        )
    if camera_shape is not None:
        h, w = camera_shape
        parts.append(ObservationPart("camera_rgb", (h, w, 3), "8-bit RGB", "onboard camera image", 0, 255, "uint8"))
    return ObservationSpec(tuple(parts))
