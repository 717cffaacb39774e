"""Quaternion and hinge-angle math on whole clips: (..., 4) arrays of unit quaternions, w first (MuJoCo's order).

MuJoCo's mju_* helpers work on one quaternion at a time; a clip is a few hundred frames per
joint, so the same formulas are written here once on arrays.
"""

from __future__ import annotations

import numpy as np

ORTHOGONAL_TOLERANCE = 1e-6  # hinge axes read from an MJCF are written as exact unit vectors
WHOLE_TURNS = 2  # an angle series is shifted by at most this many turns to fit its limits


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b: the rotation b, then a (as in mju_mulQuat)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def quat_normalize(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def quat_from_axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotations by `angle` (rad, any shape) about one unit `axis` (3,)."""
    half = 0.5 * np.asarray(angle, dtype=np.float64)[..., None]
    return np.concatenate([np.cos(half), np.sin(half) * np.asarray(axis, dtype=np.float64)], axis=-1)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = np.moveaxis(quat_normalize(q), -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=-2,
    )


def quat_continuous(q: np.ndarray) -> np.ndarray:
    """A (T, 4) sequence with each quaternion on the same hemisphere as the one before: q and -q are the same
    rotation, and sign flips between frames would turn finite differences into spurious full turns."""
    q = np.array(q, dtype=np.float64)
    for t in range(1, len(q)):
        if np.dot(q[t], q[t - 1]) < 0.0:
            q[t] = -q[t]
    return q


def conjugate_frame(frame: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Rotations q written in another frame: frame * q * frame^-1, for `frame` mapping old coordinates to new."""
    return quat_multiply(quat_multiply(frame, q), quat_conjugate(frame))


def angular_velocity(q: np.ndarray, dt_s: float) -> np.ndarray:
    """(T, 3) angular velocity in the rotating (body) frame, as MuJoCo's free-joint qvel holds it, from a (T, 4)
    sequence by central differences (one-sided at the ends)."""
    q = quat_continuous(q)
    if len(q) < 2:
        return np.zeros((len(q), 3))
    before = np.concatenate([q[:1], q[:-2], q[-2:-1]])
    after = np.concatenate([q[1:2], q[2:], q[-1:]])
    steps = np.full(len(q), 2.0 * dt_s)
    steps[0] = steps[-1] = dt_s
    delta = quat_multiply(quat_conjugate(before), after)
    delta *= np.where(delta[:, :1] < 0.0, -1.0, 1.0)  # the short way round
    sin_half = np.linalg.norm(delta[:, 1:], axis=1)
    angle = 2.0 * np.arctan2(sin_half, delta[:, 0])
    axis = np.divide(delta[:, 1:], sin_half[:, None], out=np.zeros_like(delta[:, 1:]), where=sin_half[:, None] > 0)
    return axis * (angle / steps)[:, None]


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def check_hinge_axes(axes: np.ndarray, where: str) -> None:
    """1 to 3 mutually orthogonal unit axes, or raise naming `where`."""
    axes = np.asarray(axes, dtype=np.float64)
    if axes.ndim != 2 or axes.shape[1] != 3 or not 1 <= len(axes) <= 3:
        raise ValueError(f"{where}: expected 1 to 3 hinge axes, got shape {axes.shape}")
    gram = axes @ axes.T
    if not np.allclose(gram, np.eye(len(axes)), atol=ORTHOGONAL_TOLERANCE):
        raise ValueError(f"{where}: axes {axes.tolist()}: expected mutually orthogonal unit vectors")


def hinge_angles(
    q: np.ndarray, axes: np.ndarray, lower: np.ndarray | None = None, upper: np.ndarray | None = None,
) -> np.ndarray:
    """Decompose (T, 4) rotations into angles about 1 to 3 orthogonal hinge axes applied in order,
    q ~= rot(axes[0], a0) * rot(axes[1], a1) * rot(axes[2], a2) (MuJoCo composes a body's joints this way).

    Returns (T, k) angles, unwrapped over time. One axis keeps the twist about it; two axes are the first two
    Euler angles of the triplet completed by their cross product (the third is dropped); three are exact.
    Of the two Euler solutions of a triplet, the first frame takes the one least outside the joint limits
    (`lower`, `upper`, (k,) each; then the one nearest the rest pose) and every later frame the one nearest the
    frame before, so a limb passing near gimbal lock does not jump.
    """
    q = quat_continuous(quat_normalize(q))
    axes = np.asarray(axes, dtype=np.float64)
    check_hinge_axes(axes, "hinge_angles")
    low = np.full(len(axes), -np.inf) if lower is None else np.asarray(lower, dtype=np.float64)
    high = np.full(len(axes), np.inf) if upper is None else np.asarray(upper, dtype=np.float64)
    if len(axes) == 1:
        twist = 2.0 * np.arctan2(q[:, 1:] @ axes[0], q[:, 0])
        angles = np.unwrap(_wrap(twist))[:, None]
    else:
        angles = _euler_angles(q, axes, low, high)
    # Whole turns leave every pose as it is: shift each angle's series by the one that keeps it most in its limits.
    turns = 2 * np.pi * np.arange(-WHOLE_TURNS, WHOLE_TURNS + 1)
    shifted = angles[None] + turns[:, None, None]  # (turns, T, k)
    outside = np.sum(_outside(shifted, low, high), axis=1)  # (turns, k)
    best = np.lexsort((np.abs(turns)[:, None].repeat(len(axes), 1), outside), axis=0)[0]
    return angles + turns[best]


def _outside(angles: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """How far each angle lies outside [low, high] (0 inside)."""
    return np.maximum(low - angles, 0.0) + np.maximum(angles - high, 0.0)


def _euler_angles(q: np.ndarray, axes: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """(T, k) intrinsic Euler angles about axes[0], axes[1] and a third axis (axes[2], or their cross product,
    whose angle is then dropped)."""
    k = len(axes)
    third = axes[2] if k == 3 else np.cross(axes[0], axes[1])
    handedness = np.sign(np.dot(np.cross(axes[0], axes[1]), third))
    # In the right-handed basis (a0, a1, handedness * a2) the decomposition is the standard X-Y-Z one.
    basis = np.stack([axes[0], axes[1], handedness * third], axis=1)
    r = basis.T @ quat_to_matrix(q) @ basis
    first = np.arctan2(-r[:, 1, 2], r[:, 2, 2])
    second = np.arcsin(np.clip(r[:, 0, 2], -1.0, 1.0))
    third_angle = handedness * np.arctan2(-r[:, 0, 1], r[:, 0, 0])
    canonical = np.stack([first, second, third_angle], axis=1)
    # The same rotation the other way round: a half turn more about the first and third axes.
    other = _wrap(np.stack([first + np.pi, np.pi - second, third_angle + np.pi], axis=1))
    if k == 2:
        # The other solution turns both kept angles by half turns: once the third angle is dropped it is a far
        # worse approximation of the same rotation.
        solutions = canonical[:, None, :2]
    else:
        solutions = np.stack([canonical, other], axis=1)  # (T, 2, 3)
    outside = np.sum(_outside(solutions[0], low, high), axis=1)
    nearest_rest = np.sum(solutions[0] ** 2, axis=1)
    previous = solutions[0][np.lexsort((nearest_rest, outside))[0]]
    angles = np.empty((len(q), k))
    for t in range(len(q)):
        candidates = previous + _wrap(solutions[t] - previous)
        angles[t] = previous = candidates[np.argmin(np.sum((candidates - previous) ** 2, axis=1))]
    return angles
