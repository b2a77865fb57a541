"""``manage.py relay_outbox``: publish committed product events to the broker."""

import signal

from celery import current_app
from django.conf import settings
from django.core.management.base import BaseCommand

from sync.publisher import Publisher
from sync.relay import Relay, RelayConfig


class Command(BaseCommand):
    help = "Publish committed outbox events to RabbitMQ with confirms; runs until SIGTERM/SIGINT."

    def handle(self, *args, **options) -> None:
        publisher = Publisher(current_app._get_current_object(), timeout=settings.RELAY_PUBLISH_TIMEOUT)
        relay = Relay(publisher, RelayConfig.from_settings())

        def on_signal(signum, frame):
            relay.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        relay.run()
