"""Prove that a client can use a server: commit, then read back.

Used by the README's first command line.  Takes a ZODB configuration file
(as written by the client recipe) or a ZEO address.
"""
import os
import sys
import time


def open_db(target):
    """A database from a ZODB configuration file, else a ZEO address."""
    if os.path.isfile(target):
        import ZODB.config
        return ZODB.config.databaseFromURL(target)
    import ZEO
    from zc.zodbrecipes import options
    return ZEO.DB(options.address(target).local(), wait_timeout=30)


def main(target=None, args=None):
    import transaction
    if target is None:
        target = (args or sys.argv[1:] or [None])[0]
        if target is None:
            sys.exit('usage: zodb-commit-check ZODB_CONF_OR_ADDRESS')
    db = open_db(target)
    try:
        conn = db.open()
        root = conn.root()
        count = root.get('commit-check', 0) + 1
        root['commit-check'] = count
        transaction.commit()
        conn.close()
        conn = db.open()  # a fresh connection reads what was committed
        seen = conn.root()['commit-check']
        print('committed commit-check = %s to %s at %s; read back: %s' % (
            count, target, time.strftime('%H:%M:%S'), seen))
        conn.close()
        return 0 if seen == count else 1
    finally:
        db.close()
