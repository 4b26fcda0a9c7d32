"""The vocoders: one model per file, all taking the standard log-mel (see :mod:`.base`).

The registry of names lives in :mod:`engine.ops.vocode` (``VOCODERS``); their training tasks in
:mod:`engine.train.vocode` (``TRAIN_TASKS``).
"""
