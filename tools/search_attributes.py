"""Print the commands that register gridplus's search attributes on a Temporal cluster.

Generated from ``constants.SEARCH_ATTRIBUTES`` so the cluster, the workflows and the
supervisors' saved queries can never disagree on a name or a type. A workflow that upserts
an attribute the namespace does not know fails its workflow task (and retries forever),
so run these once per namespace *before* the first worker starts.

Usage::

    python -m tools.search_attributes                      # temporal CLI, namespace default
    python -m tools.search_attributes --namespace town-prod --address temporal:7233
    python -m tools.search_attributes --format cloud --namespace town.a1b2c  # Temporal Cloud
    python -m tools.search_attributes --format dev         # flags for temporal server start-dev
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from typing import Any

from temporalio.common import SearchAttributeIndexedValueType as ValueType
from temporalio.common import SearchAttributeKey

from constants import SEARCH_ATTRIBUTES

TYPE_NAMES = {
    ValueType.KEYWORD: "Keyword",
    ValueType.INT: "Int",
    ValueType.DATETIME: "Datetime",
    ValueType.BOOL: "Bool",
    ValueType.TEXT: "Text",
    ValueType.DOUBLE: "Double",
    ValueType.KEYWORD_LIST: "KeywordList",
}


def cli_commands(
    keys: Sequence[SearchAttributeKey[Any]], namespace: str, address: str | None = None
) -> list[str]:
    """One ``temporal operator search-attribute create`` per attribute.

    One per attribute on purpose: the CLI pairs ``--name`` and ``--type`` flags by position,
    and ``--name A --name B --type Keyword`` silently registers only ``A``.
    """
    commands = []
    for key in keys:
        parts = ["temporal", "operator", "search-attribute", "create", "--namespace", namespace]
        if address:
            parts += ["--address", address]
        parts += ["--name", key.name, "--type", TYPE_NAMES[key.indexed_value_type]]
        commands.append(shlex.join(parts))
    return commands


def cloud_commands(keys: Sequence[SearchAttributeKey[Any]], namespace: str) -> list[str]:
    """Temporal Cloud registers attributes through ``tcld``, one flag per attribute."""
    parts = ["tcld", "namespace", "search-attributes", "add", "--namespace", namespace]
    for key in keys:
        parts += ["--search-attribute", f"{key.name}={TYPE_NAMES[key.indexed_value_type]}"]
    return [shlex.join(parts)]


def dev_flags(keys: Sequence[SearchAttributeKey[Any]]) -> list[str]:
    """``--search-attribute`` flags for ``temporal server start-dev``."""
    return [
        shlex.join(["--search-attribute", f"{key.name}={TYPE_NAMES[key.indexed_value_type]}"])
        for key in keys
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--format", choices=("cli", "cloud", "dev"), default="cli")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--address", help="host:port of the frontend (cli format)")
    args = parser.parse_args(argv)
    keys: Sequence[SearchAttributeKey[Any]] = SEARCH_ATTRIBUTES
    if args.format == "cloud":
        lines = cloud_commands(keys, args.namespace)
    elif args.format == "dev":
        lines = dev_flags(keys)
    else:
        lines = cli_commands(keys, args.namespace, args.address)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
