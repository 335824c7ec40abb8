"""The embedding half: from a dataset on disk to embedding vectors in the cache.

What lives here: dataset adapters and their manifests (``datasets`` package: ``manifest``,
``image_folders``, ``lfw``, ``embedding_files``), image decoding (``images``), face detection and
face choice (``faces``), alignment to the recognisers' templates (``alignment``), recognition
networks behind one interface (``networks``), device selection for ONNX Runtime (``devices``),
batched and resumable extraction (``extract``: plan, checkpoints, runners; ``extraction_params``;
the per-image work in ``face_worker``), the content-addressed embedding store
(``store``), the synthetic demo generator (``synthetic``) and the gallery thumbnails cut from
the original images (``thumbnails``).

This is the only part of :mod:`analysis` that reads files, loads models or talks to GPUs. It may
import :mod:`analysis.types`, never :mod:`analysis.statistics` or :mod:`report`.
"""
