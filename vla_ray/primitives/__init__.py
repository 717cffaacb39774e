"""Motion primitives (the humanoid guide's stage 2), one module per step:

    windows.motion_windows     retargeted motions -> (pose, next `horizon` control steps) pairs in action units
    vae.train_motion_vae       a motion VAE over those chunks, conditioned on the pose they start from
    library.build_library      k-means over the VAE's latents -> named primitives + the decoder, saved as one file
    build                      the command line: clips or motion datasets in, a library out

The skills action head (vla_ray.models.skill_head) loads a library: its skill selector picks a
primitive, its decoder turns the primitive (plus a learned adjustment) into the next chunk of joint
targets, which the environment executes over `horizon` control steps (action_chunk).
"""
