"""Real-time building blocks shared by the chapters: close codes, a local hub, Redis fan-out."""

from course_app.realtime.codes import CloseCode
from course_app.realtime.hub import Hub
from course_app.realtime.redis_bridge import RedisBridge

__all__ = ["CloseCode", "Hub", "RedisBridge"]
