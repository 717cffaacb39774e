"""ManipulationEnvConfig: a robot at a table with one task, validated at construction."""

from __future__ import annotations

from dataclasses import dataclass

from envs.manipulation.observations import manipulation_observation_spec
from envs.manipulation.tasks import TASKS, task_class
from envs.robot_config import RobotEnvConfig
from vla_ray.embodiment import get_embodiment
from vla_ray.interface import PolicyInterface


def gripper_count(robot_type: str) -> int:
    return 2 if robot_type == "dual_arm" else 1


@dataclass(frozen=True)
class ManipulationEnvConfig(RobotEnvConfig):
    embodiment: str = "franka_panda"
    task: str = "reach"
    episode_length_s: float | None = None  # None: the task's own default

    def __post_init__(self):
        if self.task not in TASKS:
            self._fail("task", f"one of {sorted(TASKS)}")
        if self.episode_length_s is None:
            object.__setattr__(self, "episode_length_s", task_class(self.task).episode_length_s)
        super().__post_init__()

    def _validate_task(self) -> None:
        robot_type = get_embodiment(self.embodiment).robot_type
        allowed = task_class(self.task).robot_types
        if robot_type not in allowed:
            self._fail("embodiment", f"a robot of type {allowed} for task {self.task!r} (this one is {robot_type})")

    def policy_interface(self, env_id: str) -> PolicyInterface:
        embodiment = self.resolved_embodiment()
        task = task_class(self.task)
        solid = sum(obj.kind != "marker" for obj in task.objects)
        spec = manipulation_observation_spec(
            embodiment, gripper_count(embodiment.robot_type), solid, self.camera_size if self.camera else None
        )
        current = ("joint_pos", "gripper") if embodiment.ee_action_dim else ("joint_pos",)
        return PolicyInterface(env_id, embodiment, spec, task.instruction, current)
