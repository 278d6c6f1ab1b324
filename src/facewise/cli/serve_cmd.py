"""``facewise serve`` (the REST service) and ``facewise keys`` (its API keys)."""

from __future__ import annotations

import ipaddress

import click

from facewise.cli.common import emit_json, handle_errors, json_option, print_table
from facewise.settings import load_settings


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes; each loads the models once and keeps its own rate limits.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@handle_errors
def serve(host: str, port: int, workers: int, log_level: str) -> None:
    """Run the REST service and its web page on FACEWISE_HOME's gallery (docs at /docs)."""
    from facewise.extras import check, require

    check("server")  # fastapi, uvicorn, python-multipart: pip install 'facewise[server]'
    uvicorn = require("uvicorn")

    from facewise.server.keys import KeyStore

    settings = load_settings()  # a bad setting fails here, once, not in every worker
    with KeyStore(settings.home) as keys:
        if not any(k.revoked_at is None for k in keys.list()):
            click.echo(
                "note: no API keys yet; create one with "
                "`facewise keys create --scope admin --name me`",
                err=True,
            )
    shown = f"[{host}]" if ":" in host else host
    click.echo(
        f"facewise: web page http://{shown}:{port}/  API docs http://{shown}:{port}/docs  "
        f"gallery {settings.home}",
        err=True,
    )
    if not _loopback(host):
        click.echo(
            f"warning: listening on {host}, reachable from other machines; put TLS in front",
            err=True,
        )
    uvicorn.run(
        "facewise.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        server_header=False,
        proxy_headers=False,
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.group("keys")
def keys() -> None:
    """API keys of the REST service: create, list, revoke (stored hashed in FACEWISE_HOME)."""


@keys.command("create")
@click.option(
    "--scope",
    type=click.Choice(["read", "enrol", "admin"]),
    required=True,
    help="read: detect, identify, list; enrol: + add people; admin: + rename, remove, audit.",
)
@click.option("--name", default=None, help="A name for the key (the audit log shows it).")
@json_option
@handle_errors
def keys_create(scope: str, name: str | None, as_json: bool) -> None:
    """Create a key; it is shown this once, only its hash is stored."""
    from facewise.server.keys import KeyStore

    with KeyStore(load_settings().home) as store:
        key, record = store.create(scope, name=name)
    if as_json:
        emit_json({"key": key, **record.as_dict()})
    else:
        click.echo(key)
        click.echo(
            f"key {record.id} ({record.name}, scope {record.scope}): store it now, it is not "
            "shown again",
            err=True,
        )


@keys.command("list")
@json_option
@handle_errors
def keys_list(as_json: bool) -> None:
    """Every key: id, name, scope, created, revoked (never the key itself)."""
    from facewise.server.keys import KeyStore

    with KeyStore(load_settings().home) as store:
        rows = store.list()
    if as_json:
        emit_json({"keys": [k.as_dict() for k in rows]})
    else:
        print_table(
            "API keys",
            ["id", "name", "scope", "created", "revoked"],
            [[k.id, k.name, k.scope, k.created_at, k.revoked_at or ""] for k in rows],
        )


@keys.command("revoke")
@click.argument("key_id")
@json_option
@handle_errors
def keys_revoke(key_id: str, as_json: bool) -> None:
    """Revoke the key with id (or name) KEY_ID; it stops working at once, in every worker."""
    from facewise.server.keys import KeyStore

    with KeyStore(load_settings().home) as store:
        record = store.revoke(key_id)
    if as_json:
        emit_json({"revoked": record.id, "name": record.name, "revoked_at": record.revoked_at})
    else:
        click.echo(f"key {record.id} ({record.name}) revoked")


COMMANDS = (serve, keys)
