"""Video files, cameras and streams: who appears when (tracks, one decision per track, a
timeline), annotated copies, and faces blurred out of photos and videos.

``sources`` reads frames (PyAV, OpenCV as the fallback; live sources keep only the newest frame),
``tracker`` links detections over time, ``analyze`` fuses each track's embeddings into one gallery
decision and builds the timeline, ``cover`` hides a face, ``media`` re-encodes a video (no
metadata; audio copied or dropped), ``jobs`` puts them together for the CLI and the service.
The layer: above the gallery (it asks ``Gallery.decide``), below the front ends.
"""
