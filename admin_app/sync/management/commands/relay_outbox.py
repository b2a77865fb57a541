"""``manage.py relay_outbox``: publish committed product events to the broker."""

import signal
from types import FrameType
from typing import Any

from celery.app import app_or_default
from django.conf import settings
from django.core.management.base import BaseCommand

from sync.publisher import Publisher
from sync.relay import Relay, RelayConfig


class Command(BaseCommand):
    help = "Publish committed outbox events to RabbitMQ with confirms; runs until SIGTERM/SIGINT."

    def handle(self, *args: Any, **options: Any) -> None:
        # The app itself, not the current_app proxy (which looks it up again on every use).
        publisher = Publisher(app_or_default(), timeout=settings.RELAY_PUBLISH_TIMEOUT)
        relay = Relay(publisher, RelayConfig.from_settings())

        def on_signal(signum: int, frame: FrameType | None) -> None:
            relay.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        relay.run()
