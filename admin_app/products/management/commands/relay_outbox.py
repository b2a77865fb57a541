"""``manage.py relay_outbox``: publish committed product events to the broker."""

import signal

from django.core.management.base import BaseCommand

from admin_project.celery_app import app
from products.publisher import Publisher
from products.relay import Relay, RelayConfig


class Command(BaseCommand):
    help = "Publish committed outbox events to RabbitMQ with confirms; runs until SIGTERM/SIGINT."

    def handle(self, *args, **options) -> None:
        config = RelayConfig.from_settings()
        from django.conf import settings

        relay = Relay(Publisher(app, timeout=settings.RELAY_PUBLISH_TIMEOUT), config)

        def on_signal(signum, frame):
            relay.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        relay.run()
