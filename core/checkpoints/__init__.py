"""Checkpoint metadata: every published or bundled checkpoint, declared with ``register_weights(WeightSpec(...))``.

One module per network family, named like its network module (``core.checkpoints.stargan`` for
``core.nets.stargan``): URLs, keys, licences, notes and the configurations a checkpoint needs. Nothing
here imports paddle (nor cv2, torch, scipy): ``core.registry.WEIGHTS`` discovers this package, so the web
server can list every model and its state (``core.weights.specs``, ``readiness``) without paying for
paddle's import. A module imports ``core.registry`` alone (and another checkpoint module); a network
module imports from here the constants it shares with its checkpoints, never the other way round.
"""
