"""The humanoid locomotion environment: model, observation parts, tasks, terrain course, reward and termination terms."""
