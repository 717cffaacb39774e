"""Domain randomization: physics terms applied at reset, sensor noise, motor latency and pushes.

The numbers come from the seed's `train_with_domain_randomization` (randomization_params):
mass and inertia ×(0.8, 1.2), friction (0.5, 1.5), damping ×(0.5, 1.5), motor strength
×(0.8, 1.2), motor latency 0-20 ms, noise 0.01 rad / 0.1 rad/s / 0.05 (IMU), pushes 0-100 N.
They are `RandomizationConfig.seed_defaults()`; the plain constructor turns everything off,
so randomization is opt-in.

Physics randomization is a dict of named terms (Isaac Lab's event terms), each a small
function that writes one quantity of ONE robot's MjModel from the nominal values taken when
the model was compiled, so draws never compound across resets. Every robot in a batch owns
its MjModel, so each gets its own physics.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import mujoco
import numpy as np

from vla_ray.configs import checked_keys

Range = tuple[float, float]


# -- configuration ------------------------------------------------------------------------------

# field -> (whether low must be > 0 or >= 0, what the error says is expected)
_RANGE_RULES: dict[str, tuple[str, str]] = {
    "mass_scale": ("positive", "a (low, high) scale with 0 < low <= high"),
    "inertia_scale": ("positive", "a (low, high) scale with 0 < low <= high"),
    "friction": ("non_negative", "None or a (low, high) sliding friction with 0 <= low <= high"),
    "damping_scale": ("positive", "a (low, high) scale with 0 < low <= high"),
    "motor_strength_scale": ("positive", "a (low, high) scale with 0 < low <= high"),
    "latency_s": ("non_negative", "a (low, high) latency in seconds with 0 <= low <= high"),
    "push_force_n": ("non_negative", "a (low, high) force in newtons with 0 <= low <= high"),
    "push_interval_s": ("positive", "a (low, high) interval in seconds with 0 < low <= high"),
}
_STD_FIELDS = ("joint_pos_noise_rad", "joint_vel_noise_rad_s", "imu_noise")


@dataclass(frozen=True)
class RandomizationConfig:
    """Ranges drawn uniformly at each reset (noise stds apply every step). Defaults: everything off."""

    mass_scale: Range = (1.0, 1.0)  # each robot body's mass × U(low, high), drawn per body
    inertia_scale: Range = (1.0, 1.0)  # each robot body's principal inertia × U(low, high), per body
    friction: Range | None = None  # sliding friction of every robot contact, one draw per robot; None: the model's
    damping_scale: Range = (1.0, 1.0)  # each robot dof's joint damping × U(low, high), per dof
    motor_strength_scale: Range = (1.0, 1.0)  # each actuator's force (kp and kv together) × U(low, high)
    latency_s: Range = (0.0, 0.0)  # delay before a new PD target acts, one draw per robot per episode
    joint_pos_noise_rad: float = 0.0  # Gaussian std on the "joint_pos" observation part
    joint_vel_noise_rad_s: float = 0.0  # Gaussian std on "joint_vel"
    imu_noise: float = 0.0  # Gaussian std on every entry of "imu"
    push_force_n: Range = (0.0, 0.0)  # horizontal push magnitude; (0, 0): no pushes
    push_interval_s: Range = (2.0, 4.0)  # time from one push's start to the next
    push_duration_s: float = 0.2  # how long each push is held

    def __post_init__(self):
        for name, (bound, expected) in _RANGE_RULES.items():
            value = getattr(self, name)
            if value is None and name == "friction":
                continue
            low, high = _as_pair(name, value, expected)
            below = low <= 0 if bound == "positive" else low < 0
            if below or low > high:
                _fail(name, value, expected)
            object.__setattr__(self, name, (low, high))  # lists from YAML/JSON become tuples
        for name in _STD_FIELDS:
            _check_number(name, getattr(self, name), lambda v: v >= 0, "a standard deviation >= 0")
        _check_number("push_duration_s", self.push_duration_s, lambda v: v > 0, "a duration in seconds > 0")

    @classmethod
    def seed_defaults(cls) -> "RandomizationConfig":
        """The seed's randomization_params (train_with_domain_randomization)."""
        return cls(
            mass_scale=(0.8, 1.2),
            inertia_scale=(0.8, 1.2),
            friction=(0.5, 1.5),
            damping_scale=(0.5, 1.5),
            motor_strength_scale=(0.8, 1.2),
            latency_s=(0.0, 0.02),
            joint_pos_noise_rad=0.01,
            joint_vel_noise_rad_s=0.1,
            imu_noise=0.05,
            push_force_n=(0.0, 100.0),
        )

    @classmethod
    def off(cls) -> "RandomizationConfig":
        """Nominal physics, exact observations, no latency, no pushes."""
        return cls()

    @classmethod
    def from_kwargs(cls, kwargs: Mapping) -> "RandomizationConfig":
        return cls(**checked_keys(cls, kwargs, "RandomizationConfig"))

    def updated(self, changes: Mapping) -> "RandomizationConfig":
        """This config with `changes` applied (validated), e.g. a curriculum widening a range."""
        return RandomizationConfig.from_kwargs({**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _fail(name: str, value, expected: str):
    raise ValueError(f"RandomizationConfig.{name}={value!r}: expected {expected}")


def _is_number(value) -> bool:
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return real and math.isfinite(value)


def _as_pair(name: str, value, expected: str) -> Range:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        _fail(name, value, expected)
    if not all(_is_number(v) for v in value):
        _fail(name, value, expected)
    return float(value[0]), float(value[1])


def _check_number(name: str, value, ok: Callable[[float], bool], expected: str) -> None:
    if not _is_number(value) or not ok(value):
        _fail(name, value, expected)


def _draw(rng: np.random.Generator, bounds: Range, size: int | None = None):
    """U(low, high); a degenerate range draws nothing, so turning a term off leaves the rng's stream alone."""
    low, high = bounds
    if low == high:
        return low if size is None else np.full(size, low)
    return rng.uniform(low, high, size)


# -- what is randomized: the robot's part of the model, and its nominal physics ------------------

@dataclass(frozen=True, eq=False)
class RandomizationScope:
    """The robot's bodies, geoms, dofs and actuators: terrain and objects are not randomized."""

    bodies: np.ndarray
    geoms: np.ndarray
    dofs: np.ndarray
    actuators: np.ndarray

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, np.asarray(getattr(self, f.name), dtype=np.int64).reshape(-1))

    @classmethod
    def of_bodies(cls, model: mujoco.MjModel, bodies) -> "RandomizationScope":
        """Everything attached to `bodies`: their geoms, their joints' dofs, actuators acting on them."""
        bodies = np.unique(np.asarray(bodies, dtype=np.int64))
        owned = np.isin(np.arange(model.nbody), bodies)
        actuators = [a for a in range(model.nu) if owned[_actuated_body(model, a)]]
        return cls(
            bodies=bodies,
            geoms=np.flatnonzero(owned[model.geom_bodyid]),
            dofs=np.flatnonzero(owned[model.dof_bodyid]),
            actuators=np.array(actuators, dtype=np.int64),
        )

    @classmethod
    def of_subtree(cls, model: mujoco.MjModel, root_body: str | int) -> "RandomizationScope":
        """The robot whose top body is `root_body` (e.g. the humanoid's "pelvis")."""
        root = model.body(root_body).id
        bodies = [b for b in range(model.nbody) if _descends_from(model, b, root)]
        return cls.of_bodies(model, bodies)

    def check(self, model: mujoco.MjModel) -> None:
        counts = {"bodies": model.nbody, "geoms": model.ngeom, "dofs": model.nv, "actuators": model.nu}
        for name, count in counts.items():
            ids = getattr(self, name)
            if ids.size and (ids.min() < 0 or ids.max() >= count):
                raise ValueError(f"RandomizationScope.{name}={ids.tolist()}: expected ids in [0, {count})")
        if 0 in self.bodies:
            raise ValueError("RandomizationScope.bodies contains 0: expected robot bodies, not the world body")


def _descends_from(model: mujoco.MjModel, body: int, root: int) -> bool:
    while body != 0:
        if body == root:
            return True
        body = model.body_parentid[body]
    return root == 0


def _actuated_body(model: mujoco.MjModel, actuator: int) -> int:
    """The body an actuator's transmission acts on (a tendon: the body of its first wrapped object)."""
    # int(): MuJoCo's enums compare equal to numpy integers but `in` a tuple of them does not match
    trn, target = int(model.actuator_trntype[actuator]), model.actuator_trnid[actuator, 0]
    if trn in (mujoco.mjtTrn.mjTRN_JOINT.value, mujoco.mjtTrn.mjTRN_JOINTINPARENT.value):
        return int(model.jnt_bodyid[target])
    if trn in (mujoco.mjtTrn.mjTRN_SITE.value, mujoco.mjtTrn.mjTRN_SLIDERCRANK.value):
        return int(model.site_bodyid[target])
    if trn == mujoco.mjtTrn.mjTRN_BODY.value:
        return int(target)
    wrap = model.tendon_adr[target]
    kind, obj = int(model.wrap_type[wrap]), model.wrap_objid[wrap]
    if kind == mujoco.mjtWrap.mjWRAP_JOINT.value:
        return int(model.jnt_bodyid[obj])
    return int(model.site_bodyid[obj])  # a spatial tendon starts at a site


@dataclass(frozen=True, eq=False)
class NominalPhysics:
    """The values every term scales from, copied once from the freshly compiled model."""

    body_mass: np.ndarray
    body_inertia: np.ndarray
    geom_friction: np.ndarray
    geom_priority: np.ndarray  # the friction term raises the robot's priority (see randomize_friction)
    dof_damping: np.ndarray
    actuator_gainprm: np.ndarray
    actuator_biasprm: np.ndarray

    @classmethod
    def of(cls, model: mujoco.MjModel) -> "NominalPhysics":
        return cls(**{f.name: getattr(model, f.name).copy() for f in dataclasses.fields(cls)})

    def check(self, model: mujoco.MjModel) -> None:
        for f in dataclasses.fields(self):
            if getattr(model, f.name).shape != getattr(self, f.name).shape:
                raise ValueError(
                    f"model.{f.name} has shape {getattr(model, f.name).shape}: expected "
                    f"{getattr(self, f.name).shape}, the model this randomizer was built from"
                )


# -- physics terms: term(model, nominal, rng, cfg, scope) -> what was drawn (None: nothing) ---------

def randomize_mass(model, nominal: NominalPhysics, rng, cfg: RandomizationConfig, scope: RandomizationScope):
    scale = _draw(rng, cfg.mass_scale, scope.bodies.size)
    model.body_mass[scope.bodies] = nominal.body_mass[scope.bodies] * scale
    return scale


def randomize_inertia(model, nominal: NominalPhysics, rng, cfg: RandomizationConfig, scope: RandomizationScope):
    # One factor for all three principal moments keeps them a valid (triangle-inequality) inertia.
    scale = _draw(rng, cfg.inertia_scale, scope.bodies.size)
    model.body_inertia[scope.bodies] = nominal.body_inertia[scope.bodies] * scale[:, None]
    return scale


def randomize_friction(model, nominal: NominalPhysics, rng, cfg: RandomizationConfig, scope: RandomizationScope):
    """One sliding friction for every robot geom, made the friction of every contact the robot has.

    MuJoCo takes the larger friction of two geoms of equal priority, so randomizing only the robot
    would give max(sample, floor): draws below the floor's value would do nothing. A geom of higher
    priority decides the contact's parameters alone, so the robot's geoms are raised above every
    other geom: the drawn value is the effective friction against the floor, terrain and objects,
    and those keep their own friction for contacts among themselves. The higher priority also hands
    condim, solref and solimp to the robot geom; our models use the same values on both sides.
    """
    geoms = scope.geoms
    model.geom_friction[geoms] = nominal.geom_friction[geoms]
    model.geom_priority[geoms] = nominal.geom_priority[geoms]
    if cfg.friction is None:
        return None
    sliding = _draw(rng, cfg.friction)
    model.geom_friction[geoms, 0] = sliding  # torsional and rolling friction stay nominal
    model.geom_priority[geoms] = nominal.geom_priority.max() + 1
    return sliding


def randomize_damping(model, nominal: NominalPhysics, rng, cfg: RandomizationConfig, scope: RandomizationScope):
    scale = _draw(rng, cfg.damping_scale, scope.dofs.size)
    model.dof_damping[scope.dofs] = nominal.dof_damping[scope.dofs] * scale
    return scale


def randomize_motor_strength(model, nominal: NominalPhysics, rng, cfg: RandomizationConfig, scope: RandomizationScope):
    """force = gain·ctrl + bias with affine gain and bias, so scaling both scales the force and keeps its zero:
    a <position> actuator (gain kp, bias -kp·q - kv·qdot) gets kp and kv scaled and the same target.
    actuator_forcerange is the hardware's clamp and stays nominal."""
    acts = scope.actuators
    scale = _draw(rng, cfg.motor_strength_scale, acts.size)
    model.actuator_gainprm[acts, :3] = nominal.actuator_gainprm[acts, :3] * scale[:, None]
    model.actuator_biasprm[acts, :3] = nominal.actuator_biasprm[acts, :3] * scale[:, None]
    return scale


PhysicsTerm = Callable[..., "float | np.ndarray | None"]
PHYSICS_TERMS: dict[str, PhysicsTerm] = {
    "mass": randomize_mass,
    "inertia": randomize_inertia,
    "friction": randomize_friction,
    "damping": randomize_damping,
    "motor_strength": randomize_motor_strength,
}

# Gain and bias types whose parameters make force affine in (ctrl, length, velocity): scaling is a strength.
_SCALABLE_GAINS = (mujoco.mjtGain.mjGAIN_FIXED.value, mujoco.mjtGain.mjGAIN_AFFINE.value)
_SCALABLE_BIASES = (mujoco.mjtBias.mjBIAS_NONE.value, mujoco.mjtBias.mjBIAS_AFFINE.value)


class PhysicsRandomizer:
    """Samples every physics term into a robot's MjModel, always from the nominal snapshot.

    One randomizer serves every robot of a batch (their models are copies of one compiled model).
    Call `apply` at reset, before the episode's initial state is set.
    """

    def __init__(
        self, model: mujoco.MjModel, scope: RandomizationScope, terms: Mapping[str, PhysicsTerm] = PHYSICS_TERMS
    ):
        scope.check(model)
        for a in scope.actuators:
            gain, bias = int(model.actuator_gaintype[a]), int(model.actuator_biastype[a])
            if gain not in _SCALABLE_GAINS or bias not in _SCALABLE_BIASES:
                raise ValueError(
                    f"actuator {model.actuator(a).name or a}: motor strength scales fixed/affine gains and "
                    "none/affine biases only: expected it left out of RandomizationScope.actuators"
                )
        self.scope = scope
        self.nominal = NominalPhysics.of(model)
        self.terms = dict(terms)
        # mj_setConst needs an MjData as scratch; a private one leaves the robot's state alone.
        self._scratch = mujoco.MjData(model)

    def apply(self, model: mujoco.MjModel, rng: np.random.Generator, cfg: RandomizationConfig) -> dict[str, float]:
        """Draw every term into `model`; returns each term's draw (the mean of a per-element draw) for logging.
        A term that drew nothing (friction=None, or nothing of its kind in scope) is left out of the summary."""
        self.nominal.check(model)
        summary = {}
        for name, term in self.terms.items():
            drawn = term(model, self.nominal, rng, cfg, self.scope)
            if drawn is not None and np.size(drawn):
                summary[name] = float(np.mean(drawn))
        # Needed, not tidiness: MuJoCo takes the mass matrix of "simple" bodies (body_simple) from dof_M0, so
        # without it a mass or inertia draw there changes no dynamics at all (the cart and wheel tests). It
        # also refreshes body_subtreemass (subtree_com) and the invweight0 that scale constraint softness.
        mujoco.mj_setConst(model, self._scratch)
        return summary


# -- sensor noise ---------------------------------------------------------------------------------

# observation part -> the config field holding its noise std
NOISY_PARTS = {"joint_pos": "joint_pos_noise_rad", "joint_vel": "joint_vel_noise_rad_s", "imu": "imu_noise"}


class SensorNoise:
    """Gaussian noise on named observation parts, with the std each part's config field gives."""

    def __init__(self, part_fields: Mapping[str, str] = NOISY_PARTS):
        unknown = [f for f in part_fields.values() if f not in _STD_FIELDS]
        if unknown:
            raise ValueError(f"SensorNoise: fields {unknown}: expected noise fields among {_STD_FIELDS}")
        self.part_fields = dict(part_fields)

    def apply(self, parts: Mapping[str, np.ndarray], rng: np.random.Generator, cfg: RandomizationConfig) -> dict:
        """The parts with noise added to those named here (new arrays, same dtype); the rest passed through."""
        noisy = dict(parts)
        for part, field in self.part_fields.items():
            std = getattr(cfg, field)
            if part in parts and std > 0:
                values = parts[part]
                noisy[part] = (values + rng.normal(0.0, std, values.shape)).astype(values.dtype)
        return noisy


# -- motor latency --------------------------------------------------------------------------------

def sample_delay_steps(rng: np.random.Generator, cfg: RandomizationConfig, physics_dt_s: float) -> int:
    """One episode's motor latency in physics substeps: a draw from latency_s, to the nearest substep."""
    if not physics_dt_s > 0:
        raise ValueError(f"physics_dt_s={physics_dt_s}: expected > 0")
    return int(math.floor(_draw(rng, cfg.latency_s) / physics_dt_s + 0.5))


def split_control_step(prev_target, new_target, delay_steps: int, substeps: int) -> list[tuple[int, np.ndarray]]:
    """(num_steps, target) segments of one control step whose new target acts `delay_steps` substeps late."""
    if not 0 <= delay_steps <= substeps:
        raise ValueError(f"delay_steps={delay_steps}: expected 0 <= delay_steps <= substeps={substeps}")
    segments = [(delay_steps, prev_target), (substeps - delay_steps, new_target)]
    return [(n, target) for n, target in segments if n]


class LatencyBuffer:
    """One robot's PD targets in flight: each takes effect `delay_steps` physics substeps after it is sent.

    Delays of one control period or more carry over: with delay = q·substeps + r, the control step
    that sends target k runs r substeps of target k-q-1, then target k-q. Before the first command
    the target given at reset (the pose the robot starts in) is held.
    """

    def __init__(self, substeps: int):
        if substeps < 1:
            raise ValueError(f"LatencyBuffer substeps={substeps}: expected an integer >= 1")
        self.substeps = substeps
        self.delay_steps = 0
        self._sent: deque[np.ndarray] = deque()

    def reset(self, initial_target, delay_steps: int) -> None:
        if delay_steps < 0:
            raise ValueError(f"LatencyBuffer delay_steps={delay_steps}: expected >= 0")
        self.delay_steps = delay_steps
        held = delay_steps // self.substeps + 2  # the targets acting in this step and the next
        self._sent = deque([np.array(initial_target, dtype=np.float64)] * held, maxlen=held)

    def segments(self, new_target) -> list[tuple[int, np.ndarray]]:
        """The segments to run for the control step that sends `new_target`."""
        if not self._sent:
            raise RuntimeError("LatencyBuffer.segments before reset(): expected reset(initial_target, delay_steps)")
        self._sent.append(np.array(new_target, dtype=np.float64))  # a copy: the caller may reuse its array
        return split_control_step(self._sent[0], self._sent[1], self.delay_steps % self.substeps, self.substeps)


# -- pushes ---------------------------------------------------------------------------------------

class PushSchedule:
    """One robot's random horizontal pushes, in control steps from the episode's start.

    The first push starts U(push_interval_s) into the episode and each next one U(push_interval_s)
    after the previous one started; each has a magnitude U(push_force_n), a direction uniform in the
    horizontal plane, and lasts push_duration_s (at least one control step). A push that starts
    while another is held replaces it. Forces are in the world frame, for xfrc_applied.
    """

    def __init__(self, control_dt_s: float):
        if not control_dt_s > 0:
            raise ValueError(f"PushSchedule control_dt_s={control_dt_s}: expected > 0")
        self.control_dt_s = control_dt_s
        self._rng: np.random.Generator | None = None
        self._cfg: RandomizationConfig | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self._next_start = -1  # -1: no pushes this episode
        self._end = 0
        self._force = np.zeros(2)
        self._last_step = -1

    def reset(self, rng: np.random.Generator, cfg: RandomizationConfig) -> None:
        """A new episode; draws happen as pushes start, from this robot's rng."""
        self._rng, self._cfg = rng, cfg
        self._reset_state()
        if cfg.push_force_n[1] > 0:
            self._next_start = self._interval_steps()

    def _interval_steps(self) -> int:
        return max(1, round(_draw(self._rng, self._cfg.push_interval_s) / self.control_dt_s))

    def force_at(self, step: int) -> np.ndarray:
        """(fx, fy) in N during control step `step` (0 is the first after reset); steps must not go back."""
        if step < self._last_step:
            raise ValueError(f"PushSchedule.force_at(step={step}) after step {self._last_step}: expected no step back")
        self._last_step = step
        while 0 <= self._next_start <= step:
            start = self._next_start
            angle = self._rng.uniform(0.0, 2.0 * np.pi)
            magnitude = _draw(self._rng, self._cfg.push_force_n)
            self._force = magnitude * np.array([np.cos(angle), np.sin(angle)])
            self._end = start + max(1, round(self._cfg.push_duration_s / self.control_dt_s))
            self._next_start = start + self._interval_steps()
        return self._force.copy() if step < self._end else np.zeros(2)
