"""Quadruped locomotion: walk on a commanded (vx, vy, yaw rate), on flat ground or a terrain grid."""
