"""vla-ray: train robot control policies on Ray RLlib and MuJoCo, and serve them to a robot control loop."""
