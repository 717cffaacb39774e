"""Action scaling and the safety filter: one definition each, shared by training, evaluation and serving."""

from vla_ray.control.action_scaling import ActionScaler
from vla_ray.control.safety import SafetyFilter, SafetyReport

__all__ = ["ActionScaler", "SafetyFilter", "SafetyReport"]
