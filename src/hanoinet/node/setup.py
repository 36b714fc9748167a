"""Creating a node's data directory (``hanoinet node init``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError

from hanoinet.clock import now
from hanoinet.errors import ConfigurationError
from hanoinet.network.directory import Desk
from hanoinet.node.keyring import Keyring
from hanoinet.node.node import Node
from hanoinet.node.pinned import pin_authority
from hanoinet.node.settings import CONFIG_FILE, NodeSettings, write_config
from hanoinet.states import check_state

DEFAULT_DESK_NAMES = {"247": "24/7 point of contact (Art. 41)", "CA": "Central authority (Art. 40)"}


def init_node(
    data_dir: Path,
    *,
    state: str,
    name: str,
    endpoint: str,
    desks: list[Desk],
    passphrase: bytes | None,
    authority: dict[str, str] | None = None,
    directory_url: str = "",
    database_url: str = "",
) -> Node:
    """Create keys, configuration and database in an empty (or new) ``data_dir``, and open the node."""
    check_state(state)
    if (data_dir / CONFIG_FILE).exists():
        raise ConfigurationError(f"{data_dir} already holds a node", hint="use another --data, or remove it first")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    values = {"state": state, "name": name, "endpoint": endpoint.rstrip("/"),
              "desks": [d.model_dump() for d in desks]}
    if directory_url:
        values["directory_url"] = directory_url
    if database_url:
        values["database_url"] = database_url
    # Validate everything before writing anything.
    try:
        settings = NodeSettings(data_dir=data_dir, **values)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(f"invalid node settings: {exc}") from None
    write_config(data_dir, values)
    Keyring.create(data_dir, passphrase, now=now(), lifetime=timedelta(days=settings.key_lifetime_days))
    if authority is not None:
        pin_authority(data_dir, authority)
    return Node.open(data_dir, passphrase)  # creates the database and runs the migrations
