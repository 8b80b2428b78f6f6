"""runzeo, without the line ZEO 6 logs for every connection it accepts.

ZEO 6.2 logs "Connected ZEO.asyncio.server.ServerProtocol((ADDRESS))" at
INFO (ZEO.asyncio.base) when a connection is accepted, before it knows
what the connection is for: the status request (ruok) that the control
script's ``check``, ``stats`` and ``metrics`` send, which ZEO otherwise
answers and closes without a word, would still leave one line per probe:
a monitoring check every 10 seconds, 8,640 lines a day.  The line names
the server's own address, never the client's, so it tells nothing that a
real client's own lines ("received handshake", "disconnected") do not;
only that line is dropped.  (A ``runzeo`` option naming a script of your
own keeps ZEO's logging as it is.)
"""
import logging
import sys


class DropAccepted(logging.Filter):
    """Drops ZEO.asyncio.base's "Connected %s" for a server protocol."""

    def filter(self, record):
        return not (
            record.msg == 'Connected %s' and isinstance(record.args, tuple)
            and record.args
            and type(record.args[0]).__name__ == 'ServerProtocol')


def quiet():
    logger = logging.getLogger('ZEO.asyncio.base')
    if not any(isinstance(f, DropAccepted) for f in logger.filters):
        logger.addFilter(DropAccepted())


def main(argv=None):
    quiet()
    import ZEO.runzeo
    return ZEO.runzeo.main(sys.argv[1:] if argv is None else list(argv))
