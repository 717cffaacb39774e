"""The VLA policy: one encoder per observation part, a fusion trunk, Gaussian action and value heads."""

from vla_ray.models.vla_module import VLAPPOModule

__all__ = ["VLAPPOModule"]
