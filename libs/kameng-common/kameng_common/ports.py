"""Ports for servers started on the fly (test suites, benchmark runs, service replicas)."""

import random
import socket

# below Linux's ephemeral range (32768-60999): the kernel hands those to outgoing
# connections too, so a port chosen there can be taken before its server binds it
_RANGE = (20000, 32000)


def free_port():
    """A port on 127.0.0.1 that nothing listens on now."""
    while True:
        port = random.randrange(*_RANGE)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
