"""Cameras over many machines on Ray (optional extra ``watchnet[cluster]``), all writing one PostgreSQL.

Only ``watchnet cluster`` commands import this package; nothing on the default path imports Ray.
``actors``: a camera as a Ray actor (restarted elsewhere when its node is lost) and one batched
detection actor per node; ``reconcile``: keeps the actors in line with the store's camera table.
"""
