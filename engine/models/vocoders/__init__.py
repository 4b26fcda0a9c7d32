"""The vocoders: one model per file, all taking the standard log-mel (see :mod:`.base`).

The registry of names lives in :mod:`engine.vocode` (``VOCODERS``, ``TRAIN_TASKS``).
"""
