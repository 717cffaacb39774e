"""MoCap clips to robot motions, one module per step:

    loaders.load_clip       DeepMimic (.txt), BVH, NPZ -> clips.MotionClip in MuJoCo's frame (z up)
    retarget.retarget       MotionClip + RetargetConfig + model -> motion.RetargetedMotion
    dataset.write_motion    RetargetedMotion <-> Parquet (read_motion)
    playback                KinematicPlayback of a motion in a model, render_video
"""

import os

# Offscreen rendering unless the user chose otherwise, as envs sets it: MuJoCo reads MUJOCO_GL once, when first
# imported, and the modules here import it before envs.
os.environ.setdefault("MUJOCO_GL", "egl")
