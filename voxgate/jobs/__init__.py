"""Async transcription jobs: a durable queue (behind `voxgate.store.interfaces.JobStore`), a runner that
survives restarts, and signed webhook deliveries when a job ends."""

from voxgate.jobs.service import JobService
from voxgate.store.interfaces import Delivery, JobRecord, QueueFull, ResendRefused, SigningSecret

__all__ = ["Delivery", "JobRecord", "JobService", "QueueFull", "ResendRefused", "SigningSecret"]
