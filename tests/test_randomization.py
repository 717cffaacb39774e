"""Domain randomization on real MuJoCo physics: each term is measured in a tiny model built for it."""

import mujoco
import numpy as np
import pytest

from envs.assets import resolve_model_path
from envs.randomization import (
    PHYSICS_TERMS,
    LatencyBuffer,
    PhysicsRandomizer,
    PushSchedule,
    RandomizationConfig,
    RandomizationScope,
    SensorNoise,
    sample_delay_steps,
    split_control_step,
)

GRAVITY = 9.81

# A flat plate (tips only above friction 5) sliding on a floor whose own friction (2.0) is higher than
# every draw, and a crate that is not part of the robot.
SLIDING_PLATE = """
<mujoco>
  <option timestep="0.002"/>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1" friction="2.0 0.005 0.0001"/>
    <body name="plate" pos="0 0 0.02">
      <freejoint/>
      <geom type="box" size="0.1 0.1 0.02" mass="1" friction="1.0 0.005 0.0001"/>
    </body>
    <body name="crate" pos="3 0 0.02">
      <freejoint/>
      <geom type="box" size="0.1 0.1 0.02" mass="1" friction="0.3 0.005 0.0001"/>
    </body>
  </worldbody>
</mujoco>
"""

# No gravity, no contacts: a 2 kg cart on a rail and a wheel (inertia 0.06 about its hinge, at its centre).
CART_AND_WHEEL = """
<mujoco>
  <option gravity="0 0 0" timestep="0.002"/>
  <default><geom contype="0" conaffinity="0"/></default>
  <worldbody>
    <body name="cart"><joint type="slide" axis="1 0 0"/><geom type="box" size="0.1 0.1 0.1" mass="2"/></body>
    <body name="wheel"><joint type="hinge" axis="0 0 1"/><geom type="cylinder" size="0.2 0.05" mass="3"/></body>
  </worldbody>
</mujoco>
"""

PENDULUM = """
<mujoco>
  <option timestep="0.002"/>
  <worldbody>
    <body name="arm">
      <joint type="hinge" axis="0 1 0" damping="0.2"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.5" size="0.02" mass="0.1"/>
      <geom type="sphere" pos="0 0 -0.5" size="0.05" mass="1"/>
    </body>
  </worldbody>
</mujoco>
"""

# A position servo (kp 10, kv 1) on a hinge in zero gravity: it moves only when its target differs from q.
SERVO = """
<mujoco>
  <option gravity="0 0 0" timestep="{dt}"/>
  <default><geom contype="0" conaffinity="0"/></default>
  <worldbody>
    <body name="link"><joint name="hinge" axis="0 0 1"/><geom type="box" size="0.2 0.02 0.02" mass="1"/></body>
    <body name="other"><joint name="other" axis="0 0 1"/><geom type="box" size="0.2 0.02 0.02" mass="1"/></body>
  </worldbody>
  <actuator>
    <position name="servo" joint="hinge" kp="10" kv="1"/>
    <position name="other_servo" joint="other" kp="10" kv="1"/>
  </actuator>
</mujoco>
"""


def fixed(value: float) -> tuple[float, float]:
    return (value, value)


def robot(xml: str, root: str):
    model = mujoco.MjModel.from_xml_string(xml)
    return model, mujoco.MjData(model), PhysicsRandomizer(model, RandomizationScope.of_subtree(model, root))


def humanoid_model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(resolve_model_path("humanoid/scene.xml")))


# -- configuration ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("mass_scale", (0.0, 1.2), "0 < low <= high"),
        ("inertia_scale", (1.2, 0.8), "0 < low <= high"),
        ("friction", (-0.1, 1.0), "0 <= low <= high"),
        ("damping_scale", (1.0,), "0 < low <= high"),
        ("motor_strength_scale", (0.8, float("nan")), "0 < low <= high"),
        ("latency_s", (-0.01, 0.02), "latency in seconds with 0 <= low <= high"),
        ("push_force_n", (100.0, 10.0), "force in newtons"),
        ("push_interval_s", (0.0, 4.0), "0 < low <= high"),
        ("joint_pos_noise_rad", -0.01, "standard deviation >= 0"),
        ("imu_noise", "0.05", "standard deviation >= 0"),
        ("push_duration_s", 0.0, "duration in seconds > 0"),
    ],
)
def test_invalid_setting_is_refused_naming_the_field_and_what_was_expected(field, value, expected):
    with pytest.raises(ValueError, match=rf"RandomizationConfig\.{field}=.*expected .*{expected}"):
        RandomizationConfig(**{field: value})


def test_randomization_is_off_unless_asked_for_and_seed_defaults_are_the_seeds_ranges():
    assert RandomizationConfig() == RandomizationConfig.off()
    off = RandomizationConfig.off()
    assert off.mass_scale == off.motor_strength_scale == (1.0, 1.0) and off.friction is None
    assert off.push_force_n == (0.0, 0.0) and off.imu_noise == 0.0
    seed = RandomizationConfig.seed_defaults()
    assert (seed.mass_scale, seed.inertia_scale, seed.damping_scale) == ((0.8, 1.2), (0.8, 1.2), (0.5, 1.5))
    assert (seed.friction, seed.motor_strength_scale, seed.latency_s) == ((0.5, 1.5), (0.8, 1.2), (0.0, 0.02))
    assert (seed.joint_pos_noise_rad, seed.joint_vel_noise_rad_s, seed.imu_noise) == (0.01, 0.1, 0.05)
    assert seed.push_force_n == (0.0, 100.0)


def test_from_kwargs_refuses_unknown_keys_by_name_and_round_trips_to_dict():
    with pytest.raises(ValueError, match="unknown key 'mass'"):
        RandomizationConfig.from_kwargs({"mass": (0.8, 1.2)})
    seed = RandomizationConfig.seed_defaults()
    assert RandomizationConfig.from_kwargs(seed.to_dict()) == seed
    # YAML and JSON give lists
    assert RandomizationConfig.from_kwargs({"friction": [0.5, 1.5]}).friction == (0.5, 1.5)


def test_updated_changes_ranges_and_validates():
    seed = RandomizationConfig.seed_defaults()
    wider = seed.updated({"push_force_n": (50.0, 150.0), "friction": None})
    assert wider.push_force_n == (50.0, 150.0) and wider.friction is None
    assert wider.mass_scale == seed.mass_scale and seed.push_force_n == (0.0, 100.0)
    with pytest.raises(ValueError, match=r"RandomizationConfig\.push_force_n=\(150.0, 50.0\)"):
        seed.updated({"push_force_n": (150.0, 50.0)})
    with pytest.raises(ValueError, match="unknown key 'push_force'"):
        seed.updated({"push_force": (0.0, 10.0)})


# -- physics terms ----------------------------------------------------------------------------------

def test_physics_terms_are_named_as_the_seed_names_them():
    assert list(PHYSICS_TERMS) == ["mass", "inertia", "friction", "damping", "motor_strength"]


def slide_distance_m(friction: float | None, initial_speed_mps: float = 2.0):
    model, data, randomizer = robot(SLIDING_PLATE, "plate")
    if friction is not None:
        randomizer.apply(model, np.random.default_rng(0), RandomizationConfig(friction=fixed(friction)))
    data.qvel[0] = initial_speed_mps
    mujoco.mj_step(model, data, nstep=750)  # 1.5 s: stopped for every friction here
    contact_friction = {float(data.contact.friction[i][0]) for i in range(data.ncon)}
    return float(data.qpos[0]), abs(float(data.qvel[0])), contact_friction


@pytest.mark.parametrize("friction", [0.5, 1.5])
def test_sampled_friction_is_the_contact_friction_even_below_the_floors(friction):
    distance, speed, contact_friction = slide_distance_m(friction)
    # v^2 / (2 mu g): 0.408 m at 0.5, 0.136 m at 1.5; the floor's own 2.0 would give 0.102 m
    assert speed < 1e-6
    assert distance == pytest.approx(2.0**2 / (2 * friction * GRAVITY), rel=0.03)
    # the plate's 4 contacts use the draw; the crate (not the robot) keeps max(0.3, floor 2.0)
    assert contact_friction == {friction, 2.0}


def test_friction_none_keeps_the_models_own_friction():
    distance, _, contact_friction = slide_distance_m(None)
    assert distance == pytest.approx(2.0**2 / (2 * 2.0 * GRAVITY), rel=0.03)
    assert contact_friction == {2.0}


def cart_and_wheel_speeds(cfg: RandomizationConfig, applications: int = 1):
    """Speeds after 0.5 s of 10 N on the 2 kg cart and 1 N m on the wheel (inertia 0.06): 2.5 m/s, 8.33 rad/s."""
    model = mujoco.MjModel.from_xml_string(CART_AND_WHEEL)
    data = mujoco.MjData(model)
    randomizer = PhysicsRandomizer(model, RandomizationScope.of_bodies(model, [1, 2]))  # both are the robot's
    for seed in range(applications):
        randomizer.apply(model, np.random.default_rng(seed), cfg)
    data.xfrc_applied[model.body("cart").id, 0] = 10.0
    data.xfrc_applied[model.body("wheel").id, 5] = 1.0
    mujoco.mj_step(model, data, nstep=250)
    return data.qvel.copy()


def test_heavier_body_accelerates_less_under_the_same_force():
    nominal = cart_and_wheel_speeds(RandomizationConfig())
    heavier = cart_and_wheel_speeds(RandomizationConfig(mass_scale=fixed(1.2)))
    np.testing.assert_allclose(nominal, [2.5, 10 / 1.2], rtol=1e-9)
    assert nominal[0] / heavier[0] == pytest.approx(1.2, rel=1e-9)
    assert heavier[1] == pytest.approx(nominal[1], rel=1e-9)  # the wheel spins about its centre: mass plays no part


def test_larger_inertia_spins_up_slower_under_the_same_torque():
    nominal = cart_and_wheel_speeds(RandomizationConfig())
    stiffer = cart_and_wheel_speeds(RandomizationConfig(inertia_scale=fixed(1.25)))
    assert nominal[1] / stiffer[1] == pytest.approx(1.25, rel=1e-9)
    assert stiffer[0] == pytest.approx(nominal[0], rel=1e-9)


def test_applying_again_starts_from_nominal_and_never_compounds():
    once = cart_and_wheel_speeds(RandomizationConfig(mass_scale=fixed(1.2), inertia_scale=fixed(1.2)))
    thrice = cart_and_wheel_speeds(RandomizationConfig(mass_scale=fixed(1.2), inertia_scale=fixed(1.2)), applications=3)
    np.testing.assert_array_equal(once, thrice)  # 1.2, not 1.2^3 = 1.73


def test_off_after_randomizing_restores_every_nominal_value_of_the_humanoid():
    model = humanoid_model()
    randomizer = PhysicsRandomizer(model, RandomizationScope.of_subtree(model, "pelvis"))
    for seed in (1, 2):
        randomizer.apply(model, np.random.default_rng(seed), RandomizationConfig.seed_defaults())
    assert not np.array_equal(model.body_mass, randomizer.nominal.body_mass)
    assert randomizer.apply(model, np.random.default_rng(3), RandomizationConfig.off()) == {
        "mass": 1.0, "inertia": 1.0, "damping": 1.0, "motor_strength": 1.0
    }
    for name in ("body_mass", "body_inertia", "geom_friction", "geom_priority", "dof_damping",
                 "actuator_gainprm", "actuator_biasprm"):
        np.testing.assert_array_equal(getattr(model, name), getattr(randomizer.nominal, name), err_msg=name)


def swing_decay_rate(damping_scale: float) -> float:
    """Log-decrement per second of a 0.5 rad swing: ~b / (2 I) with I = 0.26 kg m^2 about the hinge."""
    model, data, randomizer = robot(PENDULUM, "arm")
    randomizer.apply(model, np.random.default_rng(0), RandomizationConfig(damping_scale=fixed(damping_scale)))
    data.qpos[0] = 0.5
    angles = []
    for _ in range(1500):  # 3 s, about 2.5 periods
        mujoco.mj_step(model, data)
        angles.append(abs(data.qpos[0]))
    first, last = max(angles[:250]), max(angles[-250:])
    return float(np.log(first / last) / 2.5)


def test_damping_scale_changes_how_fast_a_free_swing_decays():
    weak, strong = swing_decay_rate(0.5), swing_decay_rate(1.5)  # damping 0.1 and 0.3 N m s/rad
    assert weak == pytest.approx(0.1 / (2 * 0.26), rel=0.2)
    assert strong / weak == pytest.approx(3.0, rel=0.05)


def servo_force(scale: float, q: float, qdot: float, target: float):
    model = mujoco.MjModel.from_xml_string(SERVO.format(dt=0.002))
    data = mujoco.MjData(model)
    scope = RandomizationScope.of_subtree(model, "link")
    PhysicsRandomizer(model, scope).apply(
        model, np.random.default_rng(0), RandomizationConfig(motor_strength_scale=fixed(scale))
    )
    data.qpos[:] = q
    data.qvel[:] = qdot
    data.ctrl[:] = target
    mujoco.mj_forward(model, data)
    return data.actuator_force.copy()


def test_motor_strength_scales_a_position_servos_force_and_keeps_its_target():
    nominal = servo_force(1.0, q=0.1, qdot=0.5, target=0.6)
    np.testing.assert_allclose(nominal, [4.5, 4.5])  # kp (0.6 - 0.1) - kv 0.5
    weaker = servo_force(0.8, q=0.1, qdot=0.5, target=0.6)
    assert weaker[0] == pytest.approx(0.8 * 4.5, rel=1e-12)
    assert weaker[1] == pytest.approx(4.5, rel=1e-12)  # the other servo is not the robot's
    # at rest on its target a scaled servo pushes nothing: the setpoint did not move
    np.testing.assert_allclose(servo_force(1.2, q=0.6, qdot=0.0, target=0.6), [0.0, 0.0], atol=1e-12)


def test_same_seed_gives_the_same_humanoid_physics_and_another_seed_does_not():
    cfg = RandomizationConfig.seed_defaults()
    models = [humanoid_model() for _ in range(3)]
    summaries = []
    for model, seed in zip(models, (7, 7, 8)):
        randomizer = PhysicsRandomizer(model, RandomizationScope.of_subtree(model, "pelvis"))
        summaries.append(randomizer.apply(model, np.random.default_rng(seed), cfg))
    assert summaries[0] == summaries[1] != summaries[2]
    np.testing.assert_array_equal(models[0].body_mass, models[1].body_mass)
    np.testing.assert_array_equal(models[0].actuator_gainprm, models[1].actuator_gainprm)
    assert not np.array_equal(models[0].body_mass, models[2].body_mass)


def test_humanoid_draws_stay_in_range_leave_the_floor_alone_and_update_derived_mass():
    model = humanoid_model()
    scope = RandomizationScope.of_subtree(model, "pelvis")
    floor = model.geom("floor").id
    assert floor not in scope.geoms and scope.dofs.size == model.nv and scope.actuators.size == model.nu == 32
    randomizer = PhysicsRandomizer(model, scope)
    summary = randomizer.apply(model, np.random.default_rng(11), RandomizationConfig.seed_defaults())
    nominal = randomizer.nominal

    ratio = model.body_mass[scope.bodies] / nominal.body_mass[scope.bodies]
    assert ratio.min() >= 0.8 and ratio.max() <= 1.2 and np.ptp(ratio) > 0  # drawn per body
    assert 0.5 <= summary["friction"] <= 1.5
    np.testing.assert_array_equal(model.geom_friction[floor], nominal.geom_friction[floor])
    # mj_setConst ran: the pelvis subtree's mass is the new total, not the compiled one
    assert model.body_subtreemass[model.body("pelvis").id] == pytest.approx(model.body_mass[scope.bodies].sum())

    # standing at the nominal keyframe, the feet touch the floor with the drawn friction, and it steps finitely
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("nominal").id)
    data.ctrl[:] = data.qpos[7:]
    mujoco.mj_step(model, data, nstep=100)
    assert data.ncon > 0 and np.isfinite(data.qpos).all()
    assert {float(data.contact.friction[i][0]) for i in range(data.ncon)} == {summary["friction"]}


def test_scope_outside_the_model_is_refused_naming_the_field():
    model = mujoco.MjModel.from_xml_string(PENDULUM)
    with pytest.raises(ValueError, match=r"RandomizationScope\.geoms=\[7\]: expected ids in \[0, 2\)"):
        PhysicsRandomizer(model, RandomizationScope(bodies=[1], geoms=[7], dofs=[0], actuators=[]))


def test_a_model_of_another_shape_is_refused():
    randomizer = robot(PENDULUM, "arm")[2]
    with pytest.raises(ValueError, match="model.body_mass has shape"):
        randomizer.apply(humanoid_model(), np.random.default_rng(0), RandomizationConfig())


# -- sensor noise -----------------------------------------------------------------------------------

def test_sensor_noise_has_the_configured_std_on_each_named_part_only():
    n = 20_000
    parts = {
        "joint_pos": np.zeros((n, 3), dtype=np.float32),
        "joint_vel": np.ones((n, 3), dtype=np.float32),
        "imu": np.zeros((n, 9), dtype=np.float32),
        "command": np.ones((n, 3), dtype=np.float32),
    }
    noisy = SensorNoise().apply(parts, np.random.default_rng(0), RandomizationConfig.seed_defaults())
    for name, std in (("joint_pos", 0.01), ("joint_vel", 0.1), ("imu", 0.05)):
        noise = noisy[name] - parts[name]
        assert noisy[name].dtype == np.float32
        assert noise.std() == pytest.approx(std, rel=0.02), name  # 60k+ samples: about 0.3 % std error
        assert abs(noise.mean()) < 4 * std / np.sqrt(noise.size), name
    assert noisy["command"] is parts["command"]
    assert not parts["joint_pos"].any()  # inputs are not modified


def test_sensor_noise_is_reproducible_and_off_means_exact():
    parts = {"joint_pos": np.zeros((4, 3))}
    cfg = RandomizationConfig.seed_defaults()
    a = SensorNoise().apply(parts, np.random.default_rng(5), cfg)["joint_pos"]
    b = SensorNoise().apply(parts, np.random.default_rng(5), cfg)["joint_pos"]
    np.testing.assert_array_equal(a, b)
    assert a.any()
    exact = SensorNoise().apply(parts, np.random.default_rng(5), RandomizationConfig())
    assert exact["joint_pos"] is parts["joint_pos"]


# -- motor latency ----------------------------------------------------------------------------------

def test_split_control_step_holds_the_previous_target_for_the_delay():
    prev, new = np.array([0.0]), np.array([1.0])
    assert [(n, t[0]) for n, t in split_control_step(prev, new, 3, 4)] == [(3, 0.0), (1, 1.0)]
    assert [(n, t[0]) for n, t in split_control_step(prev, new, 0, 4)] == [(4, 1.0)]
    assert [(n, t[0]) for n, t in split_control_step(prev, new, 4, 4)] == [(4, 0.0)]
    with pytest.raises(ValueError, match="delay_steps=5"):
        split_control_step(prev, new, 5, 4)


@pytest.mark.parametrize("substeps", [2, 4, 5, 10])
def test_every_target_acts_exactly_delay_substeps_after_it_is_sent(substeps):
    """Target k is sent at substep k*substeps; at substep j the latest target with k*substeps + delay <= j acts
    (the reset target, -1, before any). Delays up to three control periods carry over."""
    for delay in range(3 * substeps + 1):
        buffer = LatencyBuffer(substeps)
        buffer.reset([-1.0], delay)
        timeline = []
        for k in range(6):
            for n, target in buffer.segments([float(k)]):
                timeline += [target[0]] * n
        expected = [(j - delay) // substeps if j >= delay else -1 for j in range(6 * substeps)]
        assert timeline == expected, (substeps, delay)


@pytest.mark.parametrize(
    "control_hz, physics_dt_s, latency_s, delay_steps",
    [
        (50, 0.005, 0.02, 4),  # exactly one control period
        (50, 0.005, 0.01, 2),
        (50, 0.002, 0.02, 10),
        (100, 0.005, 0.02, 4),  # two control periods
        (100, 0.002, 0.02, 10),
        (100, 0.002, 0.014, 7),  # one period and two substeps
    ],
)
def test_a_servo_starts_moving_exactly_the_latency_after_its_target_changes(
    control_hz, physics_dt_s, latency_s, delay_steps
):
    substeps = round(1 / (control_hz * physics_dt_s))
    delay = sample_delay_steps(np.random.default_rng(0), RandomizationConfig(latency_s=fixed(latency_s)), physics_dt_s)
    assert delay == delay_steps
    model = mujoco.MjModel.from_xml_string(SERVO.format(dt=physics_dt_s))
    data = mujoco.MjData(model)
    buffer = LatencyBuffer(substeps)
    buffer.reset(np.zeros(2), delay)
    speeds = []
    for _ in range(3):
        for n, target in buffer.segments(np.array([1.0, 1.0])):
            data.ctrl[:] = target
            for _ in range(n):
                mujoco.mj_step(model, data)
                speeds.append(data.qvel[0])
    assert all(s == 0.0 for s in speeds[:delay]) and speeds[delay] > 0.0


def test_sampled_latency_covers_the_range_in_whole_substeps():
    cfg = RandomizationConfig(latency_s=(0.0, 0.02))
    rng = np.random.default_rng(0)
    delays = {sample_delay_steps(rng, cfg, 0.005) for _ in range(500)}
    assert delays == {0, 1, 2, 3, 4}


# -- pushes -----------------------------------------------------------------------------------------

def push_timeline(cfg: RandomizationConfig, seed: int = 0, steps: int = 10_000, control_dt_s: float = 0.02):
    schedule = PushSchedule(control_dt_s)
    schedule.reset(np.random.default_rng(seed), cfg)
    return np.array([schedule.force_at(step) for step in range(steps)])


def pushes(forces: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """(start step, length in steps, force) of each constant run of non-zero force."""
    runs, start = [], None
    for step in range(len(forces) + 1):
        same = start is not None and step < len(forces) and np.array_equal(forces[step], forces[start])
        if start is not None and not same:
            runs.append((start, step - start, forces[start]))
            start = None
        if start is None and step < len(forces) and forces[step].any():
            start = step
    return runs


def test_pushes_respect_interval_duration_and_magnitude_ranges():
    cfg = RandomizationConfig(push_force_n=(20.0, 100.0), push_interval_s=(2.0, 4.0), push_duration_s=0.2)
    runs = pushes(push_timeline(cfg))  # 200 s at 50 Hz
    starts = np.array([start for start, _, _ in runs])
    gaps = np.diff(np.concatenate([[0], starts]))
    magnitudes = np.array([np.linalg.norm(force) for _, _, force in runs])
    angles = np.array([np.arctan2(force[1], force[0]) for _, _, force in runs])
    assert 50 <= len(runs) <= 100  # one every 3 s on average
    assert gaps.min() >= 100 and gaps.max() <= 200  # 2-4 s in 20 ms steps, first one included
    assert {length for _, length, _ in runs} == {10}  # 0.2 s
    assert magnitudes.min() >= 20.0 and magnitudes.max() <= 100.0
    assert np.ptp(magnitudes) > 50.0
    assert len(set(np.floor(angles / (np.pi / 2)).astype(int))) == 4  # every horizontal quadrant


def test_pushes_replay_with_the_same_seed_and_never_happen_when_off():
    cfg = RandomizationConfig(push_force_n=(0.0, 100.0))
    np.testing.assert_array_equal(push_timeline(cfg, seed=3, steps=2000), push_timeline(cfg, seed=3, steps=2000))
    assert not push_timeline(RandomizationConfig(), steps=2000).any()


def test_push_schedule_starts_over_on_reset_and_refuses_steps_going_back():
    cfg = RandomizationConfig(push_force_n=(50.0, 50.0), push_interval_s=(1.0, 1.0))
    schedule = PushSchedule(0.02)
    schedule.reset(np.random.default_rng(0), cfg)
    assert not schedule.force_at(49).any() and np.linalg.norm(schedule.force_at(50)) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="force_at\\(step=10\\) after step 50: expected no step back"):
        schedule.force_at(10)
    schedule.reset(np.random.default_rng(0), cfg)
    assert not schedule.force_at(10).any() and schedule.force_at(50).any()
