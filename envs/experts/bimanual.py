"""Scripted experts for the dual-arm tasks: transfer_cube and bimanual_insertion (ALOHA), bimanual_lift (Baxter).

Per robot of a ManipulationVecEnv the expert walks through its task's plan: phases in which each
arm has a target pose for its grasp centre (or holds still) and a gripper command. A phase ends
when both arms have reached their targets, once its settle time is over (a gripper acting), or at
its timeout. Targets come from the objects' poses now: a grasp is planned on the object where it
lies, and an arm that holds an object moves it by placing its grasp centre so that the object
reaches its target pose with the grasp as it is now, so a grasp that slipped a little is carried
along. Each arm's commanded pose moves toward its target in a straight line at the phase's speed;
every control step one damped-least-squares update per arm, from where the arm is, turns it into
joint targets, issued as a normalized action through the same ActionScaler and SafetyFilter as a
policy's.

Gripper frames (both robots): z is the approach axis, y the direction the fingers open along.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

from vla_ray.control.ik import DampedLeastSquaresIK, orientation_error
from envs.experts.waypoints import CLOSED, OPEN
from envs.manipulation.env import ManipulationVecEnv
from envs.manipulation.tasks import bimanual_insertion as insertion
from envs.manipulation.tasks import bimanual_lift as lift
from envs.manipulation.tasks import transfer_cube as transfer

LEFT, RIGHT = 0, 1  # arm order of a dual-arm ManipulationState and of the expert's IK solvers
SIDES = ("left", "right")
# Straight-line and turning speeds of a commanded pose: faster than the arms follow, so the lead limit below
# (the arms' own pace) sets the speed of most moves.
SPEED_MPS = 0.25
TURN_RAD_S = 0.8
INSERTION_MPS = 0.04  # slow enough for the peg to settle into the opening
REACHED_M = 0.01
REACHED_RAD = 0.1
POSTURE_REACHED_RAD = 0.05  # every joint this close to a joint-space target
# One damped-least-squares update per arm and control step, from where the arm is (resolved-rate control). The
# damping is 10x the solver's default: both robots start at a wrist singularity (forearm roll and wrist rotate
# aligned), where iterating to convergence with little damping jumps to a flipped-wrist branch seconds away.
IK_DAMPING = 0.01
# The commanded pose waits while the arm lags it by more than this: servos held back by the safety filter's
# per-step clamp would otherwise let it run far ahead, and an IK update toward a far target is a poor guess.
LEAD_M = 0.03
LEAD_RAD = 0.3
HOVER_M = 0.08  # above a grasp, before coming down on it
LIFT_M = 0.1  # a picked part's first move: straight up from where it lay
NEVER_S = float("inf")  # the last phase: hold until the episode ends

DOWN = np.array([0.0, 0.0, -1.0])
UP = np.array([0.0, 0.0, 1.0])
TOWARD_RIGHT = np.array([1.0, 0.0, 0.0])  # ALOHA: the right arm is mounted at +x, the left one at -x
ACROSS = np.array([0.0, 1.0, 0.0])


# -- poses ----------------------------------------------------------------------------------------------
def _quat_of(rotation: np.ndarray) -> np.ndarray:
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(rotation).reshape(-1))
    return quat


@dataclass(frozen=True)
class Pose:
    pos: np.ndarray  # (3,) world frame
    quat: np.ndarray  # (4,) w, x, y, z

    def __mul__(self, other: "Pose") -> "Pose":
        """`other`, given in this pose's frame, in the world frame."""
        pos, quat = np.empty(3), np.empty(4)
        mujoco.mju_rotVecQuat(pos, other.pos, self.quat)
        mujoco.mju_mulQuat(quat, self.quat, other.quat)
        return Pose(self.pos + pos, quat)

    def inverse(self) -> "Pose":
        quat, pos = np.empty(4), np.empty(3)
        mujoco.mju_negQuat(quat, self.quat)
        mujoco.mju_rotVecQuat(pos, -self.pos, quat)
        return Pose(pos, quat)

    def axis(self, k: int) -> np.ndarray:
        """The frame's x (0), y (1) or z (2) axis in the world frame."""
        unit, axis = np.zeros(3), np.empty(3)
        unit[k] = 1.0
        mujoco.mju_rotVecQuat(axis, unit, self.quat)
        return axis

    def point(self, local: np.ndarray) -> np.ndarray:
        """A point given in this frame, in the world frame."""
        return (self * Pose(np.asarray(local, dtype=np.float64), np.array([1.0, 0.0, 0.0, 0.0]))).pos


def gripper_quat(approach: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """The gripper orientation with its approach (z) axis along `approach` and its fingers opening along the part
    of `opening` perpendicular to it."""
    z = approach / np.linalg.norm(approach)
    y = opening - np.dot(opening, z) * z
    y /= np.linalg.norm(y)
    return _quat_of(np.column_stack([np.cross(y, z), y, z]))


def _lags(gripper: Pose, commanded: Pose) -> bool:
    return (np.linalg.norm(commanded.pos - gripper.pos) > LEAD_M
            or np.linalg.norm(orientation_error(commanded.quat, gripper.quat)) > LEAD_RAD)


def _toward(current: Pose, target: Pose, max_step_m: float, max_turn_rad: float) -> Pose:
    """`current` moved toward `target` by at most max_step_m and turned by at most max_turn_rad."""
    delta = target.pos - current.pos
    distance = np.linalg.norm(delta)
    pos = target.pos if distance <= max_step_m else current.pos + delta * (max_step_m / distance)
    turn = orientation_error(target.quat, current.quat)  # world frame: target = exp(turn) * current
    angle = np.linalg.norm(turn)
    if angle <= max_turn_rad:
        return Pose(pos, target.quat)
    step, quat = np.empty(4), np.empty(4)
    mujoco.mju_axisAngle2Quat(step, turn / angle, max_turn_rad)
    mujoco.mju_mulQuat(quat, step, current.quat)
    return Pose(pos, quat)


def _aligned(axis: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`axis` or its opposite, whichever points more along `reference` (a two-finger grasp is symmetric)."""
    return axis if np.dot(axis, reference) >= 0 else -axis


def _nearest_axis(frame: Pose, axes: tuple[int, ...], direction: np.ndarray) -> np.ndarray:
    """Of the frame's `axes` (or their opposites), the one pointing most along `direction`."""
    candidates = [_aligned(frame.axis(k), direction) for k in axes]
    return max(candidates, key=lambda axis: np.dot(axis, direction))


# -- what a plan sees -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """One robot's scene at one control step, as the plan's pose functions see it."""

    grippers: tuple[Pose, Pose]  # left, right grasp centres
    objects: tuple[Pose, ...]  # in the task's object order
    workspace_centre: np.ndarray  # on the table top
    bases: tuple[np.ndarray, np.ndarray]  # where each arm's first joint turns it

    def carry(self, arm: int, k: int, target: Pose) -> Pose:
        """The grasp-centre pose that puts object k (held by `arm`, as it is held now) at `target`."""
        return target * (self.objects[k].inverse() * self.grippers[arm])

    def carry_to(self, arm: int, k: int, centre: np.ndarray, gripper: np.ndarray) -> Pose:
        """The grasp-centre pose with orientation `gripper` that puts object k's centre (held by `arm`) at
        `centre`: for parts whose orientation follows the gripper's."""
        held = (self.grippers[arm].inverse() * self.objects[k]).pos
        return Pose(centre - Pose(np.zeros(3), gripper).point(held), gripper)


PoseFn = Callable[[Snapshot, Snapshot], Pose]  # (now, at the episode's start) -> grasp-centre target


@dataclass(frozen=True)
class ArmGoal:
    pose: PoseFn | None  # None (and no posture): hold the commanded pose
    gripper: float  # opening, 0 closed .. 1 open
    posture: np.ndarray | None = None  # a joint-space target instead (the arm's joints, in embodiment order)


HOLD_OPEN, HOLD_CLOSED = ArmGoal(None, OPEN), ArmGoal(None, CLOSED)


@dataclass(frozen=True)
class BimanualPhase:
    name: str
    left: ArmGoal
    right: ArmGoal
    timeout_s: float
    settle_s: float = 0.0  # > 0: a gripper phase, over after this long
    speed_mps: float = SPEED_MPS
    reached_m: float = REACHED_M
    reached_rad: float = REACHED_RAD


def _top_down(start: Snapshot, arm: int, k: int, opening_axes: tuple[int, ...], opening_toward: np.ndarray):
    """Top-down grasp orientation on object k: fingers across the object's axis (of `opening_axes`) nearest to
    `opening_toward`, signed to turn the wrist the least from where it was at the episode's start."""
    opening = _nearest_axis(start.objects[k], opening_axes, opening_toward)
    return gripper_quat(DOWN, _aligned(opening, start.grippers[arm].axis(1)))


# -- shared by the ALOHA plans ----------------------------------------------------------------------------
# At ALOHA's home pose each gripper reaches past the other's with 1.6 cm between their palms (less after the
# reset's joint noise); an arm that heads for the far side of the table from there sweeps through the other.
# Both first pull back over their own half and outward, away from each other, turning on the way into the
# orientation their next move needs.
UNCROSSED_M = 0.25  # the grippers' distance from their bases along the line between the bases, once pulled back
UNCROSSED_OUTWARD_M = 0.06  # and sideways from that line, each to its own side
UNCROSSED_HEIGHT_M = 0.2  # above the table
UNCROSSED_WITHIN = {"reached_m": 0.03, "reached_rad": 0.3}  # a way point, not a grasp: the next move goes on turning


def _handover_axis(now: Snapshot) -> np.ndarray:
    """Horizontal unit vector from the left arm's base toward the right arm's."""
    axis = now.bases[RIGHT] - now.bases[LEFT]
    axis[2] = 0.0
    return axis / np.linalg.norm(axis)


def _pulled_back(arm: int, quat: Callable[[Snapshot, Snapshot], np.ndarray]) -> PoseFn:
    def pose(now, start):
        toward_other = _handover_axis(now) if arm == LEFT else -_handover_axis(now)
        outward = np.cross(UP, toward_other)  # to each arm's left, seen from its base: where its own gripper is
        point = now.bases[arm] + UNCROSSED_M * toward_other + UNCROSSED_OUTWARD_M * outward
        point[2] = now.workspace_centre[2] + UNCROSSED_HEIGHT_M
        return Pose(point, quat(now, start))
    return pose


# -- transfer_cube (ALOHA) ---------------------------------------------------------------------------------
# The right gripper takes the cube top-down by two side faces and keeps pointing down: turning a held part
# takes the weak wrist servos seconds (the safety filter's target clamp leaves them ~0.35 rad/s under load).
# While lifting it turns the cube about the vertical so that its faces square up with the line between the
# arms' bases, and holds it at the handover point on that line. The left gripper comes in along the line,
# pointing at the right arm (in its own vertical plane, so its wrist needs no out-of-plane turn), fingers
# opening vertically, and takes the cube's bottom face and its top face under the right gripper's palm: the two
# grasps hold different face pairs, so the fingers do not meet.
# The right grasp centre sits this far above the cube's centre, so that the right palm clears the left's open
# upper finger (the pads reach 4.7 cm from the left grasp centre; the palm starts 3.75 cm above the right one).
CUBE_PICK_HEIGHT_M = 0.0125
CUBE_SIDE_GRASP_M = 0.005  # the left grasp centre this far short of the cube's centre along the line
CUBE_WAIT_M = 0.08  # the left gripper waits this far short of the handover point
RETREAT_M = 0.1  # the right gripper backs up (along its approach) this far after letting go


def _handover_point(now: Snapshot) -> np.ndarray:
    return now.workspace_centre + transfer.HANDOVER_HEIGHT_M * UP


def _cube_pick_quat(now: Snapshot, start: Snapshot) -> np.ndarray:
    return _top_down(start, RIGHT, 0, (0, 1), np.cross(UP, _handover_axis(now)))


def _cube_hover(now, start):
    return Pose(now.objects[0].pos + (HOVER_M + CUBE_PICK_HEIGHT_M) * UP, _cube_pick_quat(now, start))


def _cube_pick(now, start):
    return Pose(now.objects[0].pos + CUBE_PICK_HEIGHT_M * UP, _cube_pick_quat(now, start))


def _cube_carry_quat(now: Snapshot, start: Snapshot) -> np.ndarray:
    """Top-down, fingers across the handover line (signed like the pick's)."""
    across = np.cross(UP, _handover_axis(now))
    return gripper_quat(DOWN, _aligned(across, Pose(np.zeros(3), _cube_pick_quat(now, start)).axis(1)))


def _cube_lifted(now, start):
    return now.carry_to(RIGHT, 0, start.objects[0].pos + LIFT_M * UP, _cube_carry_quat(now, start))


def _cube_presented(now, start):
    return now.carry_to(RIGHT, 0, _handover_point(now), _cube_carry_quat(now, start))


def _left_handover_quat(now: Snapshot, start: Snapshot) -> np.ndarray:
    """Pointing along the handover line at the right arm, fingers opening vertically."""
    return gripper_quat(_handover_axis(now), UP)


def _left_waits(now, start):
    return Pose(_handover_point(now) - CUBE_WAIT_M * _handover_axis(now), _left_handover_quat(now, start))


def _left_takes_cube(now, start):
    return Pose(now.objects[0].pos - CUBE_SIDE_GRASP_M * _handover_axis(now), _left_handover_quat(now, start))


def _right_backs_up(now, start):
    return Pose(_handover_point(now) + RETREAT_M * UP, _cube_carry_quat(now, start))


TRANSFER_CUBE = (
    BimanualPhase("uncross", ArmGoal(_pulled_back(LEFT, _left_handover_quat), OPEN),
                  ArmGoal(_pulled_back(RIGHT, _cube_pick_quat), OPEN), timeout_s=4.0, **UNCROSSED_WITHIN),
    BimanualPhase("reach", ArmGoal(_left_waits, OPEN), ArmGoal(_cube_hover, OPEN), timeout_s=5.0),
    BimanualPhase("descend", HOLD_OPEN, ArmGoal(_cube_pick, OPEN), timeout_s=2.0),
    BimanualPhase("grasp", HOLD_OPEN, ArmGoal(_cube_pick, CLOSED), timeout_s=1.0, settle_s=0.5),
    BimanualPhase("lift", HOLD_OPEN, ArmGoal(_cube_lifted, CLOSED), timeout_s=2.0, reached_m=0.02),
    BimanualPhase("present", ArmGoal(_left_waits, OPEN), ArmGoal(_cube_presented, CLOSED), timeout_s=3.0),
    BimanualPhase("left_reach_in", ArmGoal(_left_takes_cube, OPEN), ArmGoal(_cube_presented, CLOSED),
                  timeout_s=3.0, speed_mps=0.1, reached_m=0.005),
    BimanualPhase("left_grasp", ArmGoal(_left_takes_cube, CLOSED), HOLD_CLOSED, timeout_s=1.0, settle_s=0.5),
    BimanualPhase("release", HOLD_CLOSED, HOLD_OPEN, timeout_s=1.0, settle_s=0.4),
    BimanualPhase("retreat", HOLD_CLOSED, ArmGoal(_right_backs_up, OPEN), timeout_s=2.0),
    BimanualPhase("hold", HOLD_CLOSED, HOLD_OPEN, timeout_s=NEVER_S),
)


# -- bimanual_insertion (ALOHA) ----------------------------------------------------------------------------
# Both parts lie along x and are taken top-down across their long axes: the peg near its far end (from the
# socket), the socket near its floor, so that the peg's free length goes into the opening. The left arm holds
# the socket level at a meeting point; the right arm lines the peg up with the socket's axis as it is held
# now, stops short of the opening, then slides it in.
PEG, SOCKET = insertion.PEG, insertion.SOCKET
PEG_GRASP_M = 0.03  # along the peg's axis from its centre, away from its leading end
PEG_GRASP_HEIGHT_M = 0.01  # grasp centre above the peg's centre: the finger pads stay off the table
SOCKET_GRASP_M = 0.015  # along the socket's axis from its floor
SOCKET_GRASP_HEIGHT_M = 0.005
SOCKET_MEETING = np.array([-0.07, 0.0, 0.18])  # the held socket's bottom centre, from the workspace centre
PEG_STANDOFF_M = 0.02  # the peg's leading end waits this far outside the opening
PEG_INSERTION_M = 0.035  # the expert's insertion depth: past the success threshold, short of the floor
_PEG_IN_SOCKET = np.array([np.cos(-np.pi / 4), 0.0, np.sin(-np.pi / 4), 0.0])  # peg x along the socket's z axis


def _peg_grasp_point(now: Snapshot) -> np.ndarray:
    peg = now.objects[PEG]
    return peg.pos + PEG_GRASP_M * _aligned(peg.axis(0), TOWARD_RIGHT) + PEG_GRASP_HEIGHT_M * UP


def _peg_pick_quat(now, start):
    return _top_down(start, RIGHT, PEG, (1,), ACROSS)


def _peg_hover(now, start):
    return Pose(_peg_grasp_point(now) + HOVER_M * UP, _peg_pick_quat(now, start))


def _peg_pick(now, start):
    return Pose(_peg_grasp_point(now), _peg_pick_quat(now, start))


def _peg_lifted(now, start):
    return now.carry_to(RIGHT, PEG, start.objects[PEG].pos + LIFT_M * UP, _peg_pick_quat(now, start))


def _socket_grasp_point(now: Snapshot) -> np.ndarray:
    socket = now.objects[SOCKET]
    return socket.pos + SOCKET_GRASP_M * socket.axis(2) + SOCKET_GRASP_HEIGHT_M * UP


def _socket_pick_quat(now, start):
    return _top_down(start, LEFT, SOCKET, (1,), ACROSS)


def _socket_hover(now, start):
    return Pose(_socket_grasp_point(now) + HOVER_M * UP, _socket_pick_quat(now, start))


def _socket_pick(now, start):
    return Pose(_socket_grasp_point(now), _socket_pick_quat(now, start))


def _socket_lifted(now, start):
    return now.carry_to(LEFT, SOCKET, start.objects[SOCKET].pos + LIFT_M * UP, _socket_pick_quat(now, start))


def _socket_presented(now, start):
    """The socket level at the meeting point, its opening toward the right arm."""
    level = np.array([np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0])  # its z axis along +x
    return now.carry(LEFT, SOCKET, Pose(now.workspace_centre + SOCKET_MEETING, level))


def _peg_on_socket_axis(now: Snapshot, insertion_m: float) -> Pose:
    """The grasp-centre pose that puts the peg on the socket's axis with its leading end `insertion_m` inside
    the opening (negative: outside)."""
    socket = now.objects[SOCKET]
    centre = insertion.SOCKET_DEPTH_M - insertion_m + insertion.PEG_HALF_SIZE_M[0]
    peg = Pose(socket.point([0.0, 0.0, centre]), (socket * Pose(np.zeros(3), _PEG_IN_SOCKET)).quat)
    return now.carry(RIGHT, PEG, peg)


def _peg_lined_up(now, start):
    return _peg_on_socket_axis(now, -PEG_STANDOFF_M)


def _peg_inserted(now, start):
    return _peg_on_socket_axis(now, PEG_INSERTION_M)


BIMANUAL_INSERTION = (
    BimanualPhase("uncross", ArmGoal(_pulled_back(LEFT, _socket_pick_quat), OPEN),
                  ArmGoal(_pulled_back(RIGHT, _peg_pick_quat), OPEN), timeout_s=4.0, **UNCROSSED_WITHIN),
    BimanualPhase("reach", ArmGoal(_socket_hover, OPEN), ArmGoal(_peg_hover, OPEN), timeout_s=5.0),
    BimanualPhase("descend", ArmGoal(_socket_pick, OPEN), ArmGoal(_peg_pick, OPEN), timeout_s=2.0),
    BimanualPhase("grasp", ArmGoal(_socket_pick, CLOSED), ArmGoal(_peg_pick, CLOSED), timeout_s=1.0, settle_s=0.5),
    BimanualPhase("lift", ArmGoal(_socket_lifted, CLOSED), ArmGoal(_peg_lifted, CLOSED), timeout_s=2.0,
                  reached_m=0.02),
    BimanualPhase("line_up", ArmGoal(_socket_presented, CLOSED), ArmGoal(_peg_lined_up, CLOSED), timeout_s=4.0,
                  reached_m=0.004),
    BimanualPhase("insert", ArmGoal(_socket_presented, CLOSED), ArmGoal(_peg_inserted, CLOSED), timeout_s=3.0,
                  speed_mps=INSERTION_MPS, reached_m=0.004),
    BimanualPhase("hold", HOLD_CLOSED, HOLD_CLOSED, timeout_s=NEVER_S),
)


# -- bimanual_lift (Baxter) --------------------------------------------------------------------------------
# Baxter's home pose holds both arms straight out (an elbow singularity) and its servos move 0.1-0.2 rad/s
# under the safety filter's clamp (kp * step / kv), so the arms first swing in joint space to a ready posture
# over the table, then take over in Cartesian space. Each gripper takes one end of the box with fingers across
# its width, approaching from outside, 30 deg below horizontal, toward the box's middle: from the outstretched
# arms that is ~12 s of joint travel where straight down is ~15 s. Both then carry the box up with the same
# target pose (the resting pose, raised), so the two arms never pull against each other.
# The left arm's ready posture (s0, s1, e0, e1, w0, w1, w2), found by IK from random starts: the hover pose
# for a box resting 7.5 cm beyond the workspace centre (the middle of its range) with the least joint travel
# (at each servo's speed) with every joint >= 0.2 rad inside its limits (room for the Cartesian moves after it)
# whose straight joint-space path from home keeps both arms clear of the table and of each other.
BAXTER_READY_LEFT_RAD = np.array([-0.49, -0.38, 0.2, 1.59, 2.01, -1.37, -0.28])
# Both arms use the same chain, so the right arm's mirror image negates the joints that turn about the link
# axis or the vertical (s0, e0, w0, w2) and keeps the ones that bend (s1, e1, w1).
BAXTER_MIRROR = np.array([-1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
BOX_END_GRASP_M = 0.135  # along the box's long axis from its centre: the palm stays 1.1 cm clear of the end
BOX_GRASP_HEIGHT_M = 0.01  # grasp centre above the box's centre
BOX_GRASP_TILT_RAD = np.radians(60.0)  # of the approach from straight down, toward the box's middle
BOX_HOVER_M = 0.1  # back along the approach, before sliding the fingers over the box: fingertips 4 cm off its end


def _box_outward(now: Snapshot, arm: int) -> np.ndarray:
    """Along the box's long axis toward this arm's end (Baxter's left arm is at +y)."""
    return _aligned(now.objects[0].axis(1), ACROSS if arm == LEFT else -ACROSS)


def _box_grasp(arm: int, back_m: float) -> PoseFn:
    def pose(now, start):
        box, outward = now.objects[0], _box_outward(now, arm)
        approach = -np.sin(BOX_GRASP_TILT_RAD) * outward - np.cos(BOX_GRASP_TILT_RAD) * UP
        point = box.pos + BOX_END_GRASP_M * outward + BOX_GRASP_HEIGHT_M * UP - back_m * approach
        return Pose(point, gripper_quat(approach, _aligned(box.axis(0), now.grippers[arm].axis(1))))
    return pose


def _box_lifted(arm: int) -> PoseFn:
    def pose(now, start):
        box = start.objects[0]
        return now.carry(arm, 0, Pose(box.pos + lift.LIFT_GOAL_M * UP, box.quat))
    return pose


BIMANUAL_LIFT = (
    BimanualPhase("ready", ArmGoal(None, OPEN, BAXTER_READY_LEFT_RAD),
                  ArmGoal(None, OPEN, BAXTER_MIRROR * BAXTER_READY_LEFT_RAD), timeout_s=14.0),
    BimanualPhase("reach", ArmGoal(_box_grasp(LEFT, BOX_HOVER_M), OPEN),
                  ArmGoal(_box_grasp(RIGHT, BOX_HOVER_M), OPEN), timeout_s=4.0, reached_m=0.02),
    BimanualPhase("descend", ArmGoal(_box_grasp(LEFT, 0.0), OPEN), ArmGoal(_box_grasp(RIGHT, 0.0), OPEN),
                  timeout_s=3.0),
    BimanualPhase("grasp", ArmGoal(_box_grasp(LEFT, 0.0), CLOSED), ArmGoal(_box_grasp(RIGHT, 0.0), CLOSED),
                  timeout_s=1.0, settle_s=0.5),
    BimanualPhase("lift", ArmGoal(_box_lifted(LEFT), CLOSED), ArmGoal(_box_lifted(RIGHT), CLOSED), timeout_s=4.0,
                  speed_mps=0.15, reached_m=0.02),
    BimanualPhase("hold", HOLD_CLOSED, HOLD_CLOSED, timeout_s=NEVER_S),
)

PLANS: dict[str, tuple[BimanualPhase, ...]] = {
    transfer.TransferCube.name: TRANSFER_CUBE,
    insertion.BimanualInsertion.name: BIMANUAL_INSERTION,
    lift.BimanualLift.name: BIMANUAL_LIFT,
}


# -- the expert ----------------------------------------------------------------------------------------------
class BimanualExpert:
    def __init__(self, env: ManipulationVecEnv):
        if env.task.name not in PLANS:
            raise ValueError(f"BimanualExpert: no plan for task {env.task.name!r}: expected one of {sorted(PLANS)}")
        if env.embodiment.robot_type != "dual_arm":
            raise ValueError(f"BimanualExpert: {env.embodiment.robot_name} is not a dual-arm robot")
        self.env = env
        self.plan = PLANS[env.task.name]
        joints = env.embodiment.joint_names
        self._arm_joints = [np.array([j for j, name in enumerate(joints) if name.startswith(f"{side}_")])
                            for side in SIDES]
        self.ik = [
            DampedLeastSquaresIK(env.sim.model, f"{side}_ee", tuple(joints[j] for j in arm), damping=IK_DAMPING)
            for side, arm in zip(SIDES, self._arm_joints)
        ]
        self._bases = self._arm_bases(env.sim.model, joints)
        self._max_step = np.broadcast_to(env.commander.safety.max_step, (env.embodiment.num_joints,))
        self._servo_lag_s = self._servo_lags(env)
        n = env.num_envs
        self._phase = np.zeros(n, dtype=np.int64)
        self._phase_steps = np.zeros(n, dtype=np.int64)
        self._awaiting_reset = np.zeros(n, dtype=bool)
        self._start: list[Snapshot | None] = [None] * n
        self._commanded: list[list[Pose]] = [[] for _ in range(n)]

    @staticmethod
    def _servo_lags(env: ManipulationVecEnv) -> np.ndarray:
        """Per joint, how far behind its target (in seconds of motion) a position servo runs at constant speed:
        kv / kp, or one control period for a servo that settles faster than that."""
        model, actuators = env.sim.model, env.sim.layout.joint_actuators
        kp, kv = model.actuator_gainprm[actuators, 0], -model.actuator_biasprm[actuators, 2]
        return np.maximum(kv / kp, env.control_dt_s)

    def _arm_bases(self, model: mujoco.MjModel, joints: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """World position of each arm's first joint (the arms are mounted on fixed bases)."""
        data = mujoco.MjData(model)
        mujoco.mj_kinematics(model, data)
        return tuple(data.xanchor[model.joint(joints[arm[0]]).id].copy() for arm in self._arm_joints)

    def reset(self) -> None:
        """Start every robot's plan over; call right after env.reset()."""
        for i in range(self.env.num_envs):
            self._begin(i)

    def _begin(self, i: int) -> None:
        self._awaiting_reset[i] = False
        self._phase[i] = self._phase_steps[i] = 0
        self._start[i] = snapshot = self._snapshot(i)
        self._commanded[i] = list(snapshot.grippers)

    def _snapshot(self, i: int) -> Snapshot:
        s = self.env._state
        grippers = tuple(Pose(s.ee_pos[i, e].copy(), _quat_of(s.ee_rot[i, e])) for e in (LEFT, RIGHT))
        objects = tuple(Pose(pos.copy(), quat.copy()) for pos, quat in zip(s.object_pos[i], s.object_quat[i]))
        return Snapshot(grippers, objects, self.env.workspace.centre, self._bases)

    def act(self, episode_started: np.ndarray | None = None) -> np.ndarray:
        """(N, action_dim) normalized actions for the env's current state. `episode_started` marks robots whose
        episode ended at the last step (terminated | truncated): they start a fresh plan on their new episode."""
        env = self.env
        if episode_started is not None:
            self._awaiting_reset |= np.asarray(episode_started, dtype=bool)
        # NEXT_STEP autoreset: the env resets such a robot in its next step (ignoring its action there), so the
        # plan restarts from the first state of the new episode, not from the last of the old one.
        for i in np.flatnonzero(self._awaiting_reset & ~env._needs_reset):
            self._begin(i)
        targets = env.sim.positions().copy()
        dt, num_joints = env.control_dt_s, env.embodiment.num_joints
        for i in range(env.num_envs):
            phase = self.plan[min(self._phase[i], len(self.plan) - 1)]
            now = self._snapshot(i)
            reached = True
            for arm, goal in enumerate((phase.left, phase.right)):
                targets[i, num_joints + arm] = goal.gripper
                if goal.posture is not None:
                    targets[i, self._arm_joints[arm]], at_posture = self._posture_step(i, arm, goal.posture)
                    reached &= at_posture
                    self._commanded[i][arm] = now.grippers[arm]  # Cartesian phases go on from where the arm is
                    continue
                commanded = self._commanded[i][arm]
                if goal.pose is not None:
                    target = goal.pose(now, self._start[i])
                    reached &= self._reached(now.grippers[arm], target, phase.reached_m, phase.reached_rad)
                    if not _lags(now.grippers[arm], commanded):
                        commanded = _toward(commanded, target, phase.speed_mps * dt, TURN_RAD_S * dt)
                        self._commanded[i][arm] = commanded
                targets[i, self._arm_joints[arm]] = self._joint_step(i, arm, commanded)
            self._advance(i, phase, reached)
        return env.commander.scaler.to_normalized(targets)

    def _posture_step(self, i: int, arm: int, posture: np.ndarray) -> tuple[np.ndarray, bool]:
        """Joint targets one step along the straight joint-space line to `posture` (the path checked to be clear),
        and whether the arm is there."""
        joints = self._arm_joints[arm]
        current = self.env.sim.positions()[i, joints]
        at_posture = bool(np.max(np.abs(posture - current)) < POSTURE_REACHED_RAD)
        return self._within_step(current, posture - current, joints), at_posture

    def _joint_step(self, i: int, arm: int, commanded: Pose) -> np.ndarray:
        """Joint targets one IK update toward `commanded`."""
        joints = self._arm_joints[arm]
        current = self.env.sim.positions()[i, joints]
        update = self.ik[arm].step(self.env.sim.datas[i], commanded.pos, commanded.quat) - current
        return self._within_step(current, update, joints)

    def _within_step(self, current: np.ndarray, update: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """Joint targets that move every joint through its part of `update` in the same time, as fast as the
        slowest allows: a position servo runs at lead / lag, and the safety filter bounds each lead to max_step.
        Clipping each joint on its own (the filter's way) would bend the update's direction."""
        lag, max_step = self._servo_lag_s[joints], self._max_step[joints]
        duration = max(np.max(np.abs(update) * lag / max_step), self.env.control_dt_s)
        lead = update * lag / duration
        return current + np.where(np.abs(lead) > np.abs(update), update, lead)

    @staticmethod
    def _reached(gripper: Pose, target: Pose, tolerance_m: float, tolerance_rad: float) -> bool:
        return (np.linalg.norm(gripper.pos - target.pos) < tolerance_m
                and np.linalg.norm(orientation_error(target.quat, gripper.quat)) < tolerance_rad)

    def _advance(self, i: int, phase: BimanualPhase, reached: bool) -> None:
        self._phase_steps[i] += 1
        elapsed = self._phase_steps[i] * self.env.control_dt_s
        done = elapsed >= phase.settle_s if phase.settle_s else reached
        if done or elapsed >= phase.timeout_s:
            self._phase[i] += 1
            self._phase_steps[i] = 0
