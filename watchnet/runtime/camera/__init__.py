"""Cameras in their own processes: workers (``worker``), their supervisor (``supervisor``) and the
shared-memory slots that carry live frames to the console (``live_shm``)."""
