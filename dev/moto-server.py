"""moto's server (the local DynamoDB endpoint) with two changes:

- Requests are applied one at a time, as DynamoDB applies writes to one item atomically. moto's
  own server handles requests on threads without a lock, so two conditional writes to one item
  may both pass their condition there, which DynamoDB never allows (the usage quota's
  concurrency test shows it).
- `GET /_local/ses/sent` answers the emails sent through SES so far (JSON: source, destinations,
  subject, body), so that a test can read back what the notifier sent. moto keeps them but has
  no API to read them.
- A transaction backs up only the items it touches. moto deep-copies every table a transaction
  names before applying it, so each transaction costs time in proportion to the whole table
  (a long audit run slowed to seconds per write); the rollback it needs is the same.

Same command line as `moto_server`: -H HOST -p PORT.
"""

import argparse
import json
import os
import signal
import sys
import threading

import copy

from werkzeug.serving import run_simple

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app


class Serialized:
    """A WSGI middleware that runs one request at a time (the whole response included)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            return list(self.app(environ, start_response))


class SentMail:
    """A WSGI middleware answering `GET /_local/ses/sent` with the emails SES has sent."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/_local/ses/sent":
            return self.app(environ, start_response)
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        sent = []
        for account in (DEFAULT_ACCOUNT_ID, "000000000000"):
            if account not in ses_backends:
                continue
            for backend in ses_backends[account].values():
                for message in backend.sent_messages:
                    sent.append({
                        "source": getattr(message, "source", None),
                        "destinations": getattr(message, "destinations", None),
                        "subject": getattr(message, "subject", None),
                        "body": getattr(message, "body", None),
                        "raw": getattr(message, "raw_data", None),
                    })
        body = json.dumps(sent).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


class _TablesUncopied:
    """`copy` as moto's transactions see it: a whole table "copied" for the rollback is the table
    itself (the patched method below restores the items it touched instead)."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items_item_backup(self, transact_items):
    touched = []
    for entry in transact_items:
        try:
            _, op = next(iter(entry.items()))
            table = self.get_table(op["TableName"])
            keys = op.get("Key") or {
                name: op["Item"][name] for name in (table.hash_key_attr, table.range_key_attr) if name
            }
            hash_key, range_key = self.get_keys_value(table, keys)
        except Exception:  # noqa: BLE001 - moto reports a malformed operation itself
            continue
        touched.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, before in reversed(touched):
            if range_key is None:
                if before is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = before
            elif before is None:
                table.items[hash_key].pop(range_key, None)
            else:
                table.items[hash_key][range_key] = before
        raise


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sys.exit(0))
    dynamodb_models.copy = _TablesUncopied
    DynamoDBBackend.transact_write_items = _transact_write_items_item_backup
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    run_simple(args.host, args.port, Serialized(SentMail(app)), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
