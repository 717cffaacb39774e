"""Action scaling and the safety filter: one definition each, shared by training, evaluation and serving."""

from vla_ray.control.action_scaling import ActionScaler
from vla_ray.control.command import JointCommand, JointCommander
from vla_ray.control.safety import SafetyFilter, SafetyReport

__all__ = ["ActionScaler", "JointCommand", "JointCommander", "SafetyFilter", "SafetyReport"]
