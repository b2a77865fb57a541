#!/usr/bin/env bash
# The part of rabbitmq:3.13's entrypoint that docker-compose.yml relies on: as root,
# give /var/lib/rabbitmq to the rabbitmq user and run the command as that user.
# RABBITMQ_DEFAULT_USER/PASS/VHOST and RABBITMQ_ERLANG_COOKIE are read by
# RabbitMQ itself, as with the official image.
set -euo pipefail

if [[ "$1" == rabbitmq* && "$(id -u)" == 0 ]]; then
    if [[ "$1" == rabbitmq-server ]]; then
        # The cookie is written before the server starts, as the rabbitmq user's: a health
        # check (root's CLI) that runs first would otherwise create one the server cannot read.
        if [[ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]]; then
            printf '%s' "$RABBITMQ_ERLANG_COOKIE" > /var/lib/rabbitmq/.erlang.cookie
            chmod 400 /var/lib/rabbitmq/.erlang.cookie
        fi
        find /var/lib/rabbitmq \! -user rabbitmq -exec chown rabbitmq '{}' +
    fi
    exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "${BASH_SOURCE[0]}" "$@"
fi

exec "$@"
