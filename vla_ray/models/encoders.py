"""Encoders of the VLA policy, one per observation part (seed: humanoid guide, ProprioceptionEncoder;
embodiment guide, EmbodimentEmbedding)."""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh, "silu": nn.SiLU}


def mlp(sizes: list[int], activation: str, layer_norm: bool = False, last_activation: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        last = i == len(sizes) - 2
        if not last or last_activation:
            if layer_norm:
                layers.append(nn.LayerNorm(b))
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def init_orthogonal(module: nn.Module, gain: float = math.sqrt(2)) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain)
            nn.init.zeros_(layer.bias)


class ProprioceptionEncoder(nn.Module):
    """Sub-encoders for joints, IMU, contacts, force/torque and gripper openings, fused by an MLP (seed sizes:
    128/64/32/64; the gripper's 16 is ours: one or two openings need little width)."""

    SUB_ENCODERS = {"joints": 128, "imu": 64, "contacts": 32, "force_torque": 64, "gripper": 16}

    def __init__(self, input_dims: dict[str, int], output_dim: int, activation: str):
        super().__init__()
        unknown = set(input_dims) - set(self.SUB_ENCODERS)
        if unknown:
            raise ValueError(f"ProprioceptionEncoder: unknown inputs {sorted(unknown)}: expected {list(self.SUB_ENCODERS)}")
        self.order = [name for name in self.SUB_ENCODERS if name in input_dims]
        self.encoders = nn.ModuleDict()
        for name in self.order:
            width = self.SUB_ENCODERS[name]
            hidden = 256 if name == "joints" else width
            self.encoders[name] = mlp([input_dims[name], hidden, width], activation, layer_norm=(name == "joints"))
        fused = sum(self.SUB_ENCODERS[name] for name in self.order)
        self.fusion = mlp([fused, output_dim], activation, layer_norm=True)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.fusion(torch.cat([self.encoders[name](inputs[name]) for name in self.order], dim=-1))


class EmbodimentEmbedding(nn.Module):
    """Per-joint embeddings plus a structure vector, projected to one vector describing the robot."""

    def __init__(self, num_joints: int, output_dim: int, joint_embedding_dim: int = 32):
        super().__init__()
        self.joint_embeddings = nn.Embedding(num_joints, joint_embedding_dim)
        self.structure = nn.Parameter(torch.randn(output_dim) * 0.1)
        self.project = nn.Linear(num_joints * joint_embedding_dim + output_dim, output_dim)

    def forward(self, batch_size: int) -> torch.Tensor:
        joints = self.joint_embeddings.weight.flatten()
        return self.project(torch.cat([joints, self.structure])).expand(batch_size, -1)


class HistoryEncoder(nn.Module):
    """Temporal convolution over the last N proprioceptive frames (B, N, D) -> (B, output_dim)."""

    def __init__(self, frame_dim: int, history_length: int, output_dim: int, activation: str):
        super().__init__()
        kernel = min(3, history_length)
        self.conv = nn.Sequential(
            nn.Conv1d(frame_dim, 64, kernel_size=kernel), ACTIVATIONS[activation](),
        )
        self.head = mlp([64 * (history_length - kernel + 1), output_dim], activation)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(history.transpose(1, 2)).flatten(1))


class VisionEncoder(nn.Module):
    """A small CNN for (B, H, W, 3) uint8 camera images."""

    def __init__(self, image_shape: tuple[int, int, int], output_dim: int, activation: str):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.conv = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2), act(), nn.Conv2d(16, 32, 3, stride=2), act(),
            nn.Conv2d(32, 32, 3, stride=2), act(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        )
        self.head = mlp([32 * 16, output_dim], activation)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).to(torch.float32) / 255.0
        return self.head(self.conv(x))
