"""Shared pieces of the DIMSE management commands."""

import json

from django.core.management.base import CommandError

from apps.dimse import scu
from apps.dimse.models import RemoteAE


def peer(text: str) -> scu.Peer:
    """A RemoteAE title, or any peer as AE@HOST:PORT."""
    if "@" in text:
        ae_title, _, address = text.partition("@")
        host, _, port = address.rpartition(":")
        if not ae_title or not host or not port.isdigit():
            raise CommandError(f"peer must be AE@HOST:PORT, got {text!r}")
        return scu.Peer(ae_title, host.strip("[]"), int(port))
    remote = RemoteAE.objects.filter(ae_title=text).first()
    if remote is None:
        raise CommandError(
            f"no remote AE {text!r} (add it with `remote_ae add`, or give AE@HOST:PORT)"
        )
    return scu.Peer.of(remote)


def add_peer_argument(parser) -> None:
    parser.add_argument("peer", help="a remote AE title, or AE@HOST:PORT")


def add_key_argument(parser) -> None:
    parser.add_argument(
        "-k",
        "--key",
        action="append",
        default=[],
        dest="keys",
        help="KEYWORD=VALUE to match, KEYWORD alone to return (repeatable); "
        "Sequence.Keyword=VALUE for an item key",
    )


def dumps(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
