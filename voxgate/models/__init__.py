"""The model catalog (ids, aliases, weight locations), weight joining and verification, the registry that
loads each model once per process, and inference counters."""
