"""The humanoid locomotion environment: model, observation parts, tasks, reward and termination terms."""
