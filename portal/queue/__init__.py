"""Pure admission logic of the job queue: states, off-peak windows, limits, breakers, schedules, triggers.

Nothing here touches Redis, the database or RQ: every function takes the facts it needs
(a snapshot, fixed datetimes) and returns a decision, so it is tested with fixed clocks
and property tests. The RQ task functions in ``jobs/`` and the job-state writer call it.
"""
