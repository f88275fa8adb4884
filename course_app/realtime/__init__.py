"""Real-time building blocks shared by the chapters: close codes and one fan-out layer.

``Broadcast`` (channels, three backends), its ``Subscriber`` with an overflow
policy, and in ``course_app.realtime.writer`` the per-member writer that sends
a subscriber's events to a WebSocket. Importing this package pulls in neither
Redis nor any web framework.
"""

from course_app.realtime.broadcast import Broadcast, BroadcastUnavailable, Event, Overflow, Subscriber, SubscriberTooSlow
from course_app.realtime.codes import CloseCode

__all__ = ["Broadcast", "BroadcastUnavailable", "CloseCode", "Event", "Overflow", "Subscriber", "SubscriberTooSlow"]
