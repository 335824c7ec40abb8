"""The embedding half: from a dataset on disk to embedding vectors in the cache.

What lives here: dataset adapters and their manifests (``datasets``), image decoding
(``images``), face detection and alignment (``faces``), recognition networks behind one
interface (``networks``), device selection for ONNX Runtime (``devices``), batched and resumable
extraction (``extract`` with its per-image ``worker``), the content-addressed embedding store
(``store``), the synthetic demo generator (``synthetic``) and the gallery thumbnails cut from
the original images (``thumbnails``).

This is the only part of :mod:`analysis` that reads files, loads models or talks to GPUs. It may
import :mod:`analysis.types`, never :mod:`analysis.statistics` or :mod:`report`.
"""
