"""The server's runtime without Ray: any model output becomes a safe command, and request validation either
returns arrays inside the observation space or refuses with a 422 naming the field (hypothesis)."""

import json
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from ray.rllib.core.columns import Columns

from conftest import write_policy_checkpoint
from serve.runtime import ActRequest, PolicyRuntime
from serve.validation import RequestError

NUM_ROBOTS = 3
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    checkpoint = write_policy_checkpoint(tmp_path_factory.mktemp("policy"), task="walk", target_velocity_mps=0.5)
    return PolicyRuntime.load("walker", checkpoint)


model_outputs = arrays(
    np.float32, (NUM_ROBOTS, 32),
    elements=st.one_of(st.floats(-1e6, 1e6, width=32), st.just(np.nan), st.just(np.inf), st.just(-np.inf)),
)
unit_positions = arrays(np.float64, (NUM_ROBOTS, 32), elements=st.floats(0, 1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(outputs=model_outputs, unit=unit_positions)
def test_any_model_output_is_served_as_an_action_within_limits_and_velocity_bounds(runtime, monkeypatch, outputs, unit):
    embodiment = runtime.interface.embodiment
    # Any action mean the network could produce, NaN and infinities included, in place of its forward pass.
    def forward(batch):
        mean = torch.from_numpy(outputs)
        return {Columns.ACTION_DIST_INPUTS: torch.cat([mean, torch.full_like(mean, -2.0)], dim=-1)}

    monkeypatch.setattr(runtime.policy.module, "forward_inference", forward)
    current = embodiment.joint_lower + unit * (embodiment.joint_upper - embodiment.joint_lower)
    requests = []
    for row in current:
        parts = runtime.example_parts()
        parts["joint_pos"] = row.astype(np.float32)
        requests.append(ActRequest(parts))
    replies = runtime.act(requests)
    measured = np.stack([r.parts["joint_pos"] for r in requests]).astype(np.float64)
    max_step = embodiment.max_joint_velocity / embodiment.control_frequency_hz
    for reply, output, position in zip(replies, outputs, measured):
        action = np.asarray(reply["action"])
        assert np.isfinite(action).all()
        assert (action >= embodiment.joint_lower).all() and (action <= embodiment.joint_upper).all()
        assert (np.abs(action - position) <= max_step + 1e-9).all()
        non_finite = not np.isfinite(output).all()
        assert reply["safety"]["fallback"] == non_finite
        if non_finite:
            np.testing.assert_allclose(action, np.clip(position, embodiment.joint_lower, embodiment.joint_upper))
            assert reply["normalized_action"] is None
        json.dumps(reply, allow_nan=False)  # strict JSON: no NaN or infinity ever reaches the client


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda children: st.lists(children, max_size=40) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(part=st.sampled_from(["joint_pos", "joint_vel", "imu", "contacts", "command"]), value=json_values)
def test_validation_accepts_only_values_inside_the_space_and_names_the_field_otherwise(runtime, part, value):
    observation = {name: np.asarray(v).tolist() for name, v in runtime.example_parts().items()
                   if name in {p.name for p in runtime.validate.numeric_parts}}
    observation[part] = value
    spec = runtime.interface.observation_spec.part(part)
    try:
        parsed = runtime.validate(observation, None, None)
    except RequestError as error:
        assert (error.status, error.field) == (422, f"observation.{part}")
        return
    array = parsed[part]
    assert array.shape == spec.shape and np.isfinite(array).all()
    assert (array >= spec.low).all() and (array <= spec.high).all()


def test_a_missing_instruction_means_the_task_the_policy_trained_on(runtime):
    parts = runtime.example_parts()
    explicit = runtime.validate({k: v.tolist() for k, v in parts.items() if k != "instruction"},
                                "walk forward at 0.5 m/s", None)
    np.testing.assert_array_equal(parts["instruction"], explicit["instruction"])


def test_serve_config_is_valid_for_serve_run_and_each_application_builds():
    import yaml
    from ray.serve.schema import ServeDeploySchema

    from serve.app import catalog_builder, policy_builder

    config = yaml.safe_load(open(os.path.join(REPO, "serve", "config.yaml")))
    ServeDeploySchema.model_validate(config)
    apps = {a["name"]: a for a in config["applications"]}
    assert config["http_options"]["host"] == "127.0.0.1"
    assert apps["vla-ray"]["route_prefix"] == "/" and apps["policy-humanoid"]["route_prefix"] == "/v1/policies/humanoid"
    catalog_builder(apps["vla-ray"]["args"])
    policy_builder(apps["policy-humanoid"]["args"])
    with pytest.raises(ValueError, match="unknown key 'max_batch'"):
        policy_builder({**apps["policy-humanoid"]["args"], "max_batch": 8})
    with pytest.raises(ValueError, match="batch_wait_timeout_s=0.5"):
        policy_builder({**apps["policy-humanoid"]["args"], "batch_wait_timeout_s": 0.5})


def test_serve_cli_refuses_malformed_policy_arguments_and_a_missing_token():
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "serve", *args], capture_output=True, text=True, cwd=REPO, timeout=120)

    assert run("--help").returncode == 0
    bad = run("--policy", "no-path-given")
    assert bad.returncode == 2 and "expected NAME=CHECKPOINT_OR_RUN_DIR" in bad.stderr
    no_token = run("--policy", "h=runs/x", "--token-env", "VLA_RAY_UNSET_TOKEN_VARIABLE")
    assert no_token.returncode == 2 and "'VLA_RAY_UNSET_TOKEN_VARIABLE' is set but that variable is empty" in no_token.stderr
    no_checkpoint = run("--policy", "h=/nonexistent/run")
    assert no_checkpoint.returncode == 2 and "/nonexistent/run: expected a vla-ray checkpoint" in no_checkpoint.stderr
