"""A motion-primitive library: the VAE's latents clustered (k-means) into named primitives, with the decoder.

A primitive is a cluster centre in latent space; decoding it from the current pose gives the next
chunk of joint targets. Each primitive is named after the motion most of its windows came from
("walk", "run", ...; "hold" where the joints barely move), numbered where several share a source.
The file holds plain tensors, names and sizes, so it loads with torch.load(weights_only=True).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vla_ray.embodiment import EmbodimentConfig
from vla_ray.primitives.vae import MotionDecoder, MotionVAE, VAEConfig, train_motion_vae
from vla_ray.primitives.windows import MotionWindows, chunk_scaler

FORMAT_VERSION = 1
HOLD_SPEED_RAD_S = 0.1  # below this mean joint speed over a chunk, a primitive holds its pose


@dataclass(frozen=True)
class PrimitiveLibrary:
    embodiment: str
    joint_names: tuple[str, ...]
    horizon: int  # control steps per chunk
    latent_dim: int
    hidden: int
    names: tuple[str, ...]
    centroids: torch.Tensor  # (K, latent_dim)
    decoder_state: dict[str, torch.Tensor]
    composition: dict[str, dict[str, float]] = field(default_factory=dict)  # per primitive: source -> fraction

    @property
    def num_primitives(self) -> int:
        return len(self.names)

    def decoder(self) -> MotionDecoder:
        decoder = MotionDecoder(len(self.joint_names), self.horizon, self.latent_dim, self.hidden)
        decoder.load_state_dict(self.decoder_state)
        return decoder

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({
            "format": FORMAT_VERSION, "embodiment": self.embodiment, "joint_names": list(self.joint_names),
            "horizon": self.horizon, "latent_dim": self.latent_dim, "hidden": self.hidden, "names": list(self.names),
            "centroids": self.centroids, "decoder": self.decoder_state, "composition": self.composition,
        }, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PrimitiveLibrary":
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no primitive library (python -m vla_ray.primitives.build writes one)")
        data = torch.load(path, weights_only=True)
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: library format {data.get('format')!r}, expected {FORMAT_VERSION}")
        return cls(data["embodiment"], tuple(data["joint_names"]), data["horizon"], data["latent_dim"], data["hidden"],
                   tuple(data["names"]), data["centroids"], data["decoder"], data["composition"])


def kmeans(points: np.ndarray, k: int, seed: int, iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding: (k, D) centres and (N,) labels."""
    if len(points) < k:
        raise ValueError(f"kmeans: {len(points)} points cannot make {k} clusters")
    rng = np.random.default_rng(seed)
    centres = [points[rng.integers(len(points))]]
    for _ in range(k - 1):
        distance = np.min([((points - c) ** 2).sum(-1) for c in centres], axis=0)
        centres.append(points[rng.choice(len(points), p=distance / distance.sum())])
    centres = np.array(centres)
    labels = np.zeros(len(points), dtype=np.int64)
    for _ in range(iterations):
        labels = ((points[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        updated = np.array([points[labels == c].mean(0) if np.any(labels == c) else centres[c] for c in range(k)])
        if np.allclose(updated, centres):
            break
        centres = updated
    return centres, labels


def chunk_error_rad(predicted: np.ndarray, chunks: np.ndarray, embodiment: EmbodimentConfig) -> float:
    """RMS joint error in radians between (N, horizon * J) predicted and (N, horizon, J) true chunks."""
    half_range = (embodiment.joint_upper - embodiment.joint_lower) / 2.0
    difference = (predicted.reshape(chunks.shape) - chunks) * half_range
    return float(np.sqrt((difference ** 2).mean()))


def encode(vae: MotionVAE, windows: MotionWindows) -> np.ndarray:
    with torch.no_grad():
        mean, _ = vae.encode(torch.as_tensor(windows.poses, dtype=torch.float32),
                             torch.as_tensor(windows.chunks, dtype=torch.float32))
    return mean.numpy()


def reconstruct(vae: MotionVAE, windows: MotionWindows) -> np.ndarray:
    """(N, horizon * J) decodings of each window's own latent mean (the VAE's round trip)."""
    latents = torch.as_tensor(encode(vae, windows))
    with torch.no_grad():
        return vae.decoder(latents, torch.as_tensor(windows.poses, dtype=torch.float32)).numpy()


def primitive_names(labels: np.ndarray, windows: MotionWindows, k: int, embodiment: EmbodimentConfig) -> tuple[
        tuple[str, ...], dict[str, dict[str, float]]]:
    sources = [str(s) for s in windows.sources]
    prefix = os.path.commonprefix(sources)
    prefix = prefix[: prefix.rfind("_") + 1] if len(set(sources)) > 1 else ""  # "humanoid3d_" of DeepMimic's clips
    half_range = (embodiment.joint_upper - embodiment.joint_lower) / 2.0
    step_s = 1.0 / embodiment.control_frequency_hz
    names, composition, used = [], {}, Counter()
    for c in range(k):
        members = labels == c
        counts = Counter(s[len(prefix):] for s, m in zip(sources, members) if m)
        steps = np.diff(np.concatenate([windows.poses[members, None], windows.chunks[members]], axis=1), axis=1)
        speed = float(np.abs(steps * half_range).mean() / step_s) if members.any() else 0.0
        base = "hold" if speed < HOLD_SPEED_RAD_S else (counts.most_common(1)[0][0] if counts else "unused")
        used[base] += 1
        name = base if used[base] == 1 else f"{base}_{used[base]}"
        names.append(name)
        total = sum(counts.values())
        composition[name] = {source: round(n / total, 3) for source, n in counts.most_common()} if total else {}
    return tuple(names), composition


def build_library(windows: MotionWindows, embodiment: EmbodimentConfig, num_primitives: int = 16,
                  vae_config: VAEConfig = VAEConfig()) -> tuple[PrimitiveLibrary, MotionVAE, dict]:
    """Train the VAE on `windows`, cluster their latents and name the clusters; returns the library, the VAE and
    a report (training losses, round-trip error on the training windows, cluster sizes)."""
    chunk_scaler(embodiment)  # the robot must have joint-position actions
    horizon = windows.chunks.shape[1]
    vae, history = train_motion_vae(windows.poses, windows.chunks, vae_config)
    centres, labels = kmeans(encode(vae, windows), num_primitives, vae_config.seed)
    names, composition = primitive_names(labels, windows, num_primitives, embodiment)
    library = PrimitiveLibrary(
        embodiment.robot_name, embodiment.joint_names, horizon, vae_config.latent_dim, vae_config.hidden, names,
        torch.as_tensor(centres, dtype=torch.float32), {k: v.clone() for k, v in vae.decoder.state_dict().items()},
        composition,
    )
    report = {
        "windows": len(windows), "training": history,
        "reconstruction_rms_rad": chunk_error_rad(reconstruct(vae, windows), windows.chunks, embodiment),
        "cluster_sizes": {name: int((labels == c).sum()) for c, name in enumerate(names)},
    }
    return library, vae, report
