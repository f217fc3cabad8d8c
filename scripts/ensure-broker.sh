#!/usr/bin/env bash
# Make sure RabbitMQ and Redis (and, for the tests, PostgreSQL) answer locally: start
# them when installed, install them on Debian when run as root, else say how.
set -euo pipefail
need_postgres=${1:-}

say() { printf '%s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

install_with_apt() {
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        say "Kameng needs $1. Install it with: sudo apt-get install $1"
        exit 1
    fi
    say "$1 is not installed: installing it with apt-get (Debian package $1)…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

if ! port_open 5672; then
    command -v rabbitmq-server >/dev/null || install_with_apt rabbitmq-server
    say "starting RabbitMQ…"
    rabbitmq-server -detached >/dev/null 2>&1 || true
    for _ in $(seq 60); do port_open 5672 && break; sleep 1; done
    port_open 5672 || { say "RabbitMQ did not start; see /var/log/rabbitmq"; exit 1; }
fi
# the tests make a vhost each through the management API
if ! port_open 15672 && command -v rabbitmq-plugins >/dev/null; then
    rabbitmq-plugins enable rabbitmq_management >/dev/null
    for _ in $(seq 30); do port_open 15672 && break; sleep 1; done
fi

# the gateway keeps sign-in counters, locks, token revocations, rate limits and
# the channel API's single-use nonces in Redis
if ! port_open 6379; then
    command -v redis-server >/dev/null || install_with_apt redis-server
    say "starting Redis…"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 >/dev/null
    for _ in $(seq 30); do port_open 6379 && break; sleep 1; done
    port_open 6379 || { say "Redis did not start"; exit 1; }
fi

if [ "$need_postgres" = "--postgres" ] && ! port_open 5432; then
    command -v pg_ctlcluster >/dev/null || install_with_apt postgresql
    say "starting PostgreSQL…"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    for _ in $(seq 30); do port_open 5432 && break; sleep 1; done
fi
