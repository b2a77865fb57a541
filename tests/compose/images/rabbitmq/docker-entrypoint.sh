#!/usr/bin/env bash
# The part of rabbitmq:3.13's entrypoint that docker-compose.yml relies on: as root,
# give /var/lib/rabbitmq to the rabbitmq user and run the command as that user.
# RABBITMQ_DEFAULT_USER/PASS/VHOST and RABBITMQ_ERLANG_COOKIE are read by
# RabbitMQ itself, as with the official image.
set -euo pipefail

if [[ "$1" == rabbitmq* && "$(id -u)" == 0 ]]; then
    if [[ "$1" == rabbitmq-server ]]; then
        find /var/lib/rabbitmq \! -user rabbitmq -exec chown rabbitmq '{}' +
    fi
    exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "${BASH_SOURCE[0]}" "$@"
fi

exec "$@"
