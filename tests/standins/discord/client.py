"""What a user's Discord client does before an interaction reaches the bot.

It offers only commands the user may run here, converts typed options with the synced
command's definitions (users, roles, channels and attachments go into `data.resolved`
keyed by the option's value, or discord.py yields a bare `discord.Object`), and refuses
to submit a modal with a required input left empty or text too long. Mistakes in a test
raise LookupError / ValueError / TypeError / PermissionError here, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import ModalField, StoredMessage, modal_fields, permission_names
from .state import World

Resolved = dict[str, dict[str, Any]]
ROLE = 8  # an application command option type
BOT_DM = 1  # an interaction context type: 0 guild, 1 the bot's DM, 2 other private channels


def command_data(
    world: World,
    name: str,
    options: Mapping[str, Any],
    *,
    user_id: int,
    guild_id: int | None,
    channel_id: int,
) -> dict[str, Any]:
    """`data` of an application-command interaction for `/name` ("group sub" for
    subcommands) with `options` by option name."""
    path = name.split()
    command, scope = _find_command(world, path[0], guild_id)
    _check_visible(world, command, user_id, guild_id, channel_id)
    node = command
    for sub in path[1:]:
        found = next(
            (o for o in node.get("options", []) if o["name"] == sub and o["type"] in (1, 2)),
            None,
        )
        if found is None:
            raise LookupError(f"/{name}: no subcommand {sub!r}")
        node = found
    if any(o["type"] in (1, 2) for o in node.get("options", [])):
        raise ValueError(f"/{name} is a group; name a subcommand")
    resolved: Resolved = {}
    wire = _convert_options(world, node, dict(options), resolved, f"/{name}")
    for depth in range(len(path) - 1, 0, -1):
        sub_type = 1 if depth == len(path) - 1 else 2  # subcommand, then its group
        wire = [{"name": path[depth], "type": sub_type, "options": wire}]
    data: dict[str, Any] = {
        "id": command["id"],
        "name": command["name"],
        "type": command.get("type", 1),
        "options": wire,
    }
    if resolved:
        data["resolved"] = resolved
    if scope is not None:
        data["guild_id"] = str(scope)
    return data


def _find_command(
    world: World, name: str, guild_id: int | None, ctype: int = 1
) -> tuple[dict[str, Any], int | None]:
    """The synced command of this type (1 slash, 2 user menu, 3 message menu) and its
    scope (the guild, or None for a global one); a guild's own copy wins."""
    scopes = ([guild_id] if guild_id is not None else []) + [None]
    for scope in scopes:
        for cmd in world.commands(scope):
            if cmd["name"] == name and cmd.get("type", 1) == ctype:
                return cmd, scope
    known = sorted((c["name"], c.get("type", 1)) for scope in scopes for c in world.commands(scope))
    raise LookupError(
        f"{name!r} (type {ctype}) is not synced (for guild {guild_id} or globally); "
        f"synced (name, type): {known}. Await dc.wait_commands_synced(...) first."
    )


def message_command_data(
    world: World, name: str, message: StoredMessage, *, user_id: int
) -> dict[str, Any]:
    """`data` of a message context-menu command (Apps > `name` on `message`), as Discord
    sends it: `type` 3, `target_id` the message, and the whole message (content and
    attachments included, whatever the bot's intents) in `resolved.messages`."""
    if message.deleted or message.ephemeral:
        raise LookupError(f"message {message.id} cannot be right-clicked (deleted or ephemeral)")
    command, scope = _find_command(world, name, message.guild_id, ctype=3)
    _check_visible(world, command, user_id, message.guild_id, message.channel_id)
    data: dict[str, Any] = {
        "id": command["id"],
        "name": command["name"],
        "type": 3,
        "target_id": str(message.id),
        "resolved": {"messages": {str(message.id): world.message_payload(message)}},
    }
    if scope is not None:
        data["guild_id"] = str(scope)
    return data


def _check_visible(
    world: World, command: dict[str, Any], user_id: int, guild_id: int | None, channel_id: int
) -> None:
    name = command["name"]
    contexts = command.get("contexts")
    if guild_id is None and contexts is not None and BOT_DM not in contexts:
        raise LookupError(f"/{name} is not offered in a DM with the bot (contexts {contexts})")
    needed = int(command.get("default_member_permissions") or 0)
    if guild_id is not None and user_id in world.command_overrides.get((guild_id, name), ()):
        return  # the owner allowed this member the command (an Integrations override)
    if guild_id is not None and needed & ~world.permissions(guild_id, user_id, channel_id):
        who = world.users[user_id].username if user_id in world.users else f"user {user_id}"
        raise PermissionError(f"{who} can't use /{name}: it needs {permission_names(needed)}")


def _convert_options(
    world: World,
    node: dict[str, Any],
    options: dict[str, Any],
    resolved: Resolved,
    where: str,
) -> list[dict[str, Any]]:
    defs = {o["name"]: o for o in node.get("options", [])}
    for key in options:
        if key not in defs:
            raise ValueError(f"{where}: no option {key!r}; options: {list(defs)}")
    wire = []
    for name, spec in defs.items():
        value = options.get(name)
        if value is None:
            if spec.get("required"):
                raise ValueError(f"{where}: option {name!r} is required")
            continue
        value = _option_value(world, spec, value, resolved, f"{where} {name}")
        wire.append({"name": name, "type": spec["type"], "value": value})
    return wire


def _option_value(
    world: World,
    spec: dict[str, Any],
    value: Any,
    resolved: Resolved,
    name: str,
) -> Any:
    t = spec["type"]
    if t == 11:
        return _attachment(world, value, resolved, name)
    if t == ROLE:
        return _role(world, value, resolved, name)
    wanted: tuple[type, ...] | None = {3: (str,), 4: (int,), 10: (int, float), 5: (bool,)}.get(t)
    if wanted is None:
        raise ValueError(f"{name}: the stand-in does not convert option type {t}")
    if type(value) not in wanted and not (t == 10 and type(value) is int):
        raise TypeError(f"{name}: option of type {t} needs {wanted}, not {value!r}")
    if t == 3:
        if "min_length" in spec and len(value) < spec["min_length"]:
            raise ValueError(f"{name}: shorter than min_length {spec['min_length']}")
        if "max_length" in spec and len(value) > spec["max_length"]:
            raise ValueError(f"{name}: longer than max_length {spec['max_length']}")
    if t in (4, 10):
        if "min_value" in spec and value < spec["min_value"]:
            raise ValueError(f"{name}: below min_value {spec['min_value']}")
        if "max_value" in spec and value > spec["max_value"]:
            raise ValueError(f"{name}: above max_value {spec['max_value']}")
    if spec.get("choices") and value not in [c["value"] for c in spec["choices"]]:
        raise ValueError(f"{name}: {value!r} is not one of the choices")
    return value


def _role(world: World, value: Any, resolved: Resolved, name: str) -> str:
    """Put a role (its id, or a RoleSpec) into `resolved.roles`, as Discord does for a role
    option; return its id string (the option's value)."""
    role_id = int(getattr(value, "id", value))
    for roles in world.roles.values():
        if role_id in roles:
            resolved.setdefault("roles", {})[str(role_id)] = roles[role_id].payload()
            return str(role_id)
    raise LookupError(f"{name}: no guild has role {role_id}")


def _attachment(world: World, value: Any, resolved: Resolved, name: str) -> str:
    """Put an attachment into `resolved`; return its id string (the option's value).

    Users and channels would go into resolved.users/members/channels the same way; no
    command of the bot takes one, so the stand-in refuses them."""
    att_id = int(value["id"]) if isinstance(value, dict) else int(value)
    if att_id not in world.attachments:
        raise LookupError(f"{name}: attachment {att_id} was not added with add_attachment")
    resolved.setdefault("attachments", {})[str(att_id)] = world.attachments[att_id].payload()
    return str(att_id)


# --------------------------------------------------------------------------- modals


def modal_submit_data(
    world: World, modal: dict[str, Any], values: Mapping[str, Any]
) -> dict[str, Any]:
    """`data` of the MODAL_SUBMIT for `values` keyed by custom_id or label (any case).

    The answer mirrors the modal's layout: action-row inputs come back in action rows,
    Label-wrapped ones in Labels (type 18), as discord.py 2.7 expects.
    """
    fields = modal_fields(modal.get("components", []))
    by_key: dict[str, ModalField] = {}
    for f in fields:
        by_key[f.custom_id] = f
        if f.label:
            by_key.setdefault(f.label.casefold(), f)
    chosen: dict[str, Any] = {}
    for key, value in values.items():
        chosen_field = by_key.get(key) or by_key.get(key.casefold())
        if chosen_field is None:
            raise ValueError(
                f"modal {modal.get('custom_id')!r} has no input {key!r}; inputs: "
                f"{[(f.custom_id, f.label) for f in fields]}"
            )
        chosen[chosen_field.custom_id] = value
    resolved: Resolved = {}
    counter = iter(range(1, 1000))

    def answer(comp: dict[str, Any]) -> dict[str, Any]:
        ctype = comp.get("type")
        cid = comp.get("id") or next(counter)
        if ctype == 1:
            return {"type": 1, "id": cid, "components": [answer(c) for c in comp["components"]]}
        if ctype == 18:
            return {"type": 18, "id": cid, "component": answer(comp["component"])}
        if "custom_id" not in comp:
            return {"type": ctype, "id": cid}
        f = by_key[comp["custom_id"]]
        out: dict[str, Any] = {"type": ctype, "id": cid, "custom_id": f.custom_id}
        out.update(_modal_value(world, f, chosen.get(f.custom_id), resolved))
        return out

    data: dict[str, Any] = {
        "custom_id": modal["custom_id"],
        "components": [answer(c) for c in modal.get("components", [])],
    }
    if resolved:
        data["resolved"] = resolved
    return data


def _modal_value(world: World, f: ModalField, value: Any, resolved: Resolved) -> dict[str, Any]:
    where = f"modal input {f.custom_id!r} ({f.label})"
    if f.type == 4:  # a text input; selects, file uploads, ... are not used by the bot
        text = (f.value or "") if value is None else value
        if not isinstance(text, str):
            raise TypeError(f"{where}: text input needs a str")
        if f.required and not text:
            raise ValueError(f"{where} is required")
        if text and f.min_length and len(text) < f.min_length:
            raise ValueError(f"{where}: shorter than min_length {f.min_length}")
        if f.max_length and len(text) > f.max_length:
            raise ValueError(f"{where}: longer than max_length {f.max_length}")
        return {"value": text}
    if f.type == 3:  # a String Select (in a Label): the chosen option values
        return {"values": _select_values(f, value, where)}
    raise ValueError(f"{where}: the stand-in fills text inputs and string selects only")


def _select_values(f: ModalField, value: Any, where: str) -> list[str]:
    """What the user picks: a str or a list of option values; left out, the options
    marked `default` (Discord's client preselects them). The client lets a required select
    go with no fewer than `min_values` (at least 1) and never more than `max_values`."""
    if value is None:
        chosen = [o["value"] for o in f.options or [] if o.get("default")]
    elif isinstance(value, str):
        chosen = [value]
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        chosen = list(value)
    else:
        raise TypeError(f"{where}: a select takes an option value or a list of them")
    unknown = [v for v in chosen if v not in f.option_values]
    if unknown:
        raise ValueError(f"{where}: {unknown} not among the options {f.option_values}")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"{where}: an option can be picked once")
    least = max(f.min_values, 1) if chosen or f.required else 0  # optional: may stay empty
    if len(chosen) < least:
        raise ValueError(f"{where} is required (at least {least} option(s))")
    if len(chosen) > f.max_values:
        raise ValueError(f"{where}: at most {f.max_values} option(s)")
    return chosen
