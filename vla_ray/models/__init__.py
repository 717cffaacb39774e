"""The VLA policy: one encoder per observation part, a fusion trunk, an action head per robot family (heads.py,
skill_head.py) and a value head."""

from vla_ray.models.vla_module import VLAPPOModule

__all__ = ["VLAPPOModule"]
