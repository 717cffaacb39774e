"""Scripted experts: inverse kinematics and waypoint controllers that solve the manipulation tasks; the demonstration source for imitation learning."""
