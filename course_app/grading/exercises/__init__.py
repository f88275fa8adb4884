"""One module per exercise: TITLE, HINTS, optional TIME_LIMIT/NEEDS_REDIS, and check(learner, t).

ORDER lists the ids in the order the course teaches them (within a chapter).
"""

ORDER = [
    "ch00_warmup",
    "ch01_gather",
    "ch01_bounded",
    "ch01_timeout",
    "ch02_fix_blocking",
    "ch02_async_client",
    "ch03_signup",
    "ch03_resilient_tasks",
    "ch04_echo",
    "ch04_json_commands",
    "ch05_manager",
    "ch05_fanout",
    "ch06_heartbeat",
    "ch06_producer_consumer",
]
