"""The manipulation observation parts: names the policy module and the serving API share.

Positions are relative to the workspace centre (the table region the task uses), so a
policy does not depend on where a scene puts its table. Orientations are the first and
third columns of the rotation matrix (the gripper's x and approach axes): continuous, unlike
quaternions or angles. In a visual variant the objects' poses move into the critic-only
`privileged` part: the actor has to see the objects in the camera image.
"""

from __future__ import annotations

from vla_ray.embodiment import EmbodimentConfig
from vla_ray.language import INSTRUCTION_BYTES
from vla_ray.observation import ObservationPart, ObservationSpec

JOINT_VEL_LIMIT = 50.0  # rad/s (m/s for slides)
POSITION_LIMIT_M = 25.0  # mobile bases drive up to 10 m from the origin; the table is within a few metres
VELOCITY_LIMIT_MPS = 20.0
JOINT_MARGIN = 0.5  # measured positions overshoot soft limits slightly


def manipulation_observation_spec(
    embodiment: EmbodimentConfig, num_grippers: int, num_objects: int, camera_shape: tuple[int, int] | None
) -> ObservationSpec:
    n, e, k = embodiment.num_joints, num_grippers, num_objects
    object_pose = 9 * k
    parts = [
        ObservationPart(
            "joint_pos", (n,), "rad (m for slides)", "joint positions, embodiment joint order",
            float(embodiment.joint_lower.min()) - JOINT_MARGIN, float(embodiment.joint_upper.max()) + JOINT_MARGIN,
        ),
        ObservationPart("joint_vel", (n,), "rad/s (m/s)", "joint velocities", -JOINT_VEL_LIMIT, JOINT_VEL_LIMIT),
    ]
    if embodiment.ee_action_dim:
        parts.append(ObservationPart(
            "gripper", (embodiment.ee_action_dim,), "1", "measured gripper openings, 0 closed .. 1 open", 0.0, 1.0,
        ))
    parts += [
        ObservationPart(
            "ee_pos", (3 * e,), "m", "grasp-centre position of each gripper relative to the workspace centre",
            -POSITION_LIMIT_M, POSITION_LIMIT_M,
        ),
        ObservationPart(
            "ee_orientation", (6 * e,), "1", "each gripper's x and approach (z) axes in the world frame", -1.0, 1.0,
        ),
        ObservationPart(
            "goal_pos", (3,), "m", "goal position relative to the workspace centre", -POSITION_LIMIT_M, POSITION_LIMIT_M,
        ),
        ObservationPart("prev_action", (embodiment.action_dim,), "1", "previous normalized action", -1.0, 1.0),
        ObservationPart(
            "instruction", (INSTRUCTION_BYTES,), "utf-8", "instruction text, zero-padded UTF-8 bytes", 0, 255, "uint8"
        ),
    ]
    privileged = 3 * k + e * k
    if camera_shape is None:
        if k:
            parts.append(ObservationPart(
                "object_pos", (3 * k,), "m", "task objects' positions relative to the workspace centre",
                -POSITION_LIMIT_M, POSITION_LIMIT_M,
            ))
            parts.append(ObservationPart(
                "object_orientation", (6 * k,), "1", "task objects' x and z axes in the world frame", -1.0, 1.0,
            ))
    else:
        privileged += object_pose
        h, w = camera_shape
        parts.append(ObservationPart("camera_rgb", (h, w, 3), "8-bit RGB", "camera image", 0, 255, "uint8"))
    if privileged:
        parts.append(ObservationPart(
            "privileged", (privileged,), "m/s, 1, m",
            "objects' linear velocities, gripper-holds-object flags"
            + (", objects' positions and x/z axes" if camera_shape else "") + " (critic only)",
            -POSITION_LIMIT_M, POSITION_LIMIT_M, policy_input=False,
        ))
    return ObservationSpec(tuple(parts))
