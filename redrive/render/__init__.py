"""Sensor simulation: camera and LiDAR models, ray generation with ego motion, render trajectories.

- ``redrive.render.lidar_models``: ``LidarModel`` (spinning / explicit pattern / rosette scans)
  and the built-in library (``lidar_model("vlp-16")``, ``LIDAR_LIBRARY``).
- ``redrive.render.rays``: world rays of camera frames (rolling shutter) and LiDAR sweeps (per
  firing time), chunkable by time.
- ``redrive.render.trajectories``: the original drive, lateral / vertical offsets of it, or a
  user trajectory file, from the CLI spec strings ``original|lane-shift:+2.0|height:+0.5|FILE``.
- ``redrive.render.sensors``: camera and LiDAR specs placed anywhere on the vehicle.

Pure numpy; nothing here imports torch.
"""
