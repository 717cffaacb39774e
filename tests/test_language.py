"""Instructions: fixed-size byte codes and the frozen MiniLM encoder with its per-instruction cache."""

import numpy as np
import pytest
import torch

from vla_ray.language import (
    INSTRUCTION_BYTES,
    InstructionEncoder,
    InstructionEncoderConfig,
    decode_instruction,
    encode_instruction,
)


def test_instruction_code_round_trips_including_non_ascii():
    for text in ("stand still", "walk forward at 0.5 m/s", "gehe vorwärts", ""):
        code = encode_instruction(text)
        assert code.shape == (INSTRUCTION_BYTES,) and code.dtype == np.uint8
        assert decode_instruction(code) == text


def test_too_long_instruction_is_refused_with_its_length():
    with pytest.raises(ValueError, match=f"expected at most {INSTRUCTION_BYTES}"):
        encode_instruction("x" * (INSTRUCTION_BYTES + 1))


def test_missing_model_directory_is_refused_before_loading():
    with pytest.raises(ValueError, match="model_path"):
        InstructionEncoderConfig(model_path="/nonexistent/minilm")


def test_encoder_distinguishes_instructions_and_encodes_each_once():
    encoder = InstructionEncoder()
    stand, walk = "stand still", "walk forward at 0.5 m/s"
    codes = torch.from_numpy(np.stack([encode_instruction(t) for t in [stand, walk, stand, stand]]))
    embeddings = encoder.embed_codes(codes)
    assert embeddings.shape == (4, 384)
    assert torch.allclose(embeddings[0], embeddings[2])
    assert not torch.allclose(embeddings[0], embeddings[1], atol=1e-3)
    # Unit-norm sentence embeddings from the pretrained model, not zeros or random vectors.
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(4), atol=1e-4)
    assert set(encoder._cache) == {stand, walk}
    related = torch.dot(encoder.embed_texts(["walk forward at 0.8 m/s"])[0], embeddings[1])
    unrelated = torch.dot(encoder.embed_texts(["pick up the red cup"])[0], embeddings[1])
    assert related > unrelated


def test_uniform_batch_fast_path_equals_general_path():
    encoder = InstructionEncoder()
    same = torch.from_numpy(np.stack([encode_instruction("stand still")] * 5))
    mixed = torch.from_numpy(np.stack([encode_instruction("stand still")] * 4 + [encode_instruction("walk forward at 0.3 m/s")]))
    assert torch.allclose(encoder.embed_codes(same)[0], encoder.embed_codes(mixed)[0])
