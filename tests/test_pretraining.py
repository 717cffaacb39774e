"""Proprioception pretraining on real recorded episodes (the scripted Franka expert): next-state prediction beats
"no change" on held-out episodes, vision and proprioception learn to pick each other out, and the pretrained
encoders load into a new module through model_config."""

import json
import math

import pytest
import torch
from ray.rllib.core.columns import Columns

from experiments.record_demos import main as record
from vla_ray.datasets.reader import read_dataset
from vla_ray.models.vla_module import normalized_parts
from vla_ray.models.vla_sac_module import VLASACModule
from vla_ray.pretraining.__main__ import main as pretrain_cli
from vla_ray.pretraining.pretrain import PretrainingConfig, module_for, pretrain, save_encoder, transitions

REACH = '{"embodiment": "franka_panda", "task": "reach", "episode_length_s": 3.0}'


@pytest.fixture(scope="module")
def reach_dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("demos") / "reach.parquet"
    record(["--env", "vla_ray/Manipulation-v0", "--env-config", REACH, "--expert", "--episodes", "20",
            "--num-envs", "4", "--out", str(path)])
    return path


def test_next_state_prediction_beats_no_change_on_held_out_episodes(reach_dataset, tmp_path, capsys):
    out = tmp_path / "encoder.pt"
    pretrain_cli(["--dataset", str(reach_dataset), "--out", str(out), "--steps", "300"])
    printed = capsys.readouterr().out
    report = json.loads(printed[: printed.rindex("encoder:")])
    held_out = report["held_out"]
    assert report["held_out_transitions"] > 0
    assert held_out["next_state_mse"] < 0.5 * held_out["no_change_mse"]
    assert report["training"][-1]["next_state_mse"] < 0.5 * report["training"][0]["next_state_mse"]
    assert out.is_file()


def test_pretrained_encoders_load_into_a_new_module_through_model_config(reach_dataset, tmp_path):
    dataset = read_dataset(reach_dataset)
    module, _ = pretrain(dataset, {}, PretrainingConfig(steps=50))
    path = save_encoder(module, tmp_path / "encoder.pt")
    loaded = module_for(dataset, {"pretrained_encoder": str(path)})
    fresh = module_for(dataset, {})
    batch = transitions(dataset.episodes[:1]).obs
    features = {m: m.actor(m._normalized(batch), m._instruction_embedding(batch)) for m in (module, loaded, fresh)}
    torch.testing.assert_close(features[loaded], features[module])
    assert not torch.allclose(features[fresh], features[module])
    # The heads and the critic start fresh: only the encoders were pretrained.
    assert loaded.forward_train({Columns.OBS: batch})[Columns.ACTION_DIST_INPUTS].shape[0] == len(batch["joint_pos"])
    with pytest.raises(ValueError, match="other observation parts or sizes"):
        module_for(dataset, {"pretrained_encoder": str(path), "proprio_dim": 64})
    # SAC's policy tower starts from the same encoders.
    sac = VLASACModule(observation_space=loaded.observation_space, action_space=loaded.action_space,
                       inference_only=False, model_config={**loaded.model_config, "twin_q": True})
    sac_features = sac.pi_encoder.encoder(normalized_parts(sac.norms, batch), module._instruction_embedding(batch))
    torch.testing.assert_close(sac_features, features[module])


def test_vision_and_proprioception_learn_to_pick_each_other_out(tmp_path):
    path = tmp_path / "camera.parquet"
    camera = REACH[:-1] + ', "camera": "overhead", "camera_size": [32, 32]}'
    record(["--env", "vla_ray/Manipulation-v0", "--env-config", camera, "--expert", "--episodes", "8",
            "--num-envs", "4", "--out", str(path)])
    dataset = read_dataset(path)
    _, report = pretrain(dataset, {}, PretrainingConfig(steps=300, batch_size=128, holdout_fraction=0.25))
    held_out = report["held_out"]
    rows = report["held_out_transitions"]
    # Neighbouring frames look almost alike, so picking the exact frame is hard; chance is 1/rows (loss log rows).
    assert held_out["contrastive_accuracy"] > 3.0 / rows
    assert held_out["contrastive"] < math.log(rows)
    assert report["training"][-1]["contrastive"] < 0.7 * report["training"][0]["contrastive"]
