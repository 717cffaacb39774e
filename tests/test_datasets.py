"""Episode datasets on real MuJoCo rollouts and real Parquet files: the Franka reach expert and a humanoid
checkpoint recorded, read back with pyarrow, the reader and Ray Data, and the record_demos script."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import write_policy_checkpoint

import envs
from envs.experts import expert_for
from envs.manipulation.env import ManipulationVecEnv
from vla_ray.datasets import (
    SCHEMA_VERSION, DatasetInfo, DatasetSource, EpisodeWriter, read_dataset, read_dataset_info,
)
from vla_ray.datasets.recording import record_expert, record_policy
from vla_ray.language import encode_instruction
from vla_ray.policy import Policy

REPO = Path(__file__).resolve().parents[1]
REACH = {"embodiment": "franka_panda", "task": "reach", "episode_length_s": 1.5}
REACH_STEPS = 30  # 1.5 s at the Franka's 20 Hz; reach never terminates early, so every episode is truncated here
OBSERVATION_PARTS = envs.policy_interface(envs.MANIPULATION_ID, REACH).observation_spec.names


@pytest.fixture(scope="module")
def batched(tmp_path_factory):
    """Four episodes of two robots side by side: two each, the second of each after an autoreset."""
    path = tmp_path_factory.mktemp("datasets") / "reach_batched.parquet"
    summary = record_expert(path, envs.MANIPULATION_ID, REACH, episodes=4, num_envs=2, seed=0)
    return path, summary


def expert_rollout(seed: int, episodes: int) -> list[dict]:
    """One robot's episodes, stepped here without the writer: the rows a dataset of them must hold."""
    env = ManipulationVecEnv(num_envs=1, **REACH)
    expert = expert_for(env)
    observations, _ = env.reset(seed=seed)
    expert.reset()
    done, rows, out = np.zeros(1, dtype=bool), [], []
    while len(out) < episodes:
        actions = expert.act(done)
        following, rewards, terminated, truncated, infos = env.advance(actions)
        if not done[0]:  # after an episode's end the env resets the robot and ignores the action: no row
            rows.append((observations, actions, rewards, terminated, truncated))
        done = terminated | truncated
        if done[0]:
            out.append({
                "observations": {k: np.concatenate([r[0][k] for r in rows]) for k in OBSERVATION_PARTS},
                "actions": np.concatenate([r[1] for r in rows]).astype(np.float32),
                "rewards": np.concatenate([r[2] for r in rows]),
                "terminated": np.concatenate([r[3] for r in rows]),
                "truncated": np.concatenate([r[4] for r in rows]),
                "success": infos[0]["episode"]["success"],
            })
            rows = []
        observations = following
    env.close()
    return out


def assert_same_episode(episode, expected: dict):
    for name in OBSERVATION_PARTS:
        np.testing.assert_array_equal(episode.observations[name], expected["observations"][name], err_msg=name)
        assert episode.observations[name].dtype == expected["observations"][name].dtype
    np.testing.assert_array_equal(episode.actions, expected["actions"])
    np.testing.assert_array_equal(episode.rewards, expected["rewards"])
    np.testing.assert_array_equal(episode.terminated, expected["terminated"])
    np.testing.assert_array_equal(episode.truncated, expected["truncated"])
    assert episode.success == expected["success"]


def test_round_trip_through_pyarrow_preserves_schema_metadata_and_values(tmp_path):
    path = tmp_path / "reach.parquet"
    summary = record_expert(path, envs.MANIPULATION_ID, REACH, episodes=2, num_envs=1, seed=3)
    expected = expert_rollout(seed=3, episodes=2)

    info = DatasetInfo.of(envs.policy_interface(envs.MANIPULATION_ID, REACH), REACH, DatasetSource("expert", 3, 1))
    table = pq.read_table(path)
    assert table.schema.equals(info.arrow_schema(), check_metadata=True)
    footer = pq.read_metadata(path).metadata
    assert {k: v for k, v in footer.items() if k != b"ARROW:schema"} == {
        **info.metadata(), b"vla_ray.summary": json.dumps(summary.to_dict(), sort_keys=True).encode(),
    }
    assert summary.episodes == 2 and summary.steps == table.num_rows == 2 * REACH_STEPS
    assert summary.success_rate == np.mean([e["success"] for e in expected])
    assert summary.mean_return == pytest.approx(np.mean([e["rewards"].sum() for e in expected]), rel=1e-12)

    def column(name):
        return table.column(name).combine_chunks()

    for name in OBSERVATION_PARTS:
        stored = np.concatenate([e["observations"][name] for e in expected])
        if name == "instruction":  # stored once, as text
            assert column("instruction").to_pylist() == ["move the gripper to the green target"] * table.num_rows
            np.testing.assert_array_equal(stored, [encode_instruction(t) for t in column("instruction").to_pylist()])
        else:
            np.testing.assert_array_equal(column(f"observation.{name}").to_numpy_ndarray(), stored, err_msg=name)
    np.testing.assert_array_equal(column("action").to_numpy_ndarray(), np.concatenate([e["actions"] for e in expected]))
    np.testing.assert_array_equal(column("reward").to_numpy(), np.concatenate([e["rewards"] for e in expected]))
    assert column("embodiment").to_pylist() == ["franka_panda"] * table.num_rows

    dataset = read_dataset(path)
    assert dataset.info == info and dataset.summary == summary
    assert [e.index for e in dataset.episodes] == [0, 1]
    for episode, want in zip(dataset.episodes, expected):
        assert_same_episode(episode, want)
        assert episode.instruction == "move the gripper to the green target" and episode.embodiment == "franka_panda"


def test_batched_recording_holds_the_episodes_each_robot_records_alone(batched, tmp_path):
    path, _ = batched
    alone = []
    for seed in (0, 1):
        single = tmp_path / f"seed{seed}.parquet"
        record_expert(single, envs.MANIPULATION_ID, REACH, episodes=2, num_envs=1, seed=seed)
        alone += read_dataset(single).episodes
    recorded = read_dataset(path).episodes
    assert len(recorded) == 4
    # Robot i of the batch is seeded like a lone robot with seed i; each batched episode is one of theirs, exactly.
    unmatched = list(alone)
    for episode in recorded:
        match = next(i for i, other in enumerate(unmatched) if np.array_equal(
            other.observations["goal_pos"], episode.observations["goal_pos"]))
        other = unmatched.pop(match)
        assert_same_episode(episode, {
            "observations": other.observations, "actions": other.actions, "rewards": other.rewards,
            "terminated": other.terminated, "truncated": other.truncated, "success": other.success,
        })
    assert unmatched == []


def test_autoreset_steps_are_not_rows_and_episodes_are_contiguous(batched):
    path, summary = batched
    table = pq.read_table(path)
    episode_index = table.column("episode_index").to_numpy()
    frame_index = table.column("frame_index").to_numpy()
    done = table.column("terminated").to_numpy() | table.column("truncated").to_numpy()
    assert np.all(np.diff(episode_index) >= 0) and sorted(set(episode_index)) == [0, 1, 2, 3]
    for index in range(4):
        rows = episode_index == index
        # The step that resets a robot is not a row: each episode is exactly its 30 control steps.
        np.testing.assert_array_equal(frame_index[rows], np.arange(REACH_STEPS))
        np.testing.assert_array_equal(done[rows], np.arange(REACH_STEPS) == REACH_STEPS - 1)
    np.testing.assert_allclose(table.column("timestamp_s").to_numpy(), frame_index / 20.0, rtol=0, atol=0)
    assert summary.episodes == 4 and summary.steps == table.num_rows == 4 * REACH_STEPS
    assert summary.success_rate == 1.0  # the reach expert is there within 1.5 s


def test_ray_data_reads_the_dataset_as_rows_with_tensor_columns(batched, ray_session):
    path, summary = batched
    table = pq.read_table(path)
    dataset = ray_session.data.read_parquet(str(path))
    assert dataset.schema().names == table.schema.names
    batch = dataset.take_batch(summary.steps + 1, batch_format="numpy")  # one more than it holds: all of it
    assert len(batch["episode_index"]) == summary.steps
    order = np.lexsort((batch["frame_index"], batch["episode_index"]))
    assert batch["action"].shape == (summary.steps, 8) and batch["action"].dtype == np.float32
    np.testing.assert_array_equal(batch["action"][order], table.column("action").combine_chunks().to_numpy_ndarray())
    np.testing.assert_array_equal(
        batch["observation.joint_pos"][order], table.column("observation.joint_pos").combine_chunks().to_numpy_ndarray()
    )


def test_a_file_of_another_schema_version_is_refused_naming_both_versions(batched, tmp_path):
    path, _ = batched
    table = pq.read_table(path)
    newer = tmp_path / "newer.parquet"
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"vla_ray.schema_version": b"2"}), newer)
    with pytest.raises(ValueError, match=f"schema version 2: this vla-ray reads schema version {SCHEMA_VERSION}"):
        read_dataset(newer)
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(table.replace_schema_metadata(None), foreign)
    with pytest.raises(ValueError, match="no vla_ray.schema_version .* expected a vla-ray episode dataset"):
        read_dataset_info(foreign)


def test_a_failed_recording_leaves_no_file(tmp_path):
    path = tmp_path / "failed.parquet"
    info = DatasetInfo.of(envs.policy_interface(envs.MANIPULATION_ID, REACH), REACH, DatasetSource("expert", 0, 1))
    with pytest.raises(RuntimeError, match="robot fell over"):
        with EpisodeWriter(path, info, episodes=1):
            raise RuntimeError("robot fell over")
    assert list(tmp_path.iterdir()) == []


def test_the_expert_is_refused_for_a_locomotion_environment(tmp_path):
    with pytest.raises(ValueError, match="scripted experts exist for vla_ray/Manipulation-v0"):
        record_expert(tmp_path / "x.parquet", envs.HUMANOID_LOCOMOTION_ID, {}, episodes=1)
    assert not (tmp_path / "x.parquet").exists()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_policy_checkpoint(tmp_path_factory.mktemp("policy_run"), episode_length_s=0.3)


def test_recording_a_checkpoint_stores_its_actions_on_the_observations_it_saw(checkpoint, tmp_path):
    path = tmp_path / "humanoid.parquet"
    summary = record_policy(path, checkpoint.parent, episodes=3, num_envs=2, seed=5)
    dataset = read_dataset(path)
    info = dataset.info
    assert info.env_id == envs.HUMANOID_LOCOMOTION_ID and info.embodiment == "humanoid"
    assert info.env_config == {"episode_length_s": 0.3} and info.control_frequency_hz == 50.0
    assert info.source == DatasetSource("checkpoint", 5, 2, str(checkpoint.resolve()))
    assert summary == dataset.summary and summary.episodes == len(dataset.episodes) == 3
    assert summary.steps == sum(e.length for e in dataset.episodes)
    policy = Policy.from_checkpoint(checkpoint)
    for episode in dataset.episodes:
        assert episode.length <= 15 and (episode.terminated[-1] or episode.truncated[-1])
        assert episode.instruction == "stand still" and episode.embodiment == "humanoid"
        # Each row's action is the policy's deterministic action on that row's observation.
        np.testing.assert_allclose(policy.act(episode.observations), episode.actions, atol=1e-5)


def test_a_checkpoint_is_refused_settings_that_change_its_observation(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="changes the observation parts the checkpoint"):
        record_policy(tmp_path / "x.parquet", checkpoint, episodes=1, env_config={"camera": "track"})
    with pytest.raises(ValueError, match="was trained in 'vla_ray/HumanoidLocomotion-v0'"):
        record_policy(tmp_path / "x.parquet", checkpoint, episodes=1, env_id=envs.MANIPULATION_ID)


def test_record_demos_script_prints_the_summary_it_writes_into_the_file(tmp_path):
    out = tmp_path / "demos" / "reach.parquet"
    config = {**REACH, "episode_length_s": 0.5}
    done = subprocess.run(
        [sys.executable, "experiments/record_demos.py", "--env", envs.MANIPULATION_ID, "--env-config",
         json.dumps(config), "--expert", "--episodes", "2", "--num-envs", "2", "--seed", "7", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    info, summary = read_dataset_info(out)
    assert printed == summary.to_dict()
    assert printed["episodes"] == 2 and printed["steps"] == 2 * 10
    assert info.env_config == config and info.source == DatasetSource("expert", 7, 2)
